/* Llama-family forward pass (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
 * Qwen3ForCausalLM) on the CPU, following transformers' modeling_llama.py step for step:
 * embeddings, per layer RMSNorm → q/k/v (+bias) → (Qwen3: RMSNorm of each q and k
 * head) → RoPE (rotate_half) → causal GQA attention over the
 * KV cache → o_proj → residual → RMSNorm → SwiGLU MLP → residual; final norm,
 * lm_head (tied or not). A call runs a batch of tokens from any number of sequences
 * (matrix × matrix over all rows; attention per sequence over its own KV cache);
 * attention keeps a few score rows per thread (backend/cpu/attention.c), so memory
 * beyond the KV cache is O(n). */
#include "model/model.h"
#include "backend/cpu/ops.h"
#include "backend/cuda/cuda.h"
#include "base/error.h"
#include "base/log.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Tokens per prefill batch: bounds the activation scratch (about
 * B × (4·hidden + 2·intermediate) floats) whatever the prompt length. */
#define LM_BATCH 256

typedef struct {
    const llmc_tensor *wq, *wk, *wv, *wo, *bq, *bk, *bv, *bo;
    const llmc_tensor *wg, *wu, *wd, *bg, *bu, *bd;
    float *ln1, *ln2; /* norm weights as f32 (owned) */
    float *qn, *kn;   /* Qwen3's per-head q/k norm weights (head_dim floats, owned) or NULL */
    float *ln_ao, *ln_mo; /* Gemma 3: norms of the attention and MLP outputs (owned) or NULL */
} lm_layer;

struct llmc_model {
    llmc_config cfg;
    llmc_tensor_set *ts;
    llmc_threadpool *tp;
    const llmc_tensor *embed, *lm_head;
    float *norm;
    lm_layer *layers;
    float *inv_freq; /* head_dim/2 */
    float *inv_freq_local, *rope_cs_local; /* Gemma 3's sliding layers (their own RoPE base), or NULL */
    int ctx;
    llmc_act_mode act; /* activation precision for quantized weights */
    int kv_dim;      /* num_kv_heads * head_dim */
    llmc_kv_cache *kv0; /* the sequence llmc_model_forward runs on (ctx positions) */
    /* scratch */
    float *x, *xn, *q, *k, *v, *att, *g, *u, *rope_cs;
    float *scores; /* [threads][score_stride]: attention scratch */
    size_t score_stride; /* max(LLMC_ATT_MAX_GROUP·ctx, 64·head_dim + 512) floats */
    int nthreads;
    llmc_cuda_model *cuda; /* non-NULL: layers [0, llmc_cuda_gpu_layers) (and maybe the head) run on the GPU */
};

void llmc_model_opts_default(llmc_model_opts *o) {
    o->n_threads = 0;
    o->max_context = 0;
    o->dtype = -1;
    o->device = NULL;
    o->gpu_layers = -1;
    o->fast_activations = false;
    o->quantize = -1;
}

const llmc_config *llmc_model_config(const llmc_model *m) { return &m->cfg; }

double llmc_model_weight_bytes(const llmc_model *m) {
    double b = (double)m->lm_head->nbytes;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        const lm_layer *L = &m->layers[l];
        const llmc_tensor *w[] = {L->wq, L->wk, L->wv, L->wo, L->wg, L->wu, L->wd};
        for (size_t i = 0; i < sizeof w / sizeof *w; i++) b += (double)w[i]->nbytes;
    }
    return b;
}
int llmc_model_context(const llmc_model *m) { return m->ctx; }
int llmc_model_cached(const llmc_model *m) { return m->kv0->len; }

void llmc_model_free(llmc_model *m) {
    if (!m) return;
    llmc_cuda_model_free(m->cuda);
    if (m->layers) {
        for (int l = 0; l < m->cfg.num_layers; l++) {
            free(m->layers[l].ln1);
            free(m->layers[l].ln2);
            free(m->layers[l].qn);
            free(m->layers[l].kn);
            free(m->layers[l].ln_ao);
            free(m->layers[l].ln_mo);
        }
    }
    free(m->layers);
    free(m->norm);
    free(m->inv_freq);
    free(m->inv_freq_local);
    free(m->rope_cs_local);
    llmc_kv_cache_free(m->kv0);
    free(m->x); free(m->xn); free(m->q); free(m->k); free(m->v); free(m->att); free(m->g); free(m->u);
    free(m->rope_cs);
    free(m->scores);
    llmc_threadpool_free(m->tp);
    llmc_tensor_set_free(m->ts);
    free(m);
}

/* ---- loading ---------------------------------------------------------------- */

static bool lm_is_float(llmc_dtype t) { return t == LLMC_DT_F32 || t == LLMC_DT_F16 || t == LLMC_DT_BF16; }

/* Finds name and checks its shape (ndim 1 when cols < 0). */
static llmc_status lm_get(llmc_tensor_set *ts, const char *name, int64_t rows, int64_t cols, bool need_float,
                          const llmc_tensor **out, llmc_error *err) {
    const llmc_tensor *t = llmc_tensor_set_find(ts, name);
    *out = t;
    if (!t) return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' is missing", name);
    if ((unsigned)t->dtype >= LLMC_DT_COUNT || (need_float && !lm_is_float(t->dtype)))
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "model: tensor '%s' has dtype %s, expected F32, F16 or BF16", name, llmc_dtype_name(t->dtype));
    bool ok;
    if (cols < 0) ok = t->ndim == 1 && t->shape[0] == rows;
    else ok = t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols;
    if (!ok) {
        char got[128] = "", *p = got;
        for (int i = 0; i < t->ndim && i < LLMC_MAX_DIMS; i++)
            p += snprintf(p, sizeof got - (size_t)(p - got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (cols < 0) return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' has shape [%s], expected [%lld]", name, got, (long long)rows);
        return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' has shape [%s], expected [%lld, %lld]", name, got, (long long)rows, (long long)cols);
    }
    int blk = llmc_dtype_block_elems(t->dtype);
    int64_t c = cols < 0 ? rows : cols, r = cols < 0 ? 1 : rows;
    if (blk <= 0 || c % blk || t->nbytes != (size_t)r * llmc_dtype_row_bytes(t->dtype, c) || (!t->data && t->nbytes))
        return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' (%s) has %zu bytes, which does not match its shape", name,
                        llmc_dtype_name(t->dtype), t->nbytes);
    return LLMC_OK;
}

static float *lm_to_f32(const llmc_tensor *t) {
    int64_t n = llmc_tensor_numel(t);
    float *out = malloc((size_t)n * sizeof *out);
    if (!out) return NULL;
    llmc_tensor row = *t;
    row.ndim = 2;
    row.shape[0] = 1;
    row.shape[1] = n;
    llmc_cpu_get_row(&row, 0, out);
    return out;
}

