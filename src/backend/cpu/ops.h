/* CPU kernels the model graph calls. Implementations dispatch on CPU features at
 * run time (scalar reference always available and used by tests as the oracle).
 * Weights are llmc_tensor views in their file dtype: a 2-D tensor [rows, cols],
 * rows contiguous (a Linear weight [out_features, in_features]). Activations f32. */
#ifndef LLMC_BACKEND_CPU_OPS_H
#define LLMC_BACKEND_CPU_OPS_H
#include "llmc.h"
#include "formats/tensor.h"

/* Thread pool: n_threads workers (0 → number of online CPUs). */
typedef struct llmc_threadpool llmc_threadpool;
llmc_threadpool *llmc_threadpool_new(int n_threads);
void llmc_threadpool_free(llmc_threadpool *tp);
int llmc_threadpool_size(const llmc_threadpool *tp);
/* Runs fn(ctx, i, n) for i in [0, n) split across the pool; returns when all are done. */
typedef void (*llmc_task_fn)(void *ctx, int64_t begin, int64_t end, int thread_id);
void llmc_threadpool_run(llmc_threadpool *tp, llmc_task_fn fn, void *ctx, int64_t n);

/* y[t][r] = sum_c W[r][c] * x[t][c]  (+ bias[r] when bias != NULL),
 * for t < n_tok, r < rows(W); x is [n_tok][cols], y is [n_tok][rows].
 * W may be any llmc_dtype; bias is F32/F16/BF16 of length rows. */
void llmc_cpu_matmul(llmc_threadpool *tp, const llmc_tensor *W, const llmc_tensor *bias,
                     const float *x, int n_tok, float *y);

/* How a quantized weight (Q8_0, Q4_*, Q*_K) meets the f32 activations in the
 * integer-dot kernels. Float weights always use f32 activations.
 *  LLMC_ACT_PRECISE (default): activations as two 8-bit levels per 32-block (the
 *    value and its rounding residual, ~15 bits): products agree with f32 math on
 *    the dequantized weights to ~1e-5 relative, as transformers computes a GGUF.
 *    Batches of 16+ tokens on Q8_0/Q4_0/Q4_1 go further: row tiles dequantized to
 *    f32 meet f32 activations in the float GEMM, exactly the --dtype f32 math. On the
 *    "avx2" family that holds from 2 tokens (fused kernels dequantize in registers below
 *    16; same bits as the tiles), because its integer multiplies run at half the FMA rate.
 *  LLMC_ACT_FAST: one 8-bit level (llama.cpp's way): ~0.5% relative error per
 *    product; decode ~1.15x faster (prefill too on K-quants, whose precise prefill
 *    keeps two integer levels); top-1 flips on near-ties. */
typedef enum { LLMC_ACT_PRECISE = 0, LLMC_ACT_FAST = 1 } llmc_act_mode;
/* OR'd into an llmc_act_mode: batch-invariant numerics. Row t of y then comes out bit for bit
 * the same whatever n_tok is and whichever other rows share the call (the multi-sequence
 * engine's guarantee): no AMX bf16 tiles, no batch-size-dependent switch between integer dots
 * and f32 tiles — every (row, token) dot runs the same accumulation whatever the batch.
 * Quantized weights take the integer dots, except on "avx2" under LLMC_ACT_PRECISE, where they
 * take f32 math at every batch size (as LLMC_ACT_DEQUANT below; about 0.8-1x the integer
 * dots' speed for one token, 2-4x for 4+). Slower prefill than the non-invariant modes. */
#define LLMC_ACT_INVARIANT 0x100
/* With LLMC_ACT_INVARIANT and LLMC_ACT_PRECISE: Q8_0/Q4_0/Q4_1 weights meet f32 activations at
 * every batch size (exact f32 math on the dequantized weights; faster for batches of ~4+, slower
 * for one token) on the families with invariant float kernels (AVX2, AVX-512, AMX): as row tiles,
 * or on AVX2 below 16 tokens dequantized in registers (the same bits). Float weights there run
 * 4 rows × up to 4 tokens per call in invariant mode. */
#define LLMC_ACT_DEQUANT 0x200
void llmc_cpu_matmul_act(llmc_threadpool *tp, const llmc_tensor *W, const llmc_tensor *bias,
                         const float *x, int n_tok, float *y, llmc_act_mode act);
