/* GGUF reader against the reference stack (tests/golden/make_gguf_fixtures.py):
 * tiny.gguf written by llama.cpp's `gguf` package with every supported tensor type,
 * compared with gguf.quants.dequantize + transformers' Q/K un-permute; and the real
 * SmolLM2 GGUF's layer-0 q/k rows as transformers loads them (skips loudly when the
 * model file is absent; LLMC_GGUF_SMOLLM2 overrides its path). */
#include "backend/cpu/ops.h"
#include "base/json.h"
#include "formats/gguf.h"
#include "test.h"
#include <unistd.h>
#include "model/model.h"
#include "formats/hf_config.h"

/* llmc_gguf_tensors, then (f32) every tensor widened to F32 as --dtype f32 loads a GGUF. */
static llmc_status gguf_tensors_as(llmc_gguf *g, bool f32, llmc_tensor_set **ts, llmc_error *err) {
    llmc_status st = llmc_gguf_tensors(g, ts, err);
    if (st == LLMC_OK && f32 && (st = llmc_model_tensors_f32(*ts, err)) != LLMC_OK) {
        llmc_tensor_set_free(*ts);
        *ts = NULL;
    }
    return st;
}

static int close_enough(float a, double b) { return fabs((double)a - b) <= 1e-6 + 1e-5 * fabs(b); }

/* Row r of t as f32 (views of any dtype, or f32 copies). */
static void get_row(const llmc_tensor *t, int64_t r, float *out) {
    if (t->ndim == 1) llmc_cpu_dequantize(t, out);
    else llmc_cpu_get_row(t, r, out);
}

