/* Model graph invariants on a random in-memory checkpoint (numerics against
 * transformers are the golden e2e test's job): batched prefill == one-by-one
 * decode (also across the internal batch boundary), cache rewind, range errors,
 * tensor validation, weight conversion at load. */
#include "test.h"
#include "model/model.h"
#include "base/error.h"
#include <stdint.h>

static uint64_t g_rng = 88172645463325252ull;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void add(llmc_tensor_set *ts, const char *name, int64_t rows, int64_t cols, float scale, float offset) {
    llmc_tensor t;
    memset(&t, 0, sizeof t);
    t.name = strdup(name);
    t.dtype = LLMC_DT_F32;
    int64_t n = cols > 0 ? rows * cols : rows;
    t.ndim = cols > 0 ? 2 : 1;
    t.shape[0] = rows;
    t.shape[1] = cols;
    float *d = malloc((size_t)n * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = offset + scale * frand();
    t.owned = d;
    t.data = d;
    t.nbytes = (size_t)n * sizeof *d;
    llmc_error err;
    if (llmc_tensor_set_add(ts, &t, &err) != LLMC_OK) { fprintf(stderr, "%s\n", err.msg); exit(1); }
}

static void make_cfg(llmc_config *c) {
    memset(c, 0, sizeof *c);
    strcpy(c->architecture, "LlamaForCausalLM");
    c->hidden_size = 32;
    c->intermediate_size = 48;
    c->num_layers = 2;
    c->num_heads = 4;
    c->num_kv_heads = 2;
    c->head_dim = 12; /* != hidden/heads on purpose */
    c->vocab_size = 64;
    c->max_position_embeddings = 512;
    c->rms_norm_eps = 1e-5;
    c->rope_theta = 10000;
    c->rope_type = LLMC_ROPE_DEFAULT;
    c->rope_factor = 1;
    c->attention_bias = true;
    c->bos_token_id = -1;
    c->pad_token_id = -1;
}

/* skip: a tensor name to leave out (validation tests). */
static llmc_tensor_set *make_ts(const llmc_config *c, const char *skip) {
    llmc_tensor_set *ts = llmc_tensor_set_new();
    g_rng = 88172645463325252ull; /* same weights for every model built from c */
    int H = c->hidden_size, I = c->intermediate_size, qd = c->num_heads * c->head_dim, kvd = c->num_kv_heads * c->head_dim;
    char n[128];
#define ADD(name, r, cc, s, o) do { if (!skip || strcmp(skip, name) != 0) add(ts, name, r, cc, s, o); } while (0)
    ADD("model.embed_tokens.weight", c->vocab_size, H, 1.0f, 0);
    if (!c->tie_word_embeddings) ADD("lm_head.weight", c->vocab_size, H, 0.3f, 0);
    ADD("model.norm.weight", H, 0, 0.2f, 1.0f);
    for (int l = 0; l < c->num_layers; l++) {
        struct { const char *s; int64_t r, cc; } w[] = {
            {"self_attn.q_proj.weight", qd, H}, {"self_attn.k_proj.weight", kvd, H}, {"self_attn.v_proj.weight", kvd, H},
            {"self_attn.o_proj.weight", H, qd}, {"mlp.gate_proj.weight", I, H}, {"mlp.up_proj.weight", I, H},
            {"mlp.down_proj.weight", H, I}, {"self_attn.q_proj.bias", qd, 0}, {"self_attn.k_proj.bias", kvd, 0},
            {"self_attn.v_proj.bias", kvd, 0}, {"self_attn.o_proj.bias", H, 0}};
        for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
            if (!c->attention_bias && strstr(w[i].s, ".bias")) continue;
            snprintf(n, sizeof n, "model.layers.%d.%s", l, w[i].s);
            ADD(n, w[i].r, w[i].cc, w[i].cc ? 0.5f / sqrtf((float)w[i].cc) * 3 : 0.1f, 0);
        }
        snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
        ADD(n, H, 0, 0.2f, 1.0f);
        snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(n, H, 0, 0.2f, 1.0f);
    }
#undef ADD
    return ts;
}

static double max_rel(const float *a, const float *b, size_t n) {
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
    }
    return mx > 0 ? d / mx : d;
}

