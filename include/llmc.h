/* llmc — public C API.
 *
 * The library never prints and never exits: every fallible call returns an
 * llmc_status and fills an llmc_error whose message names the file, field or
 * position at fault. Diagnostics go through the log callback set with
 * llmc_set_log_callback (silent by default). Whoever creates an object frees
 * it; every *_free(NULL) is a no-op.
 */
#ifndef LLMC_H
#define LLMC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMC_VERSION "0.1.0"

typedef enum {
    LLMC_OK = 0,
    LLMC_ERR_INVALID_ARG,   /* caller passed something unusable */
    LLMC_ERR_IO,            /* open/read/write/mmap failed */
    LLMC_ERR_FORMAT,        /* a file's content is malformed or hostile */
    LLMC_ERR_UNSUPPORTED,   /* well-formed, but something llmc does not implement */
    LLMC_ERR_NOMEM,         /* allocation failed or a size limit was hit */
    LLMC_ERR_RANGE,         /* a value is out of bounds (prompt past context, id past vocab) */
    LLMC_ERR_TEMPLATE,      /* chat template error (syntax, runtime, raise_exception) */
    LLMC_ERR_NETWORK,       /* HTTP / connection failure */
    LLMC_ERR_AUTH,          /* 401/403 from the Hub */
    LLMC_ERR_NOT_FOUND,     /* model, revision or file does not exist */
    LLMC_ERR_CANCELLED,     /* stopped by the caller */
    LLMC_ERR_DEVICE,        /* accelerator/driver failure */
    LLMC_ERR_INTERNAL
} llmc_status;

#define LLMC_ERROR_MSG_MAX 1024
typedef struct {
    llmc_status code;
    char msg[LLMC_ERROR_MSG_MAX];
} llmc_error;

/* Human name of a status code ("format error", ...). */
const char *llmc_status_name(llmc_status code);

typedef enum { LLMC_LOG_DEBUG = 0, LLMC_LOG_INFO, LLMC_LOG_WARN, LLMC_LOG_ERROR } llmc_log_level;
typedef void (*llmc_log_fn)(llmc_log_level level, const char *msg, void *user);

/* Install a log sink (NULL: silent). Messages never contain access tokens. */
void llmc_set_log_callback(llmc_log_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
