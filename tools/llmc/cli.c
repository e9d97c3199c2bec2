/* CLI helpers: errors, logging to stderr, option parsing. */
#include "cli.h"
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const llmc_error *err) {
    fprintf(stderr, "llmc: error: %s\n", err && err->msg[0] ? err->msg : llmc_status_name(err ? err->code : LLMC_ERR_INTERNAL));
    return 1;
}

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("llmc: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static int g_verbosity;
static void stderr_log(llmc_log_level level, const char *msg, void *user) {
    (void)user;
    int need = level == LLMC_LOG_DEBUG ? 2 : level == LLMC_LOG_INFO ? 1 : 0;
    if (g_verbosity < need) return;
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "llmc: %s: %s\n", names[level], msg);
}

void cli_install_logger(int verbosity) {
    g_verbosity = verbosity;
    llmc_set_log_callback(stderr_log, NULL);
}

bool cli_is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

bool cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

bool cli_opt(int argc, char **argv, int *i, const char *name, const char **val, bool *bad) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') { *val = a + n + 1; return true; }
    if (a[n] != 0) return false;
    if (*i + 1 >= argc) { *bad = true; fprintf(stderr, "llmc: error: %s needs a value\n", name); return true; }
    *val = argv[++*i];
    return true;
}

bool cli_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool cli_parse_ids(const char *s, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 16, cnt = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return false;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '[' || *p == ']' || *p == '\n' || *p == '\t') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX) { free(v); return false; }
        if (cnt == cap) {
            cap *= 2;
            int32_t *w = realloc(v, cap * sizeof *w);
            if (!w) { free(v); return false; }
            v = w;
        }
        v[cnt++] = (int32_t)x;
        p = end;
        if (*p && *p != ',' && *p != ' ' && *p != ']' && *p != '\n' && *p != '\t') { free(v); return false; }
    }
    *ids = v;
    *n = (int)cnt;
    return true;
}

static volatile int g_sigint;
static void on_sigint(int sig) { (void)sig; g_sigint = 1; }

volatile int *cli_catch_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    return &g_sigint;
}

int cli_stream_stdout(void *user, const char *piece, size_t len) {
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}