/* y[m] = W[m]·x (+ bias[m]) for m < nw (≤ 4), all W[m] with x's width: one pass that
 * quantizes x once and runs every matrix's tiles in one pool job (q/k/v, gate/up).
 * bias may be NULL. Same results as nw separate calls. */
void llmc_cpu_matmul_n(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                       const float *x, int n_tok, float *const *y, llmc_act_mode act);

/* Attention of G (1..LLMC_ATT_MAX_GROUP) query heads that share one K/V head over
 * n cached positions: out[g] = softmax_j(scale · q[g]·K_j) · V_j, with K_j = K + j·stride
 * (V likewise), hd floats per row. softcap > 0: scores become softcap·tanh(s/softcap) before
 * the softmax (Gemma 2); 0: none. sc: scratch of G·n floats. */
#define LLMC_ATT_MAX_GROUP 4
void llmc_cpu_attention(int G, const float *const *q, const float *K, const float *V, size_t stride, int hd, int n,
                        float scale, float softcap, float *sc, float *const *out);

/* Prefill attention, flash-style: R (<= LLMC_ATT_MAX_ROWS) query rows that share one K/V head;
 * row r sees keys lo[r]..hi[r] (inclusive). Keys are read in blocks of 16 that every row
 * uses, with an online softmax, so no score row is kept: out[r] = softmax(scale·q[r]·K_j)·V_j.
 * scratch: max(64·hd + 512, longest hi-lo+1) floats. AVX2+FMA when llmc_cpu_attention_rows_fast(hd)
 * (hd a multiple of 8 and a SIMD family active); else row by row through llmc_cpu_attention. */
#define LLMC_ATT_MAX_ROWS 32
bool llmc_cpu_attention_rows_fast(int hd);
/* A row's result depends only on its own q, lo, hi and the keys: key blocks are anchored at
 * multiples of 16, so neither R nor the other rows' ranges change it (batch invariance). */
void llmc_cpu_attention_rows(int R, const float *const *q, const int *lo, const int *hi, const float *K, const float *V, size_t stride, int hd,
                             float scale, float softcap, float *scratch, float *const *out);

/* out[t][:] = embedding row ids[t] converted to f32 (any dtype). */
void llmc_cpu_embed(const llmc_tensor *emb, const int32_t *ids, int n, float *out);
/* Dequantizes/converts row r of a 2-D tensor into out (cols floats). */
void llmc_cpu_get_row(const llmc_tensor *W, int64_t r, float *out);

/* Which kernel family llmc_cpu_matmul uses on this machine ("amx", "avx512", "avx2", "scalar"),
 * and a way for tests to force one (returns false if unsupported here; NULL or
 * "auto" restores the automatic choice). The environment variable
 * LLMC_CPU_KERNEL=<name> pins the family for a whole process.
 * Numerics: F32/F16/BF16 weights compute in f32 on every family (results differ
 * only by summation order), except bf16 weights under LLMC_ACT_FAST on "amx", whose
 * prefill rounds the activations to bf16 for the AMX tiles. Quantized weights: "scalar" multiplies the
 * dequantized weights with f32 activations; the SIMD families quantize the
 * activations to int8 per 32 elements (scale amax/127, as llama.cpp does) and use
 * integer dot products: LLMC_ACT_FAST adds at most sum|w|·amax/254 per block of
 * error, LLMC_ACT_PRECISE (also quantizing the residual) 254 times less. */
const char *llmc_cpu_kernel_name(void);
bool llmc_cpu_force_kernel(const char *name);

/* Converts a whole tensor (rows of its last dimension) to f32: out has numel floats. */
void llmc_cpu_dequantize(const llmc_tensor *W, float *out);
/* Checks that a tensor is usable by these ops (dims, block multiple, enough bytes);
 * loaders call it once so the hot ops need no checks. */
llmc_status llmc_cpu_check_weight(const llmc_tensor *W, llmc_error *err);
/* Quantizes n f32 values (a multiple of 32) into Q8_0 or Q4_0 blocks at out, bit for
 * bit as ggml's reference quantizers (and the gguf Python package) do: the basis of
 * load-time quantization (--quantize q8_0|q4_0). Other dtypes → false. */
bool llmc_cpu_quantize_row(llmc_dtype dt, const float *x, int64_t n, void *out);

#endif
