/* GGUF reader on files built here: metadata getters, llama config, HF renaming,
 * Q/K un-permute (views, owned copies, f32 mode), and hostile inputs (truncated,
 * bad magic/version, huge counts, strings and tensors past EOF, bad types, ...). */
#include "formats/gguf.h"
#include "test.h"
#include "test_gguf_writer.h"
#include "model/model.h"

/* llmc_gguf_tensors, then (f32) every tensor widened to F32 as --dtype f32 loads a GGUF. */
static llmc_status gguf_tensors_as(llmc_gguf *g, bool f32, llmc_tensor_set **ts, llmc_error *err) {
    llmc_status st = llmc_gguf_tensors(g, ts, err);
    if (st == LLMC_OK && f32 && (st = llmc_model_tensors_f32(*ts, err)) != LLMC_OK) {
        llmc_tensor_set_free(*ts);
        *ts = NULL;
    }
    return st;
}

#define H 32   /* hidden: one Q8_0 block per row */
#define NH 2   /* heads → head_dim 16 */
#define NKV 1
#define HD (H / NH)
#define FF 64
#define V 4

typedef struct {
    const char *arch;
    uint32_t q_type;      /* 0 = F32, 8 = Q8_0 */
    uint32_t v_type;      /* type id written for attn_v (6 = Q5_0: unsupported) */
    int with_output;
    int with_unknown;     /* an extra tensor with no llama counterpart */
    int rope_freqs;       /* llama 3 scaling as llama.cpp stores it */
} model_opts;

/* llama.cpp's convert_hf_to_gguf rope_freqs for llama3 scaling (factor 32, low 1,
 * high 32, original context 65536) at theta 1e5, head_dim 16. */
static float rope_factor(int i) {
    double F = 32, lo = 1, hi = 32, old = 65536;
    double inv = pow(100000.0, -2.0 * i / HD), wl = 2 * M_PI / inv;
    if (wl < old / hi) return 1;
    if (wl > old / lo) return (float)F;
    double sm = (old / wl - lo) / (hi - lo);
    return (float)(1 / ((1 - sm) / F + sm));
}

static uint16_t f16_one = 0x3C00;

/* Tensor payloads: f32 value = tensor*1000 + row*10 + col/8 (exact in f32);
 * Q8_0 rows: d = 1, every q = row index. */
typedef struct { const char *name; int nd; uint64_t ne[2]; uint32_t type; } tspec;

static size_t tbytes(const tspec *t) {
    uint64_t n = t->ne[0] * (t->nd > 1 ? t->ne[1] : 1);
    if (t->type == 8) return n / 32 * 34;
    if (t->type == 6) return n / 32 * 22;
    return n * 4;
}

static void fill(uint8_t *d, const tspec *t, int ti) {
    uint64_t cols = t->ne[0], rows = t->nd > 1 ? t->ne[1] : 1;
    if (!strcmp(t->name, "rope_freqs.weight")) {
        for (uint64_t c = 0; c < cols; c++) {
            float v = rope_factor((int)c);
            memcpy(d + c * 4, &v, 4);
        }
        return;
    }
    for (uint64_t r = 0; r < rows; r++) {
        if (t->type == 8 || t->type == 6) {
            size_t bb = t->type == 8 ? 34 : 22;
            for (uint64_t b = 0; b < cols / 32; b++) {
                uint8_t *blk = d + (r * (cols / 32) + b) * bb;
                memset(blk, 0, bb);
                memcpy(blk, &f16_one, 2);
                if (t->type == 8) memset(blk + 2, (int)r, 32);
            }
        } else {
            for (uint64_t c = 0; c < cols; c++) {
                float v = (float)(ti * 1000 + (int)r * 10) + (float)c / 8;
                memcpy(d + (r * cols + c) * 4, &v, 4);
            }
        }
    }
}

