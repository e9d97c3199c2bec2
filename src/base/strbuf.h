/* A growable byte string (may contain NULs; always NUL-terminated). */
#ifndef LLMC_BASE_STRBUF_H
#define LLMC_BASE_STRBUF_H
#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"

typedef struct {
    char *data;
    size_t len, cap;
    bool oom; /* sticky: set when a growth failed; contents are then truncated */
} llmc_strbuf;

void llmc_sb_init(llmc_strbuf *sb);
void llmc_sb_free(llmc_strbuf *sb);
bool llmc_sb_reserve(llmc_strbuf *sb, size_t extra);
bool llmc_sb_append(llmc_strbuf *sb, const char *s, size_t n);
bool llmc_sb_puts(llmc_strbuf *sb, const char *s);
bool llmc_sb_putc(llmc_strbuf *sb, char c);
bool llmc_sb_printf(llmc_strbuf *sb, const char *fmt, ...) LLMC_PRINTF(2, 3);
/* Hands the buffer to the caller (malloc'd, NUL-terminated) and resets sb. */
char *llmc_sb_take(llmc_strbuf *sb);

#endif
