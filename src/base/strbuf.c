/* Growable string buffer. */
#include "base/strbuf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llmc_sb_init(llmc_strbuf *sb) { memset(sb, 0, sizeof *sb); }

void llmc_sb_free(llmc_strbuf *sb) {
    free(sb->data);
    memset(sb, 0, sizeof *sb);
}

bool llmc_sb_reserve(llmc_strbuf *sb, size_t extra) {
    if (sb->oom) return false;
    if (extra > ((size_t)-1) / 2 - sb->len) { sb->oom = true; return false; }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return true;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(sb->data, cap);
    if (!p) { sb->oom = true; return false; }
    sb->data = p;
    sb->cap = cap;
    return true;
}

bool llmc_sb_append(llmc_strbuf *sb, const char *s, size_t n) {
    if (!llmc_sb_reserve(sb, n)) return false;
    if (n) memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = 0;
    return true;
}

bool llmc_sb_puts(llmc_strbuf *sb, const char *s) { return llmc_sb_append(sb, s, strlen(s)); }
bool llmc_sb_putc(llmc_strbuf *sb, char c) { return llmc_sb_append(sb, &c, 1); }

bool llmc_sb_printf(llmc_strbuf *sb, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !llmc_sb_reserve(sb, (size_t)n)) { va_end(ap2); return false; }
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb->len += (size_t)n;
    return true;
}

char *llmc_sb_take(llmc_strbuf *sb) {
    char *p = sb->data;
    if (!p) { p = malloc(1); if (p) p[0] = 0; }
    memset(sb, 0, sizeof *sb);
    return p;
}