static int compare_tensor(const llmc_tensor *t, const cJSON *exp, const char *mode) {
    int bad = 0;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(exp, "shape");
    int nd = cJSON_GetArraySize(shape);
    CHECK_MSG(t->ndim == nd, "%s %s: ndim %d, expected %d", mode, t->name, t->ndim, nd);
    for (int i = 0; i < nd && i < t->ndim; i++)
        CHECK_MSG(t->shape[i] == (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble, "%s %s: dim %d", mode, t->name, i);
    int64_t cols = t->shape[t->ndim - 1], rows = llmc_tensor_numel(t) / cols;
    float *row = malloc((size_t)cols * sizeof *row);
    double sum = 0, sumsq = 0;
    for (int64_t r = 0; r < rows; r++) {
        get_row(t, r, row);
        for (int64_t c = 0; c < cols; c++) sum += row[c], sumsq += (double)row[c] * row[c];
    }
    double esum = cJSON_GetObjectItemCaseSensitive(exp, "sum")->valuedouble;
    const cJSON *jsq = cJSON_GetObjectItemCaseSensitive(exp, "sumsq");
    CHECK_MSG(fabs(sum - esum) <= 1e-3 + 1e-5 * fabs(esum), "%s %s: sum %.9g, expected %.9g", mode, t->name, sum, esum);
    if (jsq)
        CHECK_MSG(fabs(sumsq - jsq->valuedouble) <= 1e-3 + 1e-5 * jsq->valuedouble, "%s %s: sumsq %.9g, expected %.9g",
                  mode, t->name, sumsq, jsq->valuedouble);
    const cJSON *jr;
    cJSON_ArrayForEach(jr, cJSON_GetObjectItemCaseSensitive(exp, "rows")) {
        int64_t r = atoll(jr->string);
        if (r >= rows) { bad++; continue; }
        get_row(t, r, row);
        int n = cJSON_GetArraySize(jr), c = 0, first = -1;
        const cJSON *v;
        cJSON_ArrayForEach(v, jr) {
            if (c < cols && !close_enough(row[c], v->valuedouble)) {
                if (first < 0) first = c;
                bad++;
            }
            c++;
        }
        CHECK_MSG(n == cols && first < 0, "%s %s row %lld: col %d is %.9g, expected %.9g", mode, t->name, (long long)r,
                  first, first >= 0 ? row[first] : 0.0,
                  first >= 0 ? cJSON_GetArrayItem(jr, first)->valuedouble : 0.0);
    }
    free(row);
    return bad;
}

static void test_tiny(const char *src) {
    char path[4096], epath[4096];
    snprintf(path, sizeof path, "%s/tests/golden/gguf/tiny.gguf", src);
    snprintf(epath, sizeof epath, "%s/tests/golden/gguf/tiny_expected.json", src);
    llmc_error err = {0};
    cJSON *exp = llmc_json_parse_file(epath, 16u << 20, &err);
    CHECK_MSG(exp != NULL, "%s", err.msg);
    llmc_gguf *g = NULL;
    CHECK_MSG(llmc_gguf_open(path, &g, &err) == LLMC_OK, "%s", err.msg);
    if (!exp || !g) { cJSON_Delete(exp); llmc_gguf_free(g); return; }

    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(exp, "config");
#define EC(k) ((long long)cJSON_GetObjectItemCaseSensitive(ec, k)->valuedouble)
    llmc_config cfg;
    CHECK_MSG(llmc_gguf_config(g, &cfg, &err) == LLMC_OK, "%s", err.msg);
    CHECK_INT(cfg.hidden_size, EC("hidden_size"));
    CHECK_INT(cfg.num_heads, EC("num_heads"));
    CHECK_INT(cfg.num_kv_heads, EC("num_kv_heads"));
    CHECK_INT(cfg.head_dim, EC("head_dim"));
    CHECK_INT(cfg.intermediate_size, EC("intermediate_size"));
    CHECK_INT(cfg.vocab_size, EC("vocab_size"));
    CHECK_INT(cfg.num_layers, EC("num_layers"));
    CHECK_INT(cfg.max_position_embeddings, EC("max_position_embeddings"));
    CHECK_INT(cfg.bos_token_id, EC("bos_token_id"));
    CHECK_INT(cfg.num_eos, 1);
    CHECK_INT(cfg.eos_token_ids[0], EC("eos_token_id"));
    CHECK_INT(cfg.pad_token_id, EC("pad_token_id"));
    CHECK(!cfg.tie_word_embeddings);
    CHECK(fabs(cfg.rope_theta - 10000.0) < 1e-9);
    CHECK(fabs(cfg.rms_norm_eps - 1e-5) < 1e-9);
#undef EC
    const char *const *toks;
    size_t ntok;
    CHECK(llmc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &ntok));
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(exp, "tokens");
    CHECK_INT(ntok, cJSON_GetArraySize(jt));
    for (size_t i = 0; i < ntok && i < (size_t)cJSON_GetArraySize(jt); i++)
        CHECK_STR(toks[i], cJSON_GetArrayItem(jt, (int)i)->valuestring);
    const char *const *merges;
    size_t nm;
    CHECK(llmc_gguf_get_str_array(g, "tokenizer.ggml.merges", &merges, &nm) && nm == 3 && !strcmp(merges[1], "Ġ a"));
    const int32_t *tt;
    size_t ntt;
    CHECK(llmc_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &tt, &ntt) && ntt == ntok && tt[0] == 3 && tt[5] == 1);
    CHECK_STR(llmc_gguf_get_str(g, "tokenizer.ggml.pre"), "smollm");
    const char *tmpl = llmc_gguf_get_str(g, "tokenizer.chat_template");
    CHECK(tmpl && strstr(tmpl, "<|im_start|>"));
    bool b;
    CHECK(llmc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) && !b);

    for (int mode = 0; mode < 2; mode++) {
        llmc_tensor_set *ts = NULL;
        CHECK_MSG(gguf_tensors_as(g, mode == 1, &ts, &err) == LLMC_OK, "%s", err.msg);
        if (!ts) continue;
        const cJSON *et;
        int n = 0;
        cJSON_ArrayForEach(et, cJSON_GetObjectItemCaseSensitive(exp, "tensors")) {
            const char *name = cJSON_GetObjectItemCaseSensitive(et, "name")->valuestring;
            const llmc_tensor *t = llmc_tensor_set_find(ts, name);
            CHECK_MSG(t != NULL, "missing tensor %s", name);
            if (!t) continue;
            if (mode == 1) CHECK_MSG(t->dtype == LLMC_DT_F32, "%s not f32 in f32 mode", name);
            else CHECK_STR(llmc_dtype_name(t->dtype), cJSON_GetObjectItemCaseSensitive(et, "type")->valuestring);
            compare_tensor(t, et, mode ? "f32" : "view");
            n++;
        }
        CHECK_INT(llmc_tensor_set_count(ts), n);
        llmc_tensor_set_free(ts);
    }
    llmc_gguf_free(g);
    cJSON_Delete(exp);
}

