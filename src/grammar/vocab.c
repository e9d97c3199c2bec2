/* A vocabulary as the grammar matcher sees it: each token's bytes, and a byte trie over
 * the tokens (children of a node contiguous, so a dead prefix prunes its whole subtree).
 * Byte-level BPE token strings map back through GPT-2's byte↔char table; SentencePiece
 * ones (a vocab with <0xXX> byte tokens) turn ▁ into a space and <0xXX> into the byte. */
#include "grammar/vocab.h"
#include "base/error.h"
#include <stdlib.h>
#include <string.h>

void llmc_grammar_vocab_free(llmc_grammar_vocab *v) {
    if (!v) return;
    free(v->bytes); free(v->off); free(v->sorted);
    free(v->tn_byte); free(v->tn_depth); free(v->tn_end); free(v->tn_tok); free(v->tn_ntok); free(v->tn_hi);
    free(v);
}

int llmc_grammar_vocab_size(const llmc_grammar_vocab *v) { return v ? v->n : 0; }

const uint8_t *llmc_grammar_vocab_bytes(const llmc_grammar_vocab *v, int32_t id, size_t *len) {
    *len = 0;
    if (!v || id < 0 || id >= v->n || v->off[id + 1] == v->off[id]) return NULL;
    *len = v->off[id + 1] - v->off[id];
    return v->bytes + v->off[id];
}

typedef struct { const uint8_t *p; uint32_t len, id; } tokkey;
static int cmp_tok(const void *a, const void *b) {
    const tokkey *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (c) return c;
    return x->len != y->len ? (x->len < y->len ? -1 : 1) : (x->id < y->id ? -1 : x->id > y->id);
}

/* Builds the pre-order trie from bytes/off (token ids with no bytes are left out): with the
 * tokens sorted by bytes, each token opens nodes for its bytes past the longest common
 * prefix with the previous one, and closes the deeper ones still open. */
static llmc_status build_trie(llmc_grammar_vocab *v, llmc_error *err) {
    uint32_t n_tok = 0;
    v->sorted = malloc(((size_t)v->n + 1) * sizeof *v->sorted);
    if (!v->sorted) return llmc_err(err, LLMC_ERR_NOMEM, "grammar vocab: out of memory");
    for (int i = 0; i < v->n; i++)
        if (v->off[i + 1] > v->off[i]) v->sorted[n_tok++] = (uint32_t)i;
    v->n_sorted = n_tok;
    tokkey *keys = malloc(((size_t)n_tok + 1) * sizeof *keys);
    if (!keys) return llmc_err(err, LLMC_ERR_NOMEM, "grammar vocab: out of memory");
    for (uint32_t i = 0; i < n_tok; i++) {
        uint32_t id = v->sorted[i];
        keys[i] = (tokkey){v->bytes + v->off[id], v->off[id + 1] - v->off[id], id};
    }
    qsort(keys, n_tok, sizeof *keys, cmp_tok);
    for (uint32_t i = 0; i < n_tok; i++) v->sorted[i] = keys[i].id;
    size_t cap = (size_t)v->off[v->n] + 2;
    uint32_t maxlen = 0;
    for (uint32_t i = 0; i < n_tok; i++) if (keys[i].len > maxlen) maxlen = keys[i].len;
    v->tn_byte = malloc(cap);
    v->tn_depth = malloc(cap * sizeof *v->tn_depth);
    v->tn_end = malloc(cap * sizeof *v->tn_end);
    v->tn_tok = malloc(cap * sizeof *v->tn_tok);
    v->tn_ntok = malloc(cap * sizeof *v->tn_ntok);
    v->tn_hi = malloc(cap * sizeof *v->tn_hi);
    uint32_t *open = malloc(((size_t)maxlen + 2) * sizeof *open);
    llmc_status st = LLMC_OK;
    if (!v->tn_byte || !v->tn_depth || !v->tn_end || !v->tn_tok || !v->tn_ntok || !v->tn_hi || !open) {
        st = llmc_err(err, LLMC_ERR_NOMEM, "grammar vocab: out of memory");
        goto out;
    }
    uint32_t nn = 1, depth = 0;
    v->tn_byte[0] = 0; v->tn_depth[0] = 0; v->tn_tok[0] = 0; v->tn_ntok[0] = 0;
    open[0] = 0;
    for (uint32_t k = 0; k < n_tok; k++) {
        const tokkey *t = &keys[k];
        uint32_t lcp = 0;
        if (k) {
            const tokkey *p = &keys[k - 1];
            while (lcp < p->len && lcp < t->len && p->p[lcp] == t->p[lcp]) lcp++;
        }
        for (; depth > lcp; depth--) { v->tn_end[open[depth]] = nn; v->tn_hi[open[depth]] = k; }
        for (uint32_t d = lcp + 1; d <= t->len; d++) {
            v->tn_byte[nn] = t->p[d - 1];
            v->tn_depth[nn] = (uint16_t)d;
            v->tn_tok[nn] = k;
            v->tn_ntok[nn] = 0;
            open[d] = nn++;
        }
        depth = t->len;
        v->tn_ntok[open[depth]]++;
    }
    for (;; depth--) { v->tn_end[open[depth]] = nn; v->tn_hi[open[depth]] = n_tok; if (!depth) break; }
    v->n_tn = nn;
    v->max_depth = maxlen;
out:
    free(open);
    free(keys);
    return st;
}

