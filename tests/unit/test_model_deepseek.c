/* DeepSeek-V3 invariants (numerics against transformers are the core golden fixtures' job,
 * e2e.core_golden): the sigmoid router — the correction bias changes the choice but not the
 * weights, the group limit excludes a group's experts however high they score, NaN scores
 * still give k distinct experts, norm_topk_prob and routed_scaling_factor scale the weights;
 * hostile configs fail before any tensor is read, naming the field; on the committed
 * fixture, one-token decode over the MLA cache (latent | k_rope per position, not per-head
 * K and V) equals prefill, a batch of two sequences equals each alone, and a prefix cache
 * sized by llmc_model_kv_dim stores and reloads its rows. */
#include "test.h"
#include "model/internal.h"
#include "formats/hf_config.h"
#include "model/kv_cache.h"
#include "model/prefix_cache.h"
#include "base/error.h"
#include <stdint.h>

static float sig(float x) { return 1.0f / (1.0f + expf(-x)); }

static void router_cfg(llmc_config *c, int E, int K, int G, int topk_group) {
    memset(c, 0, sizeof *c);
    c->num_experts = E;
    c->num_experts_per_tok = K;
    c->moe_sigmoid = true;
    c->n_group = G;
    c->topk_group = topk_group;
}

static bool has(const int32_t *sel, int K, int e) {
    for (int j = 0; j < K; j++)
        if (sel[j] == e) return true;
    return false;
}

static float weight_of(const int32_t *sel, const float *w, int K, int e) {
    for (int j = 0; j < K; j++)
        if (sel[j] == e) return w[j];
    return -1;
}

static void test_bias_choice_not_weight(void) {
    llmc_config c;
    router_cfg(&c, 8, 2, 1, 1);
    float logit[8] = {2, 1, 0, 0, 0, 0, 0, 0}, bias[8] = {0}, prob[8], w[2];
    int32_t sel[2];
    lm_moe_route(&c, logit, bias, prob, sel, w);
    CHECK(has(sel, 2, 0) && has(sel, 2, 1));
    CHECK(fabsf(weight_of(sel, w, 2, 1) - sig(1)) < 1e-7f);
    bias[5] = 1.0f; /* sig(0) + 1 = 1.5 beats sig(1): expert 5 is chosen, weighted by its unbiased score */
    lm_moe_route(&c, logit, bias, prob, sel, w);
    CHECK(has(sel, 2, 0) && has(sel, 2, 5) && !has(sel, 2, 1));
    CHECK_MSG(fabsf(weight_of(sel, w, 2, 5) - 0.5f) < 1e-7f, "weight %g", weight_of(sel, w, 2, 5));
    CHECK(fabsf(weight_of(sel, w, 2, 0) - sig(2)) < 1e-7f);
}

static void test_group_limit(void) {
    llmc_config c;
    /* group 0 = experts 0..3 (top-2 sum sig(3) + sig(-3) = 1), group 1 = 4..7 (2·sig(1) ≈ 1.46) */
    float logit[8] = {3, -3, -3, -3, 1, 1, -3, -3}, prob[8], w[2];
    int32_t sel[2];
    router_cfg(&c, 8, 2, 2, 1);
    lm_moe_route(&c, logit, NULL, prob, sel, w);
    CHECK_MSG(has(sel, 2, 4) && has(sel, 2, 5), "chose %d %d", (int)sel[0], (int)sel[1]); /* expert 0 scores highest, its group is out */
    router_cfg(&c, 8, 2, 2, 2); /* both groups allowed: expert 0 comes back */
    lm_moe_route(&c, logit, NULL, prob, sel, w);
    CHECK(has(sel, 2, 0) && (has(sel, 2, 4) || has(sel, 2, 5)));
    /* the group score is the sum of the top two: one strong expert alone does not win its group */
    float l2[8] = {4, -4, -4, -4, 1.5f, 1.5f, -4, -4};
    router_cfg(&c, 8, 2, 2, 1);
    lm_moe_route(&c, l2, NULL, prob, sel, w);
    CHECK(has(sel, 2, 4) && has(sel, 2, 5));
}

