/* Public entry points of the CPU backend: argument checks, kernel-family
 * selection by CPU features (overridable by tests), and the scalar reference
 * kernels every SIMD family is compared against. */
#include "backend/cpu/cpu_internal.h"
#include "base/error.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

/* ---- scalar reference ---------------------------------------------------- */

float cpu_bias_at(const llmc_tensor *bias, int64_t r) {
    const uint8_t *p = bias->data;
    switch (bias->dtype) {
    case LLMC_DT_F32: { float f; memcpy(&f, p + 4 * r, 4); return f; }
    case LLMC_DT_F16: { uint16_t h; memcpy(&h, p + 2 * r, 2); return cpu_f16(h); }
    case LLMC_DT_BF16: { uint16_t h; memcpy(&h, p + 2 * r, 2); return cpu_bf16(h); }
    default: { float v; cpu_dequant_row(bias->dtype, p, 1, &v); return v; }
    }
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

typedef struct {
    const llmc_tensor *W, *bias;
    const float *x;
    float *y;
    int n_tok;
    int64_t rows, cols;
    size_t row_bytes;
} scalar_ctx;

static void scalar_task(void *p, int64_t r0, int64_t r1, int tid) {
    const scalar_ctx *c = p;
    float *tmp = NULL;
    if (c->W->dtype != LLMC_DT_F32) {
        tmp = malloc((size_t)c->cols * sizeof *tmp);
        if (!tmp) { /* no memory: make the failure visible rather than silently wrong */
            for (int t = 0; t < c->n_tok; t++)
                for (int64_t r = r0; r < r1; r++) c->y[(int64_t)t * c->rows + r] = NAN;
            return;
        }
    }
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)c->W->data + (size_t)r * c->row_bytes;
        const float *w = (const float *)row;
        if (tmp) { cpu_dequant_row(c->W->dtype, row, c->cols, tmp); w = tmp; }
        float b = c->bias ? cpu_bias_at(c->bias, r) : 0.f;
        for (int t = 0; t < c->n_tok; t++)
            c->y[(int64_t)t * c->rows + r] = dot_f32(w, c->x + (int64_t)t * c->cols, c->cols) + b;
    }
    free(tmp);
}

bool cpu_matmul_scalar(llmc_threadpool *tp, const llmc_tensor *W, const llmc_tensor *bias,
                       const float *x, int n_tok, float *y, llmc_act_mode act) {
    (void)act; /* f32 activations always */
    scalar_ctx c = {W, bias, x, y, n_tok, W->shape[0], W->shape[1],
                    llmc_dtype_row_bytes(W->dtype, W->shape[1])};
    llmc_threadpool_run(tp, scalar_task, &c, c.rows);
    return true;
}

/* ---- kernel families ---------------------------------------------------------- */

static bool always(void) { return true; }
bool cpu_matmul_scalar_n(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                         const float *x, int n_tok, float *const *y, llmc_act_mode act) {
    for (int m = 0; m < nw; m++) cpu_matmul_scalar(tp, W[m], bias ? bias[m] : NULL, x, n_tok, y[m], act);
    return true;
}

static const cpu_kernel k_scalar = {"scalar", always, cpu_matmul_scalar_n};

/* Best first. SIMD families are added here as their files land. */
static const cpu_kernel *const g_kernels[] = {
    &cpu_kernel_amx,
    &cpu_kernel_avx512,
    &cpu_kernel_avx2,
    &k_scalar,
};
#define N_KERNELS (sizeof g_kernels / sizeof g_kernels[0])

static _Atomic(const cpu_kernel *) g_active;

static const cpu_kernel *active(void) {
    const cpu_kernel *k = atomic_load_explicit(&g_active, memory_order_acquire);
    if (k) return k;
    k = &k_scalar;
    for (size_t i = 0; i < N_KERNELS; i++)
        if (g_kernels[i]->supported()) { k = g_kernels[i]; break; }
    /* LLMC_CPU_KERNEL=scalar|avx2|avx512|amx pins a family (comparisons, debugging);
     * an unknown or unsupported name keeps the automatic choice. */
    const char *env = getenv("LLMC_CPU_KERNEL");
    if (env && *env)
        for (size_t i = 0; i < N_KERNELS; i++)
            if (strcmp(g_kernels[i]->name, env) == 0 && g_kernels[i]->supported()) k = g_kernels[i];
    atomic_store_explicit(&g_active, k, memory_order_release);
    return k;
}

const char *llmc_cpu_kernel_name(void) { return active()->name; }

