/* The tiled, multi-threaded matmul driver shared by the SIMD kernel families.
 * Work items are tiles of MM_RT weight rows × MM_TT tokens: a tile's weight rows
 * (a few KB) stay in L1 while the tokens stream past them in groups of CPU_NT,
 * and a token tile's activations stay in L2, so in prefill each weight byte
 * comes from memory about once per MM_TT tokens. Decode (one token) is a
 * row-split GEMV bound by memory bandwidth. Quantized weights are multiplied
 * with activations quantized to 8 bits per 32-element block (integer dots):
 * LLMC_ACT_FAST uses that one level; LLMC_ACT_PRECISE adds a second Q8 row for
 * the rounding residual, fed to the same kernels as an extra "token", so the
 * unpacked weights serve both levels from registers (see ops.h) — or, for a
 * prefill-sized batch of a format with a SIMD dequantizer, multiplies f32
 * activations with row tiles dequantized on the fly (MM_DEQ_MIN); a family whose
 * table asks for it (f32_min, inv_f32: AVX2) takes that f32 math for smaller
 * batches too, through fused kernels that dequantize in registers (fi[dtype]).
 * Families with panel kernels (AVX-512) run batches of MM_PANEL_MIN+ tokens outside
 * invariant mode as a packed-panel GEMM instead: CPU_PANEL_R weight rows (float, or a
 * dequantized tile) packed k-major once per MM_PANEL_TT tokens, against activations
 * packed k-major in blocks of 16 tokens — no horizontal sums, no conversion in the loop. */
#include "backend/cpu/cpu_internal.h"
#include "formats/tensor.h"
#include <stdlib.h>

#define MM_RT 16
#define MM_TT 64
/* Tokens per work item in panel mode: a row tile is packed once per this many tokens, whose
 * packed activations (256 × cols floats) stay in L2 across the item's 16-token blocks. */
#define MM_PANEL_TT 256
/* Panel mode from this many tokens: below it, packing a panel per item costs more than the
 * 4x4 row-dot kernels lose (bench/kernels.c, AVX-512: 16 tokens 69-76 vs 89-103 GFLOP/s). */
#define MM_PANEL_MIN 32
/* Below this many activation elements, quantizing (or packing) on the calling thread is
 * cheaper than a pool round trip. */
#define MM_SERIAL_QUANT 32768
/* Quantized rows, one at a time (decode): each row's kernel call first prefetches the row this
 * many ahead. Short rows (SmolLM2's 576 columns are 360 bytes of Q4_1) end before the hardware
 * prefetcher ramps up: SmolLM2 Q4_1 decode on one AVX-512 core 46 -> 56-61 tok/s (2 rows ahead:
 * 51-55, 4: 56-60, 8: 58-61). */
#define MM_PF_ROWS 8
/* LLMC_ACT_PRECISE with at least this many tokens (prefill): dequantize each row
 * tile to f32 (once per MM_TT tokens) and run the float GEMM — exact f32 math, and
 * faster than two integer levels once the dequantization is shared by enough tokens. */
#define MM_DEQ_MIN 16

/* Matrices multiplied in one pass: same input, one quantization of it, one pool job. */
#define MM_MAXW 4

typedef struct {
    const cpu_dot_table *tab;
    const llmc_tensor *W[MM_MAXW], *bias[MM_MAXW];
    bool invariant; /* LLMC_ACT_INVARIANT: no 4-row float blocking */
    float *y[MM_MAXW];
    int64_t rows[MM_MAXW], n_rt[MM_MAXW], item_end[MM_MAXW]; /* items of matrix j: [item_end[j-1], item_end[j]) */
    const float *x;
    int8_t *xq;     /* n_tok·rep rows × cols quants, then d and s: n_tok·rep × nbx floats each */
    float *xd, *xs;
    bool pairs;
    int rep;        /* Q8 rows per token: 1, or 2 = value + residual (see cpu_matmul_tiled) */
    float *resid;   /* precise mode: per thread, cols floats for the residual */
    float *wtile;   /* deq mode: per thread, MM_RT dequantized weight rows */
    bool fused;     /* quantized weights × f32 activations through fi[dtype] (dequantized in registers) */
    uint16_t *xp;   /* bf16-tile mode: the activations in bf16, packed by cpu_pack_bf16 */
    float *xpan;    /* panel mode: the activations k-major in blocks of 16 tokens (mm_pack_panel_x) */
    float *wpan;    /* panel mode: per thread, one item's CPU_PANEL_R rows k-major (tab->panel_pack) */
    int n_tok;
    int64_t rt, tt; /* rows and tokens per work item */
    int64_t cols, nbw, nbx;
    size_t row_bytes;
} mm_ctx;

