/* Tokenizer runtime: added-token splitting, the encode pipeline (normalize →
 * pre-tokenize → BPE with a per-call word cache → post-process), decoders, the
 * streaming decoder and the small query API. */
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_text.h"
#include "base/utf8.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void llmc_tokenizer_free(llmc_tokenizer *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_ids; i++) free(t->id_str[i]);
    free(t->id_str); free(t->id_len); free(t->id_special);
    tok_smap_free(&t->vocab);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    tok_smap_free(&t->added_map);
    tok_trie_free(&t->trie_raw); tok_trie_free(&t->trie_norm);
    tok_umap_free(&t->merges);
    free(t->uni_score);
    tok_trie_free(&t->uni_trie);
    free(t->cont_prefix); free(t->eow_suffix);
    if (t->normalizer) { tok_node_clear(t->normalizer); free(t->normalizer); }
    tok_node_clear(&t->pretok_root);
    free(t->stages);
    if (t->decoder) { tok_node_clear(t->decoder); free(t->decoder); }
    free(t->post_pre); free(t->post_suf);
    for (int i = 0; i < 4; i++) free(t->special_str[i]);
    for (size_t i = 0; i < t->n_retired; i++) free(t->retired[i]);
    free(t->retired);
    free(t);
}

/* Builds the added-token tries (normalized tokens are matched in normalized text, by
 * their normalized form) and the lookup tables the BPE hot path uses. */
llmc_status tok_finish(llmc_tokenizer *t, llmc_error *err) {
    for (size_t i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        if (a->normalized && t->normalizer) {
            llmc_strbuf sb; llmc_sb_init(&sb);
            llmc_status rc = tok_normalize(t->normalizer, a->content, a->len, &sb, NULL, err);
            if (rc) { llmc_sb_free(&sb); return rc; }
            bool ok = tok_trie_add(&t->trie_norm, sb.data ? sb.data : "", sb.len, (int32_t)i);
            /* tokenizers keeps the normalized form as the id's token (decode, id_to_token) */
            if (ok && a->id >= 0 && (size_t)a->id < t->n_ids) {
                char **nr = realloc(t->retired, (t->n_retired + 1) * sizeof *nr);
                if (!nr) { llmc_sb_free(&sb); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
                t->retired = nr;
                t->retired[t->n_retired++] = t->id_str[a->id];
                t->id_str[a->id] = llmc_sb_take(&sb);
                t->id_len[a->id] = (uint32_t)strlen(t->id_str[a->id]);
                ok = t->id_str[a->id] != NULL;
            }
            llmc_sb_free(&sb);
            if (!ok) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        } else if (!tok_trie_add(a->normalized ? &t->trie_norm : &t->trie_raw, a->content, a->len, (int32_t)i))
            return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    /* decode(encode(x)) == x holds for a plain byte-level pipeline: no normalizer, Split
       (never Removed) / ByteLevel stages without an added prefix space, ByteLevel decoder,
       added tokens that absorb no whitespace. */
    bool rt = !t->normalizer && t->decoder && t->decoder->kind == TK_D_BYTELEVEL && t->n_stages > 0;
    bool has_bl = false;
    for (size_t i = 0; rt && i < t->n_stages; i++) {
        const tok_node *n = t->stages[i];
        if (n->kind == TK_P_BYTELEVEL && !n->f1) has_bl = true;
        else if (!(n->kind == TK_P_SPLIT && n->behavior != TB_REMOVED)) rt = false;
    }
    for (size_t i = 0; rt && i < t->n_added; i++) if (t->added[i].lstrip || t->added[i].rstrip) rt = false;
    t->roundtrip = rt && has_bl;
    t->meta_first = false;
    for (size_t i = 0; i < t->n_stages; i++)
        if (t->stages[i]->kind == TK_P_METASPACE && t->stages[i]->scheme == TS_FIRST) t->meta_first = true;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_tok[b] = tok_smap_get(&t->vocab, name, 6);
    }
    for (uint32_t cp = 0; cp < 512; cp++) {
        char u[4];
        int n = llmc_utf8_encode(cp, u);
        t->char_id[cp] = n > 0 ? tok_smap_get(&t->vocab, u, (size_t)n) : -1;
    }
    return LLMC_OK;
}

/* ---------------- encode ---------------- */

typedef struct { int32_t start; int32_t count; } cache_ent;
typedef struct {
    const llmc_tokenizer *t;
    int32_t *ids; size_t n, cap;
    tok_stage_out outs[TOK_MAX_STAGES];
    tok_smap cache;
    cache_ent *ce; size_t nce, cce;
    int32_t *cids; size_t ncids, ccids;
    char **blocks; size_t nblocks; size_t block_used;
    tok_budget bud;
    const char *text; size_t text_len;  /* the input, to name positions in errors */
    size_t seg_off;                     /* input offset of the segment being normalized */
    llmc_error *err;
} enc_ctx;

#define CACHE_MAX_WORD 256
#define CACHE_MAX_ENTRIES 200000
#define BLOCK_SIZE 65536

static char *key_store(enc_ctx *c, const char *s, size_t len) {
    if (c->nblocks == 0 || c->block_used + len > BLOCK_SIZE) {
        char **nb = realloc(c->blocks, (c->nblocks + 1) * sizeof *nb);
        if (!nb) return NULL;
        c->blocks = nb;
        c->blocks[c->nblocks] = malloc(BLOCK_SIZE);
        if (!c->blocks[c->nblocks]) return NULL;
        c->nblocks++;
        c->block_used = 0;
    }
    char *p = c->blocks[c->nblocks - 1] + c->block_used;
    memcpy(p, s, len);
    c->block_used += len;
    return p;
}

static bool ids_append(int32_t **v, size_t *n, size_t *cap, const int32_t *src, size_t k) {
    if (*n + k > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *n + k) nc *= 2;
        int32_t *nv = realloc(*v, nc * sizeof *nv);
        if (!nv) return false;
        *v = nv; *cap = nc;
    }
    if (k) memcpy(*v + *n, src, k * sizeof *src);
    *n += k;
    return true;
}

