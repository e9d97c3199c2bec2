/* Internal logging: routes to the callback installed with llmc_set_log_callback. */
#ifndef LLMC_BASE_LOG_H
#define LLMC_BASE_LOG_H
#include "llmc.h"
#include "base/error.h"
void llmc_log(llmc_log_level level, const char *fmt, ...) LLMC_PRINTF(2, 3);
#define LLMC_DEBUG(...) llmc_log(LLMC_LOG_DEBUG, __VA_ARGS__)
#define LLMC_INFO(...) llmc_log(LLMC_LOG_INFO, __VA_ARGS__)
#define LLMC_WARN(...) llmc_log(LLMC_LOG_WARN, __VA_ARGS__)
#endif
