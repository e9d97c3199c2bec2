/* Internals of the CPU backend shared by the kernel files: block layouts of the
 * llama.cpp quantized formats, half-precision helpers, the Q8 activation format
 * the integer-dot kernels consume, and the kernel-variant table. */
#ifndef LLMC_BACKEND_CPU_INTERNAL_H
#define LLMC_BACKEND_CPU_INTERNAL_H
#include "backend/cpu/ops.h"
#include <stdint.h>
#include <string.h>

/* ggml block layouts (ggml-common.h); all little-endian, packed without padding. */
#define CPU_QK 32
#define CPU_QKK 256
typedef struct { uint16_t d; int8_t qs[32]; } cpu_block_q8_0;                  /* 34 B */
typedef struct { uint16_t d; uint8_t qs[16]; } cpu_block_q4_0;                 /* 18 B */
typedef struct { uint16_t d, m; uint8_t qs[16]; } cpu_block_q4_1;              /* 20 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } cpu_block_q4_k;   /* 144 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } cpu_block_q5_k; /* 176 B */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } cpu_block_q6_k; /* 210 B */
_Static_assert(sizeof(cpu_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(cpu_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(cpu_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(cpu_block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(cpu_block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(cpu_block_q6_k) == 210, "q6_k layout");

static inline float cpu_f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man) bits = sign;
    else { /* subnormal: normalise */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static inline float cpu_bf16(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Q4_K/Q5_K 6-bit scale and min of sub-block j (0..7). */
static inline void cpu_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) { *sc = q[j] & 63; *m = q[j + 4] & 63; }
    else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Scalar block decoders: one block → its elements as f32. */
void cpu_dequant_block(llmc_dtype t, const void *blk, float *out);
/* One row of n elements (any dtype) → f32. */
void cpu_dequant_row(llmc_dtype t, const void *row, int64_t n, float *out);

/* Activations quantized for integer dot products, per token row of n elements:
 * int8 qs[n], and per 32-element block b a scale d[b] (x ≈ d·q) and s[b] = d·Σq
 * (for formats with an offset or min). Structure-of-arrays so a kernel loads 8
 * block scales with one instruction. With pairs=true, each pair of blocks
 * (2p, 2p+1) stores its 64 quants as [b0 0..15, b1 0..15, b0 16..31, b1 16..31],
 * the order in which two Q4 blocks' low and high nibbles unpack. */
typedef struct { const int8_t *qs; const float *d, *s; } cpu_q8row;
/* Formats whose kernels want the paired quant order. */
static inline bool cpu_q8_pairs(llmc_dtype t) { return t == LLMC_DT_Q4_0 || t == LLMC_DT_Q4_1; }

/* A kernel family: a name, whether this CPU can run it, and the matmul. */
typedef struct {
    const char *name;
    bool (*supported)(void);
    /* Returns false when it has no kernel for W's dtype (the caller then falls back). */
    /* nw matrices of one dtype and width on the same x (llmc_cpu_matmul_n) */
    bool (*matmul)(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                   const float *x, int n_tok, float *const *y, llmc_act_mode act);
} cpu_kernel;

/* Row-dot micro-kernels a SIMD family provides, indexed [dtype][nt-1]: one weight
 * row against nt (1..CPU_NT) activation rows at once, so the unpacked weights are
 * reused from registers in prefill. Quantized: nb = weight blocks in the row, x[t] the
 * token's Q8 activations. Float: cols elements, x[t] f32. */
#define CPU_NT 4
typedef void (*cpu_qdot_fn)(const void *w, const cpu_q8row *x, int64_t nb, float *out);
typedef void (*cpu_fdot_fn)(const void *w, const float *const *x, int64_t cols, float *out);
/* Float weights, prefill: 4 consecutive rows (row_bytes apart) × CPU_NT tokens at
 * once, out[row][token]; optional (NULL: the 1-row kernels are used). */
typedef void (*cpu_fdot4_fn)(const void *w, size_t row_bytes, const float *const *x, int64_t cols,
                             float out[4][CPU_NT]);
/* Float weights, batch-invariant (LLMC_ACT_INVARIANT): 4 rows given by pointer × nt tokens
 * ([dtype][nt-1]), out[row][token]; each (row, token) computed the same way whatever nt. */
typedef void (*cpu_fdoti_fn)(const void *const *w, const float *const *x, int64_t cols, float out[4][CPU_NT]);
typedef struct {
    cpu_qdot_fn q[LLMC_DT_COUNT][CPU_NT];
    cpu_fdoti_fn fi[LLMC_DT_COUNT][CPU_NT]; /* optional (NULL: invariant mode runs f one token at a time) */
    cpu_fdot_fn f[LLMC_DT_COUNT][CPU_NT];
    cpu_fdot4_fn f4[LLMC_DT_COUNT];
    void (*quantize)(const float *x, int64_t n, int8_t *qs, float *d, float *s, bool pairs);
    /* Optional: one quantized row of nb blocks → f32 (prefill dequantizes row tiles). */
    void (*deq[LLMC_DT_COUNT])(const void *row, int64_t nb, float *out);
    /* Quantized weights under LLMC_ACT_PRECISE meet f32 activations (exact f32 math on the
     * dequantized weights) from f32_min tokens on (0: MM_DEQ_MIN), and with inv_f32 also in
     * invariant steps at every batch size, as LLMC_ACT_DEQUANT asks: for families whose two-level
     * integer dots cost more than f32 FMAs. A quantized dtype's fi entry, when set, is the fused
     * form (dequantizing in registers) that must give bit for bit what fi[F32] gives on deq's
     * tile; matmul.c runs it below MM_DEQ_MIN tokens. */
    int f32_min;
    bool inv_f32;
    /* Optional (AMX): bf16 weights × bf16 activations under LLMC_ACT_FAST, one work item:
     * 16 weight rows at w (rb bytes apart) against tokens [t0, t1) of the packed
     * activations xp (cpu_pack_bf16 layout, nkc chunks of 32 per token block);
     * y[t][r0 + i] = dot + bias. */
    void (*bf16_tile)(const void *w, size_t rb, const uint16_t *xp, int64_t nkc, int64_t t0, int64_t t1, float *y,
                      int64_t rows, int64_t r0, const llmc_tensor *bias);
    /* Optional (AVX-512): packed-panel prefill GEMM, f32 math, not batch-invariant. panel_pack writes
     * CPU_PANEL_R weight rows (row i at w + i·rb, dtype dt, rows ≥ nr as zeros) k-major:
     * wt[k·CPU_PANEL_R + i]; panel_gemm multiplies such a panel by 16 tokens packed k-major and writes
     * y[j·ystride + i] = dot + bias[i] for rows i < nr and tokens j < nt (bias: NULL or nr floats). */
    void (*panel_pack)(const void *w, size_t rb, int nr, int64_t cols, int dt, float *wt);
    /* 16 tokens (nt of them real, row j at x + j·cols) → xp[k·16 + j], zeros for j ≥ nt. */
    void (*panel_pack_x)(const float *x, int nt, int64_t cols, float *xp);
    void (*panel_gemm)(const float *wt, const float *xp, int64_t cols, float *y, int64_t ystride, int nr, int nt,
                       const float *bias);
} cpu_dot_table;
#define CPU_PANEL_R 32 /* rows of a packed panel */

/* Activations for bf16_tile: n_tok × cols f32 → bf16 in 16-token × 32-column tiles,
 * each 16 rows (column pairs) × 16 tokens × 2 (the pair-interleaved operand layout of
 * tdpbf16ps): xp[((tb·nkc + kc)·16 + kk)·32 + 2m + j] = x[16tb + m][32kc + 2kk + j],
 * zero past the last token. */
void cpu_pack_bf16(const float *x, int n_tok, int64_t cols, uint16_t *xp);
#define CPU_PACK_BF16_ELEMS(n_tok, cols) ((((size_t)(n_tok) + 15) / 16) * 16 * (size_t)(cols))
/* The tiled, threaded matmul shared by the SIMD families (matmul.c). */
bool cpu_matmul_tiled(const cpu_dot_table *tab, llmc_threadpool *tp, int nw, const llmc_tensor *const *W,
                      const llmc_tensor *const *bias, const float *x, int n_tok, float *const *y, llmc_act_mode act);
extern const cpu_kernel cpu_kernel_avx2, cpu_kernel_avx512, cpu_kernel_amx;

bool cpu_matmul_scalar(llmc_threadpool *tp, const llmc_tensor *W, const llmc_tensor *bias,
                       const float *x, int n_tok, float *y, llmc_act_mode act);
bool cpu_matmul_scalar_n(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                         const float *x, int n_tok, float *const *y, llmc_act_mode act);
float cpu_bias_at(const llmc_tensor *bias, int64_t r);

#endif