bool llmc_cpu_force_kernel(const char *name) {
    if (!name || !*name || strcmp(name, "auto") == 0) {
        atomic_store(&g_active, NULL);
        return true;
    }
    for (size_t i = 0; i < N_KERNELS; i++)
        if (strcmp(g_kernels[i]->name, name) == 0) {
            if (!g_kernels[i]->supported()) return false;
            atomic_store(&g_active, g_kernels[i]);
            return true;
        }
    return false;
}

/* ---- public ops ------------------------------------------------------------------ */

llmc_status llmc_cpu_check_weight(const llmc_tensor *W, llmc_error *err) {
    const char *nm = W && W->name ? W->name : "(unnamed)";
    if (!W || !W->data) return llmc_err(err, LLMC_ERR_INVALID_ARG, "tensor %s: no data", nm);
    if ((unsigned)W->dtype >= LLMC_DT_COUNT)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "tensor %s: unknown dtype %d", nm, (int)W->dtype);
    if (W->ndim < 1 || W->ndim > LLMC_MAX_DIMS)
        return llmc_err(err, LLMC_ERR_FORMAT, "tensor %s: %d dimensions", nm, W->ndim);
    for (int i = 0; i < W->ndim; i++)
        if (W->shape[i] <= 0 || W->shape[i] > ((int64_t)1 << 40))
            return llmc_err(err, LLMC_ERR_FORMAT, "tensor %s: dimension %d has size %lld", nm, i,
                            (long long)W->shape[i]);
    int64_t cols = W->shape[W->ndim - 1];
    int be = llmc_dtype_block_elems(W->dtype);
    if (cols % be)
        return llmc_err(err, LLMC_ERR_FORMAT, "tensor %s: row length %lld is not a multiple of the %s block size %d",
                        nm, (long long)cols, llmc_dtype_name(W->dtype), be);
    int64_t rows = llmc_tensor_numel(W) / cols;
    size_t rb = llmc_dtype_row_bytes(W->dtype, cols);
    if (rows > 0 && rb > 0 && (size_t)rows > W->nbytes / rb)
        return llmc_err(err, LLMC_ERR_FORMAT, "tensor %s: %zu bytes of data, shape needs %lld rows of %zu bytes",
                        nm, W->nbytes, (long long)rows, rb);
    return LLMC_OK;
}

void llmc_cpu_matmul_act(llmc_threadpool *tp, const llmc_tensor *W, const llmc_tensor *bias,
                         const float *x, int n_tok, float *y, llmc_act_mode act) {
    if (n_tok <= 0) return;
    if (!active()->matmul(tp, 1, &W, &bias, x, n_tok, &y, act)) cpu_matmul_scalar(tp, W, bias, x, n_tok, y, act);
}

void llmc_cpu_matmul_n(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                       const float *x, int n_tok, float *const *y, llmc_act_mode act) {
    if (n_tok <= 0 || nw <= 0) return;
    if (active()->matmul(tp, nw, W, bias, x, n_tok, y, act)) return;
    for (int m = 0; m < nw; m++) llmc_cpu_matmul_act(tp, W[m], bias ? bias[m] : NULL, x, n_tok, y[m], act);
}

void llmc_cpu_matmul(llmc_threadpool *tp, const llmc_tensor *W, const llmc_tensor *bias,
                     const float *x, int n_tok, float *y) {
    llmc_cpu_matmul_act(tp, W, bias, x, n_tok, y, LLMC_ACT_PRECISE);
}

void llmc_cpu_get_row(const llmc_tensor *W, int64_t r, float *out) {
    int64_t cols = W->shape[W->ndim - 1];
    cpu_dequant_row(W->dtype, (const uint8_t *)W->data + (size_t)r * llmc_dtype_row_bytes(W->dtype, cols), cols, out);
}

void llmc_cpu_embed(const llmc_tensor *emb, const int32_t *ids, int n, float *out) {
    int64_t rows = emb->shape[0], cols = emb->shape[emb->ndim - 1];
    for (int t = 0; t < n; t++) {
        float *o = out + (int64_t)t * cols;
        if (ids[t] < 0 || ids[t] >= rows) { /* callers check ids; never read out of bounds */
            for (int64_t i = 0; i < cols; i++) o[i] = NAN;
            continue;
        }
        llmc_cpu_get_row(emb, ids[t], o);
    }
}

void llmc_cpu_dequantize(const llmc_tensor *W, float *out) {
    int64_t cols = W->shape[W->ndim - 1], rows = llmc_tensor_numel(W) / cols;
    size_t rb = llmc_dtype_row_bytes(W->dtype, cols);
    for (int64_t r = 0; r < rows; r++)
        cpu_dequant_row(W->dtype, (const uint8_t *)W->data + (size_t)r * rb, cols, out + r * cols);
}