static llmc_status model_word(enc_ctx *c, const char *s, size_t len) {
    if (len == 0) return LLMC_OK;
    bool cacheable = len <= CACHE_MAX_WORD;
    if (cacheable) {
        int32_t e = tok_smap_get(&c->cache, s, len);
        if (e >= 0) {
            cache_ent *ce = &c->ce[e];
            if (ce->count == 0) return LLMC_OK;
            return ids_append(&c->ids, &c->n, &c->cap, c->cids + ce->start, (size_t)ce->count)
                       ? LLMC_OK : llmc_err(c->err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
        }
    }
    size_t before = c->n;
    llmc_status rc;
    switch (c->t->model) {
    case TOK_M_WORDPIECE: rc = tok_wordpiece_word(c->t, s, len, &c->ids, &c->n, &c->cap, c->err); break;
    case TOK_M_WORDLEVEL: rc = tok_wordlevel_word(c->t, s, len, &c->ids, &c->n, &c->cap, c->err); break;
    case TOK_M_UNIGRAM: rc = tok_unigram_word(c->t, s, len, &c->ids, &c->n, &c->cap, c->err); break;
    default: rc = tok_bpe_word(c->t, s, len, &c->ids, &c->n, &c->cap, c->err); break;
    }
    if (rc == LLMC_ERR_INVALID_ARG) {
        if (s >= c->text && s < c->text + c->text_len) llmc_err_prefix(c->err, "input byte %zu: ", (size_t)(s - c->text));
        else llmc_err_prefix(c->err, "input segment at byte %zu (normalized): ", c->seg_off);
    }
    if (rc || !cacheable || c->nce >= CACHE_MAX_ENTRIES) return rc;
    if (c->nce == c->cce) {
        size_t nc = c->cce ? c->cce * 2 : 1024;
        cache_ent *nv = realloc(c->ce, nc * sizeof *nv);
        if (!nv) return LLMC_OK; /* the cache is an optimisation only */
        c->ce = nv; c->cce = nc;
    }
    size_t start = c->ncids;
    if (!ids_append(&c->cids, &c->ncids, &c->ccids, c->ids + before, c->n - before)) return LLMC_OK;
    char *k = key_store(c, s, len);
    if (!k) return LLMC_OK;
    c->ce[c->nce].start = (int32_t)start;
    c->ce[c->nce].count = (int32_t)(c->n - before);
    if (tok_smap_put(&c->cache, k, len, (int32_t)c->nce)) c->nce++;
    return LLMC_OK;
}

static llmc_status run_stages(enc_ctx *c, size_t k, const char *s, size_t len, bool at_start) {
    if (len == 0) return LLMC_OK;
    if (k == c->t->n_stages) return model_word(c, s, len);
    tok_stage_out *o = &c->outs[k];
    llmc_status rc = tok_pretok_stage(c->t->stages[k], s, len, at_start, o, c->err);
    if (rc) return rc;
    const char *base = o->use_buf ? (o->buf.data ? o->buf.data : "") : s;
    for (size_t i = 0; i < o->ranges.n; i++) {
        tok_range r = o->ranges.v[i];
        if ((rc = run_stages(c, k + 1, base + r.off, r.len, at_start && r.off == 0))) return rc;
    }
    return LLMC_OK;
}

static bool word_char(uint32_t c) {
    if (c == '_' || tok_is_alnum(c)) return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_PC;
}

static uint32_t last_cp(const char *s, size_t len) {
    if (!len) return 0;
    size_t q = len - 1;
    while (q > 0 && ((unsigned char)s[q] & 0xC0) == 0x80) q--;
    uint32_t c;
    tok_u8(s + q, len - q, &c);
    return c;
}

typedef llmc_status (*seg_fn)(enc_ctx *c, const char *s, size_t len, size_t off, int32_t id);

/* tokenizers' AddedVocabulary::find_matches: leftmost-longest matches, single_word
 * boundaries, lstrip/rstrip absorbing whitespace around the token. */
static llmc_status split_added(enc_ctx *c, const tok_trie *tr, const char *s, size_t len, seg_fn fn) {
    const llmc_tokenizer *t = c->t;
    size_t start_off = 0, from = 0, ms, me;
    int32_t idx;
    llmc_status rc;
    while (from < len && tok_trie_find(tr, s, len, from, &ms, &me, &idx)) {
        const tok_added *a = &t->added[idx];
        from = me;
        if (ms < start_off) continue;
        if (a->single_word) {
            uint32_t before = last_cp(s, ms), after = 0;
            if (me < len) tok_u8(s + me, len - me, &after);
            bool start_space = ms == 0 || !word_char(before);
            bool stop_space = me == len || !word_char(after);
            if (!start_space || !stop_space) { from = ms + 1; while (from < len && ((unsigned char)s[from] & 0xC0) == 0x80) from++; continue; }
        }
        size_t st = ms, en = me;
        if (a->lstrip) {
            size_t q = st;
            while (q > start_off) {
                size_t p = q - 1;
                while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                uint32_t ch;
                tok_u8(s + p, q - p, &ch);
                if (!tok_is_whitespace(ch)) break;
                q = p;
            }
            st = q;
        }
        if (a->rstrip) {
            while (en < len) {
                uint32_t ch;
                int k = tok_u8(s + en, len - en, &ch);
                if (!tok_is_whitespace(ch)) break;
                en += (size_t)k;
            }
            from = en;
        }
        if (start_off < st && (rc = fn(c, s + start_off, st - start_off, start_off, -1))) return rc;
        if ((rc = fn(c, s + st, en - st, st, a->id))) return rc;
        start_off = en;
    }
    if (start_off < len || len == 0) return fn(c, s + start_off, len - start_off, start_off, -1);
    return LLMC_OK;
}

typedef struct { enc_ctx base; bool seg_start; } enc_ctx2;

static llmc_status norm_piece(enc_ctx *c, const char *s, size_t len, size_t off, int32_t id) {
    if (id >= 0) return ids_append(&c->ids, &c->n, &c->cap, &id, 1) ? LLMC_OK : llmc_err(c->err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    enc_ctx2 *c2 = (enc_ctx2 *)c;
    return run_stages(c, 0, s, len, c2->seg_start && off == 0);
}

static llmc_status raw_piece(enc_ctx *c, const char *s, size_t len, size_t off, int32_t id) {
    if (id >= 0) return ids_append(&c->ids, &c->n, &c->cap, &id, 1) ? LLMC_OK : llmc_err(c->err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    enc_ctx2 *c2 = (enc_ctx2 *)c;
    c2->seg_start = off == 0;
    c->seg_off = off;
    const llmc_tokenizer *t = c->t;
    if (c2->seg_start && t->normalizer && t->meta_first && len) {
        /* Metaspace prepend_scheme "first" looks at the piece's offset in the original text:
           when the normalizer removes the leading char (Strip, a Replace with ""), the text
           left starts past offset 0. */
        uint32_t cp;
        int k = tok_u8(s, len, &cp);
        llmc_strbuf fb; llmc_sb_init(&fb);
        llmc_status rc = tok_normalize(t->normalizer, s, (size_t)k, &fb, &c->bud, c->err);
        bool gone = fb.len == 0;
        llmc_sb_free(&fb);
        if (rc) return rc;
        if (gone) c2->seg_start = false;
    }
    if (!t->normalizer) return split_added(c, &t->trie_norm, s, len, norm_piece);
    llmc_strbuf nb; llmc_sb_init(&nb);
    llmc_status rc = tok_normalize(t->normalizer, s, len, &nb, &c->bud, c->err);
    if (!rc) rc = split_added(c, &t->trie_norm, nb.data ? nb.data : "", nb.len, norm_piece);
    llmc_sb_free(&nb);
    return rc;
}

llmc_status llmc_tokenizer_encode(const llmc_tokenizer *t, const char *text, size_t len, bool add_special_tokens,
                                  int32_t **ids, size_t *n_ids, llmc_error *err) {
    *ids = NULL; *n_ids = 0;
    if (!t || (!text && len)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: encode needs a tokenizer and text");
    if (!text) text = "";
    size_t bad;
    if (!llmc_utf8_valid(text, len, &bad))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: input is not valid UTF-8 at byte offset %zu", bad);
    enc_ctx2 c2;
    memset(&c2, 0, sizeof c2);
    enc_ctx *c = &c2.base;
    c->t = t;
    c->err = err;
    c->text = text; c->text_len = len;
    tok_budget_init(&c->bud, len);
    for (size_t i = 0; i < TOK_MAX_STAGES; i++) c->outs[i].bud = &c->bud;
    llmc_status rc = LLMC_OK;
    if (add_special_tokens && t->n_post_pre && !ids_append(&c->ids, &c->n, &c->cap, t->post_pre, t->n_post_pre))
        rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    if (!rc) rc = split_added(c, &t->trie_raw, text, len, raw_piece);
    if (!rc && add_special_tokens && t->n_post_suf && !ids_append(&c->ids, &c->n, &c->cap, t->post_suf, t->n_post_suf))
        rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < TOK_MAX_STAGES; i++) tok_stage_out_free(&c->outs[i]);
    tok_budget_free(&c->bud);
    tok_smap_free(&c->cache);
    free(c->ce); free(c->cids);
    for (size_t i = 0; i < c->nblocks; i++) free(c->blocks[i]);
    free(c->blocks);
    if (rc) { free(c->ids); return rc; }
#ifndef NDEBUG
    /* Debug builds check that a byte-level encode lost nothing. */
    if (t->roundtrip && !add_special_tokens) {
        char *back = NULL;
        size_t bl = 0;
        llmc_error e2 = {0};
        bool same = llmc_tokenizer_decode(t, c->ids, c->n, false, &back, &bl, &e2) == LLMC_OK && bl == len &&
                    (len == 0 || memcmp(back, text, len) == 0);
        free(back);
        if (!same) {
            free(c->ids);
            return llmc_err(err, LLMC_ERR_INTERNAL, "tokenizer: invariant broken: decode(encode(text)) differs from the %zu-byte input", len);
        }
    }
#endif
    *ids = c->ids;
    *n_ids = c->n;
    return LLMC_OK;
}

/* ---------------- decoders ---------------- */

typedef struct { char *s; size_t len; } dtok;
typedef struct { dtok *v; size_t n, cap; } dlist;

static bool dl_push(dlist *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        dtok *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return false;
        l->v = nv; l->cap = nc;
    }
    char *p = malloc(len + 1);
    if (!p) return false;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    l->v[l->n].s = p; l->v[l->n].len = len;
    l->n++;
    return true;
}
static bool dl_push_sb(dlist *l, llmc_strbuf *sb) {
    bool ok = !sb->oom && dl_push(l, sb->data ? sb->data : "", sb->len);
    llmc_sb_free(sb);
    return ok;
}
static void dl_free(dlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].s);
    free(l->v);
    l->v = NULL; l->n = l->cap = 0;
}

