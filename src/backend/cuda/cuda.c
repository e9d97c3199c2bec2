/* CUDA backend glue in C: device strings, the memory plan, choosing the GPU weight
 * dtype, converting host weights for upload, and mapping CUDA failures to llmc errors.
 * The kernels live in cuda_rt.cu, compiled only when nvcc is found (LLMC_HAVE_CUDA). */
#include "backend/cuda/cuda.h"
#include "backend/cuda/cuda_rt.h"
#include "backend/cpu/ops.h"
#include "formats/arch.h"
#include "base/error.h"
#include "base/log.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB(x) ((double)(x) / 1048576.0)

llmc_status llmc_cuda_parse_device(const char *s, llmc_device_req *out, llmc_error *err) {
    out->kind = LLMC_DEV_AUTO;
    out->index = 0;
    if (!s || !*s || !strcmp(s, "auto")) return LLMC_OK;
    if (!strcmp(s, "cpu")) { out->kind = LLMC_DEV_CPU; return LLMC_OK; }
    if (!strcmp(s, "cuda")) { out->kind = LLMC_DEV_CUDA; return LLMC_OK; }
    if (!strncmp(s, "cuda:", 5)) {
        const char *p = s + 5;
        int v = 0, nd = 0;
        while (*p >= '0' && *p <= '9' && nd < 3) { v = v * 10 + (*p - '0'); p++; nd++; }
        if (nd > 0 && !*p && v < 64) {
            out->kind = LLMC_DEV_CUDA;
            out->index = v;
            return LLMC_OK;
        }
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "bad device '%s' (cuda:N needs a GPU index from 0 to 63)", s);
    }
    return llmc_err(err, LLMC_ERR_INVALID_ARG, "unknown device '%s' (expected auto, cpu, cuda or cuda:N)", s);
}

#ifdef LLMC_HAVE_CUDA
bool llmc_cuda_built(void) { return true; }

llmc_status llmc_cuda_probe(int index, llmc_cuda_info *info, llmc_error *err) {
    lcu_devinfo d;
    char msg[256] = "";
    memset(&d, 0, sizeof d);
    int rc = lcu_probe(index, &d, msg, sizeof msg);
    if (rc) return llmc_err(err, LLMC_ERR_DEVICE, "CUDA is not available: %s", msg);
    if (info) {
        memset(info, 0, sizeof *info);
        snprintf(info->name, sizeof info->name, "%s", d.name);
        info->cc_major = d.cc_major;
        info->cc_minor = d.cc_minor;
        info->sm_count = d.sm_count;
        info->total_bytes = d.total_bytes;
        info->free_bytes = d.free_bytes;
    }
    return LLMC_OK;
}
#else
bool llmc_cuda_built(void) { return false; }

llmc_status llmc_cuda_probe(int index, llmc_cuda_info *info, llmc_error *err) {
    (void)index;
    if (info) memset(info, 0, sizeof *info);
    return llmc_err(err, LLMC_ERR_UNSUPPORTED, "CUDA is not available in this build (nvcc was not found or LLMC_CUDA=OFF)");
}
#endif

/* ---- memory plan ---- */

static size_t layer_weight_bytes(const llmc_config *c, int wbytes) {
    size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->num_heads * c->head_dim, kvd = (size_t)c->num_kv_heads * c->head_dim;
    size_t mats = qd * H + 2 * kvd * H + H * qd + 3 * H * I;
    size_t f32 = 2 * H; /* norms */
    if (c->attention_bias || c->qkv_bias) f32 += qd + 2 * kvd;
    if (c->attention_bias) f32 += H;
    if (c->qk_norm) f32 += 2 * (size_t)c->head_dim;
    if (c->mlp_bias) f32 += 2 * I + H;
    return mats * (size_t)wbytes + f32 * 4;
}

