/* Shared helpers of the libFuzzer harnesses (tests/fuzz/fuzz_*.c): splitting one input into the
 * several files a parser reads (separated by FZ_SEP), a private temporary directory for parsers
 * that take paths, and a silent log sink. Harnesses never print: a crash, a hang or a leak is
 * what libFuzzer reports. */
#ifndef LLMC_FUZZ_COMMON_H
#define LLMC_FUZZ_COMMON_H
#include "llmc.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Part separator inside one fuzz input (also in every dictionary). */
#define FZ_SEP "\n@@@\n"
#define FZ_MAX_PARTS 8

typedef struct { const char *p[FZ_MAX_PARTS]; size_t n[FZ_MAX_PARTS]; int count; } fz_parts;

/* Splits data on FZ_SEP into at most FZ_MAX_PARTS parts (the last takes the rest). */
static inline void fz_split(const uint8_t *data, size_t size, fz_parts *out) {
    const char *s = (const char *)data, *end = s + size;
    size_t sl = sizeof FZ_SEP - 1;
    out->count = 0;
    while (out->count < FZ_MAX_PARTS - 1) {
        const char *hit = NULL;
        for (const char *q = s; q + sl <= end; q++)
            if (*q == '\n' && memcmp(q, FZ_SEP, sl) == 0) { hit = q; break; }
        if (!hit) break;
        out->p[out->count] = s;
        out->n[out->count++] = (size_t)(hit - s);
        s = hit + sl;
    }
    out->p[out->count] = s;
    out->n[out->count++] = (size_t)(end - s);
}

/* NUL-terminated copy (malloc'd; the harness aborts on OOM, which libFuzzer reports). */
static inline char *fz_strdup(const char *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static void fz_quiet_log(llmc_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

static char fz_dir[512];

/* Removes the private directory and the files in it (at exit). */
static void fz_cleanup(void) {
    if (!fz_dir[0]) return;
    DIR *d = opendir(fz_dir);
    if (d) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof path, "%s/%s", fz_dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(fz_dir);
    fz_dir[0] = 0;
}

/* This process's private directory (created once, under $TMPDIR or /tmp, removed at exit). */
static inline const char *fz_tmpdir(void) {
    if (!fz_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(fz_dir, sizeof fz_dir, "%s/llmc-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(fz_dir)) abort();
        atexit(fz_cleanup);
        llmc_set_log_callback(fz_quiet_log, NULL);
    }
    return fz_dir;
}

/* Writes data to <tmpdir>/<name> (replacing it); returns the path in a static buffer slot. */
static inline const char *fz_write(const char *name, const void *data, size_t n) {
    static char paths[FZ_MAX_PARTS][640];
    static int next;
    char *path = paths[next++ % FZ_MAX_PARTS];
    snprintf(path, sizeof paths[0], "%s/%s", fz_tmpdir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) abort();
        p += w;
        n -= (size_t)w;
    }
    close(fd);
    return path;
}

static inline void fz_remove(const char *name) {
    char path[640];
    snprintf(path, sizeof path, "%s/%s", fz_tmpdir(), name);
    unlink(path);
}
#endif