/* Rust String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD. */
static void lossy_utf8(const unsigned char *s, size_t n, llmc_strbuf *out) {
    size_t i = 0;
    while (i < n) {
        int k = llmc_utf8_seq_len(s + i, n - i);
        if (k > 0) { llmc_sb_append(out, (const char *)s + i, (size_t)k); i += (size_t)k; continue; }
        unsigned char b = s[i];
        size_t need = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
        size_t j = i + 1;
        if (need) {
            unsigned char lo = 0x80, hi = 0xBF;
            if (b == 0xE0) lo = 0xA0; else if (b == 0xED) hi = 0x9F; else if (b == 0xF0) lo = 0x90; else if (b == 0xF4) hi = 0x8F;
            if (j < n && s[j] >= lo && s[j] <= hi) {
                j++;
                while (j < n && j < i + need && s[j] >= 0x80 && s[j] <= 0xBF) j++;
            }
        }
        llmc_sb_append(out, "\xEF\xBF\xBD", 3);
        i = j;
    }
}

static const char *utf8_next(const char *p, const char *end, uint32_t *cp) {
    int k = tok_u8(p, (size_t)(end - p), cp);
    return p + (k ? k : 1);
}

/* Every occurrence of pat (non-empty) in s replaced by rep, appended to out. */
static void str_replace(const char *s, size_t len, const char *pat, size_t pl, const char *rep, size_t rl, llmc_strbuf *out) {
    size_t i = 0;
    while (pl && i + pl <= len) {
        const char *q = memmem(s + i, len - i, pat, pl);
        if (!q) break;
        llmc_sb_append(out, s + i, (size_t)(q - (s + i)));
        llmc_sb_append(out, rep, rl);
        i = (size_t)(q - s) + pl;
    }
    llmc_sb_append(out, s + i, len - i);
}