size_t llmc_cuda_workspace_bytes(const llmc_config *c, int wbytes, int batch, int ctx) {
    size_t B = (size_t)(batch > 0 ? batch : 1);
    size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, hd = (size_t)c->head_dim;
    size_t qd = (size_t)c->num_heads * hd, kvd = (size_t)c->num_kv_heads * hd;
    size_t V = (size_t)c->vocab_size, nh = (size_t)c->num_heads;
    size_t widest = H > I ? H : I;
    if (qd > widest) widest = qd;
    size_t f = B * (2 * H + (qd + 2 * kvd) + qd + 2 * I); /* x, xn, qkv, att, g, u */
    size_t units = B * nh > (size_t)LCU_DEC_SPLITS * nh ? B * nh : (size_t)LCU_DEC_SPLITS * nh;
    f += units * (hd + 2);                               /* attention partials */
    size_t chunk = B < LCU_LOGIT_CHUNK ? B : LCU_LOGIT_CHUNK;
    f += chunk * V + V;                                  /* logits chunk + pinned-side copy */
    f += V + 2 * (size_t)(ctx > 0 ? ctx : 0) + 2 * LCU_SEL_CAP + 8; /* token choice: scores, history, candidates */
    return f * 4 + B * widest * (size_t)wbytes + B * 4 + (32u << 20); /* narrowed activations, ids, cuBLAS */
}

llmc_status llmc_cuda_plan_make(const llmc_config *c, const llmc_cuda_plan_in *in, llmc_cuda_plan *out, llmc_error *err) {
    memset(out, 0, sizeof *out);
    if (!c || !in || in->wbytes <= 0 || in->ctx <= 0 || c->num_layers <= 0)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "cuda plan: invalid arguments");
    int L = c->num_layers;
    size_t H = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    size_t kvd = (size_t)c->num_kv_heads * c->head_dim;
    out->n_layers = L;
    out->layer_bytes = layer_weight_bytes(c, in->wbytes);
    out->kv_layer_bytes = 2 * (size_t)in->ctx * kvd * 4;
    out->embed_bytes = V * H * (size_t)in->wbytes;
    out->head_bytes = H * 4 + (c->tie_word_embeddings ? 0 : V * H * (size_t)in->wbytes);
    out->workspace_bytes = llmc_cuda_workspace_bytes(c, in->wbytes, in->batch, in->ctx);
    out->avail_bytes = in->free_bytes > in->reserve_bytes ? in->free_bytes - in->reserve_bytes : 0;
    size_t per = out->layer_bytes + out->kv_layer_bytes;
    size_t base = out->embed_bytes + out->workspace_bytes;
    out->full_bytes = base + (size_t)L * per + out->head_bytes;
    if (in->gpu_layers < 0) {
        if (out->full_bytes <= out->avail_bytes) {
            out->gpu_layers = L;
            out->head_on_gpu = true;
            out->total_bytes = out->full_bytes;
        } else {
            size_t room = out->avail_bytes > base ? out->avail_bytes - base : 0;
            size_t g = per ? room / per : 0;
            if (g > (size_t)L) g = (size_t)L;
            out->gpu_layers = (int)g;
            out->total_bytes = g ? base + g * per : 0;
        }
        return LLMC_OK;
    }
    int g = in->gpu_layers < L ? in->gpu_layers : L;
    out->gpu_layers = g;
    if (g == 0) return LLMC_OK;
    size_t need = base + (size_t)g * per;
    if (g == L && need + out->head_bytes <= out->avail_bytes) {
        need += out->head_bytes;
        out->head_on_gpu = true;
    }
    out->total_bytes = need;
    if (need > out->avail_bytes) {
        size_t room = out->avail_bytes > base ? out->avail_bytes - base : 0;
        return llmc_err(err, LLMC_ERR_NOMEM,
                        "CUDA out of memory: %d layers need %.0f MiB on the GPU (weights %.0f, KV cache %.0f at context %d, workspace %.0f) "
                        "but only %.0f MiB are usable; at most %zu layers fit: lower --gpu-layers, use a smaller --max-context, or --device cpu",
                        g, MIB(need), MIB(out->embed_bytes + (size_t)g * out->layer_bytes), MIB((size_t)g * out->kv_layer_bytes), in->ctx,
                        MIB(out->workspace_bytes), MIB(out->avail_bytes), per ? room / per : (size_t)0);
    }
    return LLMC_OK;
}