static void build(gw_buf *b, const model_opts *o) {
    tspec ts[16];
    int n = 0;
    ts[n++] = (tspec){"token_embd.weight", 2, {H, V}, 0};
    ts[n++] = (tspec){"blk.0.attn_norm.weight", 1, {H, 0}, 0};
    ts[n++] = (tspec){"blk.0.attn_q.weight", 2, {H, NH * HD}, o->q_type};
    ts[n++] = (tspec){"blk.0.attn_k.weight", 2, {H, NKV * HD}, o->q_type};
    ts[n++] = (tspec){"blk.0.attn_v.weight", 2, {H, NKV * HD}, o->v_type};
    ts[n++] = (tspec){"blk.0.attn_output.weight", 2, {H, H}, 0};
    ts[n++] = (tspec){"blk.0.ffn_gate.weight", 2, {H, FF}, 0};
    ts[n++] = (tspec){"blk.0.ffn_up.weight", 2, {H, FF}, 0};
    ts[n++] = (tspec){"blk.0.ffn_down.weight", 2, {FF, H}, 0};
    ts[n++] = (tspec){"blk.0.ffn_norm.weight", 1, {H, 0}, 0};
    ts[n++] = (tspec){"output_norm.weight", 1, {H, 0}, 0};
    if (o->with_output) ts[n++] = (tspec){"output.weight", 2, {H, V}, 0};
    if (o->with_unknown) ts[n++] = (tspec){"blk.0.mystery.weight", 1, {H, 0}, 0};
    if (o->rope_freqs) ts[n++] = (tspec){"rope_freqs.weight", 1, {HD / 2, 0}, 0};
    const char *toks[V] = {"<s>", "</s>", "a", "b\0"};
    int32_t ttype[V] = {3, 3, 1, 1};
    float scores[V] = {0, 0, -1.5f, -2.5f};
    int n_kv = 17;
    gw_header(b, 3, (uint64_t)n, (uint64_t)n_kv);
    gw_kv_str(b, "general.architecture", o->arch);
    gw_kv_str(b, "general.name", "tiny test");
    gw_kv_u32(b, "general.alignment", 64);
    char k[96]; /* the architecture's own keys: llama.*, qwen2.*, ... */
#define AKEY(suffix) (snprintf(k, sizeof k, "%s.%s", o->arch, suffix), k)
    gw_kv_u32(b, AKEY("context_length"), 128);
    gw_kv_u32(b, AKEY("embedding_length"), H);
    gw_kv_u32(b, AKEY("block_count"), 1);
    gw_kv_u32(b, AKEY("feed_forward_length"), FF);
    gw_kv_u32(b, AKEY("attention.head_count"), NH);
    gw_kv_u32(b, AKEY("attention.head_count_kv"), NKV);
    gw_kv_f32(b, AKEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    gw_kv_f32(b, AKEY("rope.freq_base"), 100000.0f);
#undef AKEY
    gw_kv_strs(b, "tokenizer.ggml.tokens", toks, V);
    gw_kv_i32s(b, "tokenizer.ggml.token_type", ttype, V);
    gw_kv_f32s(b, "tokenizer.ggml.scores", scores, V);
    gw_kv_u32(b, "tokenizer.ggml.bos_token_id", 0);
    gw_kv_i32(b, "tokenizer.ggml.eos_token_id", 1);
    gw_kv_bool(b, "tokenizer.ggml.add_bos_token", 1);
    uint64_t off = 0;
    uint64_t offs[16];
    for (int i = 0; i < n; i++) {
        offs[i] = off;
        gw_tensor(b, ts[i].name, ts[i].nd, ts[i].ne, ts[i].type, off);
        off += (tbytes(&ts[i]) + 63) / 64 * 64;
    }
    gw_align(b, 64);
    for (int i = 0; i < n; i++) {
        while (b->n % 64) gw_u8(b, 0);
        size_t sz = tbytes(&ts[i]);
        uint8_t *d = calloc(1, sz);
        fill(d, &ts[i], i);
        gw_put(b, d, sz);
        free(d);
        (void)offs;
    }
}

static char *write_model(const model_opts *o) {
    gw_buf b = {0};
    build(&b, o);
    char *p = gw_write_tmp(&b);
    free(b.p);
    return p;
}

/* HF row r of a permuted q/k tensor comes from GGUF row src(r). */
static int src_row(int r) { return (r / HD) * HD + 2 * (r % (HD / 2)) + (r % HD) / (HD / 2); }

static void test_valid(void) {
    model_opts o = {"llama", 0, 0, 0, 0, 0};
    char *path = write_model(&o);
    llmc_gguf *g = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_gguf_open(path, &g, &err) == LLMC_OK, "%s", err.msg);
    if (!g) { unlink(path); free(path); return; }
    CHECK_INT(llmc_gguf_version(g), 3);
    uint64_t u;
    double d;
    bool bl;
    CHECK(llmc_gguf_get_u64(g, "llama.block_count", &u) && u == 1);
    CHECK(llmc_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", &d) && fabs(d - 1e-5) < 1e-10);
    CHECK(llmc_gguf_get_f64(g, "llama.block_count", &d) && d == 1.0);
    CHECK(!llmc_gguf_get_u64(g, "general.architecture", &u));
    CHECK(!llmc_gguf_get_u64(g, "no.such.key", &u));
    CHECK(llmc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &bl) && bl);
    CHECK(!llmc_gguf_get_bool(g, "llama.block_count", &bl));
    CHECK_STR(llmc_gguf_get_str(g, "general.architecture"), "llama");
    CHECK(llmc_gguf_get_str(g, "llama.block_count") == NULL);
    const char *const *toks;
    const size_t *lens;
    size_t n;
    CHECK(llmc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &n) && n == V);
    CHECK_STR(toks[2], "a");
    CHECK(llmc_gguf_get_str_array_lens(g, "tokenizer.ggml.tokens", &lens) && lens[0] == 3 && lens[3] == 1);
    const int32_t *tt;
    CHECK(llmc_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &tt, &n) && n == V && tt[0] == 3 && tt[3] == 1);
    const float *sc;
    CHECK(llmc_gguf_get_f32_array(g, "tokenizer.ggml.scores", &sc, &n) && n == V && sc[3] == -2.5f);
    CHECK(!llmc_gguf_get_f32_array(g, "tokenizer.ggml.tokens", &sc, &n));
    CHECK(!llmc_gguf_get_str_array(g, "tokenizer.ggml.scores", &toks, &n));
    CHECK_INT(llmc_gguf_key_count(g), 17);
    CHECK_INT(llmc_gguf_tensor_count(g), 11);
    CHECK(llmc_gguf_find_tensor(g, "blk.0.attn_q.weight") == 2);
    llmc_gguf_tensor_info ti;
    CHECK(llmc_gguf_tensor_at(g, 2, &ti) && ti.ne[0] == H && ti.ne[1] == H && ti.supported);

    llmc_config cfg;
    CHECK_MSG(llmc_gguf_config(g, &cfg, &err) == LLMC_OK, "%s", err.msg);
    CHECK_STR(cfg.architecture, "LlamaForCausalLM");
    CHECK_INT(cfg.hidden_size, H);
    CHECK_INT(cfg.intermediate_size, FF);
    CHECK_INT(cfg.num_layers, 1);
    CHECK_INT(cfg.num_heads, NH);
    CHECK_INT(cfg.num_kv_heads, NKV);
    CHECK_INT(cfg.head_dim, HD);
    CHECK_INT(cfg.vocab_size, V);
    CHECK_INT(cfg.max_position_embeddings, 128);
    CHECK(fabs(cfg.rope_theta - 100000.0) < 1e-6);
    CHECK(cfg.rope_type == LLMC_ROPE_DEFAULT);
    CHECK(cfg.tie_word_embeddings);
    CHECK_INT(cfg.bos_token_id, 0);
    CHECK_INT(cfg.num_eos, 1);
    CHECK_INT(cfg.eos_token_ids[0], 1);
    CHECK_INT(cfg.pad_token_id, -1);

    for (int mode = 0; mode < 2; mode++) {
        llmc_tensor_set *ts = NULL;
        CHECK_MSG(gguf_tensors_as(g, mode == 1, &ts, &err) == LLMC_OK, "%s", err.msg);
        if (!ts) continue;
        CHECK_INT(llmc_tensor_set_count(ts), 11);
        const llmc_tensor *q = llmc_tensor_set_find(ts, "model.layers.0.self_attn.q_proj.weight");
        const llmc_tensor *k = llmc_tensor_set_find(ts, "model.layers.0.self_attn.k_proj.weight");
        const llmc_tensor *dn = llmc_tensor_set_find(ts, "model.layers.0.mlp.down_proj.weight");
        const llmc_tensor *emb = llmc_tensor_set_find(ts, "model.embed_tokens.weight");
        CHECK(llmc_tensor_set_find(ts, "model.layers.0.input_layernorm.weight") != NULL);
        CHECK(llmc_tensor_set_find(ts, "model.layers.0.post_attention_layernorm.weight") != NULL);
        CHECK(llmc_tensor_set_find(ts, "model.norm.weight") != NULL);
        CHECK(llmc_tensor_set_find(ts, "model.layers.0.self_attn.o_proj.weight") != NULL);
        CHECK(llmc_tensor_set_find(ts, "lm_head.weight") == NULL);
        CHECK(q && k && dn && emb);
        if (q && k && dn && emb) {
            CHECK(dn->ndim == 2 && dn->shape[0] == H && dn->shape[1] == FF); /* [out, in] */
            CHECK(emb->shape[0] == V && emb->shape[1] == H);
            CHECK(q->dtype == LLMC_DT_F32 && q->owned != NULL);
            const float *qf = q->data, *kf = k->data;
            int bad = 0;
            for (int r = 0; r < H; r++)
                for (int c = 0; c < H; c++)
                    bad += qf[r * H + c] != (float)(2 * 1000 + src_row(r) * 10) + (float)c / 8;
            for (int r = 0; r < HD; r++)
                for (int c = 0; c < H; c++)
                    bad += kf[r * H + c] != (float)(3 * 1000 + src_row(r) * 10) + (float)c / 8;
            CHECK_INT(bad, 0);
            /* rows 1 and 8 of head 0 swap as the converter's permute says */
            CHECK(src_row(1) == 2 && src_row(8) == 1 && src_row(16) == 16);
            CHECK(mode == 1 || dn->owned == NULL); /* other tensors are mmap views */
        }
        llmc_gguf_free(g); /* the set keeps the mapping alive */
        g = NULL;
        if (emb) CHECK(((const float *)emb->data)[H + 1] == (float)(0 * 1000 + 10) + 1.0f / 8);
        llmc_tensor_set_free(ts);
        CHECK(llmc_gguf_open(path, &g, &err) == LLMC_OK);
        if (!g) break;
    }
    llmc_gguf_free(g);
    unlink(path);
    free(path);
}