_Static_assert(MM_RT == 16, "bf16_tile items are one 16-row AMX tile");

void cpu_pack_bf16(const float *x, int n_tok, int64_t cols, uint16_t *xp) {
    const int64_t nkc = cols / 32, ntb = ((int64_t)n_tok + 15) / 16;
    for (int64_t tb = 0; tb < ntb; tb++)
        for (int64_t kc = 0; kc < nkc; kc++) {
            uint16_t *o = xp + (size_t)(tb * nkc + kc) * 512;
            for (int m = 0; m < 16; m++) {
                int64_t t = tb * 16 + m;
                const float *xr = t < n_tok ? x + t * cols + kc * 32 : NULL;
                for (int k = 0; k < 32; k++) o[(k / 2) * 32 + 2 * m + (k & 1)] = xr ? llmc_f32_to_bf16(xr[k]) : 0;
            }
        }
}

/* Panel mode's activations: xp[(tb·cols + k)·16 + j] = x[16tb + j][k], zero past the last token;
 * token blocks [tb0, tb1) (a pool task over blocks: mm_pack_panel_task). */
static void mm_pack_panel_x(const cpu_dot_table *tab, const float *x, int n_tok, int64_t cols, float *xp, int64_t tb0,
                            int64_t tb1) {
    for (int64_t tb = tb0; tb < tb1; tb++) {
        int64_t left = (int64_t)n_tok - tb * 16;
        tab->panel_pack_x(x + (size_t)(tb * 16) * (size_t)cols, left < 16 ? (int)left : 16, cols,
                          xp + (size_t)tb * (size_t)cols * 16);
    }
}

static void mm_pack_panel_task(void *p, int64_t tb0, int64_t tb1, int tid) {
    const mm_ctx *c = p;
    (void)tid;
    mm_pack_panel_x(c->tab, c->x, c->n_tok, c->cols, c->xpan, tb0, tb1);
}

/* Where element j (0..31) of block b sits in a Q8 row of nb blocks as tab->quantize
 * writes it: natural order, or with pairs the [b0 0..15, b1 0..15, b0 16..31, b1 16..31]
 * interleave of each full pair of blocks (cpu_internal.h). */
static inline int64_t q8_pos(int64_t b, int j, int64_t nb, bool pairs) {
    if (!pairs || (b & ~(int64_t)1) + 1 >= nb) return b * 32 + j;
    return (b & ~(int64_t)1) * 32 + (b & 1) * 16 + (j < 16 ? j : 16 + j);
}

static void mm_quant_task(void *p, int64_t t0, int64_t t1, int tid) {
    const mm_ctx *c = p;
    for (int64_t t = t0; t < t1; t++) {
        const float *x = c->x + t * c->cols;
        int64_t v = t * c->rep;
        c->tab->quantize(x, c->cols, c->xq + v * c->cols, c->xd + v * c->nbx, c->xs + v * c->nbx, c->pairs);
        if (c->rep == 1) continue;
        /* The residual x − d·q (|r| ≤ d/2 per block) quantized again: the pair
         * carries about 15 bits per element, and W·x = W·x₁ + W·x₂ exactly. */
        float *r = c->resid + (size_t)tid * (size_t)c->cols;
        const int8_t *q = c->xq + v * c->cols;
        const float *d = c->xd + v * c->nbx;
        for (int64_t b = 0; b < c->nbx; b++)
            for (int j = 0; j < 32; j++)
                r[b * 32 + j] = x[b * 32 + j] - d[b] * (float)q[q8_pos(b, j, c->nbx, c->pairs)];
        c->tab->quantize(r, c->cols, c->xq + (v + 1) * c->cols, c->xd + (v + 1) * c->nbx, c->xs + (v + 1) * c->nbx,
                         c->pairs);
    }
}

/* Rows [r0, r1) × tokens [t0, t1) of float weights (or a dequantized tile) with the batch-
   invariant kernels: rows in fours (a short group repeats its first row; the extra results
   are dropped), tokens in calls of up to CPU_NT. */