/* A norm's weights as the forward multiplies by them: Gemma's (1 + w), in f32 as transformers adds. */
static float *lm_norm_f32(const llmc_config *c, const llmc_tensor *t) {
    float *w = lm_to_f32(t);
    if (w && c->norm_plus_one)
        for (int64_t i = 0; i < llmc_tensor_numel(t); i++) w[i] = 1.0f + w[i];
    return w;
}

/* Load-time conversion of one weight (opts.dtype, opts.quantize): f32 rows via the
 * kernels' get_row (which also dequantizes), then narrowed or quantized. */
typedef struct {
    llmc_tensor view; /* the source as [rows, cols] */
    llmc_dtype dt;
    bool quant;
    uint8_t *buf;
    size_t rb;
    float *rows_f32;  /* per thread: cols floats */
} lm_conv_ctx;

static void lm_convert_task(void *p, int64_t r0, int64_t r1, int tid) {
    const lm_conv_ctx *c = p;
    const int64_t cols = c->view.shape[1];
    float *row = c->rows_f32 + (size_t)tid * (size_t)cols;
    for (int64_t r = r0; r < r1; r++) {
        llmc_cpu_get_row(&c->view, r, row);
        uint8_t *o = c->buf + (size_t)r * c->rb;
        if (c->quant) llmc_cpu_quantize_row(c->dt, row, cols, o);
        else if (c->dt == LLMC_DT_F32) memcpy(o, row, (size_t)cols * sizeof *row);
        else
            for (int64_t k = 0; k < cols; k++) {
                uint16_t h = c->dt == LLMC_DT_F16 ? llmc_f32_to_f16(row[k]) : llmc_f32_to_bf16(row[k]);
                memcpy(o + 2 * k, &h, 2);
            }
    }
}

/* Converts tensor `name` (when present) to dt: F32/F16/BF16, or Q8_0/Q4_0 (load-time
 * quantization; rows must be whole 32-element blocks, and weights that are already
 * quantized keep their format rather than being quantized twice). Rows convert in
 * parallel; the source's file pages are then dropped from this process (the page
 * cache keeps them), so peak memory stays near the converted weights' size. */
static llmc_status lm_convert(llmc_threadpool *tp, llmc_tensor_set *ts, const char *name, llmc_dtype dt, int *kept,
                              llmc_error *err) {
    llmc_tensor *t = llmc_tensor_set_find_mut(ts, name);
    if (!t || t->dtype == dt) return LLMC_OK;
    bool quant = llmc_dtype_block_elems(dt) > 1;
    if (quant && llmc_dtype_block_elems(t->dtype) > 1) { (*kept)++; return LLMC_OK; }
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1;
    int64_t cols = t->ndim == 2 ? t->shape[1] : llmc_tensor_numel(t);
    if (quant && cols % 32)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "model: cannot quantize '%s' to %s: its rows of %lld elements are not whole blocks of 32",
                        name, llmc_dtype_name(dt), (long long)cols);
    int nth = llmc_threadpool_size(tp);
    lm_conv_ctx c = {.view = *t, .dt = dt, .quant = quant, .rb = llmc_dtype_row_bytes(dt, cols)};
    c.view.ndim = 2;
    c.view.shape[0] = rows;
    c.view.shape[1] = cols;
    c.buf = malloc((size_t)rows * c.rb + 1);
    c.rows_f32 = malloc((size_t)cols * sizeof(float) * (size_t)nth + 1);
    if (!c.buf || !c.rows_f32) {
        free(c.buf);
        free(c.rows_f32);
        return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory converting '%s' to %s", name, llmc_dtype_name(dt));
    }
    llmc_threadpool_run(tp, lm_convert_task, &c, rows);
    free(c.rows_f32);
    if (t->mapped && !t->owned) { /* whole pages inside the tensor only */
        long pg = sysconf(_SC_PAGESIZE);
        uintptr_t a = ((uintptr_t)t->data + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
        uintptr_t z = ((uintptr_t)t->data + t->nbytes) & ~((uintptr_t)pg - 1);
        if (pg > 0 && z > a) madvise((void *)a, z - a, MADV_DONTNEED);
    }
    free(t->owned);
    t->owned = c.buf;
    t->data = c.buf;
    t->mapped = false;
    t->dtype = dt;
    t->nbytes = (size_t)rows * c.rb;
    return LLMC_OK;
}

/* inv_freq exactly as transformers computes it (float32 arithmetic). */
static void lm_rope_init(const llmc_config *c, float *inv) {
    int dim = c->head_dim;
    for (int i = 0; i < dim / 2; i++) {
        float e = (float)(2 * i) / (float)dim;
        float f = 1.0f / powf((float)c->rope_theta, e);
        if (c->rope_type == LLMC_ROPE_LINEAR) f /= (float)c->rope_factor;
        else if (c->rope_type == LLMC_ROPE_LLAMA3) {
            float factor = (float)c->rope_factor, lo = (float)c->rope_low_freq_factor, hi = (float)c->rope_high_freq_factor;
            float old = (float)c->rope_original_max_position;
            double low_wl = (double)c->rope_original_max_position / c->rope_low_freq_factor;
            double high_wl = (double)c->rope_original_max_position / c->rope_high_freq_factor;
            float wl = (float)(2 * M_PI) / f;
            float g = (double)wl > low_wl ? f / factor : f;
            if (!((double)wl < high_wl) && !((double)wl > low_wl)) {
                float s = (old / wl - lo) / (hi - lo);
                g = (1 - s) * g / factor + s * g;
            }
            f = g;
        }
        inv[i] = f;
    }
}

static void *lm_alloc(size_t n, bool *ok) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) *ok = false;
    return p;
}

/* Splits model.layers.<l>.<fused>.weight ([Σ rows, cols], rows stacked in order) into n views
   named model.layers.<l>.<names[i]>.weight sharing its memory (whole rows, any dtype). */
