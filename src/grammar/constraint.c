/* A grammar bound to a tokenizer for one generation: the sampler's mask/accept hooks
 * (generate/sampler.h). The mask is applied to host logits; with a grammar active the
 * sampler asks a device-held head for every logit (no device-side choice).
 *
 * A process-wide cache (mutex-guarded, bounded: GC_VOCABS vocabularies, GC_GRAMMARS
 * grammars) keeps the vocab tries and, per grammar text, a compiled grammar and one idle
 * matcher with its warm mask caches, so a repeated schema costs neither the vocab build nor
 * cold masks. A vocab is found by tokenizer address, size and a fingerprint of every token
 * string (an address reused by another tokenizer does not match). */
#include "grammar/grammar.h"
#include "base/error.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GC_VOCABS   2
#define GC_GRAMMARS 8

typedef struct { const llmc_tokenizer *tok; int n_vocab; uint64_t fp; llmc_grammar_vocab *v; int users; uint64_t used; } gc_vocab;
typedef struct {
    int vi; char *text; bool schema; uint64_t eos_h;
    llmc_grammar *g; llmc_grammar_matcher *idle; int users; uint64_t used;
} gc_gram;
static struct { pthread_mutex_t mu; gc_vocab v[GC_VOCABS]; gc_gram g[GC_GRAMMARS]; uint64_t clock; } G = {PTHREAD_MUTEX_INITIALIZER, {{0}}, {{0}}, 0};