void llmc_cuda_plan_log(const llmc_cuda_plan *p, const char *dev) {
    LLMC_INFO("cuda: memory plan on %s: %.0f MiB usable; per layer %.1f MiB weights + %.1f MiB KV cache; embeddings %.1f MiB, "
              "head %.1f MiB, workspace %.1f MiB; everything needs %.0f MiB",
              dev, MIB(p->avail_bytes), MIB(p->layer_bytes), MIB(p->kv_layer_bytes), MIB(p->embed_bytes), MIB(p->head_bytes),
              MIB(p->workspace_bytes), MIB(p->full_bytes));
    if (p->gpu_layers == p->n_layers && p->head_on_gpu)
        LLMC_INFO("cuda: all %d layers and the head on the GPU (%.0f MiB)", p->n_layers, MIB(p->total_bytes));
    else if (p->gpu_layers > 0)
        LLMC_INFO("cuda: split: layers 0-%d on the GPU (%.0f MiB), layers %d-%d and the head on the CPU", p->gpu_layers - 1,
                  MIB(p->total_bytes), p->gpu_layers, p->n_layers - 1);
}

/* ---- the GPU model ---- */

struct llmc_cuda_model {
    lcu_model *rt;
    int gpu_layers, H;
    bool head;
};

int llmc_cuda_gpu_layers(const llmc_cuda_model *cm) { return cm ? cm->gpu_layers : 0; }
bool llmc_cuda_has_head(const llmc_cuda_model *cm) { return cm && cm->head; }

#ifdef LLMC_HAVE_CUDA
static bool is_float(llmc_dtype t) { return t == LLMC_DT_F32 || t == LLMC_DT_F16 || t == LLMC_DT_BF16; }

static llmc_status rt_err(int rc, const char *msg, llmc_error *err) {
    return llmc_err(err, rc == LCU_OOM ? LLMC_ERR_NOMEM : LLMC_ERR_DEVICE, "CUDA: %s", msg);
}

/* Uploads one matrix in the GPU dtype: straight from the file when it already is,
   else widened/narrowed row by row (quantized GGUF weights are dequantized here). */
static llmc_status up_matrix(lcu_model *rt, int slot, int layer, const llmc_tensor *t, int wtype, llmc_error *err) {
    static const llmc_dtype want[] = {LLMC_DT_F32, LLMC_DT_F16, LLMC_DT_BF16};
    char msg[256];
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = t->ndim == 2 ? t->shape[1] : llmc_tensor_numel(t);
    size_t es = wtype == LCU_W_F32 ? 4 : 2;
    int rc;
    if (t->dtype == want[wtype]) {
        rc = lcu_upload(rt, slot, layer, t->data, (size_t)(rows * cols) * es, msg, sizeof msg);
        return rc ? rt_err(rc, msg, err) : LLMC_OK;
    }
    unsigned char *buf = malloc((size_t)(rows * cols) * es + 1);
    float *row = malloc((size_t)cols * sizeof *row + 1);
    if (!buf || !row) {
        free(buf);
        free(row);
        return llmc_err(err, LLMC_ERR_NOMEM, "cuda: out of host memory converting '%s' for upload", t->name);
    }
    llmc_tensor view = *t;
    view.ndim = 2;
    view.shape[0] = rows;
    view.shape[1] = cols;
    llmc_status st = LLMC_OK;
    for (int64_t r = 0; r < rows && !st; r++) {
        llmc_cpu_get_row(&view, r, row);
        if (wtype == LCU_W_F32) memcpy(buf + (size_t)(r * cols) * 4, row, (size_t)cols * 4);
        else {
            uint16_t *o = (uint16_t *)(void *)buf + r * cols;
            for (int64_t c = 0; c < cols; c++) {
                /* f16 cannot hold what bf16/f32 can: refuse rather than run with infinities. */
                if (wtype == LCU_W_F16 && !(fabsf(row[c]) <= 65504.0f)) {
                    st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "cuda: weight '%s' has %g at row %lld, outside the f16 range used on the GPU; use --device cpu",
                                  t->name, (double)row[c], (long long)r);
                    break;
                }
                o[c] = wtype == LCU_W_F16 ? llmc_f32_to_f16(row[c]) : llmc_f32_to_bf16(row[c]);
            }
        }
    }
    if (!st) {
        rc = lcu_upload(rt, slot, layer, buf, (size_t)(rows * cols) * es, msg, sizeof msg);
        if (rc) st = rt_err(rc, msg, err);
    }
    free(buf);
    free(row);
    return st;
}