static llmc_status lm_split_rows(llmc_tensor_set *ts, int l, const char *fused, int n, const char *const *names, const int64_t *rows,
                                 int64_t cols, llmc_error *err) {
    char fn[160];
    snprintf(fn, sizeof fn, "model.layers.%d.%s.weight", l, fused);
    const llmc_tensor *f = llmc_tensor_set_find(ts, fn);
    if (!f) return llmc_err(err, LLMC_ERR_FORMAT, "model: missing tensor '%s'", fn);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += rows[i];
    if (f->ndim != 2 || f->shape[0] != total || f->shape[1] != cols)
        return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", fn, (long long)f->shape[0],
                        (long long)(f->ndim == 2 ? f->shape[1] : 0), (long long)total, (long long)cols);
    if (cols % llmc_dtype_block_elems(f->dtype) != 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s': rows of %lld are not whole %s blocks", fn, (long long)cols,
                        llmc_dtype_name(f->dtype));
    size_t rb = llmc_dtype_row_bytes(f->dtype, cols);
    if (f->nbytes != (size_t)total * rb) return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' holds %zu bytes, expected %zu", fn, f->nbytes,
                                                         (size_t)total * rb);
    int64_t r0 = 0;
    for (int i = 0; i < n; i++) {
        llmc_tensor v = *f;
        char vn[160];
        snprintf(vn, sizeof vn, "model.layers.%d.%s.weight", l, names[i]);
        v.name = strdup(vn);
        if (!v.name) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
        v.shape[0] = rows[i];
        v.data = (const uint8_t *)f->data + (size_t)r0 * rb;
        v.nbytes = (size_t)rows[i] * rb;
        v.owned = NULL; /* the fused tensor keeps the memory */
        llmc_status st = llmc_tensor_set_add(ts, &v, err);
        if (st) {
            free(v.name);
            return st;
        }
        f = llmc_tensor_set_find(ts, fn); /* the set may have moved it */
        r0 += rows[i];
    }
    return LLMC_OK;
}

/* Device placement (src/backend/cuda): the GPU copy is made from the validated views. */
static llmc_status lm_cuda_attach(llmc_model *m, const llmc_model_opts *o, llmc_error *err) {
    if (!o->device || !strcmp(o->device, "cpu")) return LLMC_OK;
    const llmc_config *c = &m->cfg;
    llmc_cuda_layer_src *ls = calloc((size_t)c->num_layers, sizeof *ls);
    if (!ls) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    for (int l = 0; l < c->num_layers; l++) {
        const lm_layer *L = &m->layers[l];
        const llmc_tensor *w[7] = {L->wq, L->wk, L->wv, L->wo, L->wg, L->wu, L->wd};
        const llmc_tensor *b[7] = {L->bq, L->bk, L->bv, L->bo, L->bg, L->bu, L->bd};
        memcpy(ls[l].w, w, sizeof w);
        memcpy(ls[l].b, b, sizeof b);
        ls[l].ln1 = L->ln1;
        ls[l].ln2 = L->ln2;
        ls[l].qn = L->qn;
        ls[l].kn = L->kn;
    }
    llmc_cuda_src src = {c, m->embed, m->lm_head, m->norm, m->inv_freq, ls, m->ctx, LM_BATCH};
    llmc_status st = llmc_cuda_attach(&src, o->device, o->gpu_layers, &m->cuda, err);
    free(ls);
    return st;
}