struct llmc_grammar_constraint {
    llmc_grammar *g;
    llmc_grammar_vocab *v;
    llmc_grammar_matcher *m;
    int vi, gi;              /* cache slots in use (-1: owned here) */
    llmc_status st;
    llmc_error err;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t vocab_fingerprint(const llmc_tokenizer *t, int n_vocab) {
    uint64_t h = fnv(14695981039346656037ull, &n_vocab, sizeof n_vocab);
    size_t n = llmc_tokenizer_vocab_size(t);
    for (size_t i = 0; i < n; i++) {
        const char *s = llmc_tokenizer_id_to_token(t, (int32_t)i);
        char sp = llmc_tokenizer_is_special(t, (int32_t)i);
        h = fnv(h, &sp, 1);
        if (s) h = fnv(h, s, strlen(s) + 1);
    }
    return h;
}

/* Frees grammar slot i (unused) under the lock. */
static void gram_drop(int i) {
    llmc_grammar_matcher_free(G.g[i].idle);
    llmc_grammar_free(G.g[i].g);
    free(G.g[i].text);
    memset(&G.g[i], 0, sizeof G.g[i]);
    G.g[i].vi = -1;
}

/* The vocab for t: from the cache (*vi = slot) or built (*vi = -1 when it could not be cached). */
static llmc_status vocab_get(const llmc_tokenizer *t, int n_vocab, llmc_grammar_vocab **v, int *vi, llmc_error *err) {
    uint64_t fp = vocab_fingerprint(t, n_vocab);
    pthread_mutex_lock(&G.mu);
    for (int i = 0; i < GC_VOCABS; i++)
        if (G.v[i].v && G.v[i].tok == t && G.v[i].n_vocab == n_vocab && G.v[i].fp == fp) {
            G.v[i].users++;
            G.v[i].used = ++G.clock;
            *v = G.v[i].v;
            *vi = i;
            pthread_mutex_unlock(&G.mu);
            return LLMC_OK;
        }
    pthread_mutex_unlock(&G.mu);
    llmc_status st = llmc_grammar_vocab_from_tokenizer(t, n_vocab, v, err);
    if (st) return st;
    *vi = -1;
    pthread_mutex_lock(&G.mu);
    int best = -1;
    for (int i = 0; i < GC_VOCABS; i++) {
        if (G.v[i].users) continue;
        bool busy = false;   /* grammars in use on this vocab keep it */
        for (int k = 0; k < GC_GRAMMARS; k++) busy |= G.g[k].g && G.g[k].vi == i && G.g[k].users;
        if (!busy && (best < 0 || G.v[i].used < G.v[best].used)) best = i;
    }
    if (best >= 0) {
        for (int k = 0; k < GC_GRAMMARS; k++)
            if (G.g[k].g && G.g[k].vi == best) gram_drop(k);
        llmc_grammar_vocab_free(G.v[best].v);
        G.v[best] = (gc_vocab){t, n_vocab, fp, *v, 1, ++G.clock};
        *vi = best;
    }
    pthread_mutex_unlock(&G.mu);
    return LLMC_OK;
}

static uint64_t eos_hash(const int32_t *eos, int n) { return fnv(fnv(14695981039346656037ull, &n, sizeof n), eos, (size_t)n * sizeof *eos); }

/* Grammar and matcher for (text, kind) on cached vocab slot vi: an idle warm matcher when the
   cache has one, else a new matcher (and grammar). */
static llmc_status gram_get(llmc_grammar_constraint *c, const char *text, bool schema, const int32_t *eos, int n_eos, llmc_error *err) {
    uint64_t eh = eos_hash(eos, n_eos);
    c->gi = -1;
    if (c->vi >= 0) {
        pthread_mutex_lock(&G.mu);
        for (int i = 0; i < GC_GRAMMARS && c->gi < 0; i++) {
            gc_gram *e = &G.g[i];
            if (!e->g || e->vi != c->vi || e->schema != schema || e->eos_h != eh || strcmp(e->text, text)) continue;
            c->gi = i;
            c->g = e->g;
            c->m = e->idle;
            e->idle = NULL;
            e->users++;
            e->used = ++G.clock;
        }
        pthread_mutex_unlock(&G.mu);
    }
    if (c->m) { llmc_grammar_matcher_reset(c->m); return LLMC_OK; }
    llmc_status st;
    if (c->gi < 0) {
        st = schema ? llmc_grammar_from_json_schema(text, strlen(text), &c->g, err) : llmc_grammar_from_gbnf(text, strlen(text), NULL, &c->g, err);
        if (st) return st;
    }
    st = llmc_grammar_matcher_new(c->g, c->v, eos, n_eos, &c->m, err);
    if (st || c->gi >= 0 || c->vi < 0) return st;
    pthread_mutex_lock(&G.mu);   /* cache the new grammar */
    int best = -1;
    for (int i = 0; i < GC_GRAMMARS; i++)
        if (!G.g[i].users && (best < 0 || G.g[i].used < G.g[best].used)) best = i;
    char *dup = best >= 0 ? strdup(text) : NULL;
    if (dup) {
        gram_drop(best);
        G.g[best] = (gc_gram){c->vi, dup, schema, eh, c->g, NULL, 1, ++G.clock};
        c->gi = best;
    }
    pthread_mutex_unlock(&G.mu);
    return LLMC_OK;
}

llmc_status llmc_grammar_constraint_new(const llmc_tokenizer *t, int n_vocab, const char *json_schema, const char *gbnf,
                                        const int32_t *eos, int n_eos, llmc_grammar_constraint **out, llmc_error *err) {
    *out = NULL;
    if (!t) return llmc_err(err, LLMC_ERR_INVALID_ARG, "constrained decoding needs the model's tokenizer");
    if (n_vocab <= 0) n_vocab = (int)llmc_tokenizer_vocab_size(t);
    llmc_grammar_constraint *c = calloc(1, sizeof *c);
    if (!c) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    c->vi = c->gi = -1;
    llmc_status st = vocab_get(t, n_vocab, &c->v, &c->vi, err);
    if (!st) st = gram_get(c, json_schema ? json_schema : gbnf ? gbnf : "", json_schema != NULL, eos, n_eos, err);
    if (st) { llmc_grammar_constraint_free(c); return st; }
    *out = c;
    return LLMC_OK;
}

void llmc_grammar_constraint_free(llmc_grammar_constraint *c) {
    if (!c) return;
    pthread_mutex_lock(&G.mu);
    if (c->gi >= 0) {
        gc_gram *e = &G.g[c->gi];
        e->users--;
        if (!e->idle && c->m && !c->st) { e->idle = c->m; c->m = NULL; }   /* keep it warm (not after a failure) */
        c->g = NULL;
    }
    if (c->vi >= 0) { G.v[c->vi].users--; c->v = NULL; }
    pthread_mutex_unlock(&G.mu);
    llmc_grammar_matcher_free(c->m);
    llmc_grammar_vocab_free(c->v);
    llmc_grammar_free(c->g);
    free(c);
}

void llmc_grammar_cache_clear(void) {
    pthread_mutex_lock(&G.mu);
    for (int k = 0; k < GC_GRAMMARS; k++)
        if (G.g[k].g && !G.g[k].users) gram_drop(k);
    for (int i = 0; i < GC_VOCABS; i++) {
        bool busy = G.v[i].users > 0;
        for (int k = 0; k < GC_GRAMMARS; k++) busy |= G.g[k].g && G.g[k].vi == i;
        if (G.v[i].v && !busy) { llmc_grammar_vocab_free(G.v[i].v); memset(&G.v[i], 0, sizeof G.v[i]); }
    }
    pthread_mutex_unlock(&G.mu);
}

int llmc_grammar_constraint_mask_cb(void *user, float *logits, int vocab) {
    llmc_grammar_constraint *c = user;
    const uint32_t *mask = NULL;
    if (!c->st) c->st = llmc_grammar_matcher_mask(c->m, &mask, &c->err);
    int nv = llmc_grammar_vocab_size(c->v);
    if (c->st) {
        /* Nothing sensible to allow: every logit is forbidden and the caller stops. */
        for (int i = 0; i < vocab; i++) logits[i] = -INFINITY;
        return 1;
    }
    int any = 0;
    for (int w = 0; w < (nv + 31) / 32 && !any; w++) any = mask[w] != 0;
    if (!any) {
        c->st = llmc_err(&c->err, LLMC_ERR_UNSUPPORTED,
                         "constrained decoding: no token is allowed (the grammar is complete and the model has no eos token, "
                         "or the vocabulary cannot spell what the grammar needs)");
        for (int i = 0; i < vocab; i++) logits[i] = -INFINITY;
        return 1;
    }
    llmc_grammar_mask_apply(mask, logits, vocab < nv ? vocab : nv);
    for (int i = nv; i < vocab; i++) logits[i] = -INFINITY;
    return 0;
}

void llmc_grammar_constraint_accept_cb(void *user, int32_t id) {
    llmc_grammar_constraint *c = user;
    if (!c->st) c->st = llmc_grammar_matcher_accept(c->m, id, &c->err);
}

llmc_status llmc_grammar_constraint_status(const llmc_grammar_constraint *c, llmc_error *err) {
    if (!c || !c->st) return LLMC_OK;
    if (err) *err = c->err;
    return c->st;
}