static llmc_status up_f32(lcu_model *rt, int slot, int layer, const llmc_tensor *t, const float *direct, size_t n, llmc_error *err) {
    char msg[256];
    float *tmp = NULL;
    if (!direct) {
        tmp = malloc(n * sizeof *tmp + 1);
        if (!tmp) return llmc_err(err, LLMC_ERR_NOMEM, "cuda: out of host memory");
        llmc_tensor view = *t;
        view.ndim = 2;
        view.shape[0] = 1;
        view.shape[1] = (int64_t)n;
        llmc_cpu_get_row(&view, 0, tmp);
        direct = tmp;
    }
    int rc = lcu_upload(rt, slot, layer, direct, n * sizeof(float), msg, sizeof msg);
    free(tmp);
    return rc ? rt_err(rc, msg, err) : LLMC_OK;
}

static llmc_status attach_on(const llmc_cuda_src *src, const llmc_device_req *req, int gpu_layers, llmc_cuda_model **out,
                             llmc_error *err) {
    const llmc_config *c = src->cfg;
    bool is_auto = req->kind == LLMC_DEV_AUTO;
    llmc_cuda_info info;
    llmc_status st = llmc_cuda_probe(req->index, &info, err);
    if (st) {
        if (!is_auto) { llmc_err_prefix(err, "--device cuda:%d: ", req->index); return st; }
        LLMC_INFO("device auto: no usable GPU (%s); running on the CPU", err ? err->msg : "CUDA probe failed");
        llmc_err_clear(err);
        return LLMC_OK;
    }
    /* Which families (and rope features) the CUDA kernels run: formats/arch.h answers. */
    char why[160];
    if (llmc_arch_cuda_declines(c, why, sizeof why)) {
        if (is_auto) {
            LLMC_INFO("device auto: the CUDA kernels do not run %s; running on the CPU", why);
            return LLMC_OK;
        }
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "--device cuda: the CUDA kernels do not run %s; use --device cpu", why);
    }
    if (c->head_dim > 256) {
        if (is_auto) {
            LLMC_INFO("device auto: head_dim %d is not supported by the CUDA kernels (at most 256); running on the CPU", c->head_dim);
            return LLMC_OK;
        }
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "--device cuda: head_dim %d is not supported by the CUDA kernels (at most 256); use --device cpu", c->head_dim);
    }
    /* GPU dtype: the matrices' common float dtype, else f16 (dequantized GGUF). */
    llmc_dtype dt = src->layers[0].w[0]->dtype;
    bool same = is_float(dt) && src->embed->dtype == dt && src->lm_head->dtype == dt;
    for (int l = 0; l < c->num_layers && same; l++)
        for (int i = 0; i < 7; i++) same &= src->layers[l].w[i]->dtype == dt;
    /* Dequantized (or mixed) weights: bf16 keeps f32's range; before sm_80 f16, whose
       tensor cores cuBLAS can use there (values outside f16 are refused at upload). */
    int conv = info.cc_major >= 8 ? LCU_W_BF16 : LCU_W_F16;
    int wtype = !same ? conv : dt == LLMC_DT_F32 ? LCU_W_F32 : dt == LLMC_DT_F16 ? LCU_W_F16 : LCU_W_BF16;
    if (!same) LLMC_INFO("cuda: weights are not all one float dtype; they are converted to %s on upload", conv == LCU_W_BF16 ? "bf16" : "f16");

    llmc_cuda_plan_in pin = {wtype == LCU_W_F32 ? 4 : 2, src->ctx, src->batch, info.free_bytes, 0, gpu_layers};
    size_t res = info.total_bytes / 20;
    pin.reserve_bytes = res > (512u << 20) ? res : (512u << 20);
    llmc_cuda_plan plan;
    if ((st = llmc_cuda_plan_make(c, &pin, &plan, err))) return st;
    char devname[200];
    snprintf(devname, sizeof devname, "cuda:%d (%s, sm_%d%d, %.0f MiB free)", req->index, info.name, info.cc_major, info.cc_minor,
             MIB(info.free_bytes));
    llmc_cuda_plan_log(&plan, devname);
    if (plan.gpu_layers == 0) {
        if (gpu_layers == 0) {
            LLMC_INFO("--gpu-layers 0: running on the CPU");
            return LLMC_OK;
        }
        if (is_auto) {
            LLMC_INFO("device auto: not even one layer fits in the %.0f MiB free on %s; running on the CPU", MIB(plan.avail_bytes), info.name);
            return LLMC_OK;
        }
        return llmc_err(err, LLMC_ERR_NOMEM,
                        "--device cuda:%d: CUDA out of memory: one layer needs %.0f MiB with the embeddings and workspace, %.0f MiB are usable on %s; "
                        "use a smaller --max-context or --device cpu",
                        req->index, MIB(plan.embed_bytes + plan.workspace_bytes + plan.layer_bytes + plan.kv_layer_bytes),
                        MIB(plan.avail_bytes), info.name);
    }

    lcu_shape s;
    memset(&s, 0, sizeof s);
    s.device = req->index;
    s.H = c->hidden_size;
    s.I = c->intermediate_size;
    s.nh = c->num_heads;
    s.nkv = c->num_kv_heads;
    s.hd = c->head_dim;
    s.V = c->vocab_size;
    s.n_layers = plan.gpu_layers;
    s.head = plan.head_on_gpu;
    s.ctx = src->ctx;
    s.batch = src->batch;
    s.wtype = wtype;
    s.window = c->sliding_window > 0 ? c->sliding_window : 0;
    s.attn_bias = c->attention_bias || c->qkv_bias;
    s.o_bias = c->attention_bias;
    s.qk_norm = c->qk_norm;
    s.mlp_bias = c->mlp_bias;
    s.eps = (float)c->rms_norm_eps;
    const char *ng = getenv("LLMC_CUDA_GRAPH");
    s.use_graph = !(ng && !strcmp(ng, "0"));
    char msg[256];
    lcu_model *rt = NULL;
    int rc = lcu_model_new(&s, &rt, msg, sizeof msg);
    if (rc) {
        st = llmc_err(err, rc == LCU_OOM ? LLMC_ERR_NOMEM : LLMC_ERR_DEVICE,
                      "--device cuda:%d: %s (the plan needed %.0f MiB; lower --gpu-layers or --max-context, or use --device cpu)",
                      req->index, msg, MIB(plan.total_bytes));
        if (is_auto) {
            LLMC_WARN("device auto: %s; running on the CPU", err ? err->msg : msg);
            llmc_err_clear(err);
            return LLMC_OK;
        }
        return st;
    }
    size_t H = (size_t)c->hidden_size;
    st = up_matrix(rt, LCU_EMBED, 0, src->embed, wtype, err);
    if (!st) st = up_f32(rt, LCU_INV_FREQ, 0, NULL, src->inv_freq, (size_t)c->head_dim / 2, err);
    if (!st && s.head) {
        st = up_f32(rt, LCU_NORM, 0, NULL, src->norm, H, err);
        if (!st && src->lm_head != src->embed) st = up_matrix(rt, LCU_HEAD, 0, src->lm_head, wtype, err);
    }
    for (int l = 0; l < s.n_layers && !st; l++) {
        const llmc_cuda_layer_src *L = &src->layers[l];
        for (int i = 0; i < 7 && !st; i++) st = up_matrix(rt, LCU_WQ + i, l, L->w[i], wtype, err);
        for (int i = 0; i < 7 && !st; i++)
            if (L->b[i]) st = up_f32(rt, LCU_BQ + i, l, L->b[i], NULL, (size_t)llmc_tensor_numel(L->b[i]), err);
        if (!st) st = up_f32(rt, LCU_LN1, l, NULL, L->ln1, H, err);
        if (!st) st = up_f32(rt, LCU_LN2, l, NULL, L->ln2, H, err);
        if (!st && s.qk_norm) st = up_f32(rt, LCU_QN, l, NULL, L->qn, (size_t)c->head_dim, err);
        if (!st && s.qk_norm) st = up_f32(rt, LCU_KN, l, NULL, L->kn, (size_t)c->head_dim, err);
    }
    if (st) {
        lcu_model_free(rt);
        llmc_err_prefix(err, "--device cuda:%d: uploading weights: ", req->index);
        if (is_auto) {
            LLMC_WARN("device auto: %s; running on the CPU", err ? err->msg : "upload failed");
            llmc_err_clear(err);
            return LLMC_OK;
        }
        return st;
    }
    llmc_cuda_model *cm = calloc(1, sizeof *cm);
    if (!cm) {
        lcu_model_free(rt);
        return llmc_err(err, LLMC_ERR_NOMEM, "cuda: out of memory");
    }
    const char *pf = getenv("LLMC_CUDA_PREFILL");
    bool blas = (wtype != LCU_W_BF16 || info.cc_major >= 8) && !(pf && !strcmp(pf, "f32"));
    static const char *wn[] = {"f32", "f16", "bf16"};
    LLMC_INFO("cuda: %s weights on %s; prefill GEMMs: %s; decode: GEMV kernels%s", wn[wtype], info.name,
              blas ? "cuBLAS (f32 accumulation)" : "f32 tiled kernel", s.use_graph && s.head ? " in a CUDA graph" : "");
    cm->rt = rt;
    cm->gpu_layers = s.n_layers;
    cm->head = s.head;
    cm->H = s.H;
    *out = cm;
    return LLMC_OK;
}
#endif