static void mm_float_invariant(const mm_ctx *c, const uint8_t *wbase, size_t row_bytes, int64_t roff, int dt, int64_t r0, int64_t r1, int64_t t0,
                               int64_t t1, int64_t rows, const llmc_tensor *bias, float *y) {
    for (int64_t r = r0; r < r1; r += 4) {
        const void *wr[4];
        int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
        for (int j = 0; j < 4; j++) wr[j] = wbase + (size_t)(r + (j < nr ? j : 0) - roff) * row_bytes;
        for (int64_t t = t0; t < t1; t += CPU_NT) {
            int nt = t1 - t < CPU_NT ? (int)(t1 - t) : CPU_NT;
            const float *xf[CPU_NT];
            for (int k = 0; k < nt; k++) xf[k] = c->x + (t + k) * c->cols;
            float out[4][CPU_NT];
            c->tab->fi[dt][nt - 1](wr, xf, c->cols, out);
            for (int j = 0; j < nr; j++) {
                float b = bias ? cpu_bias_at(bias, r + j) : 0.f;
                for (int k = 0; k < nt; k++) y[(t + k) * rows + r + j] = out[j][k] + b;
            }
        }
    }
}

static void mm_task(void *p, int64_t i0, int64_t i1, int tid) {
    const mm_ctx *c = p;
    int m = 0;
    for (int64_t i = i0; i < i1; i++) {
        while (i >= c->item_end[m]) m++;
        int64_t li = i - (m ? c->item_end[m - 1] : 0);
        const int64_t rows = c->rows[m];
        const llmc_tensor *bias = c->bias[m];
        float *y = c->y[m];
        int64_t rt = li % c->n_rt[m], tt = li / c->n_rt[m];
        int64_t r0 = rt * c->rt, r1 = r0 + c->rt < rows ? r0 + c->rt : rows;
        int64_t t0 = tt * c->tt, t1 = t0 + c->tt < c->n_tok ? t0 + c->tt : c->n_tok;
        if (c->xp) { /* AMX: the whole item in tiles (rows are whole 16-row tiles here) */
            c->tab->bf16_tile((const uint8_t *)c->W[m]->data + (size_t)r0 * c->row_bytes, c->row_bytes, c->xp, c->nbx,
                              t0, t1, y, rows, r0, bias);
            continue;
        }
        /* Row r's weights are at wbase + (r - roff) * row_bytes, of dtype dt. */
        const uint8_t *wbase = c->W[m]->data;
        size_t row_bytes = c->row_bytes;
        int dt = c->W[m]->dtype;
        int64_t roff = 0;
        if (c->wtile) { /* deq mode: this tile's rows as f32, then the float kernels */
            float *tile = c->wtile + (size_t)tid * (size_t)c->rt * (size_t)c->cols;
            for (int64_t r = r0; r < r1; r++)
                c->tab->deq[dt](wbase + (size_t)r * row_bytes, c->nbw, tile + (size_t)(r - r0) * (size_t)c->cols);
            wbase = (const uint8_t *)tile;
            row_bytes = (size_t)c->cols * sizeof(float);
            dt = LLMC_DT_F32;
            roff = r0;
        }
        if (c->wpan) { /* panel mode: pack the item's rows k-major once, then 16 tokens per call */
            float *wt = c->wpan + (size_t)tid * CPU_PANEL_R * (size_t)c->cols, b[CPU_PANEL_R];
            int nr = (int)(r1 - r0);
            c->tab->panel_pack(wbase + (size_t)(r0 - roff) * row_bytes, row_bytes, nr, c->cols, dt, wt);
            for (int j = 0; j < nr && bias; j++) b[j] = cpu_bias_at(bias, r0 + j);
            for (int64_t t = t0; t < t1; t += 16)
                c->tab->panel_gemm(wt, c->xpan + (size_t)(t / 16) * (size_t)c->cols * 16, c->cols, y + t * rows + r0, rows,
                                   nr, t1 - t < 16 ? (int)(t1 - t) : 16, bias ? b : NULL);
            continue;
        }
        /* Quantized: each kernel call takes CPU_NT Q8 rows = CPU_NT/rep tokens. */
        if (!c->xq && (c->invariant || c->fused) && c->tab->fi[dt][0]) { /* 4 rows × up to 4 tokens, f32 math */
            mm_float_invariant(c, wbase, row_bytes, roff, dt, r0, r1, t0, t1, rows, bias, y);
            continue;
        }
        /* Float kernels unroll by how many tokens share a call, so invariant mode without fi runs them one token at a time. */
        const int step = c->xq ? CPU_NT / c->rep : c->invariant ? 1 : CPU_NT;
        for (int64_t t = t0; t < t1; t += step) {
            int nt = t1 - t < step ? (int)(t1 - t) : step;
            cpu_q8row xq[CPU_NT];
            const float *xf[CPU_NT];
            for (int k = 0; k < nt; k++) {
                if (c->xq)
                    for (int j = 0; j < c->rep; j++) {
                        int64_t v = (t + k) * c->rep + j;
                        xq[k * c->rep + j] = (cpu_q8row){c->xq + v * c->cols, c->xd + v * c->nbx, c->xs + v * c->nbx};
                    }
                xf[k] = c->x + (t + k) * c->cols;
            }
            int64_t r = r0;
            if (!c->xq && nt == CPU_NT && c->tab->f4[dt] && !c->invariant)
                for (; r + 4 <= r1; r += 4) { /* register-blocked float GEMM */
                    float out4[4][CPU_NT];
                    c->tab->f4[dt](wbase + (size_t)(r - roff) * row_bytes, row_bytes, xf, c->cols, out4);
                    for (int j = 0; j < 4; j++) {
                        float b = bias ? cpu_bias_at(bias, r + j) : 0.f;
                        for (int k = 0; k < nt; k++) y[(t + k) * rows + r + j] = out4[j][k] + b;
                    }
                }
            for (; r < r1; r++) {
                const void *w = wbase + (size_t)(r - roff) * row_bytes;
                float out[CPU_NT];
                if (c->xq) {
                    if (r + MM_PF_ROWS < rows)
                        for (size_t o = 0; o < row_bytes; o += 64)
                            __builtin_prefetch((const uint8_t *)w + MM_PF_ROWS * row_bytes + o);
                    c->tab->q[dt][nt * c->rep - 1](w, xq, c->nbw, out);
                    if (c->rep == 2)
                        for (int k = 0; k < nt; k++) out[k] = out[2 * k] + out[2 * k + 1];
                } else {
                    c->tab->f[dt][nt - 1](w, xf, c->cols, out);
                }
                float b = bias ? cpu_bias_at(bias, r) : 0.f;
                for (int k = 0; k < nt; k++) y[(t + k) * rows + r] = out[k] + b;
            }
        }
    }
}