static llmc_model *open_model(const llmc_config *c, int ctx, int dtype) {
    llmc_model_opts o;
    llmc_model_opts_default(&o);
    o.n_threads = 2;
    o.max_context = ctx;
    o.dtype = dtype;
    llmc_model *m = NULL;
    llmc_error err = {0};
    if (llmc_model_from_tensors(c, make_ts(c, NULL), &o, &m, &err) != LLMC_OK) {
        fprintf(stderr, "from_tensors: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static void test_prefill_vs_decode(void) {
    llmc_config c;
    make_cfg(&c);
    const int N = 300; /* crosses the internal prefill batch size */
    llmc_model *m = open_model(&c, 0, -1);
    CHECK_INT(llmc_model_context(m), 512);
    int V = c.vocab_size;
    int32_t *ids = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((i * 37 + 11) % V);
    float *all = malloc((size_t)N * V * sizeof *all), *one = malloc((size_t)V * sizeof *one), *last = malloc((size_t)V * sizeof *last);
    llmc_error err = {0};
    CHECK_INT(llmc_model_forward(m, ids, N, 0, all, true, &err), LLMC_OK);
    CHECK_INT(llmc_model_cached(m), N);
    /* Decode one by one from an empty cache (rewind to 0). */
    double worst = 0;
    for (int i = 0; i < N; i++) {
        if (llmc_model_forward(m, &ids[i], 1, i, one, false, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); break; }
        double r = max_rel(one, all + (size_t)i * V, V);
        if (r > worst) worst = r;
    }
    CHECK_MSG(worst < 1e-5, "prefill vs decode max rel %g", worst);
    /* Last-only logits equal the last row of all_logits. */
    CHECK_INT(llmc_model_forward(m, ids, N, 0, last, false, &err), LLMC_OK);
    CHECK_MSG(max_rel(last, all + (size_t)(N - 1) * V, V) < 1e-6, "last-only differs");
    /* Rewind: overwrite positions 5.. with other tokens, compare to a fresh run. */
    int32_t alt[8] = {3, 1, 4, 1, 5, 9, 2, 6};
    int32_t seq[13];
    memcpy(seq, ids, 5 * sizeof *seq);
    memcpy(seq + 5, alt, sizeof alt);
    CHECK_INT(llmc_model_forward(m, alt, 8, 5, one, false, &err), LLMC_OK);
    CHECK_INT(llmc_model_cached(m), 13);
    llmc_model *m2 = open_model(&c, 64, -1);
    CHECK_INT(llmc_model_forward(m2, seq, 13, 0, last, false, &err), LLMC_OK);
    CHECK_MSG(max_rel(one, last, V) < 1e-5, "rewind differs");
    /* logits NULL is allowed (prefill only). */
    CHECK_INT(llmc_model_forward(m2, seq, 13, 0, NULL, false, &err), LLMC_OK);
    llmc_model_free(m2);
    free(ids); free(all); free(one); free(last);
    llmc_model_free(m);
}

static void test_range_errors(void) {
    llmc_config c;
    make_cfg(&c);
    llmc_model *m = open_model(&c, 16, -1);
    CHECK_INT(llmc_model_context(m), 16);
    int32_t ids[17] = {0};
    float lg[64];
    llmc_error err = {0};
    CHECK_INT(llmc_model_forward(m, ids, 17, 0, lg, false, &err), LLMC_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "17") && strstr(err.msg, "16"), "%s", err.msg);
    CHECK_INT(llmc_model_forward(m, ids, 10, 0, lg, false, &err), LLMC_OK);
    CHECK_INT(llmc_model_forward(m, ids, 7, 10, lg, false, &err), LLMC_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "17") && strstr(err.msg, "16"), "%s", err.msg);
    CHECK_INT(llmc_model_forward(m, ids, 1, 11, lg, false, &err), LLMC_ERR_RANGE); /* past the cached 10 */
    CHECK_MSG(strstr(err.msg, "11") && strstr(err.msg, "10"), "%s", err.msg);
    ids[3] = 64;
    CHECK_INT(llmc_model_forward(m, ids, 5, 0, lg, false, &err), LLMC_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "64"), "%s", err.msg);
    ids[3] = -1;
    CHECK_INT(llmc_model_forward(m, ids, 5, 0, lg, false, &err), LLMC_ERR_RANGE);
    CHECK_INT(llmc_model_forward(m, ids, 0, 0, lg, false, &err), LLMC_ERR_INVALID_ARG);
    CHECK_INT(llmc_model_forward(m, ids, 1, -1, lg, false, &err), LLMC_ERR_RANGE);
    llmc_model_free(m);
    /* A requested context past max_position_embeddings is clamped to it. */
    c.max_position_embeddings = 32;
    m = open_model(&c, 100, -1);
    CHECK_INT(llmc_model_context(m), 32);
    llmc_model_free(m);
}