llmc_status llmc_model_from_tensors(const llmc_config *cfg, llmc_tensor_set *ts, const llmc_model_opts *o, llmc_model **out,
                                    llmc_error *err) {
    *out = NULL;
    llmc_model_opts def;
    if (!o) { llmc_model_opts_default(&def); o = &def; }
    if (!cfg || !ts) {
        llmc_tensor_set_free(ts);
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "model: no config or tensors");
    }
    llmc_model *m = calloc(1, sizeof *m);
    if (!m) {
        llmc_tensor_set_free(ts);
        return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    }
    m->ts = ts;
    m->cfg = *cfg;
    m->act = o->fast_activations ? LLMC_ACT_FAST : LLMC_ACT_PRECISE;
    const llmc_config *c = &m->cfg;
    llmc_status st = LLMC_OK;
    if (strcmp(c->architecture, "LlamaForCausalLM") != 0 && strcmp(c->architecture, "MistralForCausalLM") != 0 &&
        strcmp(c->architecture, "Qwen2ForCausalLM") != 0 && strcmp(c->architecture, "Qwen3ForCausalLM") != 0 &&
        strcmp(c->architecture, "Phi3ForCausalLM") != 0 && strcmp(c->architecture, "Gemma3ForCausalLM") != 0 &&
        strcmp(c->architecture, "Gemma2ForCausalLM") != 0 && strcmp(c->architecture, "SmolLM3ForCausalLM") != 0) {
        st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "model: architecture '%s' is not supported", c->architecture);
        goto fail;
    }
    if (c->hidden_size <= 0 || c->intermediate_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 || c->num_kv_heads <= 0 ||
        c->head_dim <= 0 || c->head_dim % 2 || c->vocab_size <= 0 || c->num_heads % c->num_kv_heads || c->max_position_embeddings <= 0 ||
        c->num_layers > 4096 || c->rope_theta <= 0) {
        st = llmc_err(err, LLMC_ERR_FORMAT, "model: inconsistent configuration (sizes must be positive, heads a multiple of KV heads, head_dim even)");
        goto fail;
    }
    if (o->dtype != -1 && o->dtype != LLMC_DT_F32 && o->dtype != LLMC_DT_F16 && o->dtype != LLMC_DT_BF16) {
        st = llmc_err(err, LLMC_ERR_INVALID_ARG, "model: dtype %d is not one of auto, F32, F16, BF16", o->dtype);
        goto fail;
    }
    const int64_t H = c->hidden_size, I = c->intermediate_size, qd = (int64_t)c->num_heads * c->head_dim;
    m->kv_dim = c->num_kv_heads * c->head_dim;
    const int64_t kvd = m->kv_dim;
    if (c->fused_proj) /* Phi-3: q|k|v and gate|up as row views under the usual names, before anything reads them */
        for (int l = 0; l < c->num_layers; l++) {
            const char *qkv[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, *gu[2] = {"mlp.gate_proj", "mlp.up_proj"};
            const int64_t qkv_rows[3] = {qd, kvd, kvd}, gu_rows[2] = {I, I};
            if ((st = lm_split_rows(ts, l, "self_attn.qkv_proj", 3, qkv, qkv_rows, H, err)) ||
                (st = lm_split_rows(ts, l, "mlp.gate_up_proj", 2, gu, gu_rows, H, err)))
                goto fail;
        }

    /* Optional dtype conversion first, so validation sees the final tensors; then
     * load-time quantization: the layers' linear weights to o->quantize, the
     * embedding table and lm_head to Q8_0 (as llama.cpp keeps its output matrix at
     * higher precision than a Q4 body: top-1 choices hinge on it). */
    if (o->quantize != -1 && o->quantize != LLMC_DT_Q8_0 && o->quantize != LLMC_DT_Q4_0) {
        st = llmc_err(err, LLMC_ERR_INVALID_ARG, "model: load-time quantization to %s is not supported (q8_0 or q4_0)",
                      (unsigned)o->quantize < LLMC_DT_COUNT ? llmc_dtype_name((llmc_dtype)o->quantize) : "?");
        goto fail;
    }
    m->tp = llmc_threadpool_new(o->n_threads);
    if (!m->tp) goto oom;
    static const char *per_layer[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    char name[160];
    for (int pass = 0; pass < 2; pass++) {
        int dt = pass == 0 ? o->dtype : o->quantize, head = pass == 0 ? o->dtype : LLMC_DT_Q8_0, kept = 0;
        if (dt == -1) continue;
        /* the largest tensors first: peak memory = converted weights + one source tensor */
        st = lm_convert(m->tp, ts, "model.embed_tokens.weight", (llmc_dtype)head, &kept, err);
        if (st == LLMC_OK && !c->tie_word_embeddings) st = lm_convert(m->tp, ts, "lm_head.weight", (llmc_dtype)head, &kept, err);
        for (int l = 0; l < c->num_layers && st == LLMC_OK; l++)
            for (size_t i = 0; i < sizeof per_layer / sizeof *per_layer && st == LLMC_OK; i++) {
                snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, per_layer[i]);
                st = lm_convert(m->tp, ts, name, (llmc_dtype)dt, &kept, err);
            }
        if (st != LLMC_OK) goto fail;
        if (pass == 0) LLMC_INFO("model: weights converted to %s", llmc_dtype_name((llmc_dtype)dt));
        else if (kept) LLMC_WARN("model: --quantize %s: %d weight matrices are already quantized in the file and keep their format",
                                 llmc_dtype_name((llmc_dtype)dt), kept);
        else LLMC_INFO("model: linear weights quantized to %s at load (embeddings and lm_head: Q8_0)", llmc_dtype_name((llmc_dtype)dt));
    }

    const llmc_tensor *t;
    if ((st = lm_get(ts, "model.embed_tokens.weight", c->vocab_size, H, false, &m->embed, err))) goto fail;
    if (c->tie_word_embeddings) m->lm_head = m->embed;
    else if ((st = lm_get(ts, "lm_head.weight", c->vocab_size, H, false, &m->lm_head, err))) goto fail;
    if ((st = lm_get(ts, "model.norm.weight", H, -1, true, &t, err))) goto fail;
    if (!(m->norm = lm_norm_f32(c, t))) goto oom;
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    if (!m->layers) goto oom;
    for (int l = 0; l < c->num_layers; l++) {
        lm_layer *L = &m->layers[l];
        char n[160];
#define LM_W(field, suffix, rows, cols, isf)                                          \
        snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);                       \
        if ((st = lm_get(ts, n, rows, cols, isf, &L->field, err))) goto fail;
        LM_W(wq, "self_attn.q_proj.weight", qd, H, false)
        LM_W(wk, "self_attn.k_proj.weight", kvd, H, false)
        LM_W(wv, "self_attn.v_proj.weight", kvd, H, false)
        LM_W(wo, "self_attn.o_proj.weight", H, qd, false)
        LM_W(wg, "mlp.gate_proj.weight", I, H, false)
        LM_W(wu, "mlp.up_proj.weight", I, H, false)
        LM_W(wd, "mlp.down_proj.weight", H, I, false)
        if (c->attention_bias || c->qkv_bias) {
            LM_W(bq, "self_attn.q_proj.bias", qd, -1, true)
            LM_W(bk, "self_attn.k_proj.bias", kvd, -1, true)
            LM_W(bv, "self_attn.v_proj.bias", kvd, -1, true)
        }
        if (c->attention_bias) {
            LM_W(bo, "self_attn.o_proj.bias", H, -1, true)
        }
        if (c->mlp_bias) {
            LM_W(bg, "mlp.gate_proj.bias", I, -1, true)
            LM_W(bu, "mlp.up_proj.bias", I, -1, true)
            LM_W(bd, "mlp.down_proj.bias", H, -1, true)
        }
        snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
        if ((st = lm_get(ts, n, H, -1, true, &t, err))) goto fail;
        if (!(L->ln1 = lm_norm_f32(c, t))) goto oom;
        /* The norm before the MLP: Llama's post_attention_layernorm; with sandwich norms (Gemma 3)
           that name is the norm of the attention output and pre_feedforward_layernorm comes before the MLP. */
        snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, c->sandwich_norms ? "pre_feedforward_layernorm" : "post_attention_layernorm");
        if ((st = lm_get(ts, n, H, -1, true, &t, err))) goto fail;
        if (!(L->ln2 = lm_norm_f32(c, t))) goto oom;
        if (c->sandwich_norms) {
            snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", l);
            if ((st = lm_get(ts, n, H, -1, true, &t, err))) goto fail;
            if (!(L->ln_ao = lm_norm_f32(c, t))) goto oom;
            snprintf(n, sizeof n, "model.layers.%d.post_feedforward_layernorm.weight", l);
            if ((st = lm_get(ts, n, H, -1, true, &t, err))) goto fail;
            if (!(L->ln_mo = lm_norm_f32(c, t))) goto oom;
        }
        if (c->qk_norm) {
            snprintf(n, sizeof n, "model.layers.%d.self_attn.q_norm.weight", l);
            if ((st = lm_get(ts, n, c->head_dim, -1, true, &t, err))) goto fail;
            if (!(L->qn = lm_norm_f32(c, t))) goto oom;
            snprintf(n, sizeof n, "model.layers.%d.self_attn.k_norm.weight", l);
            if ((st = lm_get(ts, n, c->head_dim, -1, true, &t, err))) goto fail;
            if (!(L->kn = lm_norm_f32(c, t))) goto oom;
        }