llmc_status llmc_cuda_attach(const llmc_cuda_src *src, const char *device, int gpu_layers, llmc_cuda_model **out, llmc_error *err) {
    *out = NULL;
    llmc_device_req req;
    llmc_status st = llmc_cuda_parse_device(device, &req, err);
    if (st) return st;
    if (req.kind == LLMC_DEV_CPU) return LLMC_OK;
    if (gpu_layers == 0 && req.kind == LLMC_DEV_AUTO) {
        LLMC_INFO("--gpu-layers 0: running on the CPU");
        return LLMC_OK;
    }
#ifdef LLMC_HAVE_CUDA
    return attach_on(src, &req, gpu_layers, out, err);
#else
    (void)src;
    if (req.kind == LLMC_DEV_AUTO) {
        LLMC_INFO("device auto: CUDA is not available in this build; running on the CPU");
        return LLMC_OK;
    }
    st = llmc_cuda_probe(req.index, NULL, err);
    llmc_err_prefix(err, "--device %s: ", device);
    return st;
#endif
}

llmc_status llmc_cuda_forward(llmc_cuda_model *cm, const int32_t *ids, int n, int pos, float *logits, bool all_logits, float *hidden,
                              llmc_error *err) {
#ifdef LLMC_HAVE_CUDA
    char msg[256];
    int rc = lcu_forward(cm->rt, ids, n, pos, logits, all_logits, hidden, msg, sizeof msg);
    return rc ? rt_err(rc, msg, err) : LLMC_OK;
#else
    (void)cm; (void)ids; (void)n; (void)pos; (void)logits; (void)all_logits; (void)hidden;
    return llmc_err(err, LLMC_ERR_UNSUPPORTED, "CUDA is not available in this build");
#endif
}

