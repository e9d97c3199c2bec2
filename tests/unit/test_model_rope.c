/* LongRoPE's switch on the committed Phi-3.5-style fixture (tests/golden/core/phi35_longrope_f32,
 * original_max_position_embeddings 16): decoding one token at a time past position 16 recomputes
 * the cached keys with the long factors, so the logits then equal one call over the whole
 * sequence (long factors throughout) — through llmc_model_forward and through the
 * multi-sequence llmc_model_forward_batch alike; before the switch they equal a short-factor
 * call. Numerics against transformers are e2e.core_golden's job. */
#include "test.h"
#include "model/model.h"
#include "base/error.h"

enum { T = 24, ORIG = 16 };

static double max_rel(const float *a, const float *b, size_t n) {
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
        if (!(fabs(a[i] - b[i]) <= d)) d = fabs(a[i] - b[i]);
    }
    return mx > 0 ? d / mx : d;
}

int main(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden/core/phi35_longrope_f32", test_env("LLMC_SOURCE_DIR", "."));
    llmc_model_opts o;
    llmc_model_opts_default(&o);
    o.n_threads = 2;
    llmc_model *m = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_model_load(dir, &o, &m, &err) == LLMC_OK, "%s", err.msg);
    if (!m) return test_summary();
    const int V = llmc_model_config(m)->vocab_size;
    CHECK_INT(llmc_model_config(m)->rope_original_max_position, ORIG);
    int32_t ids[T];
    for (int t = 0; t < T; t++) ids[t] = (t * 37 + 11) % V;
    float *whole = malloc((size_t)T * V * sizeof *whole), *step = malloc((size_t)V * sizeof *step), *pre = malloc((size_t)ORIG * V * sizeof *pre);
    /* reference: one call each, short (the first 16) and long (all 24) */
    CHECK_INT(llmc_model_forward(m, ids, ORIG, 0, pre, true, &err), LLMC_OK);
    CHECK_INT(llmc_model_forward(m, ids, T, 0, whole, true, &err), LLMC_OK);
    /* the pipeline's way: a prompt of 10, then one token at a time */
    CHECK_INT(llmc_model_forward(m, ids, 10, 0, NULL, false, &err), LLMC_OK);
    double worst_short = 0, worst_long = 0;
    for (int t = 10; t < T; t++) {
        CHECK_INT(llmc_model_forward(m, ids + t, 1, t, step, false, &err), LLMC_OK);
        double r = max_rel(step, t < ORIG ? pre + (size_t)t * V : whole + (size_t)t * V, (size_t)V);
        if (t < ORIG && r > worst_short) worst_short = r;
        if (t >= ORIG && r > worst_long) worst_long = r;
    }
    CHECK_MSG(worst_short < 1e-5, "decode before the switch vs one short call: %g", worst_short);
    CHECK_MSG(worst_long < 1e-5, "decode after the switch vs one long call: %g", worst_long);
    /* the switch matters: the long call's first rows differ from the short call's */
    CHECK(max_rel(whole, pre, (size_t)ORIG * V) > 1e-3);
    /* the same through the multi-sequence entry point */
    llmc_kv_cache *s = NULL;
    CHECK_INT(llmc_model_seq_new(m, 64, &s, &err), LLMC_OK);
    worst_long = 0;
    for (int t = 0; t < T && s; t++) {
        int32_t pos = t;
        bool want = true;
        llmc_batch b = {1, ids + t, &s, &pos, &want, false, false};
        CHECK_INT(llmc_model_forward_batch(m, &b, step, &err), LLMC_OK);
        if (t >= ORIG) {
            double r = max_rel(step, whole + (size_t)t * V, (size_t)V);
            if (r > worst_long) worst_long = r;
        }
    }
    CHECK_MSG(worst_long < 1e-5, "batched decode after the switch vs one long call: %g", worst_long);
    llmc_kv_cache_free(s);
    free(whole);
    free(step);
    free(pre);
    llmc_model_free(m);
    return test_summary();
}