static void test_rope_freqs(void) {
    model_opts o = {"llama", 0, 0, 0, 0, 1};
    char *path = write_model(&o);
    llmc_gguf *g = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_gguf_open(path, &g, &err) == LLMC_OK, "%s", err.msg);
    if (g) {
        llmc_config cfg;
        CHECK_MSG(llmc_gguf_config(g, &cfg, &err) == LLMC_OK, "%s", err.msg);
        CHECK(cfg.rope_type == LLMC_ROPE_DEFAULT); /* as transformers loads it */
        CHECK_MSG(llmc_gguf_apply_rope_scaling(g, &cfg, &err) == LLMC_OK, "%s", err.msg);
        CHECK(cfg.rope_type == LLMC_ROPE_LLAMA3);
        CHECK_MSG(fabs(cfg.rope_factor - 32) < 1e-4 && fabs(cfg.rope_low_freq_factor - 1) < 1e-9 &&
                  fabs(cfg.rope_high_freq_factor - 32) < 1e-2 && abs(cfg.rope_original_max_position - 65536) <= 2,
                  "factor %g low %g high %g old %d", cfg.rope_factor, cfg.rope_low_freq_factor,
                  cfg.rope_high_freq_factor, cfg.rope_original_max_position);
        llmc_tensor_set *ts = NULL;
        CHECK(llmc_gguf_tensors(g, &ts, &err) == LLMC_OK && ts && llmc_tensor_set_count(ts) == 11);
        llmc_tensor_set_free(ts);
    }
    llmc_gguf_free(g);
    unlink(path);
    free(path);
}