static void expect_load_err(const llmc_config *c, llmc_tensor_set *ts, llmc_status code, const char *needle, int line) {
    llmc_model *m = (llmc_model *)1;
    llmc_error err = {0};
    llmc_status st = llmc_model_from_tensors(c, ts, NULL, &m, &err); /* takes ts, also on failure */
    CHECK_MSG(st == code, "line %d: status %d (%s)", line, st, err.msg);
    CHECK_MSG(m == NULL, "line %d: model not NULL", line);
    CHECK_MSG(strstr(err.msg, needle), "line %d: '%s' lacks '%s'", line, err.msg, needle);
    if (st == LLMC_OK) llmc_model_free(m);
}

static void test_validation(void) {
    llmc_config c;
    make_cfg(&c);
    expect_load_err(&c, make_ts(&c, "model.layers.1.mlp.up_proj.weight"), LLMC_ERR_FORMAT, "model.layers.1.mlp.up_proj.weight", __LINE__);
    expect_load_err(&c, make_ts(&c, "lm_head.weight"), LLMC_ERR_FORMAT, "lm_head.weight", __LINE__);
    expect_load_err(&c, make_ts(&c, "model.layers.0.self_attn.k_proj.bias"), LLMC_ERR_FORMAT, "k_proj.bias", __LINE__);
    /* Wrong shape: config says 3 KV heads (k/v rows 36), tensors have 24. */
    llmc_config c2 = c;
    llmc_tensor_set *ts = make_ts(&c, NULL);
    c2.num_kv_heads = 1;
    expect_load_err(&c2, ts, LLMC_ERR_FORMAT, "k_proj.weight' has shape [24, 32], expected [12, 32]", __LINE__);
    /* A quantized norm weight is refused (norms must be float). */
    ts = make_ts(&c, NULL);
    llmc_tensor *t = llmc_tensor_set_find_mut(ts, "model.norm.weight");
    t->dtype = LLMC_DT_Q8_0;
    expect_load_err(&c, ts, LLMC_ERR_UNSUPPORTED, "model.norm.weight", __LINE__);
    /* nbytes inconsistent with the shape. */
    ts = make_ts(&c, NULL);
    llmc_tensor_set_find_mut(ts, "model.layers.0.mlp.down_proj.weight")->nbytes -= 4;
    expect_load_err(&c, ts, LLMC_ERR_FORMAT, "down_proj", __LINE__);
    /* Unknown architecture. */
    llmc_config c3 = c;
    strcpy(c3.architecture, "GemmaForCausalLM");
    expect_load_err(&c3, make_ts(&c, NULL), LLMC_ERR_UNSUPPORTED, "GemmaForCausalLM", __LINE__);
    /* Qwen3 needs its per-head q/k norms: a checkpoint without them names the first missing one. */
    strcpy(c3.architecture, "Qwen3ForCausalLM");
    c3.qk_norm = true;
    expect_load_err(&c3, make_ts(&c, NULL), LLMC_ERR_FORMAT, "model.layers.0.self_attn.q_norm.weight", __LINE__);
    /* Phi-3 reads q|k|v and gate|up from fused tensors: without them, the first is named. */
    llmc_config c5 = c;
    strcpy(c5.architecture, "Phi3ForCausalLM");
    c5.fused_proj = true;
    expect_load_err(&c5, make_ts(&c, NULL), LLMC_ERR_FORMAT, "model.layers.0.self_attn.qkv_proj.weight", __LINE__);
    /* Tied embeddings: no lm_head needed, and a stray one is ignored (transformers ties). */
    llmc_config c4 = c;
    c4.tie_word_embeddings = true;
    llmc_model *m = NULL;
    llmc_error err = {0};
    CHECK_INT(llmc_model_from_tensors(&c4, make_ts(&c4, NULL), NULL, &m, &err), LLMC_OK);
    llmc_model_free(m);
    llmc_model_free(NULL);
}

