/* Mixture-of-experts invariants on random in-memory checkpoints (numerics against
 * transformers are the core golden fixtures' job, e2e.core_golden): per-expert and stacked
 * (GGUF-style [E, out, in]) expert tensors give bit-identical logits; a batch of sequences
 * equals each sequence alone (batch-invariant mode, bit for bit) and batched prefill equals
 * one-by-one decode; an expert no token routes to is never read (NaN weights stay out of
 * the logits); the bytes-per-token estimate counts k of E experts; hostile shapes and
 * configs fail with messages naming the tensor or field. */
#include "test.h"
#include "model/model.h"
#include "formats/arch.h"
#include "formats/hf_config.h"
#include "base/error.h"
#include <stdint.h>

static uint64_t g_rng;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* A tensor of dims (d0, d1, d2; trailing zeros = fewer dims) filled with offset + scale·U(-1, 1). */
static void add3(llmc_tensor_set *ts, const char *name, int64_t d0, int64_t d1, int64_t d2, const float *src, float scale, float offset) {
    llmc_tensor t;
    memset(&t, 0, sizeof t);
    t.name = strdup(name);
    t.dtype = LLMC_DT_F32;
    t.ndim = d2 ? 3 : d1 ? 2 : 1;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.shape[2] = d2;
    int64_t n = d0 * (d1 ? d1 : 1) * (d2 ? d2 : 1);
    float *d = malloc((size_t)n * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = src ? src[i] : offset + scale * frand();
    t.owned = d;
    t.data = d;
    t.nbytes = (size_t)n * sizeof *d;
    llmc_error err;
    if (llmc_tensor_set_add(ts, &t, &err) != LLMC_OK) { fprintf(stderr, "%s\n", err.msg); exit(1); }
}

static void make_cfg(llmc_config *c, int layers) {
    memset(c, 0, sizeof *c);
    strcpy(c->architecture, "MixtralForCausalLM");
    c->hidden_size = 32;
    c->intermediate_size = 32;
    c->num_layers = layers;
    c->num_heads = 4;
    c->num_kv_heads = 2;
    c->head_dim = 8;
    c->vocab_size = 64;
    c->max_position_embeddings = 512;
    c->rms_norm_eps = 1e-5;
    c->rope_theta = 10000;
    c->rope_factor = 1;
    c->bos_token_id = c->pad_token_id = -1;
    c->num_experts = 4;
    c->num_experts_per_tok = 2;
    c->moe_intermediate_size = 32;
    c->norm_topk_prob = true;
}

typedef struct {
    bool stacked;          /* experts as [E, out, in] tensors (GGUF's layout, HF-named) */
    const char *skip;      /* a tensor to leave out */
    int nan_expert;        /* >= 0: that expert's weights are NaN and the router never picks it */
    int64_t bad_rows;      /* != 0: the stacked gate tensor gets this many rows per expert */
    bool nan_router;       /* every router weight NaN (hostile file) */
} moe_opts;

static llmc_tensor_set *make_ts(const llmc_config *c, const moe_opts *mo) {
    llmc_tensor_set *ts = llmc_tensor_set_new();
    g_rng = 88172645463325252ull;
    const int H = c->hidden_size, W = c->moe_intermediate_size, E = c->num_experts, qd = c->num_heads * c->head_dim,
              kvd = c->num_kv_heads * c->head_dim;
    char n[160];
    const bool nan_mode = mo->nan_expert >= 0;
#define ADD(name, a, b, d, s, o) do { if (!mo->skip || strcmp(mo->skip, name) != 0) add3(ts, name, a, b, d, NULL, s, o); } while (0)
    /* NaN mode: positive embeddings and zero attention output, so each layer's MLP input is positive */
    ADD("model.embed_tokens.weight", c->vocab_size, H, 0, nan_mode ? 0.5f : 1.0f, nan_mode ? 1.0f : 0);
    ADD("lm_head.weight", c->vocab_size, H, 0, 0.3f, 0);
    ADD("model.norm.weight", H, 0, 0, 0.2f, 1.0f);
    for (int l = 0; l < c->num_layers; l++) {
        const char *proj[4] = {"q_proj", "k_proj", "v_proj", "o_proj"};
        const int64_t rows[4] = {qd, kvd, kvd, H}, cols[4] = {H, H, H, qd};
        for (int i = 0; i < 4; i++) {
            snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.weight", l, proj[i]);
            ADD(n, rows[i], cols[i], 0, nan_mode && i == 3 ? 0.0f : 1.5f / sqrtf((float)cols[i]), 0);
        }
        snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
        ADD(n, H, 0, 0, 0.2f, 1.0f);
        snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(n, H, 0, 0, nan_mode ? 0.0f : 0.2f, 1.0f);
        /* router: in NaN mode every entry of the NaN expert's row -1, the others' +1 ± 0.5 */
        float *router = malloc((size_t)E * H * sizeof *router);
        for (int e = 0; e < E; e++)
            for (int i = 0; i < H; i++)
                router[e * H + i] = mo->nan_router ? NAN : nan_mode ? (e == mo->nan_expert ? -1.0f : 1.0f + 0.5f * frand()) : 1.5f * frand() / 5.0f;
        snprintf(n, sizeof n, "model.layers.%d.block_sparse_moe.gate.weight", l);
        if (!mo->skip || strcmp(mo->skip, n)) add3(ts, n, E, H, 0, router, 0, 0);
        free(router);
        /* experts: the same values either way (stacked [E, out, in] or one tensor per expert) */
        const char *hf[3] = {"w1", "w3", "w2"}, *st[3] = {"gate_proj", "up_proj", "down_proj"};
        for (int i = 0; i < 3; i++) {
            int64_t r = i == 2 ? H : W, cc = i == 2 ? W : H;
            float *v = malloc((size_t)E * r * cc * sizeof *v);
            for (int64_t k = 0; k < E * r * cc; k++) v[k] = 1.5f / sqrtf((float)cc) * frand();
            if (nan_mode)
                for (int64_t k = 0; k < r * cc; k++) v[mo->nan_expert * r * cc + k] = NAN;
            if (mo->stacked) {
                snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%s.weight", l, st[i]);
                int64_t rr = i == 0 && mo->bad_rows ? mo->bad_rows : r;
                if (rr == r) add3(ts, n, E, r, cc, v, 0, 0);
                else add3(ts, n, E, rr, cc, NULL, 0.1f, 0);
            } else {
                for (int e = 0; e < E; e++) {
                    snprintf(n, sizeof n, "model.layers.%d.block_sparse_moe.experts.%d.%s.weight", l, e, hf[i]);
                    if (!mo->skip || strcmp(mo->skip, n)) add3(ts, n, r, cc, 0, v + e * r * cc, 0, 0);
                }
            }
            free(v);
        }
    }
#undef ADD
    return ts;
}

static llmc_model *open_moe(const llmc_config *c, const moe_opts *mo, int quantize) {
    llmc_model_opts o;
    llmc_model_opts_default(&o);
    o.n_threads = 2;
    o.max_context = 256;
    o.quantize = quantize;
    llmc_model *m = NULL;
    llmc_error err = {0};
    if (llmc_model_from_tensors(c, make_ts(c, mo), &o, &m, &err) != LLMC_OK) {
        fprintf(stderr, "from_tensors: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static double max_rel(const float *a, const float *b, size_t n) {
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
        if (!(fabs(a[i] - b[i]) <= d)) d = fabs(a[i] - b[i]);
    }
    return mx > 0 ? d / mx : d;
}

enum { N = 12, V = 64 };
static const int32_t ids[N] = {3, 17, 42, 5, 9, 63, 0, 21, 33, 8, 50, 11};

static void test_stacked_equals_per_expert(void) {
    llmc_config c;
    make_cfg(&c, 2);
    moe_opts a = {false, NULL, -1, 0, false}, b = {true, NULL, -1, 0, false};
    llmc_model *m1 = open_moe(&c, &a, -1), *m2 = open_moe(&c, &b, -1);
    static float l1[N * V], l2[N * V];
    llmc_error err;
    CHECK_INT(llmc_model_forward(m1, ids, N, 0, l1, true, &err), LLMC_OK);
    CHECK_INT(llmc_model_forward(m2, ids, N, 0, l2, true, &err), LLMC_OK);
    CHECK_MSG(memcmp(l1, l2, sizeof l1) == 0, "stacked experts differ from per-expert ones (max rel %g)", max_rel(l2, l1, N * V));
    /* weight bytes: attention + router + k of E experts per layer + the head */
    double per_layer = 4.0 * 32 * 32 * 4 - 2.0 * 16 * 32 * 4 + 4.0 * 32 * 4 + 2.0 / 4 * 4 * 3 * 32 * 32 * 4;
    double want = 2 * per_layer + 64.0 * 32 * 4;
    CHECK_MSG(fabs(llmc_model_weight_bytes(m1) - want) < 1, "weight bytes %g, expected %g", llmc_model_weight_bytes(m1), want);
    llmc_model_free(m1);
    llmc_model_free(m2);
}

static void test_batch_and_decode(void) {
    llmc_config c;
    make_cfg(&c, 2);
    moe_opts a = {false, NULL, -1, 0, false};
    llmc_model *m = open_moe(&c, &a, -1);
    static float full[N * V], step[N * V], both[2 * V], alone[2][V];
    llmc_error err;
    CHECK_INT(llmc_model_forward(m, ids, N, 0, full, true, &err), LLMC_OK);
    for (int t = 0; t < N; t++) CHECK_INT(llmc_model_forward(m, ids + t, 1, t, step + t * V, false, &err), LLMC_OK);
    CHECK_MSG(max_rel(step, full, N * V) < 1e-5, "decode vs prefill: %g", max_rel(step, full, N * V));
    /* two sequences in one batch-invariant call == each alone */
    llmc_kv_cache *s1 = NULL, *s2 = NULL;
    CHECK_INT(llmc_model_seq_new(m, 64, &s1, &err), LLMC_OK);
    CHECK_INT(llmc_model_seq_new(m, 64, &s2, &err), LLMC_OK);
    int32_t bid[N], bpos[N];
    llmc_kv_cache *bseq[N];
    bool want[N];
    for (int t = 0; t < N; t++) {
        bid[t] = ids[t];
        bseq[t] = t < 5 ? s1 : s2;
        bpos[t] = t < 5 ? t : t - 5;
        want[t] = t == 4 || t == N - 1;
    }
    llmc_batch b = {N, bid, bseq, bpos, want, true, false};
    CHECK_INT(llmc_model_forward_batch(m, &b, both, &err), LLMC_OK);
    for (int k = 0; k < 2; k++) {
        llmc_kv_cache *s = NULL;
        CHECK_INT(llmc_model_seq_new(m, 64, &s, &err), LLMC_OK);
        int n = k ? N - 5 : 5;
        llmc_batch one = {n, bid + (k ? 5 : 0), bseq, bpos + (k ? 5 : 0), want + (k ? 5 : 0), true, false};
        llmc_kv_cache *ss[N];
        for (int t = 0; t < n; t++) ss[t] = s;
        one.seq = ss;
        CHECK_INT(llmc_model_forward_batch(m, &one, alone[k], &err), LLMC_OK);
        llmc_kv_cache_free(s);
    }
    CHECK_MSG(memcmp(both, alone[0], sizeof alone[0]) == 0 && memcmp(both + V, alone[1], sizeof alone[1]) == 0,
              "batched sequences differ from alone: %g %g", max_rel(both, alone[0], V), max_rel(both + V, alone[1], V));
    /* the decode path (one token: experts paired) == a row of the grouped prefill, bit for bit (invariant mode) */
    llmc_kv_cache *s3 = NULL;
    CHECK_INT(llmc_model_seq_new(m, 64, &s3, &err), LLMC_OK);
    static float one[V];
    for (int t = 5; t < N && s3; t++) {
        int32_t p = t - 5;
        bool w = true;
        llmc_batch d = {1, bid + t, &s3, &p, &w, true, false};
        CHECK_INT(llmc_model_forward_batch(m, &d, one, &err), LLMC_OK);
    }
    CHECK_MSG(memcmp(one, alone[1], sizeof one) == 0, "one-token steps differ from the grouped prefill: %g", max_rel(one, alone[1], V));
    llmc_kv_cache_free(s3);
    llmc_kv_cache_free(s1);
    llmc_kv_cache_free(s2);
    llmc_model_free(m);
}

/* Expert 2 holds NaN weights and its router row is negative where every other is positive:
   no token picks it, so its weights must never be read (a NaN would reach the logits even
   with a zero routing weight). */
static void test_unchosen_expert_unread(void) {
    llmc_config c;
    make_cfg(&c, 1);
    for (int stacked = 0; stacked < 2; stacked++) {
        moe_opts a = {stacked, NULL, 2, 0, false};
        llmc_model *m = open_moe(&c, &a, -1);
        static float lg[N * V];
        llmc_error err;
        CHECK_INT(llmc_model_forward(m, ids, N, 0, lg, true, &err), LLMC_OK);
        int bad = 0;
        for (int i = 0; i < N * V; i++) bad += !isfinite(lg[i]);
        CHECK_MSG(bad == 0, "%d non-finite logits: an unchosen expert was read (stacked %d)", bad, stacked);
        llmc_model_free(m);
    }
}

/* NaN router weights (a hostile file): the forward still picks k distinct experts and returns
   (NaN logits, no out-of-bounds read: the ASan build checks). */
static void test_nan_router(void) {
    llmc_config c;
    make_cfg(&c, 1);
    moe_opts a = {false, NULL, -1, 0, true};
    llmc_model *m = open_moe(&c, &a, -1);
    static float lg[N * V];
    llmc_error err;
    CHECK_INT(llmc_model_forward(m, ids, N, 0, lg, true, &err), LLMC_OK);
    CHECK_INT(llmc_model_forward(m, ids, 1, N, lg, false, &err), LLMC_OK);
    CHECK(isnan(lg[0]));
    llmc_model_free(m);
}

static void test_quantized_experts(void) {
    llmc_config c;
    make_cfg(&c, 2);
    moe_opts a = {true, NULL, -1, 0, false};
    llmc_model *mf = open_moe(&c, &a, -1), *mq = open_moe(&c, &a, LLMC_DT_Q8_0);
    static float lf[N * V], lq[N * V];
    llmc_error err;
    CHECK_INT(llmc_model_forward(mf, ids, N, 0, lf, true, &err), LLMC_OK);
    CHECK_INT(llmc_model_forward(mq, ids, N, 0, lq, true, &err), LLMC_OK);
    CHECK_MSG(max_rel(lq, lf, N * V) < 5e-2, "q8_0 experts vs f32: %g", max_rel(lq, lf, N * V));
    CHECK(llmc_model_weight_bytes(mq) < llmc_model_weight_bytes(mf) / 2);
    llmc_model_free(mf);
    llmc_model_free(mq);
}

/* Tensors made for tc (NULL: c), loaded with c. */
static void expect_err2(const llmc_config *c, const llmc_config *tc, const moe_opts *mo, llmc_status code, const char *needle, int line) {
    llmc_model *m = NULL;
    llmc_error err = {0};
    llmc_status st = llmc_model_from_tensors(c, make_ts(tc ? tc : c, mo), NULL, &m, &err);
    CHECK_MSG(st == code && m == NULL, "line %d: status %d (%s), expected %d", line, st, err.msg, code);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "line %d: '%s' lacks '%s'", line, err.msg, needle);
    llmc_model_free(m);
}
#define expect_err(c, mo, code, needle, line) expect_err2(c, NULL, mo, code, needle, line)

static void test_errors(void) {
    llmc_config c;
    make_cfg(&c, 2);
    moe_opts skip = {false, "model.layers.1.block_sparse_moe.experts.3.w2.weight", -1, 0, false};
    expect_err(&c, &skip, LLMC_ERR_FORMAT, "model.layers.1.block_sparse_moe.experts.3.w2.weight", __LINE__);
    moe_opts router = {false, "model.layers.0.block_sparse_moe.gate.weight", -1, 0, false};
    expect_err(&c, &router, LLMC_ERR_FORMAT, "gate.weight", __LINE__);
    moe_opts bad = {true, NULL, -1, 31, false};
    expect_err(&c, &bad, LLMC_ERR_FORMAT, "model.layers.0.mlp.experts.gate_proj.weight", __LINE__);
    moe_opts ok = {false, NULL, -1, 0, false};
    llmc_config c2 = c;
    c2.num_experts_per_tok = 5;
    expect_err(&c2, &ok, LLMC_ERR_FORMAT, "5 per token", __LINE__);
    c2 = c;
    c2.moe_intermediate_size = 16; /* the tensors are 32 wide */
    expect_err2(&c2, &c, &ok, LLMC_ERR_FORMAT, "expected [16, 32]", __LINE__);
    expect_err2(&c2, &c, &(moe_opts){true, NULL, -1, 0, false}, LLMC_ERR_FORMAT, "expected [4, 16, 32]", __LINE__);
    c2 = c;
    strcpy(c2.architecture, "LlamaForCausalLM");
    expect_err(&c2, &ok, LLMC_ERR_UNSUPPORTED, "experts", __LINE__);
}

/* The table: lookups by every key, CUDA's answer, and the config readers using it. */
static void test_arch_table(void) {
    const llmc_arch *a = llmc_arch_by_hf("OlmoeForCausalLM");
    CHECK(a && a->family == LLMC_FAM_OLMOE && (a->flags & LLMC_ARCH_MOE) && !a->gguf_permute_qk);
    CHECK(llmc_arch_by_model_type("qwen3_moe") == llmc_arch_by_hf("Qwen3MoeForCausalLM"));
    CHECK(llmc_arch_by_gguf("qwen2moe") == llmc_arch_by_family(LLMC_FAM_QWEN2_MOE));
    CHECK(llmc_arch_by_gguf("llama")->gguf_permute_qk && !llmc_arch_by_gguf("qwen3")->gguf_permute_qk);
    CHECK(llmc_arch_by_hf("DeepseekV2ForCausalLM") == NULL && llmc_arch_by_gguf(NULL) == NULL);
    CHECK(llmc_arch_by_model_type("deepseek_v3") == llmc_arch_by_family(LLMC_FAM_DEEPSEEK_V3));
    CHECK(!llmc_arch_runs_on(llmc_arch_by_hf("DeepseekV3ForCausalLM"), LLMC_BACKEND_CUDA));
    CHECK(llmc_arch_runs_on(llmc_arch_by_hf("LlamaForCausalLM"), LLMC_BACKEND_CUDA));
    CHECK(!llmc_arch_runs_on(llmc_arch_by_hf("MixtralForCausalLM"), LLMC_BACKEND_CUDA));
    CHECK(llmc_arch_runs_on(llmc_arch_by_hf("MixtralForCausalLM"), LLMC_BACKEND_CPU));
    for (int f = 0; f < LLMC_FAM_COUNT; f++) {
        const llmc_arch *r = llmc_arch_by_family((llmc_family)f);
        CHECK(r && llmc_arch_by_hf(r->hf_arch) == r && llmc_arch_by_model_type(r->model_type) == r);
        CHECK(llmc_arch_runs_on(r, LLMC_BACKEND_CUDA) || r->cuda_missing);
    }
    /* CUDA's one answer: by family, then by the rope features a CUDA family's config may carry */
    llmc_config c;
    make_cfg(&c, 1);
    char why[160];
    CHECK(llmc_arch_cuda_declines(&c, why, sizeof why) && strstr(why, "Mixtral"));
    strcpy(c.architecture, "Phi3ForCausalLM");
    c.num_experts = 0;
    CHECK(!llmc_arch_cuda_declines(&c, why, sizeof why));
    c.rotary_dim = 6;
    CHECK(llmc_arch_cuda_declines(&c, why, sizeof why) && strstr(why, "partial rotary"));
    c.rotary_dim = 0;
    c.rope_type = LLMC_ROPE_LONGROPE;
    CHECK(llmc_arch_cuda_declines(&c, why, sizeof why) && strstr(why, "LongRoPE"));
    strcpy(c.architecture, "NopeForCausalLM");
    CHECK(llmc_arch_cuda_declines(&c, why, sizeof why) && strstr(why, "NopeForCausalLM"));
    char buf[64];
    llmc_arch_names(0, buf, sizeof buf); /* truncated at a whole name, NUL-terminated */
    CHECK(strlen(buf) < sizeof buf && strncmp(buf, "LlamaForCausalLM", 16) == 0);
}

int main(void) {
    test_arch_table();
    test_stacked_equals_per_expert();
    test_batch_and_decode();
    test_unchosen_expert_unread();
    test_quantized_experts();
    test_nan_router();
    test_errors();
    return test_summary();
}
