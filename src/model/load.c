/* Loading a model: the weights of llmc_config's family (its row in formats/arch.h)
 * found by their Hugging Face names, each validated for presence, dtype and shape;
 * fused tensors split into views (Phi-3's qkv/gate_up, stacked experts); load-time
 * dtype conversion and quantization; the KV cache, RoPE tables and scratch sized; the
 * GPU copy attached when a device is asked for. The forward pass is model/forward.c. */
#include "model/internal.h"
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

static double lm_mlp_bytes(const lm_mlp *p) { return p->wg ? (double)p->wg->nbytes + (double)p->wu->nbytes + (double)p->wd->nbytes : 0; }

double llmc_model_weight_bytes(const llmc_model *m) {
    double b = (double)m->lm_head->nbytes;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        const lm_layer *L = &m->layers[l];
        const llmc_tensor *w[] = {L->wq, L->wk, L->wv, L->wo, L->mla.wqa, L->mla.wqb, L->mla.wkva, L->mla.wkvb};
        for (size_t i = 0; i < sizeof w / sizeof *w; i++) b += w[i] ? (double)w[i]->nbytes : 0;
        if (!L->is_moe) {
            b += lm_mlp_bytes(&L->mlp);
            continue;
        }
        /* MoE: the router, the shared expert, and k of the experts (their mean size) */
        double ex = 0;
        for (int e = 0; e < m->cfg.num_experts; e++) ex += lm_mlp_bytes(&L->moe.experts[e]);
        b += (double)L->moe.router->nbytes + lm_mlp_bytes(&L->moe.shared) + ex * m->cfg.num_experts_per_tok / m->cfg.num_experts;
        if (L->moe.shared_gate) b += (double)L->moe.shared_gate->nbytes;
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
            free(m->layers[l].moe.experts);
            free(m->layers[l].moe.score_bias);
            free(m->layers[l].mla.qa_norm);
            free(m->layers[l].mla.kva_norm);
            free(m->layers[l].mla.wkb);
        }
    }
    free(m->layers);
    free(m->norm);
    free(m->inv_freq);
    free(m->inv_freq_local);
    free(m->inv_freq_long);
    free(m->rope_cs_local);
    llmc_kv_cache_free(m->kv0);
    free(m->x); free(m->xn); free(m->q); free(m->k); free(m->v); free(m->att); free(m->g); free(m->u);
    free(m->rope_cs);
    free(m->moe_x); free(m->moe_y); free(m->moe_acc); free(m->moe_r); free(m->moe_sel); free(m->moe_w);
    free(m->mla_qa); free(m->mla_kva); free(m->mla_row); free(m->mla_b);
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

/* YaRN's inv_freq as transformers' _compute_yarn_parameters (the correction range in double,
   the frequencies and the ramp in float32): extrapolated 1/base^(2i/dim) and interpolated
   1/(factor·base^(2i/dim)) blended by 1 - clamp((i - low) / (high - low), 0, 1). */