static void test_convert(void) {
    llmc_config c;
    make_cfg(&c);
    c.sliding_window = 4;
    llmc_model *a = open_model(&c, 32, -1), *b = open_model(&c, 32, LLMC_DT_BF16), *f = open_model(&c, 32, LLMC_DT_F16);
    int32_t ids[12] = {1, 5, 9, 2, 7, 3, 8, 0, 4, 6, 10, 11};
    float la[64], lb[64], lf[64];
    llmc_error err = {0};
    CHECK_INT(llmc_model_forward(a, ids, 12, 0, la, false, &err), LLMC_OK);
    CHECK_INT(llmc_model_forward(b, ids, 12, 0, lb, false, &err), LLMC_OK);
    CHECK_INT(llmc_model_forward(f, ids, 12, 0, lf, false, &err), LLMC_OK);
    double rb = max_rel(lb, la, 64), rf = max_rel(lf, la, 64);
    /* bf16 keeps 8 mantissa bits, f16 11: both perturb, f16 less. */
    CHECK_MSG(rb > 0 && rb < 0.1, "bf16 rel %g", rb);
    CHECK_MSG(rf > 0 && rf < 0.01, "f16 rel %g", rf);
    llmc_model_free(a);
    llmc_model_free(b);
    llmc_model_free(f);
}

/* --quantize: float linear weights → Q8_0 / Q4_0 at load (embeddings and lm_head → Q8_0). */
static void test_quantize(void) {
    llmc_config c;
    make_cfg(&c);
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.head_dim = 16; /* every linear weight's rows are whole 32-blocks */
    int32_t ids[12] = {1, 5, 9, 2, 7, 3, 8, 0, 4, 6, 10, 11};
    float ref[64], lq[2][64];
    llmc_error err = {0};
    llmc_model *a = open_model(&c, 32, -1);
    CHECK_INT(llmc_model_forward(a, ids, 12, 0, ref, false, &err), LLMC_OK);
    llmc_model_free(a);
    static const int qt[2] = {LLMC_DT_Q8_0, LLMC_DT_Q4_0};
    for (int k = 0; k < 2; k++) {
        llmc_model_opts o;
        llmc_model_opts_default(&o);
        o.max_context = 32;
        o.quantize = qt[k];
        llmc_model *m = NULL;
        CHECK_INT(llmc_model_from_tensors(&c, make_ts(&c, NULL), &o, &m, &err), LLMC_OK);
        if (!m) return;
        CHECK_INT(llmc_model_forward(m, ids, 12, 0, lq[k], false, &err), LLMC_OK);
        llmc_model_free(m);
    }
    double r8 = max_rel(lq[0], ref, 64), r4 = max_rel(lq[1], ref, 64);
    /* 8-bit blocks: ~0.4% per weight; 4-bit: ~7%; both perturb, Q4_0 more. */
    CHECK_MSG(r8 > 0 && r8 < 0.03, "q8_0 rel %g", r8);
    CHECK_MSG(r4 > r8 && r4 < 0.4, "q4_0 rel %g (q8_0 %g)", r4, r8);
    /* rows that are not whole blocks: a clear error naming the tensor */
    make_cfg(&c); /* head_dim 12 → o_proj rows of 48 */
    llmc_model_opts o;
    llmc_model_opts_default(&o);
    o.quantize = LLMC_DT_Q4_0;
    llmc_model *m = NULL;
    CHECK_INT(llmc_model_from_tensors(&c, make_ts(&c, NULL), &o, &m, &err), LLMC_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK_MSG(strstr(err.msg, "o_proj") && strstr(err.msg, "48"), "message: %s", err.msg);
    o.quantize = LLMC_DT_Q4_1; /* not offered at load */
    CHECK_INT(llmc_model_from_tensors(&c, make_ts(&c, NULL), &o, &m, &err), LLMC_ERR_INVALID_ARG);
}

int main(void) {
    test_prefill_vs_decode();
    test_range_errors();
    test_validation();
    test_convert();
    test_quantize();
    return test_summary();
}