#undef LM_W
    }

    /* Context: requested, else the config's, bounded by the KV budget. */
    size_t per_pos = (size_t)2 * c->num_layers * (size_t)kvd * sizeof(float);
    int ctx = c->max_position_embeddings;
    if (o->max_context > 0) {
        if (o->max_context > ctx)
            LLMC_WARN("model: requested context %d exceeds max_position_embeddings %d; using %d", o->max_context, ctx, ctx);
        else ctx = o->max_context;
    } else if ((size_t)ctx * per_pos > LLMC_MODEL_KV_BUDGET) {
        int cap = (int)(LLMC_MODEL_KV_BUDGET / per_pos);
        if (cap < 1) cap = 1;
        LLMC_INFO("model: context limited to %d of %d positions by the %llu MiB KV-cache budget", cap, ctx,
                  (unsigned long long)(LLMC_MODEL_KV_BUDGET >> 20));
        ctx = cap;
    }
    m->ctx = ctx;
    LLMC_INFO("model: KV cache %d positions, %.1f MiB (f32)", ctx, (double)ctx * (double)per_pos / 1048576.0);
    if (llmc_kv_cache_new(c->num_layers, m->kv_dim, ctx, ctx, &m->kv0, NULL) != LLMC_OK) {
        st = llmc_err(err, LLMC_ERR_NOMEM, "model: cannot allocate the KV cache (%d positions, %.1f MiB)", ctx,
                      (double)ctx * (double)per_pos / 1048576.0);
        goto fail;
    }
    m->inv_freq = malloc((size_t)c->head_dim / 2 * sizeof(float));
    if (!m->inv_freq) goto oom;
    lm_rope_init(c, m->inv_freq);
    if (c->rope_theta_local > 0) { /* the sliding layers' default RoPE on their own base */
        llmc_config lc = *c;
        lc.rope_theta = c->rope_theta_local;
        lc.rope_type = LLMC_ROPE_DEFAULT;
        m->inv_freq_local = malloc((size_t)c->head_dim / 2 * sizeof(float));
        if (!m->inv_freq_local) goto oom;
        lm_rope_init(&lc, m->inv_freq_local);
    }

    m->nthreads = llmc_threadpool_size(m->tp);
    if (m->nthreads < 1) m->nthreads = 1;
    bool ok = true;
    size_t B = LM_BATCH;
    m->x = lm_alloc(B * H * sizeof(float), &ok);
    m->xn = lm_alloc(B * H * sizeof(float), &ok);
    m->q = lm_alloc(B * qd * sizeof(float), &ok);
    m->att = lm_alloc(B * qd * sizeof(float), &ok);
    m->k = lm_alloc(B * kvd * sizeof(float), &ok);
    m->v = lm_alloc(B * kvd * sizeof(float), &ok);
    m->g = lm_alloc(B * I * sizeof(float), &ok);
    m->u = lm_alloc(B * I * sizeof(float), &ok);
    m->rope_cs = lm_alloc(B * (size_t)c->head_dim * sizeof(float), &ok);
    if (m->inv_freq_local) m->rope_cs_local = lm_alloc(B * (size_t)c->head_dim * sizeof(float), &ok);
    m->score_stride = (size_t)LLMC_ATT_MAX_GROUP * (size_t)ctx;
    if (m->score_stride < (size_t)64 * (size_t)c->head_dim + 512) m->score_stride = (size_t)64 * (size_t)c->head_dim + 512;
    m->scores = lm_alloc((size_t)m->nthreads * m->score_stride * sizeof(float), &ok);
    if (!ok) goto oom;
    if ((st = lm_cuda_attach(m, o, err))) goto fail;
    *out = m;
    return LLMC_OK;
oom:
    st = llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
fail:
    llmc_model_free(m);
    return st;
}

llmc_status llmc_model_load(const char *dir, const llmc_model_opts *o, llmc_model **out, llmc_error *err) {
    *out = NULL;
    llmc_config cfg;
    llmc_status st = llmc_hf_config_load(dir, &cfg, err);
    if (st != LLMC_OK) return st;
    llmc_tensor_set *ts;
    if ((st = llmc_safetensors_load(dir, &ts, err)) != LLMC_OK) return st;
    st = llmc_model_from_tensors(&cfg, ts, o, out, err);
    if (st != LLMC_OK) llmc_err_prefix(err, "%s: ", dir);
    return st;
}

/* ---- forward ---------------------------------------------------------------- */

static void lm_rmsnorm(const float *x, const float *w, int n, double eps, float *out) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) out[i] = w[i] * (x[i] * r);
}

/* cos/sin rows for each token's position: [t][0..half) cos, [t][half..hd) sin. */
static void lm_rope_fill(const float *inv_freq, float *tab, int half, const int32_t *pos, int n) {
    for (int t = 0; t < n; t++) {
        float *cs = tab + (size_t)t * 2 * half;
        for (int i = 0; i < half; i++) {
            float a = (float)pos[t] * inv_freq[i];
            cs[i] = cosf(a);
            cs[half + i] = sinf(a);
        }
    }
}

/* The attention of layer l: its window (0 = none) and the scale of its scores. */
static int lm_layer_window(const llmc_config *c, int l) { return llmc_config_layer_sliding(c, l) ? c->sliding_window : 0; }
static float lm_attn_scale(const llmc_config *c) { return c->attn_scale > 0 ? (float)c->attn_scale : 1.0f / sqrtf((float)c->head_dim); }