static void test_nan_scores(void) {
    llmc_config c;
    float logit[16], bias[16], prob[16], w[4];
    int32_t sel[4];
    for (int i = 0; i < 16; i++) logit[i] = bias[i] = NAN;
    for (int pass = 0; pass < 2; pass++) {
        router_cfg(&c, 16, 4, 4, 2);
        c.moe_sigmoid = pass == 0; /* and the softmax router */
        c.norm_topk_prob = true;
        lm_moe_route(&c, logit, pass == 0 ? bias : NULL, prob, sel, w);
        bool ok = true;
        for (int j = 0; j < 4; j++) {
            ok = ok && sel[j] >= 0 && sel[j] < 16;
            for (int i = 0; i < j; i++) ok = ok && sel[i] != sel[j];
        }
        CHECK_MSG(ok, "pass %d: %d %d %d %d", pass, (int)sel[0], (int)sel[1], (int)sel[2], (int)sel[3]);
    }
}

static void test_scaling(void) {
    llmc_config c;
    float logit[8] = {0.3f, -1, 2, 0.1f, -0.5f, 1, 0, -2}, prob[8], w[3];
    int32_t sel[3];
    router_cfg(&c, 8, 3, 1, 1);
    c.norm_topk_prob = true;
    c.routed_scaling_factor = 2.5;
    lm_moe_route(&c, logit, NULL, prob, sel, w);
    CHECK_MSG(fabsf(w[0] + w[1] + w[2] - 2.5f) < 1e-5f, "sum %g", w[0] + w[1] + w[2]);
    c.norm_topk_prob = false;
    c.routed_scaling_factor = 2.0;
    lm_moe_route(&c, logit, NULL, prob, sel, w);
    CHECK(has(sel, 3, 2) && fabsf(weight_of(sel, w, 3, 2) - 2.0f * sig(2)) < 1e-6f);
    c.routed_scaling_factor = 0; /* 0 = 1 */
    lm_moe_route(&c, logit, NULL, prob, sel, w);
    CHECK(fabsf(weight_of(sel, w, 3, 2) - sig(2)) < 1e-7f);
}

/* A valid small DeepSeek-V3 config (as hf_config reads it). */
static void ds_cfg(llmc_config *c) {
    llmc_error err;
    const char *j = "{\"model_type\":\"deepseek_v3\",\"hidden_size\":64,\"intermediate_size\":96,\"num_hidden_layers\":2,"
                    "\"num_attention_heads\":4,\"vocab_size\":64,\"n_routed_experts\":8,\"n_group\":2,\"topk_group\":1,"
                    "\"num_experts_per_tok\":2,\"first_k_dense_replace\":1,\"moe_intermediate_size\":16,\"q_lora_rank\":16,"
                    "\"kv_lora_rank\":16,\"qk_nope_head_dim\":8,\"qk_rope_head_dim\":8,\"v_head_dim\":12}";
    if (llmc_hf_config_parse(j, strlen(j), "test.json", c, &err) != LLMC_OK) {
        fprintf(stderr, "config: %s\n", err.msg);
        exit(1);
    }
}

static void expect_model_err(const llmc_config *c, const char *needle, int line) {
    llmc_model *m = NULL;
    llmc_error err = {0};
    llmc_status st = llmc_model_from_tensors(c, llmc_tensor_set_new(), NULL, &m, &err);
    CHECK_MSG(st != LLMC_OK && m == NULL, "line %d: loaded", line);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "line %d: '%s' lacks '%s'", line, err.msg, needle);
    llmc_model_free(m);
}

static void test_hostile_configs(void) {
    llmc_config c;
    ds_cfg(&c);
    expect_model_err(&c, "model.embed_tokens.weight", __LINE__); /* a valid config gets as far as the tensors */
    ds_cfg(&c);
    c.topk_group = 3;
    expect_model_err(&c, "topk_group 3", __LINE__);
    ds_cfg(&c);
    c.n_group = 3;
    expect_model_err(&c, "n_group 3", __LINE__);
    ds_cfg(&c);
    c.kv_lora_rank = 0;
    expect_model_err(&c, "kv_lora_rank", __LINE__);
    ds_cfg(&c);
    c.head_dim = 20; /* max(8 + 8, 12) = 16 */
    expect_model_err(&c, "head dims inconsistent", __LINE__);
    ds_cfg(&c);
    c.qk_rope_head_dim = 4096;
    expect_model_err(&c, "qk_rope_head_dim", __LINE__);
    ds_cfg(&c);
    c.num_kv_heads = 2;
    expect_model_err(&c, "num_key_value_heads 2", __LINE__);
    ds_cfg(&c);
    c.mla = false;
    expect_model_err(&c, "needs Multi-head Latent Attention", __LINE__);
    ds_cfg(&c);
    c.routed_scaling_factor = NAN;
    expect_model_err(&c, "routed_scaling_factor", __LINE__);
}

/* The committed fixture: the last prompt position's logits from prefill equal a token-by-token
   decode's (the K/V rows MLA wrote are read back). */