/* tokenizers' wordpiece::cleanup: the fixed spacing replacements, in order, in place. */
static void wp_cleanup(llmc_strbuf *b) {
    static const char *pairs[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                     {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
                                     {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        llmc_strbuf nx; llmc_sb_init(&nx);
        str_replace(b->data ? b->data : "", b->len, pairs[k][0], strlen(pairs[k][0]), pairs[k][1], strlen(pairs[k][1]), &nx);
        if (b->oom) nx.oom = true;
        llmc_sb_free(b);
        *b = nx;
    }
}

/* tokenizers' CTC decoder: consecutive duplicates collapse, pad tokens vanish, then
   cleanup and the word delimiter becomes a space; empty results are dropped. */
static bool decode_ctc(const tok_node *d, const dlist *in, dlist *out) {
    bool ok = true;
    for (size_t i = 0; i < in->n && ok; i++) {
        if (i > 0 && in->v[i].len == in->v[i - 1].len && !memcmp(in->v[i].s, in->v[i - 1].s, in->v[i].len)) continue;
        llmc_strbuf o; llmc_sb_init(&o);
        str_replace(in->v[i].s, in->v[i].len, d->a, d->a_len, "", 0, &o);
        if (d->f1) {
            wp_cleanup(&o);
            llmc_strbuf r; llmc_sb_init(&r);
            str_replace(o.data ? o.data : "", o.len, d->b, d->b_len, " ", 1, &r);
            if (o.oom) r.oom = true;
            llmc_sb_free(&o);
            o = r;
        }
        if (o.len || o.oom) ok = dl_push_sb(out, &o); else llmc_sb_free(&o);
    }
    return ok;
}

static llmc_status decode_step(const tok_node *d, dlist *in, dlist *out, llmc_error *err) {
    bool ok = true;
    switch (d->kind) {
    case TK_D_BYTELEVEL: {
        llmc_strbuf raw; llmc_sb_init(&raw);
        for (size_t i = 0; i < in->n; i++) {
            const char *p = in->v[i].s, *e = p + in->v[i].len;
            size_t mark = raw.len;
            bool all = true;
            while (p < e) {
                uint32_t cp;
                p = utf8_next(p, e, &cp);
                int b = tok_cp_to_byte(cp);
                if (b < 0) { all = false; break; }
                llmc_sb_putc(&raw, (char)b);
            }
            if (!all) { raw.len = mark; llmc_sb_append(&raw, in->v[i].s, in->v[i].len); }
        }
        llmc_strbuf o; llmc_sb_init(&o);
        lossy_utf8((const unsigned char *)(raw.data ? raw.data : ""), raw.len, &o);
        llmc_sb_free(&raw);
        ok = dl_push_sb(out, &o);
        break;
    }
    case TK_D_METASPACE:
        for (size_t i = 0; i < in->n && ok; i++) {
            llmc_strbuf o; llmc_sb_init(&o);
            const char *p = in->v[i].s, *e = p + in->v[i].len;
            while (p < e) {
                if ((size_t)(e - p) >= d->a_len && d->a_len && !memcmp(p, d->a, d->a_len)) {
                    if (!(i == 0 && d->scheme != TS_NEVER)) llmc_sb_putc(&o, ' ');
                    p += d->a_len;
                } else llmc_sb_putc(&o, *p++);
            }
            ok = dl_push_sb(out, &o);
        }
        break;
    case TK_D_REPLACE:
        for (size_t i = 0; i < in->n && ok; i++) {
            llmc_strbuf o; llmc_sb_init(&o);
            tok_node rn = *d;
            rn.kind = TK_N_REPLACE;
            llmc_status rc = tok_normalize(&rn, in->v[i].s, in->v[i].len, &o, NULL, err);
            if (rc) { llmc_sb_free(&o); return rc; }
            ok = dl_push_sb(out, &o);
        }
        break;
    case TK_D_BYTEFALLBACK: {
        llmc_strbuf bytes; llmc_sb_init(&bytes);
        for (size_t i = 0; i <= in->n && ok; i++) {
            int bv = -1;
            if (i < in->n && in->v[i].len == 6 && !memcmp(in->v[i].s, "<0x", 3) && in->v[i].s[5] == '>') {
                char hex[3] = {in->v[i].s[3], in->v[i].s[4], 0};
                char *endp;
                long v = strtol(hex, &endp, 16);
                if (*endp == 0 && isxdigit((unsigned char)hex[0]) && isxdigit((unsigned char)hex[1])) bv = (int)v;
            }
            if (bv >= 0) { llmc_sb_putc(&bytes, (char)bv); continue; }
            if (bytes.len) {
                if (llmc_utf8_valid(bytes.data, bytes.len, NULL)) ok = dl_push(out, bytes.data, bytes.len);
                else for (size_t j = 0; j < bytes.len && ok; j++) ok = dl_push(out, "\xEF\xBF\xBD", 3);
                bytes.len = 0;
            }
            if (i < in->n && ok) ok = dl_push(out, in->v[i].s, in->v[i].len);
        }
        llmc_sb_free(&bytes);
        break;
    }
    case TK_D_FUSE: {
        llmc_strbuf o; llmc_sb_init(&o);
        for (size_t i = 0; i < in->n; i++) llmc_sb_append(&o, in->v[i].s, in->v[i].len);
        ok = dl_push_sb(out, &o);
        break;
    }
    case TK_D_STRIP:
        for (size_t i = 0; i < in->n && ok; i++) {
            const char *p = in->v[i].s, *e = p + in->v[i].len;
            for (long k = 0; k < d->n1 && (size_t)(e - p) >= d->a_len && d->a_len && !memcmp(p, d->a, d->a_len); k++) p += d->a_len;
            for (long k = 0; k < d->n2 && (size_t)(e - p) >= d->a_len && d->a_len && !memcmp(e - d->a_len, d->a, d->a_len); k++) e -= d->a_len;
            ok = dl_push(out, p, (size_t)(e - p));
        }
        break;
    case TK_D_WORDPIECE:
        for (size_t i = 0; i < in->n && ok; i++) {
            llmc_strbuf o; llmc_sb_init(&o);
            const char *p = in->v[i].s;
            size_t l = in->v[i].len;
            if (i != 0) {
                if (l >= d->a_len && !memcmp(p, d->a, d->a_len)) { p += d->a_len; l -= d->a_len; }
                else llmc_sb_putc(&o, ' ');
            }
            llmc_sb_append(&o, p, l);
            if (d->f1) wp_cleanup(&o);
            ok = dl_push_sb(out, &o);
        }
        break;
    case TK_D_CTC:
        ok = decode_ctc(d, in, out);
        break;
    case TK_D_BPE:
        for (size_t i = 0; i < in->n && ok; i++) {
            tok_node rn = {0};
            rn.kind = TK_N_REPLACE;
            rn.a = d->a; rn.a_len = d->a_len;
            rn.b = i + 1 == in->n ? "" : " "; rn.b_len = i + 1 == in->n ? 0 : 1;
            llmc_strbuf o; llmc_sb_init(&o);
            llmc_status rc = tok_normalize(&rn, in->v[i].s, in->v[i].len, &o, NULL, err);
            if (rc) { llmc_sb_free(&o); return rc; }
            ok = dl_push_sb(out, &o);
        }
        break;
    case TK_D_SEQ: {
        dlist cur = {0};
        for (size_t i = 0; i < in->n && ok; i++) ok = dl_push(&cur, in->v[i].s, in->v[i].len);
        for (size_t k = 0; k < d->n_subs && ok; k++) {
            dlist nx = {0};
            llmc_status rc = decode_step(&d->subs[k], &cur, &nx, err);
            dl_free(&cur);
            cur = nx;
            if (rc) { dl_free(&cur); return rc; }
        }
        for (size_t i = 0; i < cur.n && ok; i++) ok = dl_push(out, cur.v[i].s, cur.v[i].len);
        dl_free(&cur);
        break;
    }
    default:
        return llmc_err(err, LLMC_ERR_INTERNAL, "tokenizer: unknown decoder kind %d", d->kind);
    }
    return ok ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory while decoding");
}

llmc_status tok_decode_tokens(const llmc_tokenizer *t, const char **toks, const size_t *lens, size_t n, llmc_strbuf *out,
                              llmc_error *err) {
    if (!t->decoder) {
        for (size_t i = 0; i < n; i++) {
            if (i) llmc_sb_putc(out, ' ');
            llmc_sb_append(out, toks[i], lens[i]);
        }
        return out->oom ? llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory") : LLMC_OK;
    }
    dlist in = {0}, res = {0};
    for (size_t i = 0; i < n; i++)
        if (!dl_push(&in, toks[i], lens[i])) { dl_free(&in); return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory"); }
    llmc_status rc = decode_step(t->decoder, &in, &res, err);
    if (!rc) for (size_t i = 0; i < res.n; i++) llmc_sb_append(out, res.v[i].s, res.v[i].len);
    dl_free(&in);
    dl_free(&res);
    if (!rc && out->oom) rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    return rc;
}

static llmc_status decode_sb(const llmc_tokenizer *t, const int32_t *ids, size_t n, bool skip, llmc_strbuf *out,
                             llmc_error *err) {
    const char **toks = malloc((n ? n : 1) * sizeof *toks);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (!toks || !lens) { free(toks); free(lens); return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory"); }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->n_ids || !t->id_str[id]) continue;
        if (skip && t->id_special[id]) continue;
        toks[k] = t->id_str[id];
        lens[k] = t->id_len[id];
        k++;
    }
    llmc_status rc = tok_decode_tokens(t, toks, lens, k, out, err);
    free(toks); free(lens);
    return rc;
}

llmc_status llmc_tokenizer_decode(const llmc_tokenizer *t, const int32_t *ids, size_t n, bool skip_special_tokens,
                                  char **text, size_t *len, llmc_error *err) {
    *text = NULL;
    if (len) *len = 0;
    if (!t || (!ids && n)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: decode needs a tokenizer and ids");
    llmc_strbuf sb; llmc_sb_init(&sb);
    llmc_status rc = decode_sb(t, ids, n, skip_special_tokens, &sb, err);
    if (!rc && !llmc_sb_append(&sb, "", 0)) rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    if (rc) { llmc_sb_free(&sb); return rc; }
    if (len) *len = sb.len;
    *text = llmc_sb_take(&sb);
    return LLMC_OK;
}

/* ---------------- queries ---------------- */

size_t llmc_tokenizer_vocab_size(const llmc_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t llmc_tokenizer_token_to_id(const llmc_tokenizer *t, const char *token) {
    if (!t || !token) return -1;
    size_t l = strlen(token);
    int32_t id = tok_smap_get(&t->added_map, token, l);
    return id >= 0 ? id : tok_smap_get(&t->vocab, token, l);
}

const char *llmc_tokenizer_id_to_token(const llmc_tokenizer *t, int32_t id) {
    if (!t || id < 0 || (size_t)id >= t->n_ids) return NULL;
    return t->id_str[id];
}

bool llmc_tokenizer_is_special(const llmc_tokenizer *t, int32_t id) {
    return t && id >= 0 && (size_t)id < t->n_ids && t->id_special[id];
}

const char *llmc_tokenizer_special(const llmc_tokenizer *t, const char *which) {
    if (!t || !which) return NULL;
    static const char *keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    for (int i = 0; i < 4; i++) if (!strcmp(which, keys[i])) return t->special_str[i];
    return NULL;
}

/* ---------------- streaming decode ---------------- */

/* Ids a stream holds back before it emits regardless (see llmc_detok_stream_push). */
#define DETOK_MAX_PENDING 16
struct llmc_detok_stream {
    const llmc_tokenizer *t;
    bool skip;
    int32_t *ids; size_t n, cap;
    size_t prefix_idx, read_idx;
    llmc_strbuf prefix_text;
    llmc_strbuf emitted;
};

llmc_detok_stream *llmc_detok_stream_new(const llmc_tokenizer *t, bool skip_special_tokens) {
    if (!t) return NULL;
    llmc_detok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    s->skip = skip_special_tokens;
    llmc_sb_init(&s->prefix_text);
    llmc_sb_init(&s->emitted);
    return s;
}

void llmc_detok_stream_free(llmc_detok_stream *s) {
    if (!s) return;
    free(s->ids);
    llmc_sb_free(&s->prefix_text);
    llmc_sb_free(&s->emitted);
    free(s);
}

static bool ends_with_fffd(const llmc_strbuf *b) {
    return b->len >= 3 && !memcmp(b->data + b->len - 3, "\xEF\xBF\xBD", 3);
}

/* Resync a stuck stream on the full decode: emit what follows the longest common prefix (on a
 * character boundary) of it and the text emitted so far; the emitted record becomes the full
 * text; the window restarts at the last id. Where the stream had diverged from the full decode,
 * the reader sees the diverging part twice rather than losing text. */
static llmc_status detok_resync(llmc_detok_stream *s, llmc_strbuf *out, llmc_error *err) {
    llmc_strbuf full; llmc_sb_init(&full);
    llmc_status rc = decode_sb(s->t, s->ids, s->n, s->skip, &full, err);
    if (rc) { llmc_sb_free(&full); return rc; }
    size_t end = full.len;
    size_t common = 0, lim = end < s->emitted.len ? end : s->emitted.len;
    while (common < lim && full.data[common] == s->emitted.data[common]) common++;
    while (common > 0 && common < end && ((unsigned char)full.data[common] & 0xC0) == 0x80) common--;
    if (end > common) llmc_sb_append(out, full.data + common, end - common);
    s->emitted.len = 0;
    llmc_sb_append(&s->emitted, full.data ? full.data : "", end);
    llmc_sb_free(&full);
    s->prefix_idx = s->n - 1;
    s->read_idx = s->n;
    s->prefix_text.len = 0;
    return decode_sb(s->t, s->ids + s->prefix_idx, 1, s->skip, &s->prefix_text, err);
}

/* The tokenizers DecodeStream scheme: decode a short window of ids and emit what it
 * adds beyond the window's prefix, only once it no longer ends in U+FFFD (an
 * incomplete UTF-8 sequence). */
llmc_status llmc_detok_stream_push(llmc_detok_stream *s, int32_t id, char **piece, llmc_error *err) {
    *piece = NULL;
    if (!s) return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: no stream");
    if (!ids_append(&s->ids, &s->n, &s->cap, &id, 1)) return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    llmc_strbuf text; llmc_sb_init(&text);
    llmc_status rc = decode_sb(s->t, s->ids + s->prefix_idx, s->n - s->prefix_idx, s->skip, &text, err);
    if (rc) { llmc_sb_free(&text); return rc; }
    llmc_strbuf out; llmc_sb_init(&out);
    /* The window of ids not yet emitted is bounded (DETOK_MAX_PENDING), so a push decodes at most
     * that many ids (and, when it resyncs, the whole sequence: at most once per DETOK_MAX_PENDING
     * pushes) however the ids go. It stops emitting in two cases: the text keeps ending in U+FFFD (a run of
     * invalid bytes; a character needs at most 3 more) — past the bound that text is emitted as it
     * decodes now; or the text no longer extends what was emitted (a cleanup rule rewrote the window,
     * a character completed inside it) — past the bound the stream resyncs on the full decode. */
    bool stuck = s->n - s->read_idx >= DETOK_MAX_PENDING;
    bool extends = text.len >= s->prefix_text.len &&
                   (s->prefix_text.len == 0 || !memcmp(text.data, s->prefix_text.data, s->prefix_text.len));
    if (stuck && !extends) {
        rc = detok_resync(s, &out, err);
    } else if (text.len > s->prefix_text.len && extends && (stuck || !ends_with_fffd(&text))) {
        llmc_sb_append(&out, text.data + s->prefix_text.len, text.len - s->prefix_text.len);
        llmc_sb_append(&s->emitted, text.data + s->prefix_text.len, text.len - s->prefix_text.len);
        s->prefix_idx = s->read_idx;
        s->read_idx = s->n;
        s->prefix_text.len = 0;
        rc = decode_sb(s->t, s->ids + s->prefix_idx, s->read_idx - s->prefix_idx, s->skip, &s->prefix_text, err);
    }
    llmc_sb_free(&text);
    if (!rc && (!llmc_sb_append(&out, "", 0) || out.oom || s->emitted.oom || s->prefix_text.oom))
        rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    if (rc) { llmc_sb_free(&out); return rc; }
    *piece = llmc_sb_take(&out);
    return LLMC_OK;
}

char *llmc_detok_stream_flush(llmc_detok_stream *s) {
    if (!s) return NULL;
    llmc_strbuf full; llmc_sb_init(&full);
    llmc_strbuf out; llmc_sb_init(&out);
    if (decode_sb(s->t, s->ids, s->n, s->skip, &full, NULL) == LLMC_OK && full.len >= s->emitted.len &&
        (s->emitted.len == 0 || !memcmp(full.data, s->emitted.data, s->emitted.len)))
        llmc_sb_append(&out, full.data + s->emitted.len, full.len - s->emitted.len);
    llmc_sb_free(&full);
    llmc_sb_append(&s->emitted, out.data ? out.data : "", out.len);
    /* Later pushes continue after everything flushed. */
    s->prefix_idx = s->read_idx = s->n;
    s->prefix_text.len = 0;
    llmc_sb_append(&out, "", 0);
    return llmc_sb_take(&out);
}