bool cpu_matmul_tiled(const cpu_dot_table *tab, llmc_threadpool *tp, int nw, const llmc_tensor *const *W,
                      const llmc_tensor *const *bias, const float *x, int n_tok, float *const *y, llmc_act_mode act) {
    if (nw < 1 || nw > MM_MAXW) return false;
    const bool inv = ((int)act & LLMC_ACT_INVARIANT) != 0, dq = ((int)act & LLMC_ACT_DEQUANT) != 0;
    act = (llmc_act_mode)((int)act & ~(LLMC_ACT_INVARIANT | LLMC_ACT_DEQUANT));
    int dt = W[0]->dtype;
    if ((unsigned)dt >= LLMC_DT_COUNT) return false;
    for (int m = 0; m < nw; m++) /* one input: same dtype (one quantization) and width */
        if (W[m]->ndim != 2 || (int)W[m]->dtype != dt || W[m]->shape[1] != W[0]->shape[1]) return false;
    int be = llmc_dtype_block_elems(W[0]->dtype);
    bool quant = be > 1;
    for (int k = 0; k < CPU_NT; k++)
        if (quant ? !tab->q[dt][k] : !tab->f[dt][k]) return false;
    if (quant && !tab->quantize) return false;
    mm_ctx c = {.tab = tab, .x = x, .n_tok = n_tok, .cols = W[0]->shape[1],
                .row_bytes = llmc_dtype_row_bytes(W[0]->dtype, W[0]->shape[1]), .pairs = cpu_q8_pairs(W[0]->dtype),
                .invariant = inv};
    if (c.cols % be || (quant && c.cols % 32)) return false;
    c.nbw = c.cols / be;
    c.nbx = c.cols / 32;
    for (int m = 0; m < nw; m++) {
        c.W[m] = W[m];
        c.bias[m] = bias ? bias[m] : NULL;
        c.y[m] = y[m];
        c.rows[m] = W[m]->shape[0];
    }
    int nth = llmc_threadpool_size(tp);
    bool tiles = !inv && dt == LLMC_DT_BF16 && act == LLMC_ACT_FAST && tab->bf16_tile && n_tok >= MM_DEQ_MIN && c.cols % 32 == 0;
    for (int m = 0; m < nw && tiles; m++) tiles = c.rows[m] % MM_RT == 0;
    if (tiles && (c.xp = malloc(sizeof(uint16_t) * CPU_PACK_BF16_ELEMS(n_tok, c.cols))) != NULL)
        cpu_pack_bf16(x, n_tok, c.cols, c.xp);
    /* Invariant mode: the integer dots at every batch size, or with LLMC_ACT_DEQUANT (or a family's
       inv_f32) f32 math at every batch size (where the invariant float kernels exist): either way one
       path whatever n_tok — the fused kernels and the dequantized tiles give the same bits. */
    const int f32_min = tab->f32_min > 0 ? tab->f32_min : MM_DEQ_MIN;
    bool deq = inv ? (dq || tab->inv_f32) && tab->fi[LLMC_DT_F32][0] != NULL : n_tok >= f32_min;
    if (quant && act == LLMC_ACT_PRECISE && deq && (tab->deq[dt] || tab->fi[dt][0])) {
        /* tiles once a tile's dequantization is shared by enough tokens, else fused */
        if (tab->fi[dt][0] && (n_tok < MM_DEQ_MIN || !tab->deq[dt])) c.fused = true;
        else c.wtile = malloc(sizeof(float) * (tab->panel_gemm ? CPU_PANEL_R : MM_RT) * (size_t)c.cols * (size_t)nth);
        if (!c.wtile && tab->fi[dt][0]) c.fused = true; /* no memory for tiles: the same bits fused */
    }
    /* Panel mode (families with panel kernels): prefill-sized batches outside invariant mode, on
       float weights and on the dequantized tiles of the precise mode; the same f32 math as the
       row-dot kernels, summed in another order. Without memory for it the row-dot kernels run. */
    bool panel = !inv && !c.xp && tab->panel_gemm && tab->panel_pack_x && n_tok >= MM_PANEL_MIN && (!quant || c.wtile);
    _Static_assert(MM_PANEL_TT % 16 == 0, "panel items are whole 16-token blocks");
    if (panel) {
        size_t ntb = ((size_t)n_tok + 15) / 16;
        c.xpan = malloc(sizeof(float) * ntb * 16 * (size_t)c.cols);
        c.wpan = c.xpan ? malloc(sizeof(float) * CPU_PANEL_R * (size_t)c.cols * (size_t)nth) : NULL;
        if (!c.wpan) free(c.xpan), c.xpan = NULL;
        else if ((int64_t)n_tok * c.cols <= MM_SERIAL_QUANT) mm_pack_panel_x(tab, x, n_tok, c.cols, c.xpan, 0, (int64_t)ntb);
        else llmc_threadpool_run(tp, mm_pack_panel_task, &c, (int64_t)ntb);
    }
    /* Work items: MM_RT rows × MM_TT tokens (panel mode: CPU_PANEL_R rows × MM_PANEL_TT tokens, so a
       packed panel serves more tokens) */
    c.rt = c.wpan ? CPU_PANEL_R : MM_RT;
    c.tt = c.wpan ? MM_PANEL_TT : MM_TT;
    const int64_t n_tt = (n_tok + c.tt - 1) / c.tt;
    int64_t items = 0;
    for (int m = 0; m < nw; m++) {
        c.n_rt[m] = (c.rows[m] + c.rt - 1) / c.rt;
        items += c.n_rt[m] * n_tt;
        c.item_end[m] = items;
    }
    if (quant && !c.wtile && !c.fused) {
        /* 64 spare bytes: kernels may load a full vector at a row's last block */
        c.rep = act == LLMC_ACT_FAST ? 1 : 2;
        size_t nv = (size_t)n_tok * (size_t)c.rep, nq = nv * (size_t)c.cols, nf = nv * (size_t)c.nbx;
        nq = (nq + 63) & ~(size_t)63;
        size_t nr = c.rep == 2 ? (size_t)c.cols * (size_t)nth : 0;
        c.xq = malloc(nq + (2 * nf + nr) * sizeof(float) + 64);
        if (!c.xq) return false;
        c.xd = (float *)(void *)(c.xq + nq);
        c.xs = c.xd + nf;
        c.resid = nr ? (float *)(void *)((uint8_t *)(c.xs + nf) + 64) : NULL;
        if ((int64_t)n_tok * c.cols <= MM_SERIAL_QUANT) mm_quant_task(&c, 0, n_tok, 0);
        else llmc_threadpool_run(tp, mm_quant_task, &c, n_tok);
    }
    llmc_threadpool_run(tp, mm_task, &c, items);
    free(c.xq);
    free(c.wtile);
    free(c.xp);
    free(c.xpan);
    free(c.wpan);
    return true;
}
