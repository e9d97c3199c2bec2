/* The BPE model: a word's chars (or byte-fallback bytes / unk) merged by rank with a
 * priority queue over adjacent pairs, as tokenizers' Word::merge_all does
 * (lowest rank first, leftmost on ties; stale entries skipped). */
#include "tokenizer/tok_internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct { int32_t id, prev, next; bool gone; } sym;
typedef struct { uint32_t rank; int32_t pos; int32_t new_id; } mrg;

static inline bool mrg_less(const mrg *a, const mrg *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

typedef struct { mrg *v; size_t n, cap; } heap;
static bool heap_push(heap *h, mrg m) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        mrg *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv) return false;
        h->v = nv; h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = m;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!mrg_less(&h->v[i], &h->v[p])) break;
        mrg t = h->v[i]; h->v[i] = h->v[p]; h->v[p] = t;
        i = p;
    }
    return true;
}
static mrg heap_pop(heap *h) {
    mrg top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && mrg_less(&h->v[l], &h->v[m])) m = l;
        if (r < h->n && mrg_less(&h->v[r], &h->v[m])) m = r;
        if (m == i) break;
        mrg t = h->v[i]; h->v[i] = h->v[m]; h->v[m] = t;
        i = m;
    }
    return top;
}

static bool push_id(int32_t **ids, size_t *n, size_t *cap, int32_t id) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int32_t *nv = realloc(*ids, nc * sizeof *nv);
        if (!nv) return false;
        *ids = nv; *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return true;
}

typedef struct { sym *v; size_t n, cap; } syms;
static bool sym_add(syms *s, int32_t id) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        sym *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) return false;
        s->v = nv; s->cap = nc;
    }
    sym *x = &s->v[s->n];
    x->id = id; x->prev = (int32_t)s->n - 1; x->next = (int32_t)s->n + 1; x->gone = false;
    s->n++;
    return true;
}

static int32_t char_lookup(const llmc_tokenizer *t, const char *c, size_t clen, bool first, bool last, char *tmp) {
    if (!t->cont_prefix_len && !t->eow_suffix_len) {
        if (clen <= 2) {
            uint32_t cp;
            tok_u8(c, clen, &cp);
            if (cp < 512 && t->char_id[cp] != -2) return t->char_id[cp];
        }
        return tok_smap_get(&t->vocab, c, clen);
    }
    size_t k = 0;
    if (!first && t->cont_prefix_len) { memcpy(tmp, t->cont_prefix, t->cont_prefix_len); k = t->cont_prefix_len; }
    memcpy(tmp + k, c, clen); k += clen;
    if (last && t->eow_suffix_len) { memcpy(tmp + k, t->eow_suffix, t->eow_suffix_len); k += t->eow_suffix_len; }
    return tok_smap_get(&t->vocab, tmp, k);
}

llmc_status tok_bpe_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                         llmc_error *err) {
    if (len == 0) return LLMC_OK;
    if (t->ignore_merges) {
        int32_t id = tok_smap_get(&t->vocab, w, len);
        if (id >= 0) return push_id(ids, n, cap, id) ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    }
    syms s = {0};
    heap h = {0};
    char *tmp = NULL;
    llmc_status rc = LLMC_OK;
    if (t->cont_prefix_len || t->eow_suffix_len) {
        tmp = malloc(t->cont_prefix_len + t->eow_suffix_len + 8);
        if (!tmp) return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    }
    int32_t pend_unk = -1; /* pending unk symbol (fused) */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t cl = (size_t)tok_u8(w + i, len - i, &cp);
        bool last = i + cl >= len;
        int32_t id = char_lookup(t, w + i, cl, i == 0, last, tmp);
        if (id >= 0) {
            if (pend_unk >= 0) { if (!sym_add(&s, pend_unk)) goto oom; pend_unk = -1; }
            if (!sym_add(&s, id)) goto oom;
        } else {
            bool done = false;
            if (t->byte_fallback) {
                bool all = true;
                for (size_t j = 0; j < cl; j++) if (t->byte_tok[(unsigned char)w[i + j]] < 0) all = false;
                if (all) {
                    if (pend_unk >= 0) { if (!sym_add(&s, pend_unk)) goto oom; pend_unk = -1; }
                    for (size_t j = 0; j < cl; j++) if (!sym_add(&s, t->byte_tok[(unsigned char)w[i + j]])) goto oom;
                    done = true;
                }
            }
            if (!done && t->unk_id >= 0) {
                if (pend_unk >= 0 && !t->fuse_unk) { if (!sym_add(&s, pend_unk)) goto oom; }
                pend_unk = t->unk_id;
            } else if (!done) {
                /* tokenizers silently drops such a char; llmc never loses input. */
                free(s.v); free(h.v); free(tmp);
                return llmc_err(err, LLMC_ERR_INVALID_ARG,
                                "tokenizer: character U+%04X at byte %zu of the piece '%.*s' is not in the BPE vocabulary "
                                "and the model has neither byte_fallback nor unk_token", (unsigned)cp, i,
                                tok_u8_cut(w, len, 64), w);
            }
        }
        i += cl;
    }
    if (pend_unk >= 0 && !sym_add(&s, pend_unk)) goto oom;
    if (s.n == 0) goto done;
    s.v[s.n - 1].next = -1;
    for (size_t i = 0; i + 1 < s.n; i++) {
        uint64_t v;
        if (tok_umap_get(&t->merges, (uint64_t)(uint32_t)s.v[i].id << 32 | (uint32_t)s.v[i + 1].id, &v)) {
            mrg m = {(uint32_t)(v >> 32), (int32_t)i, (int32_t)(uint32_t)v};
            if (!heap_push(&h, m)) goto oom;
        }
    }
    while (h.n) {
        mrg top = heap_pop(&h);
        sym *a = &s.v[top.pos];
        if (a->gone || a->next < 0) continue;
        sym *b = &s.v[a->next];
        uint64_t v;
        if (!tok_umap_get(&t->merges, (uint64_t)(uint32_t)a->id << 32 | (uint32_t)b->id, &v) ||
            (int32_t)(uint32_t)v != top.new_id)
            continue;
        a->id = top.new_id;
        b->gone = true;
        a->next = b->next;
        if (b->next >= 0) s.v[b->next].prev = top.pos;
        if (a->prev >= 0) {
            sym *p = &s.v[a->prev];
            if (tok_umap_get(&t->merges, (uint64_t)(uint32_t)p->id << 32 | (uint32_t)a->id, &v)) {
                mrg m = {(uint32_t)(v >> 32), a->prev, (int32_t)(uint32_t)v};
                if (!heap_push(&h, m)) goto oom;
            }
        }
        if (a->next >= 0) {
            sym *q = &s.v[a->next];
            if (tok_umap_get(&t->merges, (uint64_t)(uint32_t)a->id << 32 | (uint32_t)q->id, &v)) {
                mrg m = {(uint32_t)(v >> 32), top.pos, (int32_t)(uint32_t)v};
                if (!heap_push(&h, m)) goto oom;
            }
        }
    }
    for (int32_t i = 0; i >= 0 && (size_t)i < s.n; i = s.v[i].next)
        if (!push_id(ids, n, cap, s.v[i].id)) goto oom;
done:
    free(s.v); free(h.v); free(tmp);
    return rc;
oom:
    free(s.v); free(h.v); free(tmp);
    return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory in BPE");
}