static void test_fixture_decode(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/golden/core/deepseek_v3_moe_f32", test_env("LLMC_SOURCE_DIR", "."));
    llmc_model_opts o;
    llmc_model_opts_default(&o);
    o.n_threads = 2;
    o.max_context = 64;
    llmc_model *m = NULL;
    llmc_error err = {0};
    if (llmc_model_load(dir, &o, &m, &err) != LLMC_OK) {
        CHECK_MSG(0, "load: %s", err.msg);
        return;
    }
    const int32_t ids[8] = {5, 17, 200, 3, 99, 41, 250, 7};
    const int V = llmc_model_config(m)->vocab_size;
    float *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    CHECK(llmc_model_forward(m, ids, 8, 0, a, false, &err) == LLMC_OK);
    for (int t = 0; t < 8; t++) CHECK(llmc_model_forward(m, ids + t, 1, t, b, false, &err) == LLMC_OK);
    float worst = 0, mx = 0;
    for (int i = 0; i < V; i++) {
        worst = fmaxf(worst, fabsf(a[i] - b[i]));
        mx = fmaxf(mx, fabsf(a[i]));
    }
    CHECK_MSG(worst <= 1e-5f * mx, "prefill vs decode: %g (max %g)", worst, mx);
    /* the cache holds the compressed row: latent 16 + k_rope 8 floats per layer and position (K and V halves) */
    CHECK_INT(llmc_model_pos_bytes(m), 3 * (16 + 8) * sizeof(float) + sizeof(int32_t));
    /* two sequences in one batch: each as it is alone (its own cache rows) */
    llmc_kv_cache *s1 = NULL, *s2 = NULL;
    CHECK(llmc_model_seq_new(m, 32, &s1, &err) == LLMC_OK && llmc_model_seq_new(m, 32, &s2, &err) == LLMC_OK);
    if (s1 && s2) {
        int32_t bid[11], bpos[11];
        llmc_kv_cache *bseq[11];
        bool want[11] = {false};
        for (int t = 0; t < 8; t++) { bid[t] = ids[t]; bpos[t] = t; bseq[t] = s1; }
        for (int t = 0; t < 3; t++) { bid[8 + t] = ids[5 + t]; bpos[8 + t] = t; bseq[8 + t] = s2; }
        want[7] = want[10] = true;
        float *lb = malloc((size_t)2 * V * sizeof *lb);
        llmc_batch bt = {11, bid, bseq, bpos, want, false, false};
        CHECK(llmc_model_forward_batch(m, &bt, lb, &err) == LLMC_OK);
        CHECK(llmc_model_forward(m, ids + 5, 3, 0, b, false, &err) == LLMC_OK);
        worst = 0;
        for (int i = 0; i < V; i++) worst = fmaxf(worst, fmaxf(fabsf(lb[i] - a[i]), fabsf(lb[V + i] - b[i])));
        CHECK_MSG(worst <= 1e-5f * mx, "batched vs alone: %g", worst);
        free(lb);
    }
    /* a prefix cache sized by llmc_model_kv_dim takes the MLA rows and gives them back */
    CHECK_INT(llmc_model_kv_dim(m), 12);
    llmc_prefix_cache *pc = llmc_prefix_cache_new(3, llmc_model_kv_dim(m), 16, 1u << 20);
    llmc_kv_cache *s3 = NULL;
    int32_t pid[20];
    for (int t = 0; t < 20; t++) pid[t] = (t * 37 + 11) % V;
    CHECK(pc && llmc_model_seq_new(m, 32, &s3, &err) == LLMC_OK);
    if (pc && s1 && s3) {
        llmc_kv_cache_truncate(s1, 0);
        int32_t pos[20];
        llmc_kv_cache *sq[20];
        for (int t = 0; t < 20; t++) { pos[t] = t; sq[t] = s1; }
        llmc_batch bt = {20, pid, sq, pos, NULL, false, false};
        CHECK(llmc_model_forward_batch(m, &bt, NULL, &err) == LLMC_OK);
        llmc_prefix_cache_store(pc, s1);
        CHECK_INT(llmc_prefix_cache_load(pc, pid, 20, 20, s3), 16);
    }
    llmc_prefix_cache_free(pc);
    llmc_kv_cache_free(s3);
    llmc_kv_cache_free(s1);
    llmc_kv_cache_free(s2);
    free(a);
    free(b);
    llmc_model_free(m);
}

int main(void) {
    test_bias_choice_not_weight();
    test_group_limit();
    test_nan_scores();
    test_scaling();
    test_hostile_configs();
    test_fixture_decode();
    return test_summary();
}