static void lm_rope_apply(float *x, const float *cs, int half) {
    for (int i = 0; i < half; i++) {
        float a = x[i], b = x[i + half], c = cs[i], s = cs[half + i];
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}

/* One forward call, as the layers see it: tokens [0, n) in segments, each a run of
 * consecutive positions of one sequence; out rows: the tokens whose logits are wanted. */
typedef struct {
    llmc_kv_cache *kv;
    int t0, n, pos0;
    int item_end; /* attention items of segments [0..this] (rows kernel) */
} lm_seg;

typedef struct {
    int n, n_seg, n_out;
    const int32_t *ids;
    int32_t pos[LM_BATCH];
    int16_t seg_of[LM_BATCH];
    int16_t out_rows[LM_BATCH];
    lm_seg seg[LM_BATCH];
    bool invariant, f32_tiles;
} lm_step;

typedef struct {
    llmc_model *m;
    const lm_step *s;
    int layer;
} lm_att_ctx;

/* One item: token t, K/V head kh, and up to LLMC_ATT_MAX_GROUP of the query heads
 * that share it (GQA), so each K and V row is read once for the group. */
static void lm_attention_task(void *vctx, int64_t begin, int64_t end, int tid) {
    lm_att_ctx *a = vctx;
    llmc_model *m = a->m;
    const llmc_config *c = &m->cfg;
    const int hd = c->head_dim, nh = c->num_heads, nkv = c->num_kv_heads, group = nh / nkv;
    const int chunks = (group + LLMC_ATT_MAX_GROUP - 1) / LLMC_ATT_MAX_GROUP, win = lm_layer_window(c, a->layer);
    const float scale = lm_attn_scale(c);
    float *sc = m->scores + (size_t)tid * m->score_stride;
    for (int64_t idx = begin; idx < end; idx++) {
        int t = (int)(idx / ((int64_t)nkv * chunks)), rest = (int)(idx % ((int64_t)nkv * chunks));
        int kh = rest / chunks, h0 = kh * group + (rest % chunks) * LLMC_ATT_MAX_GROUP;
        int G = kh * group + group - h0 < LLMC_ATT_MAX_GROUP ? kh * group + group - h0 : LLMC_ATT_MAX_GROUP;
        const llmc_kv_cache *kv = a->s->seg[a->s->seg_of[t]].kv;
        int qpos = a->s->pos[t], lo = 0;
        if (win > 0 && qpos - win + 1 > 0) lo = qpos - win + 1;
        const float *q[LLMC_ATT_MAX_GROUP];
        float *o[LLMC_ATT_MAX_GROUP];
        for (int g = 0; g < G; g++) {
            q[g] = m->q + ((size_t)t * nh + (size_t)(h0 + g)) * hd;
            o[g] = m->att + ((size_t)t * nh + (size_t)(h0 + g)) * hd;
        }
        size_t off = (size_t)lo * m->kv_dim + (size_t)kh * hd;
        llmc_cpu_attention(G, q, kv->k[a->layer] + off, kv->v[a->layer] + off, (size_t)m->kv_dim, hd, qpos - lo + 1, scale,
                           (float)c->attn_softcap, sc, o);
    }
}

/* Blocks of query tokens of one segment × the heads of one K/V head as rows of the blocked
 * (flash-style) kernel, so each K/V block is read once for up to LLMC_ATT_MAX_ROWS rows.
 * Item = (segment, token block, K/V head, head chunk), a segment's latest token blocks
 * (the most keys) first. A row's result does not depend on the rows beside it. */
typedef struct {
    llmc_model *m;
    const lm_step *s;
    int layer;
    int tq, hc, n_hc; /* tokens per block, heads per chunk, chunk count */
} lm_att_rows_ctx;

static void lm_attention_rows_task(void *vctx, int64_t begin, int64_t end, int tid) {
    lm_att_rows_ctx *a = vctx;
    llmc_model *m = a->m;
    const llmc_config *c = &m->cfg;
    const int hd = c->head_dim, nh = c->num_heads, nkv = c->num_kv_heads, group = nh / nkv, win = lm_layer_window(c, a->layer);
    const float scale = lm_attn_scale(c);
    float *sc = m->scores + (size_t)tid * m->score_stride;
    int si = 0;
    for (int64_t idx = begin; idx < end; idx++) {
        while (idx >= a->s->seg[si].item_end) si++;
        const lm_seg *sg = &a->s->seg[si];
        int64_t li = idx - (si ? a->s->seg[si - 1].item_end : 0);
        int n_tb = (sg->n + a->tq - 1) / a->tq;
        int tb = n_tb - 1 - (int)(li / ((int64_t)nkv * a->n_hc)), rest = (int)(li % ((int64_t)nkv * a->n_hc));
        int kh = rest / a->n_hc, h0 = kh * group + (rest % a->n_hc) * a->hc;
        int h1 = h0 + a->hc < kh * group + group ? h0 + a->hc : kh * group + group;
        int t0 = sg->t0 + tb * a->tq, t1 = t0 + a->tq < sg->t0 + sg->n ? t0 + a->tq : sg->t0 + sg->n;
        const float *q[LLMC_ATT_MAX_ROWS];
        float *o[LLMC_ATT_MAX_ROWS];
        int lo[LLMC_ATT_MAX_ROWS], hi[LLMC_ATT_MAX_ROWS], R = 0;
        for (int t = t0; t < t1; t++)
            for (int h = h0; h < h1; h++) {
                int qpos = a->s->pos[t];
                q[R] = m->q + ((size_t)t * nh + (size_t)h) * hd;
                o[R] = m->att + ((size_t)t * nh + (size_t)h) * hd;
                hi[R] = qpos;
                lo[R] = win > 0 && qpos - win + 1 > 0 ? qpos - win + 1 : 0;
                R++;
            }
        llmc_cpu_attention_rows(R, q, lo, hi, sg->kv->k[a->layer] + (size_t)kh * hd, sg->kv->v[a->layer] + (size_t)kh * hd, (size_t)m->kv_dim,
                                hd, scale, (float)c->attn_softcap, sc, o);
    }
}

/* The kernels' mode for this step (ops.h). */
static llmc_act_mode lm_act(const llmc_model *m, const lm_step *s) {
    int a = (int)m->act;
    if (s->invariant) a |= LLMC_ACT_INVARIANT | (s->f32_tiles ? LLMC_ACT_DEQUANT : 0);
    return (llmc_act_mode)a;
}

static void lm_matmul(const llmc_model *m, const lm_step *s, const llmc_tensor *W, const llmc_tensor *bias, const float *x, int n, float *y) {
    llmc_cpu_matmul_act(m->tp, W, bias, x, n, y, lm_act(m, s));
}

/* Causal attention of layer l for every token over its own sequence's KV. Batch-invariant
   steps and prompt batches use the rows kernel; a one-token decode the grouped one. */
static void lm_attention(llmc_model *m, const lm_step *s, int l) {
    const llmc_config *c = &m->cfg;
    const int group = c->num_heads / c->num_kv_heads;
    if (s->invariant || (s->n > 1 && llmc_cpu_attention_rows_fast(c->head_dim))) {
        lm_att_rows_ctx a = {m, s, l, 0, 0, 0};
        a.hc = group < LLMC_ATT_MAX_ROWS ? group : LLMC_ATT_MAX_ROWS;
        a.tq = LLMC_ATT_MAX_ROWS / a.hc;
        a.n_hc = (group + a.hc - 1) / a.hc;
        llmc_threadpool_run(m->tp, lm_attention_rows_task, &a, s->seg[s->n_seg - 1].item_end);
    } else {
        lm_att_ctx a = {m, s, l};
        llmc_threadpool_run(m->tp, lm_attention_task, &a,
                            (int64_t)s->n * c->num_kv_heads * ((group + LLMC_ATT_MAX_GROUP - 1) / LLMC_ATT_MAX_GROUP));
    }
}

/* Elementwise MLP activation: g = act(g) · u. */
static void lm_mlp_act(const llmc_config *c, float *g, const float *u, size_t n) {
    if (c->mlp_act == LLMC_MLP_GELU_TANH) /* gelu_pytorch_tanh, as torch computes it in f32 */
        for (size_t i = 0; i < n; i++) g[i] = 0.5f * g[i] * (1.0f + tanhf(0.7978845608028654f * (g[i] + 0.044715f * g[i] * g[i] * g[i]))) * u[i];
    else
        for (size_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* q/k head norms (Qwen3), RoPE, and the new K/V rows into each token's sequence at its position. */
static void lm_qk_rope_store(llmc_model *m, const lm_step *s, int l) {
    const llmc_config *c = &m->cfg;
    const lm_layer *L = &m->layers[l];
    const int hd = c->head_dim, qd = c->num_heads * hd, kvd = m->kv_dim, half = hd / 2;
    const float *rtab = m->rope_cs_local && llmc_config_layer_sliding(c, l) ? m->rope_cs_local : m->rope_cs;
    const bool rope_on = llmc_config_layer_rope(c, l);
    for (int t = 0; t < s->n; t++) {
        const float *cs = rtab + (size_t)t * hd;
        if (L->qn) { /* Qwen3: each head normalized over head_dim before RoPE */
            for (int h = 0; h < c->num_heads; h++) {
                float *v = m->q + (size_t)t * qd + (size_t)h * hd;
                lm_rmsnorm(v, L->qn, hd, c->rms_norm_eps, v);
            }
            for (int h = 0; h < c->num_kv_heads; h++) {
                float *v = m->k + (size_t)t * kvd + (size_t)h * hd;
                lm_rmsnorm(v, L->kn, hd, c->rms_norm_eps, v);
            }
        }
        if (rope_on) { /* SmolLM3's NoPE layers skip it */
            for (int h = 0; h < c->num_heads; h++) lm_rope_apply(m->q + (size_t)t * qd + (size_t)h * hd, cs, half);
            for (int h = 0; h < c->num_kv_heads; h++) lm_rope_apply(m->k + (size_t)t * kvd + (size_t)h * hd, cs, half);
        }
        llmc_kv_cache *kv = s->seg[s->seg_of[t]].kv;
        memcpy(kv->k[l] + (size_t)s->pos[t] * kvd, m->k + (size_t)t * kvd, (size_t)kvd * sizeof(float));
        memcpy(kv->v[l] + (size_t)s->pos[t] * kvd, m->v + (size_t)t * kvd, (size_t)kvd * sizeof(float));
    }
}

/* The layers from first_layer on, then the head for the out rows (logits: n_out × vocab).
   first_layer > 0: m->x already holds the hidden state after the GPU's layers. */
static void lm_forward_step(llmc_model *m, const lm_step *s, float *logits, int first_layer) {
    const llmc_config *c = &m->cfg;
    const int H = c->hidden_size, I = c->intermediate_size, n = s->n;
    if (first_layer == 0) {
        llmc_cpu_embed(m->embed, s->ids, n, m->x);
        if (c->embed_scale > 0) { /* Gemma: × sqrt(hidden) */
            float es = (float)c->embed_scale;
            for (size_t i = 0; i < (size_t)n * H; i++) m->x[i] *= es;
        }
    }
    lm_rope_fill(m->inv_freq, m->rope_cs, c->head_dim / 2, s->pos, n);
    if (m->inv_freq_local) lm_rope_fill(m->inv_freq_local, m->rope_cs_local, c->head_dim / 2, s->pos, n);
    for (int l = first_layer; l < c->num_layers; l++) {
        lm_layer *L = &m->layers[l];
        for (int t = 0; t < n; t++) lm_rmsnorm(m->x + (size_t)t * H, L->ln1, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        { /* q, k, v: one pass over the normed input */
            const llmc_tensor *w[3] = {L->wq, L->wk, L->wv}, *b[3] = {L->bq, L->bk, L->bv};
            float *y[3] = {m->q, m->k, m->v};
            llmc_cpu_matmul_n(m->tp, 3, w, b, m->xn, n, y, lm_act(m, s));
        }
        lm_qk_rope_store(m, s, l);
        lm_attention(m, s, l);
        lm_matmul(m, s, L->wo, L->bo, m->att, n, m->xn);
        if (L->ln_ao) /* Gemma 3: the attention output normalized before the residual add */
            for (int t = 0; t < n; t++) lm_rmsnorm(m->xn + (size_t)t * H, L->ln_ao, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        for (size_t i = 0; i < (size_t)n * H; i++) m->x[i] += m->xn[i];
        for (int t = 0; t < n; t++) lm_rmsnorm(m->x + (size_t)t * H, L->ln2, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        { /* gate and up: one pass */
            const llmc_tensor *w[2] = {L->wg, L->wu}, *b[2] = {L->bg, L->bu};
            float *y[2] = {m->g, m->u};
            llmc_cpu_matmul_n(m->tp, 2, w, b, m->xn, n, y, lm_act(m, s));
        }
        lm_mlp_act(c, m->g, m->u, (size_t)n * I);
        lm_matmul(m, s, L->wd, L->bd, m->g, n, m->xn);
        if (L->ln_mo)
            for (int t = 0; t < n; t++) lm_rmsnorm(m->xn + (size_t)t * H, L->ln_mo, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        for (size_t i = 0; i < (size_t)n * H; i++) m->x[i] += m->xn[i];
    }
    if (!logits || s->n_out == 0) return;
    for (int i = 0; i < s->n_out; i++)
        lm_rmsnorm(m->x + (size_t)s->out_rows[i] * H, m->norm, H, c->rms_norm_eps, m->xn + (size_t)i * H);
    lm_matmul(m, s, m->lm_head, NULL, m->xn, s->n_out, logits);
    if (c->final_softcap > 0) { /* Gemma 2: cap · tanh(logit / cap) */
        float cap = (float)c->final_softcap;
        for (size_t i = 0; i < (size_t)s->n_out * (size_t)c->vocab_size; i++) logits[i] = cap * tanhf(logits[i] / cap);
    }
}

/* Validates a batch and lays it out as segments; makes room in each sequence and
   applies rewinds (a segment starting before its sequence's end truncates it). */
static llmc_status lm_plan_step(const llmc_model *m, const llmc_batch *b, lm_step *s, llmc_error *err) {
    if (!b || b->n <= 0 || !b->ids || !b->seq || !b->pos)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: a batch needs tokens, sequences and positions");
    if (b->n > LM_BATCH)
        return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: %d tokens, more than the %d a call takes", b->n, LM_BATCH);
    s->n = b->n;
    s->n_seg = 0;
    s->n_out = 0;
    s->ids = b->ids;
    s->invariant = b->invariant;
    s->f32_tiles = b->f32_tiles;
    for (int t = 0; t < b->n; t++) {
        llmc_kv_cache *kv = b->seq[t];
        if (!kv || kv->n_layers != m->cfg.num_layers || kv->kv_dim != m->kv_dim)
            return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: token %d has no sequence of this model's shape", t);
        if (b->ids[t] < 0 || b->ids[t] >= m->cfg.vocab_size)
            return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: token id %d (at index %d) is outside the vocabulary of %d", (int)b->ids[t], t,
                            m->cfg.vocab_size);
        bool start = t == 0 || b->seq[t - 1] != kv;
        if (start) {
            for (int i = 0; i < s->n_seg; i++)
                if (s->seg[i].kv == kv)
                    return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: the tokens of one sequence must be contiguous (token %d)", t);
            if (b->pos[t] < 0 || b->pos[t] > kv->len)
                return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: position %d is past the %d tokens in the sequence's KV cache", (int)b->pos[t],
                                kv->len);
            s->seg[s->n_seg++] = (lm_seg){kv, t, 0, b->pos[t], 0};
        } else if (b->pos[t] != b->pos[t - 1] + 1) {
            return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: token %d of a sequence is at position %d, not %d", t, (int)b->pos[t],
                            (int)b->pos[t - 1] + 1);
        }
        lm_seg *sg = &s->seg[s->n_seg - 1];
        sg->n++;
        s->pos[t] = b->pos[t];
        s->seg_of[t] = (int16_t)(s->n_seg - 1);
        if (b->want_logits && b->want_logits[t]) s->out_rows[s->n_out++] = (int16_t)t;
    }
    const int group = m->cfg.num_heads / m->cfg.num_kv_heads, hc = group < LLMC_ATT_MAX_ROWS ? group : LLMC_ATT_MAX_ROWS;
    const int tq = LLMC_ATT_MAX_ROWS / hc, n_hc = (group + hc - 1) / hc;
    int items = 0;
    for (int i = 0; i < s->n_seg; i++) {
        lm_seg *sg = &s->seg[i];
        if ((long long)sg->pos0 + sg->n > m->ctx)
            return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: %d tokens at position %d need %lld positions, more than the context of %d",
                            sg->n, sg->pos0, (long long)sg->pos0 + sg->n, m->ctx);
        llmc_status st = llmc_kv_cache_reserve(sg->kv, sg->pos0 + sg->n, err);
        if (st) return st;
        items += (sg->n + tq - 1) / tq * m->cfg.num_kv_heads * n_hc;
        sg->item_end = items;
    }
    /* Checks done: rewinds take effect, the ids go in (K/V rows follow in the forward). */
    for (int i = 0; i < s->n_seg; i++) {
        lm_seg *sg = &s->seg[i];
        memcpy(sg->kv->ids + sg->pos0, b->ids + sg->t0, (size_t)sg->n * sizeof *b->ids);
        sg->kv->len = sg->pos0 + sg->n;
    }
    return LLMC_OK;
}

llmc_status llmc_model_forward_batch(llmc_model *m, const llmc_batch *b, float *logits, llmc_error *err) {
    if (!m) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: no model");
    if (m->cuda)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED,
                        "model_forward_batch: the model is placed on a GPU, whose backend runs one sequence (llmc_model_forward); "
                        "load it with --device cpu to batch sequences");
    lm_step s;
    llmc_status st = lm_plan_step(m, b, &s, err);
    if (st) return st;
    lm_forward_step(m, &s, logits, 0);
    return LLMC_OK;
}

int llmc_model_max_batch(void) { return LM_BATCH; }
bool llmc_model_can_batch(const llmc_model *m) { return m && !m->cuda; }

llmc_status llmc_model_seq_new(const llmc_model *m, int max_pos, llmc_kv_cache **out, llmc_error *err) {
    *out = NULL;
    if (!m) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_seq_new: no model");
    if (max_pos <= 0 || max_pos > m->ctx) max_pos = m->ctx;
    return llmc_kv_cache_new(m->cfg.num_layers, m->kv_dim, max_pos, 0, out, err);
}

size_t llmc_model_pos_bytes(const llmc_model *m) { return llmc_kv_cache_pos_bytes(m->cfg.num_layers, m->kv_dim); }

static llmc_status lm_check_forward(const llmc_model *m, const int32_t *ids, int n, int pos, llmc_error *err) {
    if (!m || (!ids && n > 0) || n < 0) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward: invalid arguments");
    if (n == 0) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward: no tokens given");
    if (pos < 0 || pos > m->kv0->len)
        return llmc_err(err, LLMC_ERR_RANGE, "model_forward: position %d is past the %d tokens in the KV cache", pos, m->kv0->len);
    if ((long long)pos + n > m->ctx)
        return llmc_err(err, LLMC_ERR_RANGE, "model_forward: %d tokens at position %d need %lld positions, more than the context of %d",
                        n, pos, (long long)pos + n, m->ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return llmc_err(err, LLMC_ERR_RANGE, "model_forward: token id %d (at index %d) is outside the vocabulary of %d", (int)ids[i], i,
                            m->cfg.vocab_size);
    return LLMC_OK;
}

/* A one-sequence step over the model's own cache: b tokens at pos, logits of all rows or the last. */
static llmc_status lm_single_step(llmc_model *m, const int32_t *ids, int b, int pos, bool all_rows, lm_step *s, llmc_error *err) {
    int32_t p[LM_BATCH];
    bool want[LM_BATCH];
    llmc_kv_cache *seq[LM_BATCH];
    for (int t = 0; t < b; t++) {
        p[t] = pos + t;
        want[t] = all_rows || t == b - 1;
        seq[t] = m->kv0;
    }
    llmc_batch bt = {b, ids, seq, p, want, false, false};
    return lm_plan_step(m, &bt, s, err);
}

llmc_status llmc_model_forward(llmc_model *m, const int32_t *ids, int n, int pos, float *logits, bool all_logits, llmc_error *err) {
    llmc_status st = lm_check_forward(m, ids, n, pos, err);
    if (st) return st;
    const int V = m->cfg.vocab_size;
    m->kv0->len = pos; /* the rewind takes effect even if a later batch were to fail */
    lm_step s;
    for (int done = 0; done < n;) {
        int b = n - done < LM_BATCH ? n - done : LM_BATCH;
        bool last = done + b == n;
        float *lg = NULL;
        if (logits && all_logits) lg = logits + (size_t)done * V;
        else if (logits && last) lg = logits;
        if ((st = lm_single_step(m, ids + done, b, pos + done, all_logits, &s, err))) return st;
        if (m->cuda) {
            /* GPU first; the CPU finishes the layers (and head) the GPU does not hold. */
            st = llmc_cuda_forward(m->cuda, ids + done, b, pos + done, lg, all_logits, m->x, err);
            if (st) { m->kv0->len = pos + done; return st; }
            if (!llmc_cuda_has_head(m->cuda)) lm_forward_step(m, &s, lg, llmc_cuda_gpu_layers(m->cuda));
        } else {
            lm_forward_step(m, &s, lg, 0);
        }
        done += b;
    }
    return LLMC_OK;
}

bool llmc_model_can_select(const llmc_model *m) { return m && m->cuda && llmc_cuda_has_head(m->cuda); }

llmc_status llmc_model_forward_select(llmc_model *m, const int32_t *ids, int n, int pos, const llmc_select_req *req, llmc_choice *out,
                                      float *logits, llmc_error *err) {
    if (!llmc_model_can_select(m)) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "model_forward_select: the head is not on a GPU");
    if (!req || !out || !logits) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_select: invalid arguments");
    llmc_status st = lm_check_forward(m, ids, n, pos, err);
    if (st) return st;
    m->kv0->len = pos;
    /* Whole batches before the last one only fill the KV cache. */
    int lead = n > LM_BATCH ? (n - 1) / LM_BATCH * LM_BATCH : 0;
    if (lead && (st = llmc_model_forward(m, ids, lead, pos, NULL, false, err))) return st;
    st = llmc_cuda_forward_select(m->cuda, ids + lead, n - lead, pos + lead, req, out, logits, err);
    if (st) return st;
    /* the GPU holds every layer's K/V here; the host cache only records the ids */
    memcpy(m->kv0->ids + pos + lead, ids + lead, (size_t)(n - lead) * sizeof *ids);
    m->kv0->len = pos + n;
    return LLMC_OK;
}
