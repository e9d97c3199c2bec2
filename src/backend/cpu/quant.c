/* Scalar decoders for every weight dtype (the reference the SIMD kernels are
 * tested against) and the Q8 quantizer for activations. Block layouts follow
 * ggml (ggml-common.h / ggml-quants.c). */
#include "backend/cpu/cpu_internal.h"
#include "formats/tensor.h"
#include <float.h>
#include <math.h>

static void dq_q8_0(const cpu_block_q8_0 *b, float *y) {
    float d = cpu_f16(b->d);
    for (int i = 0; i < 32; i++) y[i] = d * b->qs[i];
}
static void dq_q4_0(const cpu_block_q4_0 *b, float *y) {
    float d = cpu_f16(b->d);
    for (int i = 0; i < 16; i++) {
        y[i] = d * ((b->qs[i] & 0xF) - 8);
        y[i + 16] = d * ((b->qs[i] >> 4) - 8);
    }
}
static void dq_q4_1(const cpu_block_q4_1 *b, float *y) {
    float d = cpu_f16(b->d), m = cpu_f16(b->m);
    for (int i = 0; i < 16; i++) {
        y[i] = d * (b->qs[i] & 0xF) + m;
        y[i + 16] = d * (b->qs[i] >> 4) + m;
    }
}
static void dq_q4_k(const cpu_block_q4_k *b, float *y) {
    float d = cpu_f16(b->d), dmin = cpu_f16(b->dmin);
    const uint8_t *q = b->qs;
    for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
        uint8_t sc, m;
        cpu_scale_min_k4(j, b->scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        cpu_scale_min_k4(j + 1, b->scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) {
            y[l] = d1 * (q[l] & 0xF) - m1;
            y[l + 32] = d2 * (q[l] >> 4) - m2;
        }
    }
}
static void dq_q5_k(const cpu_block_q5_k *b, float *y) {
    float d = cpu_f16(b->d), dmin = cpu_f16(b->dmin);
    const uint8_t *q = b->qs;
    for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
        uint8_t sc, m;
        cpu_scale_min_k4(j, b->scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        cpu_scale_min_k4(j + 1, b->scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) {
            int h1 = (b->qh[l] >> j) & 1, h2 = (b->qh[l] >> (j + 1)) & 1;
            y[l] = d1 * ((q[l] & 0xF) | (h1 << 4)) - m1;
            y[l + 32] = d2 * ((q[l] >> 4) | (h2 << 4)) - m2;
        }
    }
}
static void dq_q6_k(const cpu_block_q6_k *b, float *y) {
    float d = cpu_f16(b->d);
    const uint8_t *ql = b->ql, *qh = b->qh;
    const int8_t *sc = b->scales;
    for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is + 0] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
    }
}

void cpu_dequant_block(llmc_dtype t, const void *blk, float *out) {
    switch (t) {
    case LLMC_DT_Q8_0: dq_q8_0(blk, out); break;
    case LLMC_DT_Q4_0: dq_q4_0(blk, out); break;
    case LLMC_DT_Q4_1: dq_q4_1(blk, out); break;
    case LLMC_DT_Q4_K: dq_q4_k(blk, out); break;
    case LLMC_DT_Q5_K: dq_q5_k(blk, out); break;
    case LLMC_DT_Q6_K: dq_q6_k(blk, out); break;
    case LLMC_DT_F32: memcpy(out, blk, 4); break;
    case LLMC_DT_F16: { uint16_t h; memcpy(&h, blk, 2); out[0] = cpu_f16(h); break; }
    case LLMC_DT_BF16: { uint16_t h; memcpy(&h, blk, 2); out[0] = cpu_bf16(h); break; }
    default: out[0] = NAN; break;
    }
}

void cpu_dequant_row(llmc_dtype t, const void *row, int64_t n, float *out) {
    const uint8_t *p = row;
    switch (t) {
    case LLMC_DT_F32: memcpy(out, row, (size_t)n * 4); return;
    case LLMC_DT_F16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); out[i] = cpu_f16(h); }
        return;
    case LLMC_DT_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); out[i] = cpu_bf16(h); }
        return;
    default: {
        int be = llmc_dtype_block_elems(t);
        size_t bb = llmc_dtype_block_bytes(t);
        if (be <= 0) { for (int64_t i = 0; i < n; i++) out[i] = NAN; return; }
        for (int64_t i = 0; i + be <= n; i += be, p += bb) cpu_dequant_block(t, p, out + i);
        for (int64_t i = n - n % be; i < n; i++) out[i] = NAN; /* partial block: not a valid tensor */
        return;
    }
    }
}

/* roundf (halves away from zero) without the libm call, exact for |x| < 2^31:
 * truncation and x − t are exact there. */
static inline float q_round(float x) {
    float t = (float)(int32_t)x, r = x - t;
    if (r >= 0.5f) t += 1.f;
    else if (r <= -0.5f) t -= 1.f;
    return t;
}

/* ggml's reference quantizers (quantize_row_q8_0_ref / _q4_0_ref), bit for bit:
 * the scale is computed in f32 and stored as f16, the quants use the f32 scale. */
static void q_q8_0(const float *x, cpu_block_q8_0 *y) {
    float amax = 0;
    int bad = 0; /* inf or NaN in the block */
    for (int i = 0; i < 32; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax; /* = fmaxf for numbers, without the libm call */
        bad |= !(a <= FLT_MAX);
    }
    float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
    y->d = llmc_f32_to_f16(d);
    if (!bad) { /* |x·id| ≤ 127: branch-free roundf */
        for (int i = 0; i < 32; i++) {
            float v = x[i] * id, t = (float)(int32_t)v, r = v - t;
            y->qs[i] = (int8_t)(t + (float)(r >= 0.5f) - (float)(r <= -0.5f));
        }
        return;
    }
    for (int i = 0; i < 32; i++) { /* non-finite weights quantize to 0, never UB */
        float v = x[i] * id;
        y->qs[i] = (int8_t)(v >= -127.f && v <= 127.f ? q_round(v) : 0.f);
    }
}
static void q_q4_0(const float *x, cpu_block_q4_0 *y) {
    float amax = 0, max = 0;
    for (int i = 0; i < 32; i++)
        if (amax < fabsf(x[i])) { amax = fabsf(x[i]); max = x[i]; }
    float d = max / -8.f, id = d != 0.f ? 1.f / d : 0.f;
    y->d = llmc_f32_to_f16(d);
    for (int i = 0; i < 16; i++) {
        /* (int)(x·id + 8.5) clamped to [0, 15]; NaN (non-finite weights) → 0 */
        float fa = x[i] * id + 8.5f, fb = x[i + 16] * id + 8.5f;
        int a = fa >= 0.f ? (fa < 15.f ? (int)fa : 15) : 0, b = fb >= 0.f ? (fb < 15.f ? (int)fb : 15) : 0;
        y->qs[i] = (uint8_t)(a | (b << 4));
    }
}

bool llmc_cpu_quantize_row(llmc_dtype dt, const float *x, int64_t n, void *out) {
    if (n % 32) return false;
    if (dt == LLMC_DT_Q8_0)
        for (int64_t b = 0; b < n / 32; b++) q_q8_0(x + 32 * b, (cpu_block_q8_0 *)out + b);
    else if (dt == LLMC_DT_Q4_0)
        for (int64_t b = 0; b < n / 32; b++) q_q4_0(x + 32 * b, (cpu_block_q4_0 *)out + b);
    else return false;
    return true;
}