static void test_q8_unpermute(void) {
    model_opts o = {"llama", 8, 0, 1, 0, 0};
    char *path = write_model(&o);
    llmc_gguf *g = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_gguf_open(path, &g, &err) == LLMC_OK, "%s", err.msg);
    if (g) {
        llmc_config cfg;
        CHECK(llmc_gguf_config(g, &cfg, &err) == LLMC_OK && !cfg.tie_word_embeddings);
        for (int mode = 0; mode < 2; mode++) {
            llmc_tensor_set *ts = NULL;
            CHECK_MSG(gguf_tensors_as(g, mode == 1, &ts, &err) == LLMC_OK, "%s", err.msg);
            if (!ts) continue;
            CHECK(llmc_tensor_set_find(ts, "lm_head.weight") != NULL);
            const llmc_tensor *q = llmc_tensor_set_find(ts, "model.layers.0.self_attn.q_proj.weight");
            const llmc_tensor *k = llmc_tensor_set_find(ts, "model.layers.0.self_attn.k_proj.weight");
            CHECK(q && k);
            if (q && k) {
                int bad = 0;
                if (mode == 0) {
                    CHECK(q->dtype == LLMC_DT_Q8_0 && q->nbytes == (size_t)H * 34);
                    for (int r = 0; r < H; r++) {
                        const uint8_t *row = (const uint8_t *)q->data + r * 34;
                        for (int j = 0; j < 32; j++) bad += row[2 + j] != (uint8_t)src_row(r);
                    }
                    for (int r = 0; r < HD; r++) bad += ((const uint8_t *)k->data)[r * 34 + 2] != (uint8_t)src_row(r);
                } else {
                    CHECK(q->dtype == LLMC_DT_F32);
                    const float *f = q->data;
                    for (int r = 0; r < H; r++)
                        for (int c = 0; c < H; c++) bad += f[r * H + c] != (float)src_row(r);
                }
                CHECK_INT(bad, 0);
            }
            llmc_tensor_set_free(ts);
        }
    }
    llmc_gguf_free(g);
    unlink(path);
    free(path);
}

