/* The Precompiled normalizer (a SentencePiece charsmap, as tokenizers' spm_precompiled
 * reads it): base64 of [u32 trie size in bytes][Darts-clone double-array units][NUL-separated
 * normalized strings]. Each extended grapheme cluster under 6 bytes is replaced whole by
 * the string of its shortest mapped prefix; otherwise each char is mapped alone. Every
 * trie step and string offset is bounds-checked against the (untrusted) blob. */
#include "tokenizer/tok_internal.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static int b64v(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with optional padding; false on any other character. */
static bool b64_decode(const char *s, size_t len, unsigned char **out, size_t *olen) {
    unsigned char *o = malloc(len / 4 * 3 + 4);
    if (!o) return false;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') { if (len - i > 2) { free(o); return false; } break; }
        int v = b64v((unsigned char)s[i]);
        if (v < 0) { free(o); return false; }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; o[n++] = (unsigned char)(acc >> bits); }
    }
    *out = o;
    *olen = n;
    return true;
}

llmc_status tok_precompiled_load(tok_node *n, const char *b64, const char *what, llmc_error *err) {
    unsigned char *raw = NULL;
    size_t rl = 0;
    if (!b64_decode(b64, strlen(b64), &raw, &rl)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: Precompiled precompiled_charsmap is not base64", what);
    uint32_t trie_bytes = 0;
    if (rl >= 4) trie_bytes = (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 24;
    if (rl < 4 || trie_bytes % 4 || trie_bytes / 4 == 0 || trie_bytes > rl - 4) {
        free(raw);
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: Precompiled charsmap: trie size %u does not fit the %zu-byte map", what, trie_bytes, rl);
    }
    size_t nu = trie_bytes / 4, nl = rl - 4 - trie_bytes;
    uint32_t *units = malloc(nu * sizeof *units);
    char *norm = malloc(nl + 1);
    if (!units || !norm) { free(units); free(norm); free(raw); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < nu; i++) {
        const unsigned char *p = raw + 4 + 4 * i;
        units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(norm, raw + 4 + trie_bytes, nl);
    norm[nl] = 0;
    free(raw);
    size_t bad;
    if (!llmc_utf8_valid(norm, nl, &bad)) {
        free(units); free(norm);
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: Precompiled charsmap: normalized strings are not UTF-8 (byte %zu)", what, bad);
    }
    n->kind = TK_N_PRECOMPILED;
    n->a = (char *)units; n->n1 = (long)nu;
    n->b = norm; n->b_len = nl;
    return LLMC_OK;
}

/* Darts-clone common-prefix search, first (shortest) match only: the normalized string
   for the shortest mapped prefix of key, or NULL. */
static const char *pc_lookup(const tok_node *n, const unsigned char *key, size_t len, size_t *olen) {
    const uint32_t *a = (const uint32_t *)n->a;
    size_t nu = (size_t)n->n1;
#define PC_OFFSET(u) ((size_t)((u) >> 10) << (((u) & (1u << 9)) >> 6))
    size_t pos = PC_OFFSET(a[0]);
    for (size_t i = 0; i < len && key[i]; i++) {
        pos ^= key[i];
        if (pos >= nu) return NULL;
        uint32_t u = a[pos];
        if ((u & ((1u << 31) | 0xFF)) != key[i]) return NULL;
        pos ^= PC_OFFSET(u);
        if (pos >= nu) return NULL;
        if ((u >> 8) & 1) {
            size_t idx = a[pos] & ((1u << 31) - 1);
            if (idx >= n->b_len) return NULL;
            /* a start inside a UTF-8 sequence would be a panic in tokenizers; refuse it */
            if (((unsigned char)n->b[idx] & 0xC0) == 0x80) return NULL;
            *olen = strlen(n->b + idx);
            return n->b + idx;
        }
    }
#undef PC_OFFSET
    return NULL;
}

/* Output bound: no real charsmap grows text more than ~11x (U+FDFA: 3 bytes -> 33). */
#define PC_MAX_GROWTH 64

llmc_status tok_precompiled_apply(const tok_node *n, const char *s, size_t len, llmc_strbuf *out, llmc_error *err) {
    const size_t start_len = out->len, cap = PC_MAX_GROWTH * len + 1024;
    utf8proc_int32_t state = 0;
    size_t g = 0;
    uint32_t prev = 0;
    for (size_t i = 0; i <= len;) {
        uint32_t c = 0;
        int k = i < len ? tok_u8(s + i, len - i, &c) : 0;
        bool brk = i == len || (i > g && utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)c, &state));
        if (brk && i > g) {
            size_t ol;
            const char *m = i - g < 6 ? pc_lookup(n, (const unsigned char *)s + g, i - g, &ol) : NULL;
            if (m) llmc_sb_append(out, m, ol);
            else for (size_t j = g; j < i;) {
                uint32_t cc;
                int kk = tok_u8(s + j, i - j, &cc);
                const char *mm = pc_lookup(n, (const unsigned char *)s + j, (size_t)kk, &ol);
                if (mm) llmc_sb_append(out, mm, ol); else llmc_sb_append(out, s + j, (size_t)kk);
                j += (size_t)kk;
            }
            g = i;
            if (out->len - start_len > cap)
                return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: normalizer Precompiled grows the %zu-byte input past %zu bytes", len, cap);
        }
        if (i == len) break;
        prev = c;
        i += (size_t)k;
    }
    return out->oom ? llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory while normalizing") : LLMC_OK;
}
