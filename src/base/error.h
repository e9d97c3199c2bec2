/* Error helpers shared by every module: fill an llmc_error and return its code. */
#ifndef LLMC_BASE_ERROR_H
#define LLMC_BASE_ERROR_H
#include "llmc.h"
#include <stdarg.h>

#if defined(__GNUC__)
#define LLMC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LLMC_PRINTF(a, b)
#endif

/* Sets err (may be NULL) and returns code, so callers can `return llmc_err(...)`. */
llmc_status llmc_err(llmc_error *err, llmc_status code, const char *fmt, ...) LLMC_PRINTF(3, 4);
llmc_status llmc_verr(llmc_error *err, llmc_status code, const char *fmt, va_list ap);
/* Prefixes an existing message with context ("file.json: " + old message). */
void llmc_err_prefix(llmc_error *err, const char *fmt, ...) LLMC_PRINTF(2, 3);
void llmc_err_clear(llmc_error *err);

#endif