static llmc_status open_buf(const gw_buf *b, llmc_error *err, llmc_gguf **out) {
    char *p = gw_write_tmp(b);
    llmc_gguf *g = NULL;
    llmc_status st = llmc_gguf_open(p, &g, err);
    unlink(p);
    free(p);
    if (out) *out = g;
    else llmc_gguf_free(g);
    return st;
}

#define EXPECT_FAIL(buf, code, substr) do { llmc_error e_ = {0}; \
    llmc_status s_ = open_buf(buf, &e_, NULL); \
    CHECK_MSG(s_ == (code), "status %d (%s), expected %d", s_, e_.msg, code); \
    CHECK_MSG(strstr(e_.msg, substr) != NULL, "message '%s' lacks '%s'", e_.msg, substr); } while (0)

/* One-tensor file: header, general.architecture, one tensor info, data. */
static void mini(gw_buf *b, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off, size_t data) {
    memset(b, 0, sizeof *b);
    gw_header(b, 3, 1, 1);
    gw_kv_str(b, "general.architecture", "llama");
    gw_tensor(b, name, nd, ne, type, off);
    gw_align(b, 32);
    for (size_t i = 0; i < data; i++) gw_u8(b, 0);
}

static void test_hostile(void) {
    gw_buf b = {0};
    /* every truncation of a valid file fails cleanly */
    model_opts o = {"llama", 8, 0, 1, 0, 0};
    build(&b, &o);
    gw_buf t = {0};
    int failures = 0, tried = 0;
    for (size_t len = 0; len < b.n; len += (len < 1200 ? 1 : 97)) {
        t.n = 0;
        gw_put(&t, b.p, len);
        llmc_error e = {0};
        tried++;
        if (open_buf(&t, &e, NULL) != LLMC_OK && e.msg[0]) failures++;
    }
    CHECK_INT(failures, tried);
    free(t.p);
    free(b.p);

    memset(&b, 0, sizeof b);
    gw_put(&b, "GGUX", 4); gw_u32(&b, 3); gw_u64(&b, 0); gw_u64(&b, 0);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "not a GGUF");
    free(b.p);

    memset(&b, 0, sizeof b);
    gw_header(&b, 1, 0, 0);
    EXPECT_FAIL(&b, LLMC_ERR_UNSUPPORTED, "version 1");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 0x03000000u, 0, 0);
    EXPECT_FAIL(&b, LLMC_ERR_UNSUPPORTED, "big-endian");
    free(b.p);

    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 0xFFFFFFFFFFFFull);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "metadata count");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 1ull << 40, 0);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "tensor count");
    free(b.p);

    /* a string whose length runs past EOF, and an absurd one */
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 1);
    gw_str(&b, "general.name"); gw_u32(&b, 8); gw_u64(&b, 1000); gw_put(&b, "abc", 3);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "past the end");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 1);
    gw_u64(&b, 0xFFFFFFFFFFFFFFF0ull); gw_put(&b, "xxxxxxxxxxxxxxxx", 16);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "metadata key");
    free(b.p);

    /* huge array length, unknown value type, nested arrays too deep, bad bool, dup key */
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 1);
    gw_str(&b, "k"); gw_u32(&b, 9); gw_u32(&b, 4); gw_u64(&b, 1ull << 60);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "array length");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 1);
    gw_str(&b, "k"); gw_u32(&b, 77); gw_u64(&b, 0);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "unknown value type");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 1);
    gw_str(&b, "deep"); gw_u32(&b, 9);
    for (int i = 0; i < 8; i++) { gw_u32(&b, 9); gw_u64(&b, 1); }
    gw_u32(&b, 4); gw_u64(&b, 0);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "nested");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 1);
    gw_str(&b, "flag"); gw_u32(&b, 7); gw_u8(&b, 7);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "bool");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 2);
    gw_kv_u32(&b, "a.b", 1); gw_kv_u32(&b, "a.b", 2);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "duplicate metadata key 'a.b'");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 1);
    gw_kv_u32(&b, "general.alignment", 48);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "general.alignment");
    free(b.p);

    /* tensors */
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    mini(&b, "w", 2, ne, 0, 0, 100); /* needs 256 bytes */
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "past the end");
    free(b.p);
    mini(&b, "w", 2, ne, 0, 1ull << 62, 256);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "past the end");
    free(b.p);
    mini(&b, "w", 2, ne, 0, 8, 512);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "alignment");
    free(b.p);
    mini(&b, "w", 5, ne, 0, 0, 256);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "dimensions");
    free(b.p);
    uint64_t ne_odd[2] = {33, 2};
    mini(&b, "w", 2, ne_odd, 8, 0, 256);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "block size");
    free(b.p);
    uint64_t ne_big[4] = {1ull << 32, 1ull << 32, 1ull << 32, 2};
    mini(&b, "w", 4, ne_big, 0, 0, 0);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "overflows");
    free(b.p);
    uint64_t ne_zero[2] = {0, 2};
    mini(&b, "w", 2, ne_zero, 0, 0, 0);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "dimension");
    free(b.p);
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 2, 0);
    gw_tensor(&b, "w", 1, ne, 0, 0);
    gw_tensor(&b, "w", 1, ne, 0, 128);
    gw_align(&b, 32);
    for (int i = 0; i < 256; i++) gw_u8(&b, 0);
    EXPECT_FAIL(&b, LLMC_ERR_FORMAT, "duplicate tensor name 'w'");
    free(b.p);
    /* an unknown ggml type opens (metadata stays readable) */
    mini(&b, "w", 2, ne, 200, 0, 0);
    llmc_error e = {0};
    llmc_gguf *g = NULL;
    CHECK_MSG(open_buf(&b, &e, &g) == LLMC_OK, "%s", e.msg);
    llmc_gguf_tensor_info ti;
    CHECK(g && llmc_gguf_tensor_at(g, 0, &ti) && !ti.supported);
    llmc_gguf_free(g);
    free(b.p);

    /* unsupported quant type: opens, llmc_gguf_tensors names tensor and type */
    o = (model_opts){"llama", 0, 6, 0, 0, 0};
    memset(&b, 0, sizeof b);
    build(&b, &o);
    CHECK(open_buf(&b, &e, &g) == LLMC_OK);
    if (g) {
        llmc_tensor_set *ts = NULL;
        llmc_status st = llmc_gguf_tensors(g, &ts, &e);
        CHECK_INT(st, LLMC_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(e.msg, "blk.0.attn_v.weight") && strstr(e.msg, "Q5_0"), "%s", e.msg);
        CHECK(ts == NULL);
        llmc_gguf_free(g);
    }
    free(b.p);

    /* wrong architecture */
    o = (model_opts){"gemma", 0, 0, 0, 0, 0};
    memset(&b, 0, sizeof b);
    build(&b, &o);
    CHECK(open_buf(&b, &e, &g) == LLMC_OK);
    if (g) {
        llmc_config cfg;
        CHECK_INT(llmc_gguf_config(g, &cfg, &e), LLMC_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(e.msg, "gemma") != NULL, "%s", e.msg);
        llmc_tensor_set *ts = NULL;
        CHECK_INT(llmc_gguf_tensors(g, &ts, &e), LLMC_ERR_UNSUPPORTED);
        llmc_gguf_free(g);
    }
    free(b.p);

    /* qwen2: its own keys, q/k/v biases, and q/k rows as stored (no llama un-permute:
       the tensors stay views of the file); llama's q is a re-ordered copy. */
    for (int a = 0; a < 2; a++) {
        o = (model_opts){a ? "llama" : "qwen2", 0, 0, 0, 0, 0};
        memset(&b, 0, sizeof b);
        build(&b, &o);
        CHECK(open_buf(&b, &e, &g) == LLMC_OK);
        if (!g) { free(b.p); continue; }
        llmc_config cfg;
        CHECK_INT(llmc_gguf_config(g, &cfg, &e), LLMC_OK);
        if (!a) CHECK(!strcmp(cfg.architecture, "Qwen2ForCausalLM") && cfg.qkv_bias && !cfg.attention_bias && cfg.max_position_embeddings == 128);
        llmc_tensor_set *ts = NULL;
        CHECK_INT(llmc_gguf_tensors(g, &ts, &e), LLMC_OK);
        const llmc_tensor *q = ts ? llmc_tensor_set_find(ts, "model.layers.0.self_attn.q_proj.weight") : NULL;
        CHECK_MSG(q && q->mapped == !a, "%s: q_proj %s", o.arch, q ? (q->mapped ? "mapped" : "copied") : "missing");
        llmc_tensor_set_free(ts);
        llmc_gguf_free(g);
        free(b.p);
    }

    /* one part of a split GGUF */
    memset(&b, 0, sizeof b);
    gw_header(&b, 3, 0, 2);
    gw_kv_str(&b, "general.architecture", "llama");
    gw_kv_u32(&b, "split.count", 3);
    CHECK(open_buf(&b, &e, &g) == LLMC_OK);
    if (g) {
        llmc_config cfg;
        CHECK_INT(llmc_gguf_config(g, &cfg, &e), LLMC_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(e.msg, "split in 3 files") != NULL, "%s", e.msg);
        llmc_gguf_free(g);
    }
    free(b.p);

    /* a tensor with no llama counterpart is an error, not silently dropped */
    o = (model_opts){"llama", 0, 0, 0, 1, 0};
    memset(&b, 0, sizeof b);
    build(&b, &o);
    CHECK(open_buf(&b, &e, &g) == LLMC_OK);
    if (g) {
        llmc_tensor_set *ts = NULL;
        CHECK_INT(llmc_gguf_tensors(g, &ts, &e), LLMC_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(e.msg, "blk.0.mystery.weight") != NULL, "%s", e.msg);
        llmc_gguf_free(g);
    }
    free(b.p);

    llmc_error e2 = {0};
    CHECK_INT(llmc_gguf_open("/nonexistent/x.gguf", &g, &e2), LLMC_ERR_NOT_FOUND);
    CHECK(g == NULL);
    llmc_gguf_free(NULL);
}

