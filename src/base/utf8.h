/* UTF-8 validation, decoding and encoding (strict: no overlongs, surrogates or > U+10FFFF). */
#ifndef LLMC_BASE_UTF8_H
#define LLMC_BASE_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid sequence starting at s (1..4), or 0 if invalid/truncated. */
int llmc_utf8_seq_len(const unsigned char *s, size_t avail);
/* Decodes one code point; returns bytes consumed (0 if invalid). */
int llmc_utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);
/* Encodes cp into out (4 bytes room); returns length, 0 for invalid cp. */
int llmc_utf8_encode(uint32_t cp, char *out);
/* Validates a buffer; on failure *bad_at gets the byte offset of the first invalid sequence. */
bool llmc_utf8_valid(const char *s, size_t n, size_t *bad_at);
/* Length of the longest prefix of s that does not end inside a multi-byte sequence
 * that could still be completed (used by streaming decoders). */
size_t llmc_utf8_complete_prefix(const char *s, size_t n);

#endif
