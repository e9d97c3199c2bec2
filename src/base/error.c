/* Error filling and status names. */
#include "base/error.h"
#include <stdio.h>
#include <string.h>

const char *llmc_status_name(llmc_status code) {
    switch (code) {
    case LLMC_OK: return "ok";
    case LLMC_ERR_INVALID_ARG: return "invalid argument";
    case LLMC_ERR_IO: return "I/O error";
    case LLMC_ERR_FORMAT: return "format error";
    case LLMC_ERR_UNSUPPORTED: return "unsupported";
    case LLMC_ERR_NOMEM: return "out of memory";
    case LLMC_ERR_RANGE: return "out of range";
    case LLMC_ERR_TEMPLATE: return "template error";
    case LLMC_ERR_NETWORK: return "network error";
    case LLMC_ERR_AUTH: return "authentication error";
    case LLMC_ERR_NOT_FOUND: return "not found";
    case LLMC_ERR_CANCELLED: return "cancelled";
    case LLMC_ERR_DEVICE: return "device error";
    case LLMC_ERR_INTERNAL: return "internal error";
    case LLMC_ERR_BUSY: return "busy";
    }
    return "unknown error";
}

llmc_status llmc_verr(llmc_error *err, llmc_status code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

llmc_status llmc_err(llmc_error *err, llmc_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    llmc_verr(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void llmc_err_prefix(llmc_error *err, const char *fmt, ...) {
    if (!err) return;
    char pre[LLMC_ERROR_MSG_MAX], old[LLMC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s%s", pre, old);
}

void llmc_err_clear(llmc_error *err) {
    if (err) { err->code = LLMC_OK; err->msg[0] = 0; }
}