static int test_smollm2(const char *src) {
    const char *path = test_smollm2_gguf();
    char epath[4096];
    snprintf(epath, sizeof epath, "%s/tests/golden/gguf/smollm2_expected.json", src);
    llmc_error err = {0};
    cJSON *exp = llmc_json_parse_file(epath, 16u << 20, &err);
    CHECK_MSG(exp != NULL, "%s", err.msg);
    llmc_gguf *g = NULL;
    CHECK_MSG(llmc_gguf_open(path, &g, &err) == LLMC_OK, "%s", err.msg);
    if (exp && g) {
        llmc_config cfg;
        CHECK_MSG(llmc_gguf_config(g, &cfg, &err) == LLMC_OK, "%s", err.msg);
        const cJSON *ec = cJSON_GetObjectItemCaseSensitive(exp, "config");
#define EC(k) ((long long)cJSON_GetObjectItemCaseSensitive(ec, k)->valuedouble)
        CHECK_INT(cfg.hidden_size, EC("hidden_size"));
        CHECK_INT(cfg.num_heads, EC("num_heads"));
        CHECK_INT(cfg.num_kv_heads, EC("num_kv_heads"));
        CHECK_INT(cfg.num_layers, EC("num_layers"));
        CHECK_INT(cfg.intermediate_size, EC("intermediate_size"));
        CHECK_INT(cfg.vocab_size, EC("vocab_size"));
        CHECK_INT(cfg.max_position_embeddings, EC("max_position_embeddings"));
        CHECK_INT(cfg.tie_word_embeddings, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ec, "tie_word_embeddings")));
#undef EC
        CHECK(fabs(cfg.rms_norm_eps - cJSON_GetObjectItemCaseSensitive(ec, "rms_norm_eps")->valuedouble) < 1e-12);
        llmc_tensor_set *ts = NULL;
        CHECK_MSG(llmc_gguf_tensors(g, &ts, &err) == LLMC_OK, "%s", err.msg);
        const cJSON *et;
        cJSON_ArrayForEach(et, cJSON_GetObjectItemCaseSensitive(exp, "tensors")) {
            const char *name = cJSON_GetObjectItemCaseSensitive(et, "name")->valuestring;
            const llmc_tensor *t = ts ? llmc_tensor_set_find(ts, name) : NULL;
            CHECK_MSG(t != NULL, "missing %s", name);
            if (t) compare_tensor(t, et, "smollm2");
        }
        llmc_tensor_set_free(ts);
    }
    llmc_gguf_free(g);
    cJSON_Delete(exp);
    return 1;
}

/* The mixture-of-experts and Phi-3 GGUF twins (tests/golden/gguf/<name>.gguf, written by gguf-py
   under llama.cpp's architectures from the core fixtures' weights): the same description as the
   fixture's config.json, and bit-identical logits to the safetensors checkpoint (same f32
   values; stacked experts, Mixtral's permuted q/k rows, Phi-3's fused ffn_up undone). */