_Static_assert(LCU_SEL_CAP == LLMC_SELECT_MAX_CAND, "the GPU's candidate buffer is the contract's bound");

llmc_status llmc_cuda_forward_select(llmc_cuda_model *cm, const int32_t *ids, int n, int pos, const llmc_select_req *req, llmc_choice *out,
                                     float *logits, llmc_error *err) {
    memset(out, 0, sizeof *out);
    if (!cm || !cm->head || !req || (req->mode != LLMC_SELECT_GREEDY && req->mode != LLMC_SELECT_TOPK) ||
        (req->mode == LLMC_SELECT_TOPK && (req->top_k <= 0 || req->top_k > LLMC_SELECT_MAX_CAND)))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "cuda: token choice needs the head on the GPU and greedy or 1..%d top-k", LLMC_SELECT_MAX_CAND);
#ifdef LLMC_HAVE_CUDA
    char msg[256];
    lcu_select sel = {(int)req->mode, req->penalty, req->temperature, req->top_k};
    lcu_choice *c = NULL;
    int rc = lcu_forward_select(cm->rt, ids, n, pos, &sel, &c, logits, msg, sizeof msg);
    if (rc) return rt_err(rc, msg, err);
    if (c->status) out->kind = LLMC_CHOICE_LOGITS;
    else if (req->mode == LLMC_SELECT_GREEDY) {
        out->kind = LLMC_CHOICE_ID;
        out->id = c->id;
    } else {
        out->kind = LLMC_CHOICE_CANDIDATES;
        out->n = c->n;
        out->ids = c->ids;
        out->vals = c->vals;
    }
    return LLMC_OK;
#else
    (void)ids; (void)n; (void)pos; (void)logits;
    return llmc_err(err, LLMC_ERR_UNSUPPORTED, "CUDA is not available in this build");
#endif
}

void llmc_cuda_model_free(llmc_cuda_model *cm) {
    if (!cm) return;
#ifdef LLMC_HAVE_CUDA
    lcu_model_free(cm->rt);
#endif
    free(cm);
}
