/* A grammar bound to a tokenizer for one generation: the sampler's mask/accept hooks
 * (generate/sampler.h). The mask is applied to host logits; with a grammar active the
 * sampler asks a device-held head for every logit (no device-side choice). */
#include "grammar/grammar.h"
#include "base/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct llmc_grammar_constraint {
    llmc_grammar *g;
    llmc_grammar_vocab *v;
    llmc_grammar_matcher *m;
    llmc_status st;
    llmc_error err;
};

llmc_status llmc_grammar_constraint_new(const llmc_tokenizer *t, int n_vocab, const char *json_schema, const char *gbnf,
                                        const int32_t *eos, int n_eos, llmc_grammar_constraint **out, llmc_error *err) {
    *out = NULL;
    if (!t) return llmc_err(err, LLMC_ERR_INVALID_ARG, "constrained decoding needs the model's tokenizer");
    llmc_grammar_constraint *c = calloc(1, sizeof *c);
    if (!c) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_status st = json_schema ? llmc_grammar_from_json_schema(json_schema, strlen(json_schema), &c->g, err)
                                 : llmc_grammar_from_gbnf(gbnf ? gbnf : "", gbnf ? strlen(gbnf) : 0, NULL, &c->g, err);
    if (!st) st = llmc_grammar_vocab_from_tokenizer(t, n_vocab, &c->v, err);
    if (!st) st = llmc_grammar_matcher_new(c->g, c->v, eos, n_eos, &c->m, err);
    if (st) { llmc_grammar_constraint_free(c); return st; }
    *out = c;
    return LLMC_OK;
}

void llmc_grammar_constraint_free(llmc_grammar_constraint *c) {
    if (!c) return;
    llmc_grammar_matcher_free(c->m);
    llmc_grammar_vocab_free(c->v);
    llmc_grammar_free(c->g);
    free(c);
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