static void test_twins(const char *src) {
    const char *names[] = {"mixtral_moe_f32", "qwen3_moe_f32", "qwen2_moe_shared_f32", "olmoe_f32",
                           "phi3_fused_window_f32", "phi35_longrope_f32", "phi4mini_partial_longrope_f32", "mixtral_moe_f32.per_expert", "gemma2_tied_f32",
                           "gemma3_pattern_f32", "smollm3_default_f32"};
    const int32_t ids[] = {5, 77, 130, 2, 255, 19, 64, 8};
    const int n = (int)(sizeof ids / sizeof *ids);
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char dir[4096], path[4200];
        snprintf(dir, sizeof dir, "%s/tests/golden/core/%.*s", src, (int)strcspn(names[k], "."), names[k]);
        snprintf(path, sizeof path, "%s/tests/golden/gguf/%s.gguf", src, names[k]);
        llmc_error err = {0};
        llmc_config hc, gc;
        llmc_gguf *g = NULL;
        CHECK_MSG(llmc_hf_config_load(dir, &hc, &err) == LLMC_OK, "%s", err.msg);
        CHECK_MSG(llmc_gguf_open(path, &g, &err) == LLMC_OK, "%s", err.msg);
        if (!g) continue;
        CHECK_MSG(llmc_gguf_config(g, &gc, &err) == LLMC_OK, "%s", err.msg);
        CHECK_STR(gc.architecture, hc.architecture);
        CHECK_INT(gc.num_experts, hc.num_experts);
        CHECK_INT(gc.num_experts_per_tok, hc.num_experts_per_tok);
        CHECK_INT(gc.moe_intermediate_size, hc.moe_intermediate_size);
        CHECK_INT(gc.shared_expert_intermediate_size, hc.shared_expert_intermediate_size);
        CHECK_INT(gc.norm_topk_prob, hc.norm_topk_prob);
        CHECK_INT(gc.qkv_bias, hc.qkv_bias);
        CHECK_INT(gc.qk_norm, hc.qk_norm);
        CHECK_INT(gc.qk_norm_full, hc.qk_norm_full);
        CHECK(memcmp(gc.dense_layers, hc.dense_layers, sizeof gc.dense_layers) == 0);
        CHECK_INT(gc.fused_proj, hc.fused_proj);
        CHECK_INT(gc.sliding_window, hc.sliding_window);
        CHECK_INT(gc.rope_type, hc.rope_type);
        CHECK_INT(llmc_config_rotary_dim(&gc), llmc_config_rotary_dim(&hc));
        CHECK_INT(gc.rope_original_max_position, hc.rope_original_max_position);
        CHECK_MSG(fabs(gc.rope_attn_factor - hc.rope_attn_factor) < 1e-6, "%s: attention factor %g vs %g", names[k], gc.rope_attn_factor,
                  hc.rope_attn_factor);
        CHECK(memcmp(gc.rope_long_factor, hc.rope_long_factor, sizeof gc.rope_long_factor) == 0);
        CHECK(memcmp(gc.sliding_layers, hc.sliding_layers, sizeof gc.sliding_layers) == 0 && gc.per_layer_window == hc.per_layer_window);
        CHECK(gc.attn_scale == hc.attn_scale && gc.attn_softcap == hc.attn_softcap && gc.final_softcap == hc.final_softcap);
        CHECK(gc.sandwich_norms == hc.sandwich_norms && gc.mlp_act == hc.mlp_act && gc.embed_scale == hc.embed_scale);
        CHECK_INT(gc.tie_word_embeddings, hc.tie_word_embeddings);
        CHECK(gc.has_nope == hc.has_nope && memcmp(gc.nope_layers, hc.nope_layers, sizeof gc.nope_layers) == 0);
        CHECK(gc.rope_theta == hc.rope_theta && gc.rope_theta_local == hc.rope_theta_local && gc.rope_factor == hc.rope_factor);
        llmc_tensor_set *ts = NULL;
        llmc_model *mg = NULL, *mh = NULL;
        llmc_model_opts o;
        llmc_model_opts_default(&o);
        o.n_threads = 2;
        CHECK_MSG(llmc_gguf_tensors(g, &ts, &err) == LLMC_OK, "%s", err.msg);
        if (ts) CHECK_MSG(llmc_model_from_tensors(&gc, ts, &o, &mg, &err) == LLMC_OK, "%s: %s", names[k], err.msg);
        CHECK_MSG(llmc_model_load(dir, &o, &mh, &err) == LLMC_OK, "%s", err.msg);
        if (mg && mh) {
            int V = hc.vocab_size;
            float *a = malloc((size_t)n * V * sizeof *a), *b = malloc((size_t)n * V * sizeof *b);
            CHECK_INT(llmc_model_forward(mg, ids, n, 0, a, true, &err), LLMC_OK);
            CHECK_INT(llmc_model_forward(mh, ids, n, 0, b, true, &err), LLMC_OK);
            CHECK_MSG(memcmp(a, b, (size_t)n * V * sizeof *a) == 0, "%s: GGUF and safetensors logits differ", names[k]);
            free(a);
            free(b);
        }
        llmc_model_free(mg);
        llmc_model_free(mh);
        llmc_gguf_free(g);
    }
}

/* The olmoe twin with one metadata value overwritten (key, new u32 value): config must fail naming the key. */
static void expect_patched_fail(const char *src, const char *key, uint32_t value) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/gguf/olmoe_f32.gguf", src);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint8_t *at = memmem(buf, n, key, strlen(key));
    CHECK_MSG(at && at + strlen(key) + 8 <= buf + n, "key %s not in the file", key);
    if (!at) return;
    uint32_t type;
    memcpy(&type, at + strlen(key), 4);
    CHECK_INT(type, 4); /* u32, as gguf-py writes counts */
    memcpy(at + strlen(key) + 4, &value, 4);
    char tmp[] = "/tmp/llmc_moe_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n);
    if (fd >= 0) close(fd);
    llmc_gguf *g = NULL;
    llmc_error err = {0};
    llmc_config c;
    CHECK_MSG(llmc_gguf_open(tmp, &g, &err) == LLMC_OK, "%s", err.msg);
    if (g) {
        CHECK_INT(llmc_gguf_config(g, &c, &err), LLMC_ERR_FORMAT);
        CHECK_MSG(strstr(err.msg, key) != NULL, "'%s' lacks '%s'", err.msg, key);
        llmc_gguf_free(g);
    }
    unlink(tmp);
}

int main(void) {
    const char *src = test_env("LLMC_SOURCE_DIR", ".");
    test_tiny(src);
    test_smollm2(src);
    test_twins(src);
    expect_patched_fail(src, "olmoe.expert_used_count", 9);  /* more than the 8 experts */
    expect_patched_fail(src, "olmoe.expert_count", 5000);    /* past LLMC_MAX_EXPERTS */
    expect_patched_fail(src, "olmoe.expert_used_count", 0);
    return test_summary();
}