/* Random byte corruption of a valid file: whatever is read must fail cleanly or
 * load within bounds (ASan/UBSan in CI catch the rest). Deterministic. */
static void test_corruption_arch(const char *arch) {
    model_opts o = {arch, 8, 0, 1, 0, 1};
    gw_buf b = {0}, t = {0};
    build(&b, &o);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int opened = 0, loaded = 0, rounds = 400;
    for (int it = 0; it < rounds; it++) {
        t.n = 0;
        gw_put(&t, b.p, b.n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
            /* mostly the header/metadata/tensor table, where the parsing happens */
            size_t pos = (size_t)(seed % (it % 5 == 0 ? t.n : 1400));
            t.p[pos] ^= (uint8_t)(1u << ((seed >> 32) % 8)) | (uint8_t)((seed >> 40) & 0x80);
        }
        llmc_error e = {0};
        llmc_gguf *g = NULL;
        if (open_buf(&t, &e, &g) != LLMC_OK) {
            CHECK_MSG(e.msg[0] != 0, "round %d: failure without a message", it);
            continue;
        }
        opened++;
        llmc_config cfg;
        (void)llmc_gguf_config(g, &cfg, &e);
        (void)llmc_gguf_apply_rope_scaling(g, &cfg, &e);
        llmc_tensor_set *ts = NULL;
        if (gguf_tensors_as(g, it % 2 == 0, &ts, &e) == LLMC_OK) loaded++;
        llmc_tensor_set_free(ts);
        llmc_gguf_free(g);
    }
    CHECK_MSG(opened > 0 && opened < rounds, "%s: opened %d of %d", arch, opened, rounds);
    (void)loaded;
    free(t.p);
    free(b.p);
}