static llmc_status vocab_alloc(int n, size_t total, llmc_grammar_vocab **out, llmc_error *err) {
    llmc_grammar_vocab *v = calloc(1, sizeof *v);
    if (v) {
        v->n = n;
        v->off = calloc((size_t)n + 1, sizeof *v->off);
        v->bytes = malloc(total + 1);
    }
    if (!v || !v->off || !v->bytes) { llmc_grammar_vocab_free(v); return llmc_err(err, LLMC_ERR_NOMEM, "grammar vocab: out of memory"); }
    *out = v;
    return LLMC_OK;
}

llmc_status llmc_grammar_vocab_from_bytes(const char *const *toks, const size_t *lens, int n, llmc_grammar_vocab **out,
                                          llmc_error *err) {
    *out = NULL;
    if (n <= 0 || n > (1 << 23)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar vocab: %d tokens", n);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] > 4096) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar vocab: token %d is %zu bytes", i, lens[i]);
        total += lens[i];
    }
    llmc_grammar_vocab *v;
    llmc_status st = vocab_alloc(n, total, &v, err);
    if (st) return st;
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        memcpy(v->bytes + pos, toks[i], lens[i]);
        pos += lens[i];
        v->off[i + 1] = (uint32_t)pos;
    }
    st = build_trie(v, err);
    if (st) { llmc_grammar_vocab_free(v); return st; }
    *out = v;
    return LLMC_OK;
}

/* GPT-2's bytes_to_unicode, inverted: code point → byte, -1 when not a byte-level char. */
static int bl_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp < 256 || cp > 323) return -1;
    int k = (int)cp - 256, n = 0;   /* the k-th byte outside the printable ranges */
    for (int b = 0; b < 256; b++) {
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) continue;
        if (n++ == k) return b;
    }
    return -1;
}

static int u8dec(const uint8_t *s, size_t n, uint32_t *cp) {
    if (!n) return 0;
    int k = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
    if (!k || (size_t)k > n) return 0;
    uint32_t v = k == 1 ? s[0] : k == 2 ? (s[0] & 0x1Fu) : k == 3 ? (s[0] & 0x0Fu) : (s[0] & 0x07u);
    for (int i = 1; i < k; i++) v = (v << 6) | (s[i] & 0x3Fu);
    *cp = v;
    return k;
}

/* The bytes of one token string into o (cap >= len); returns the byte count. */
static size_t token_bytes(const char *tokstr, bool sp, uint8_t *o) {
    const uint8_t *s = (const uint8_t *)tokstr;
    size_t n = strlen(tokstr), k = 0;
    if (sp) {
        if (n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
            static const char hx[] = "0123456789ABCDEF";
            const char *a = memchr(hx, s[3], 16), *b = memchr(hx, s[4], 16);
            if (a && b) { o[0] = (uint8_t)((a - hx) * 16 + (b - hx)); return 1; }
        }
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) { o[k++] = ' '; i += 3; }
            else o[k++] = s[i++];
        }
        return k;
    }
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = u8dec(s + i, n - i, &cp);
        int b = l ? bl_byte(cp) : -1;
        if (b < 0) { memcpy(o, s, n); return n; }   /* an added token's literal text */
        o[k++] = (uint8_t)b;
        i += (size_t)l;
    }
    return k;
}

llmc_status llmc_grammar_vocab_from_tokenizer(const llmc_tokenizer *t, int n_vocab, llmc_grammar_vocab **out, llmc_error *err) {
    *out = NULL;
    size_t nt = llmc_tokenizer_vocab_size(t);
    if (n_vocab <= 0) n_vocab = (int)nt;
    if (n_vocab <= 0 || n_vocab > (1 << 23)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar vocab: %d tokens", n_vocab);
    bool sp = llmc_tokenizer_token_to_id(t, "<0x0A>") >= 0;
    size_t total = 0;
    for (int i = 0; i < n_vocab && (size_t)i < nt; i++) {
        const char *s = llmc_tokenizer_id_to_token(t, i);
        if (s && !llmc_tokenizer_is_special(t, i)) total += strlen(s);
    }
    llmc_grammar_vocab *v;
    llmc_status st = vocab_alloc(n_vocab, total, &v, err);
    if (st) return st;
    size_t pos = 0;
    for (int i = 0; i < n_vocab; i++) {
        const char *s = (size_t)i < nt ? llmc_tokenizer_id_to_token(t, i) : NULL;
        if (s && !llmc_tokenizer_is_special(t, i)) pos += token_bytes(s, sp, v->bytes + pos);
        v->off[i + 1] = (uint32_t)pos;
    }
    st = build_trie(v, err);
    if (st) { llmc_grammar_vocab_free(v); return st; }
    *out = v;
    return LLMC_OK;
}