static void lm_rope_init_yarn(const llmc_config *c, float *inv) {
    const int dim = llmc_config_rotary_dim(c);
    const double base = c->rope_theta, orig = c->rope_original_max_position;
    double low = dim * log(orig / (c->yarn_beta_fast * 2 * M_PI)) / (2 * log(base));
    double high = dim * log(orig / (c->yarn_beta_slow * 2 * M_PI)) / (2 * log(base));
    if (c->yarn_truncate) {
        low = floor(low);
        high = ceil(high);
    }
    if (low < 0) low = 0;
    if (high > dim - 1) high = dim - 1;
    if (low == high) high += 0.001;
    for (int i = 0; i < dim / 2; i++) {
        float pos = powf((float)base, (float)(2 * i) / (float)dim);
        float extra = 1.0f / pos, inter = 1.0f / ((float)c->rope_factor * pos);
        float ramp = ((float)i - (float)low) / (float)(high - low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        float ef = 1.0f - ramp;
        inv[i] = inter * (1.0f - ef) + extra * ef;
    }
}

/* inv_freq exactly as transformers computes it (float32 arithmetic), over the rotary dims;
   ext: longrope's short or long factors (else NULL). */
static void lm_rope_init(const llmc_config *c, const float *ext, float *inv) {
    int dim = llmc_config_rotary_dim(c);
    if (c->rope_type == LLMC_ROPE_YARN) {
        lm_rope_init_yarn(c, inv);
        return;
    }
    for (int i = 0; i < dim / 2; i++) {
        float e = (float)(2 * i) / (float)dim;
        float f = ext ? 1.0f / (ext[i] * powf((float)c->rope_theta, e)) : 1.0f / powf((float)c->rope_theta, e);
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

/* Adds to ts a 2-D view [rows, cols] named name of the bytes of *parent from offset on (nbytes);
   the parent keeps the memory. On return *parent is looked up again by parent_name (the set may
   have moved it). */
static llmc_status lm_add_view(llmc_tensor_set *ts, const llmc_tensor **parent, const char *parent_name, const char *name, int64_t rows,
                               int64_t cols, size_t offset, size_t nbytes, llmc_error *err) {
    llmc_tensor v = **parent;
    if (!(v.name = strdup(name))) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    v.ndim = 2;
    v.shape[0] = rows;
    v.shape[1] = cols;
    v.shape[2] = 0;
    v.data = (const uint8_t *)(*parent)->data + offset;
    v.nbytes = nbytes;
    v.owned = NULL;
    llmc_status st = llmc_tensor_set_add(ts, &v, err);
    if (st) free(v.name);
    *parent = llmc_tensor_set_find(ts, parent_name);
    return st;
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
        char vn[160];
        snprintf(vn, sizeof vn, "model.layers.%d.%s.weight", l, names[i]);
        llmc_status st = lm_add_view(ts, &f, fn, vn, rows[i], cols, (size_t)r0 * rb, (size_t)rows[i] * rb, err);
        if (st) return st;
        r0 += rows[i];
    }
    return LLMC_OK;
}

/* Splits the stacked experts model.layers.<l>.mlp.experts.<proj>.weight ([E, rows, cols],
   GGUF's ffn_*_exps) into E [rows, cols] views named as the family's per-expert tensors
   (fmt: "model.layers.%d.<...>.%d.<...>.weight" taking l, e), sharing its memory. */
static llmc_status lm_split_experts(llmc_tensor_set *ts, int l, const char *proj, const char *fmt, int E, int64_t rows, int64_t cols,
                                    llmc_error *err) {
    char sn[160];
    snprintf(sn, sizeof sn, "model.layers.%d.mlp.experts.%s.weight", l, proj);
    const llmc_tensor *f = llmc_tensor_set_find(ts, sn);
    if (!f) return LLMC_OK; /* per-expert tensors, then */
    if (f->ndim != 3 || f->shape[0] != E || f->shape[1] != rows || f->shape[2] != cols)
        return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' has %d dims [%lld, %lld, ...], expected [%d, %lld, %lld]", sn, f->ndim,
                        (long long)f->shape[0], (long long)(f->ndim > 1 ? f->shape[1] : 0), E, (long long)rows, (long long)cols);
    if ((unsigned)f->dtype >= LLMC_DT_COUNT || cols % llmc_dtype_block_elems(f->dtype) != 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s': rows of %lld are not whole blocks of its type", sn, (long long)cols);
    size_t rb = llmc_dtype_row_bytes(f->dtype, cols), eb = (size_t)rows * rb;
    if (f->nbytes != (size_t)E * eb || (!f->data && f->nbytes))
        return llmc_err(err, LLMC_ERR_FORMAT, "model: tensor '%s' holds %zu bytes, expected %zu", sn, f->nbytes, (size_t)E * eb);
    for (int e = 0; e < E; e++) {
        char vn[160];
        snprintf(vn, sizeof vn, fmt, l, e);
        llmc_status st = lm_add_view(ts, &f, sn, vn, rows, cols, (size_t)e * eb, eb, err);
        if (st) return st;
    }
    return LLMC_OK;
}

/* The family's tensor names of an MoE block: router, and per expert gate / up / down
   ("model.layers.%d....%d....weight" formats taking layer, expert). */
typedef struct { const char *router, *alt_router, *exp[3]; } lm_moe_names;
static lm_moe_names lm_moe_names_of(const llmc_arch *a) {
    if (a->family == LLMC_FAM_MIXTRAL)
        return (lm_moe_names){"model.layers.%d.block_sparse_moe.gate.weight", "model.layers.%d.mlp.gate.weight",
                              {"model.layers.%d.block_sparse_moe.experts.%d.w1.weight", "model.layers.%d.block_sparse_moe.experts.%d.w3.weight",
                               "model.layers.%d.block_sparse_moe.experts.%d.w2.weight"}};
    return (lm_moe_names){"model.layers.%d.mlp.gate.weight", NULL,
                          {"model.layers.%d.mlp.experts.%d.gate_proj.weight", "model.layers.%d.mlp.experts.%d.up_proj.weight",
                           "model.layers.%d.mlp.experts.%d.down_proj.weight"}};
}

/* Views the fused tensors of every layer (Phi-3's q|k|v and gate|up, stacked experts) under
   the per-matrix names, before anything converts or reads them. */
static llmc_status lm_split_fused(const llmc_model *m, llmc_tensor_set *ts, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    const int64_t H = c->hidden_size, I = c->intermediate_size, qd = (int64_t)c->num_heads * c->head_dim, kvd = m->kv_dim;
    const lm_moe_names nm = lm_moe_names_of(m->arch);
    llmc_status st = LLMC_OK;
    for (int l = 0; l < c->num_layers && !st; l++) {
        if (c->fused_proj) {
            const char *qkv[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, *gu[2] = {"mlp.gate_proj", "mlp.up_proj"};
            const int64_t qkv_rows[3] = {qd, kvd, kvd}, gu_rows[2] = {I, I};
            if ((st = lm_split_rows(ts, l, "self_attn.qkv_proj", 3, qkv, qkv_rows, H, err)) ||
                (st = lm_split_rows(ts, l, "mlp.gate_up_proj", 2, gu, gu_rows, H, err)))
                return st;
        }
        if (llmc_config_layer_moe(c, l)) {
            const int64_t W = c->moe_intermediate_size;
            if ((st = lm_split_experts(ts, l, "gate_proj", nm.exp[0], c->num_experts, W, H, err)) ||
                (st = lm_split_experts(ts, l, "up_proj", nm.exp[1], c->num_experts, W, H, err)))
                return st;
            st = lm_split_experts(ts, l, "down_proj", nm.exp[2], c->num_experts, H, W, err);
        }
    }
    return st;
}

/* Optional dtype conversion first, so validation sees the final tensors; then load-time
 * quantization: the layers' linear weights to o->quantize, the embedding table and lm_head
 * to Q8_0 (as llama.cpp keeps its output matrix at higher precision than a Q4 body: top-1
 * choices hinge on it). MoE routers are converted to o->dtype but never quantized (a
 * quantized router changes which experts run). */
static llmc_status lm_convert_all(llmc_model *m, llmc_tensor_set *ts, const llmc_model_opts *o, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    static const char *per_layer[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
                                      "mlp.shared_expert.gate_proj", "mlp.shared_expert.up_proj", "mlp.shared_expert.down_proj",
                                      "self_attn.q_a_proj", "self_attn.q_b_proj", "self_attn.kv_a_proj_with_mqa", "self_attn.kv_b_proj",
                                      "mlp.shared_experts.gate_proj", "mlp.shared_experts.up_proj", "mlp.shared_experts.down_proj"};
    const lm_moe_names nm = lm_moe_names_of(m->arch);
    char name[160];
    for (int pass = 0; pass < 2; pass++) {
        int dt = pass == 0 ? o->dtype : o->quantize, head = pass == 0 ? o->dtype : LLMC_DT_Q8_0, kept = 0;
        if (dt == -1) continue;
        /* the largest tensors first: peak memory = converted weights + one source tensor */
        llmc_status st = lm_convert(m->tp, ts, "model.embed_tokens.weight", (llmc_dtype)head, &kept, err);
        if (st == LLMC_OK && !c->tie_word_embeddings) st = lm_convert(m->tp, ts, "lm_head.weight", (llmc_dtype)head, &kept, err);
        for (int l = 0; l < c->num_layers && st == LLMC_OK; l++) {
            for (size_t i = 0; i < sizeof per_layer / sizeof *per_layer && st == LLMC_OK; i++) {
                snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, per_layer[i]);
                st = lm_convert(m->tp, ts, name, (llmc_dtype)dt, &kept, err);
            }
            if (!llmc_config_layer_moe(c, l)) continue;
            for (int e = 0; e < c->num_experts && st == LLMC_OK; e++)
                for (int i = 0; i < 3 && st == LLMC_OK; i++) {
                    snprintf(name, sizeof name, nm.exp[i], l, e);
                    st = lm_convert(m->tp, ts, name, (llmc_dtype)dt, &kept, err);
                }
            for (int i = 0; i < 2 && st == LLMC_OK && pass == 0; i++) {
                const char *r[2] = {nm.router, nm.alt_router};
                if (!r[i]) continue;
                snprintf(name, sizeof name, r[i], l);
                st = lm_convert(m->tp, ts, name, (llmc_dtype)dt, &kept, err);
            }
        }
        if (st != LLMC_OK) return st;
        if (pass == 0) LLMC_INFO("model: weights converted to %s", llmc_dtype_name((llmc_dtype)dt));
        else if (kept) LLMC_WARN("model: --quantize %s: %d weight matrices are already quantized in the file and keep their format",
                                 llmc_dtype_name((llmc_dtype)dt), kept);
        else LLMC_INFO("model: linear weights quantized to %s at load (embeddings and lm_head: Q8_0)", llmc_dtype_name((llmc_dtype)dt));
    }
    return LLMC_OK;
}

/* A norm weight of n floats, as the forward multiplies by it, into *out. */
static llmc_status lm_get_norm(const llmc_model *m, const char *name, int64_t n, float **out, llmc_error *err) {
    const llmc_tensor *t;
    llmc_status st = lm_get(m->ts, name, n, -1, true, &t, err);
    if (st) return st;
    if (!(*out = lm_norm_f32(&m->cfg, t))) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    return LLMC_OK;
}

/* The gated MLP <prefix>.{gate,up,down}_proj of width W (biases when the config has them). */
static llmc_status lm_get_mlp(const llmc_model *m, int l, const char *prefix, int64_t W, bool bias, lm_mlp *p, llmc_error *err) {
    const int64_t H = m->cfg.hidden_size;
    const char *proj[3] = {"gate_proj", "up_proj", "down_proj"};
    const llmc_tensor **w[3] = {&p->wg, &p->wu, &p->wd}, **b[3] = {&p->bg, &p->bu, &p->bd};
    char n[160];
    for (int i = 0; i < 3; i++) {
        llmc_status st;
        snprintf(n, sizeof n, "model.layers.%d.%s.%s.weight", l, prefix, proj[i]);
        if ((st = lm_get(m->ts, n, i == 2 ? H : W, i == 2 ? W : H, false, w[i], err))) return st;
        snprintf(n, sizeof n, "model.layers.%d.%s.%s.bias", l, prefix, proj[i]);
        if (bias && (st = lm_get(m->ts, n, i == 2 ? H : W, -1, true, b[i], err))) return st;
    }
    return LLMC_OK;
}

/* Layer l's MoE block: router, every expert (views validated one by one), the shared expert. */
static llmc_status lm_get_moe(llmc_model *m, int l, lm_moe *M, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    const int64_t H = c->hidden_size, W = c->moe_intermediate_size;
    const lm_moe_names nm = lm_moe_names_of(m->arch);
    char n[160];
    llmc_status st;
    snprintf(n, sizeof n, nm.router, l);
    if (nm.alt_router && !llmc_tensor_set_find(m->ts, n)) snprintf(n, sizeof n, nm.alt_router, l);
    if ((st = lm_get(m->ts, n, c->num_experts, H, false, &M->router, err))) return st;
    if (!(M->experts = calloc((size_t)c->num_experts, sizeof *M->experts))) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    for (int e = 0; e < c->num_experts; e++) {
        const llmc_tensor **w[3] = {&M->experts[e].wg, &M->experts[e].wu, &M->experts[e].wd};
        for (int i = 0; i < 3; i++) {
            snprintf(n, sizeof n, nm.exp[i], l, e);
            if ((st = lm_get(m->ts, n, i == 2 ? H : W, i == 2 ? W : H, false, w[i], err))) return st;
        }
    }
    if (c->moe_sigmoid) { /* DeepSeek-V3: the choice's bias, kept in f32 by transformers */
        const llmc_tensor *bt;
        snprintf(n, sizeof n, "model.layers.%d.mlp.gate.e_score_correction_bias", l);
        if ((st = lm_get(m->ts, n, c->num_experts, -1, true, &bt, err))) return st;
        if (!(M->score_bias = lm_to_f32(bt))) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    }
    if (c->shared_expert_intermediate_size > 0 && c->shared_experts_plain) /* DeepSeek-V3: no gate */
        return lm_get_mlp(m, l, "mlp.shared_experts", c->shared_expert_intermediate_size, false, &M->shared, err);
    if (c->shared_expert_intermediate_size > 0) {
        if ((st = lm_get_mlp(m, l, "mlp.shared_expert", c->shared_expert_intermediate_size, false, &M->shared, err))) return st;
        snprintf(n, sizeof n, "model.layers.%d.mlp.shared_expert_gate.weight", l);
        llmc_tensor *g = llmc_tensor_set_find_mut(m->ts, n);
        if (g && g->ndim == 1 && g->shape[0] == H) { /* GGUF's ffn_gate_inp_shexp is [hidden] */
            g->ndim = 2;
            g->shape[0] = 1;
            g->shape[1] = H;
        }
        if ((st = lm_get(m->ts, n, 1, H, false, &M->shared_gate, err))) return st;
    }
    return LLMC_OK;
}

/* Layer l's MLA projections (q_a → q_a_layernorm → q_b, or q_proj; kv_a_proj_with_mqa,
   kv_a_layernorm, kv_b_proj), biases on q_a and kv_a with attention_bias. */
static llmc_status lm_get_mla(const llmc_model *m, int l, lm_mla *A, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    const int64_t H = c->hidden_size, nh = c->num_heads, qk = c->qk_nope_head_dim + c->qk_rope_head_dim;
    const int64_t kvw = (int64_t)c->kv_lora_rank + c->qk_rope_head_dim, ql = c->q_lora_rank;
    char n[160];
    llmc_status st;
#define MLA_GET(name, rows, cols, out)                                                \
    do {                                                                              \
        snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.weight", l, name);        \
        if ((st = lm_get(m->ts, n, rows, cols, false, out, err))) return st;          \
    } while (0)
#define MLA_BIAS(name, rows, out)                                                     \
    do {                                                                              \
        snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.bias", l, name);          \
        if (c->attention_bias && (st = lm_get(m->ts, n, rows, -1, true, out, err))) return st; \
    } while (0)
    if (ql > 0) {
        MLA_GET("q_a_proj", ql, H, &A->wqa);
        MLA_BIAS("q_a_proj", ql, &A->bqa);
        MLA_GET("q_b_proj", nh * qk, ql, &A->wqb);
        snprintf(n, sizeof n, "model.layers.%d.self_attn.q_a_layernorm.weight", l);
        if ((st = lm_get_norm(m, n, ql, &A->qa_norm, err))) return st;
    } else {
        MLA_GET("q_proj", nh * qk, H, &A->wqb);
    }
    MLA_GET("kv_a_proj_with_mqa", kvw, H, &A->wkva);
    MLA_BIAS("kv_a_proj_with_mqa", kvw, &A->bkva);
    MLA_GET("kv_b_proj", nh * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank, &A->wkvb);
#undef MLA_GET
#undef MLA_BIAS
    if (!(A->wkb = lm_to_f32(A->wkvb))) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory"); /* read per head by the absorbed attention */
    snprintf(n, sizeof n, "model.layers.%d.self_attn.kv_a_layernorm.weight", l);
    return lm_get_norm(m, n, c->kv_lora_rank, &A->kva_norm, err);
}

/* Layer l's weights: attention (+ biases), the MLP block, the norms. */
static llmc_status lm_load_layer(llmc_model *m, int l, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    lm_layer *L = &m->layers[l];
    const int64_t H = c->hidden_size, qd = (int64_t)c->num_heads * c->head_dim, kvd = m->kv_dim;
    const char *proj[4] = {"q_proj", "k_proj", "v_proj", "o_proj"};
    const llmc_tensor **w[4] = {&L->wq, &L->wk, &L->wv, &L->wo}, **b[4] = {&L->bq, &L->bk, &L->bv, &L->bo};
    const int64_t rows[4] = {qd, kvd, kvd, H}, cols[4] = {H, H, H, qd};
    char n[160];
    llmc_status st;
    for (int i = c->mla ? 3 : 0; i < 4; i++) { /* MLA: only o_proj here (lm_get_mla), of heads × v_head_dim */
        const int64_t oc = c->mla ? (int64_t)c->num_heads * c->v_head_dim : cols[i];
        snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.weight", l, proj[i]);
        if ((st = lm_get(m->ts, n, rows[i], oc, false, w[i], err))) return st;
        snprintf(n, sizeof n, "model.layers.%d.self_attn.%s.bias", l, proj[i]);
        if ((i < 3 ? c->attention_bias || c->qkv_bias : c->attention_bias) && (st = lm_get(m->ts, n, rows[i], -1, true, b[i], err))) return st;
    }
    if (c->mla && (st = lm_get_mla(m, l, &L->mla, err))) return st;
    L->is_moe = llmc_config_layer_moe(c, l);
    if (L->is_moe) st = lm_get_moe(m, l, &L->moe, err);
    else st = lm_get_mlp(m, l, "mlp", c->intermediate_size, c->mlp_bias, &L->mlp, err);
    if (st) return st;
    snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", l);
    if ((st = lm_get_norm(m, n, H, &L->ln1, err))) return st;
    /* The norm before the MLP: Llama's post_attention_layernorm; with sandwich norms (Gemma)
       that name is the norm of the attention output and pre_feedforward_layernorm comes before the MLP. */
    snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, c->sandwich_norms ? "pre_feedforward_layernorm" : "post_attention_layernorm");
    if ((st = lm_get_norm(m, n, H, &L->ln2, err))) return st;
    if (c->sandwich_norms) {
        snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", l);
        if ((st = lm_get_norm(m, n, H, &L->ln_ao, err))) return st;
        snprintf(n, sizeof n, "model.layers.%d.post_feedforward_layernorm.weight", l);
        if ((st = lm_get_norm(m, n, H, &L->ln_mo, err))) return st;
    }
    if (c->qk_norm || c->qk_norm_full) { /* per head (head_dim) or over the whole projection (OLMoE) */
        snprintf(n, sizeof n, "model.layers.%d.self_attn.q_norm.weight", l);
        if ((st = lm_get_norm(m, n, c->qk_norm_full ? qd : c->head_dim, &L->qn, err))) return st;
        snprintf(n, sizeof n, "model.layers.%d.self_attn.k_norm.weight", l);
        if ((st = lm_get_norm(m, n, c->qk_norm_full ? kvd : c->head_dim, &L->kn, err))) return st;
    }
    return LLMC_OK;
}

/* Device placement (src/backend/cuda): the GPU copy is made from the validated views. Whether
   CUDA runs the family at all is the architecture table's answer (checked by the backend). */
static llmc_status lm_cuda_attach(llmc_model *m, const llmc_model_opts *o, llmc_error *err) {
    if (!o->device || !strcmp(o->device, "cpu")) return LLMC_OK;
    const llmc_config *c = &m->cfg;
    llmc_cuda_layer_src *ls = calloc((size_t)c->num_layers, sizeof *ls);
    if (!ls) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    for (int l = 0; l < c->num_layers; l++) {
        const lm_layer *L = &m->layers[l];
        const lm_mlp *p = &L->mlp; /* MoE layers leave these NULL: the backend declines MoE families first */
        const llmc_tensor *w[7] = {L->wq, L->wk, L->wv, L->wo, p->wg, p->wu, p->wd};
        const llmc_tensor *b[7] = {L->bq, L->bk, L->bv, L->bo, p->bg, p->bu, p->bd};
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

/* DeepSeek-V3's router groups and MLA head split, whatever reader filled the config. */
static llmc_status lm_check_deepseek(const llmc_model *m, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    const bool want = m->arch->flags & LLMC_ARCH_MLA;
    if (c->mla != want || (c->num_experts > 0 && c->moe_sigmoid != want))
        return llmc_err(err, LLMC_ERR_FORMAT, "model: %s %s Multi-head Latent Attention and the sigmoid router", m->arch->label,
                        want ? "needs" : "has no");
    if (c->moe_sigmoid && c->num_experts > 0) {
        const int G = c->n_group;
        if (G < 1 || c->num_experts % G || c->num_experts / G < 2)
            return llmc_err(err, LLMC_ERR_FORMAT, "model: n_group %d must divide the %d experts into groups of at least 2", G, c->num_experts);
        if (c->topk_group < 1 || c->topk_group > G || c->topk_group * (c->num_experts / G) < c->num_experts_per_tok)
            return llmc_err(err, LLMC_ERR_FORMAT, "model: topk_group %d must be in [1, n_group %d] and hold num_experts_per_tok %d experts",
                            c->topk_group, G, c->num_experts_per_tok);
        if (!(c->routed_scaling_factor >= 0) || !isfinite(c->routed_scaling_factor))
            return llmc_err(err, LLMC_ERR_FORMAT, "model: routed_scaling_factor must be a finite number >= 0");
    }
    if (c->rope_type == LLMC_ROPE_YARN &&
        (!(c->rope_factor > 0) || !(c->yarn_beta_fast > 0) || !(c->yarn_beta_slow > 0) || c->rope_original_max_position <= 0 || !want))
        return llmc_err(err, LLMC_ERR_FORMAT, "model: yarn RoPE needs factor, beta_fast, beta_slow and original_max_position_embeddings > 0 "
                        "(and is read for DeepSeek-V3 only)");
    if (!c->mla) return LLMC_OK;
    const int qk = c->qk_nope_head_dim + c->qk_rope_head_dim, want_hd = qk > c->v_head_dim ? qk : c->v_head_dim;
    if (c->kv_lora_rank <= 0 || c->kv_lora_rank > LLMC_MLA_MAX_LATENT || c->q_lora_rank < 0 || c->qk_nope_head_dim < 0 || c->qk_rope_head_dim < 2 || c->qk_rope_head_dim % 2 ||
        c->qk_rope_head_dim > 2 * LLMC_MAX_ROPE_FACTORS || c->v_head_dim <= 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "model: MLA needs kv_lora_rank in [1, 8192] (%d), q_lora_rank >= 0 (%d), an even qk_rope_head_dim in [2, %d] (%d), "
                        "qk_nope_head_dim >= 0 (%d) and v_head_dim > 0 (%d)", c->kv_lora_rank, c->q_lora_rank, 2 * LLMC_MAX_ROPE_FACTORS,
                        c->qk_rope_head_dim, c->qk_nope_head_dim, c->v_head_dim);
    if (c->head_dim != want_hd + want_hd % 2 || c->num_kv_heads != c->num_heads || llmc_config_rotary_dim(c) != c->qk_rope_head_dim)
        return llmc_err(err, LLMC_ERR_FORMAT, "model: MLA head dims inconsistent: head_dim %d (expected %d from qk_nope_head_dim + qk_rope_head_dim "
                        "and v_head_dim), num_key_value_heads %d (expected num_attention_heads %d), rotary dims %d (expected qk_rope_head_dim %d)",
                        c->head_dim, want_hd + want_hd % 2, c->num_kv_heads, c->num_heads, llmc_config_rotary_dim(c), c->qk_rope_head_dim);
    return LLMC_OK;
}

/* The config's family and sizes, and the options, before any tensor is touched. */
static llmc_status lm_check_config(llmc_model *m, const llmc_model_opts *o, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    llmc_status st;
    m->arch = llmc_arch_by_hf(c->architecture);
    char names[512];
    if (!m->arch)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "model: architecture '%s' is not supported (%s are)", c->architecture,
                        llmc_arch_names(0, names, sizeof names));
    if (c->hidden_size <= 0 || c->intermediate_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 || c->num_kv_heads <= 0 ||
        c->head_dim <= 0 || c->head_dim % 2 || c->vocab_size <= 0 || c->num_heads % c->num_kv_heads || c->max_position_embeddings <= 0 ||
        c->num_layers > LLMC_MAX_LAYERS || c->rope_theta <= 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "model: inconsistent configuration (sizes must be positive, heads a multiple of KV heads, head_dim even)");
    if (c->num_experts < 0 || c->num_experts > LLMC_MAX_EXPERTS ||
        (c->num_experts > 0 && (c->num_experts_per_tok < 1 || c->num_experts_per_tok > c->num_experts ||
                                c->num_experts_per_tok > LLMC_MAX_EXPERTS_PER_TOK || c->moe_intermediate_size <= 0 ||
                                c->shared_expert_intermediate_size < 0)))
        return llmc_err(err, LLMC_ERR_FORMAT, "model: inconsistent experts (%d experts, %d per token, width %d)", c->num_experts,
                        c->num_experts_per_tok, c->moe_intermediate_size);
    if ((st = lm_check_deepseek(m, err))) return st;
    if (c->num_experts > 0 && !(m->arch->flags & LLMC_ARCH_MOE))
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "model: %s has no mixture-of-experts layers, yet the config has %d experts", m->arch->label,
                        c->num_experts);
    if (o->dtype != -1 && o->dtype != LLMC_DT_F32 && o->dtype != LLMC_DT_F16 && o->dtype != LLMC_DT_BF16)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "model: dtype %d is not one of auto, F32, F16, BF16", o->dtype);
    if (o->quantize != -1 && o->quantize != LLMC_DT_Q8_0 && o->quantize != LLMC_DT_Q4_0)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "model: load-time quantization to %s is not supported (q8_0 or q4_0)",
                        (unsigned)o->quantize < LLMC_DT_COUNT ? llmc_dtype_name((llmc_dtype)o->quantize) : "?");
    m->kv_dim = c->num_kv_heads * c->head_dim;
    if (c->mla) m->kv_dim = (c->kv_lora_rank + c->qk_rope_head_dim + 1) / 2; /* the latent | k_rope row over k and v */
    return LLMC_OK;
}

/* Context (requested, else the config's, bounded by the KV budget), the model's own KV
   cache, RoPE frequencies and the activation scratch. */
static llmc_status lm_alloc_state(llmc_model *m, const llmc_model_opts *o, llmc_error *err) {
    const llmc_config *c = &m->cfg;
    const int64_t H = c->hidden_size, qd = (int64_t)c->num_heads * c->head_dim, kvd = m->kv_dim;
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
    if (llmc_kv_cache_new(c->num_layers, m->kv_dim, ctx, ctx, &m->kv0, NULL) != LLMC_OK)
        return llmc_err(err, LLMC_ERR_NOMEM, "model: cannot allocate the KV cache (%d positions, %.1f MiB)", ctx,
                        (double)ctx * (double)per_pos / 1048576.0);
    bool ok = true;
    m->inv_freq = lm_alloc((size_t)c->head_dim / 2 * sizeof(float), &ok);
    if (!ok) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
    const bool longrope = c->rope_type == LLMC_ROPE_LONGROPE;
    lm_rope_init(c, longrope ? c->rope_short_factor : NULL, m->inv_freq);
    if (longrope) {
        m->inv_freq_long = lm_alloc((size_t)c->head_dim / 2 * sizeof(float), &ok);
        if (!ok) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
        lm_rope_init(c, c->rope_long_factor, m->inv_freq_long);
    }
    if (c->rope_theta_local > 0) { /* the sliding layers' default RoPE on their own base */
        llmc_config lc = *c;
        lc.rope_theta = c->rope_theta_local;
        lc.rope_type = LLMC_ROPE_DEFAULT;
        m->inv_freq_local = lm_alloc((size_t)c->head_dim / 2 * sizeof(float), &ok);
        if (!ok) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
        lm_rope_init(&lc, NULL, m->inv_freq_local);
    }
    m->nthreads = llmc_threadpool_size(m->tp);
    if (m->nthreads < 1) m->nthreads = 1;
    int width = c->intermediate_size;
    if (c->num_experts > 0 && c->moe_intermediate_size > width) width = c->moe_intermediate_size;
    if (c->num_experts > 0 && c->shared_expert_intermediate_size > width) width = c->shared_expert_intermediate_size;
    m->mlp_width = width;
    size_t B = LM_BATCH;
    m->x = lm_alloc(B * H * sizeof(float), &ok);
    m->xn = lm_alloc(B * H * sizeof(float), &ok);
    m->q = lm_alloc(B * qd * sizeof(float), &ok);
    m->att = lm_alloc(B * qd * sizeof(float), &ok);
    m->k = lm_alloc(B * kvd * sizeof(float), &ok);
    m->v = lm_alloc(B * kvd * sizeof(float), &ok);
    m->g = lm_alloc(B * (size_t)width * sizeof(float), &ok);
    m->u = lm_alloc(B * (size_t)width * sizeof(float), &ok);
    m->rope_cs = lm_alloc(B * (size_t)c->head_dim * sizeof(float), &ok);
    if (m->inv_freq_local) m->rope_cs_local = lm_alloc(B * (size_t)c->head_dim * sizeof(float), &ok);
    if (c->num_experts > 0) {
        m->moe_x = lm_alloc(B * H * sizeof(float), &ok);
        m->moe_y = lm_alloc(B * H * sizeof(float), &ok);
        m->moe_acc = lm_alloc(B * H * sizeof(float), &ok);
        m->moe_r = lm_alloc(B * (size_t)c->num_experts * sizeof(float), &ok);
        m->moe_sel = lm_alloc(B * (size_t)c->num_experts_per_tok * sizeof(int32_t), &ok);
        m->moe_w = lm_alloc(B * (size_t)c->num_experts_per_tok * sizeof(float), &ok);
    }
    if (c->mla) {
        const int qk = c->qk_nope_head_dim + c->qk_rope_head_dim;
        m->mla_qa = lm_alloc(B * (size_t)c->q_lora_rank * sizeof(float), &ok);
        m->mla_kva = lm_alloc(B * ((size_t)c->kv_lora_rank + (size_t)c->qk_rope_head_dim) * sizeof(float), &ok);
        m->mla_row = lm_alloc(2 * (size_t)kvd * sizeof(float), &ok);
        m->mla_b = lm_alloc(B * (size_t)c->num_heads * (size_t)qk * sizeof(float), &ok);
    }
    m->score_stride = (size_t)LLMC_ATT_MAX_GROUP * (size_t)ctx;
    if (m->score_stride < (size_t)64 * (size_t)c->head_dim + 512) m->score_stride = (size_t)64 * (size_t)c->head_dim + 512;
    if (c->mla && m->score_stride < (size_t)ctx + 4 * (size_t)kvd) m->score_stride = (size_t)ctx + 4 * (size_t)kvd;
    m->scores = lm_alloc((size_t)m->nthreads * m->score_stride * sizeof(float), &ok);
    return ok ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory");
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
    const int64_t H = c->hidden_size;
    llmc_status st;
    if ((st = lm_check_config(m, o, err)) || (st = lm_split_fused(m, ts, err))) goto fail;
    if (!(m->tp = llmc_threadpool_new(o->n_threads))) goto oom;
    if ((st = lm_convert_all(m, ts, o, err))) goto fail;
    if ((st = lm_get(ts, "model.embed_tokens.weight", c->vocab_size, H, false, &m->embed, err))) goto fail;
    if (c->tie_word_embeddings) m->lm_head = m->embed;
    else if ((st = lm_get(ts, "lm_head.weight", c->vocab_size, H, false, &m->lm_head, err))) goto fail;
    if ((st = lm_get_norm(m, "model.norm.weight", H, &m->norm, err))) goto fail;
    if (!(m->layers = calloc((size_t)c->num_layers, sizeof *m->layers))) goto oom;
    for (int l = 0; l < c->num_layers; l++)
        if ((st = lm_load_layer(m, l, err))) goto fail;
    if ((st = lm_alloc_state(m, o, err)) || (st = lm_cuda_attach(m, o, err))) goto fail;
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

llmc_status llmc_model_tensors_f32(llmc_tensor_set *ts, llmc_error *err) {
    if (!ts) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model: no tensors");
    for (size_t i = 0; i < llmc_tensor_set_count(ts); i++) {
        llmc_tensor *t = llmc_tensor_set_find_mut(ts, llmc_tensor_set_at(ts, i)->name);
        if (t->dtype == LLMC_DT_F32) continue;
        if ((unsigned)t->dtype >= LLMC_DT_COUNT) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "model: tensor '%s' has an unknown dtype", t->name);
        int64_t numel = llmc_tensor_numel(t);
        float *o = malloc((size_t)numel * sizeof(float) + 1);
        if (!o) return llmc_err(err, LLMC_ERR_NOMEM, "model: out of memory converting '%s' to f32", t->name);
        llmc_cpu_dequantize(t, o);
        free(t->owned);
        t->dtype = LLMC_DT_F32;
        t->data = o;
        t->owned = o;
        t->mapped = false;
        t->nbytes = (size_t)numel * sizeof(float);
    }
    return LLMC_OK;
}