static void test_corruption(void) {
    test_corruption_arch("llama");
    test_corruption_arch("qwen2"); /* its own keys and no q/k un-permute */
}

static void test_names(void) {
    char *s = llmc_gguf_hf_name("blk.12.ffn_down.weight");
    CHECK_STR(s, "model.layers.12.mlp.down_proj.weight");
    free(s);
    s = llmc_gguf_hf_name("blk.3.attn_q.bias");
    CHECK_STR(s, "model.layers.3.self_attn.q_proj.bias");
    free(s);
    s = llmc_gguf_hf_name("output.weight");
    CHECK_STR(s, "lm_head.weight");
    free(s);
    CHECK(llmc_gguf_hf_name("blk.x.attn_q.weight") == NULL);
    CHECK(llmc_gguf_hf_name("blk.1.attn_qq.weight") == NULL);
    CHECK(llmc_gguf_hf_name("blk.01.attn_q.weight") == NULL);
    /* MoE: router, stacked experts, old per-expert Mixtral names, Qwen2-MoE's shared expert; Phi-3's qkv */
    const char *pairs[][2] = {{"blk.2.ffn_gate_inp.weight", "model.layers.2.mlp.gate.weight"},
                              {"blk.2.ffn_down_exps.weight", "model.layers.2.mlp.experts.down_proj.weight"},
                              {"blk.0.ffn_up.7.weight", "model.layers.0.block_sparse_moe.experts.7.w3.weight"},
                              {"blk.1.ffn_gate_inp_shexp.weight", "model.layers.1.mlp.shared_expert_gate.weight"},
                              {"blk.1.ffn_gate_shexp.weight", "model.layers.1.mlp.shared_expert.gate_proj.weight"},
                              {"blk.3.attn_qkv.weight", "model.layers.3.self_attn.qkv_proj.weight"}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        s = llmc_gguf_hf_name(pairs[i][0]);
        CHECK_STR(s, pairs[i][1]);
        free(s);
    }
    CHECK(llmc_gguf_hf_name("blk.0.ffn_up.07.weight") == NULL);
    CHECK(llmc_gguf_hf_name("blk.0.ffn_up.7.bias") == NULL);
    CHECK(llmc_gguf_hf_name("blk.0.ffn_up.x.weight") == NULL);
}

int main(void) {
    test_names();
    test_valid();
    test_q8_unpermute();
    test_rope_freqs();
    test_hostile();
    test_corruption();
    return test_summary();
}
