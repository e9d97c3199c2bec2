/* The library's only way to say something: a user-installed callback. */
#include "base/log.h"
#include <stdarg.h>
#include <stdio.h>

static llmc_log_fn g_log_fn;
static void *g_log_user;

void llmc_set_log_callback(llmc_log_fn fn, void *user) {
    g_log_fn = fn;
    g_log_user = user;
}

void llmc_log(llmc_log_level level, const char *fmt, ...) {
    llmc_log_fn fn = g_log_fn;
    if (!fn) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(level, buf, g_log_user);
}
