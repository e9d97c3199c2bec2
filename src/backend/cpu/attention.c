/* Attention for a group of query heads that share one K/V head (GQA): scores
 * q·k·scale over a range of cached positions, softmax, and the weighted sum of
 * V rows. The group shares every K and V row load. The dot products and the
 * accumulation run in AVX2+FMA vectors whenever a SIMD matmul family is active
 * (each needs AVX2+FMA; LLMC_CPU_KERNEL=scalar pins attention to portable C too),
 * else in portable C. Softmax is the same on both: f32 exp, the sum in double. */
#include "backend/cpu/ops.h"
#include <math.h>
#include <string.h>

static void softmax_rows(int G, float *sc, int n) {
    for (int g = 0; g < G; g++) {
        float *s = sc + (size_t)g * (size_t)n, mx = -INFINITY;
        for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
        double sum = 0;
        for (int j = 0; j < n; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < n; j++) s[j] *= inv;
    }
}

static void attention_c(int G, const float *const *q, const float *K, const float *V, size_t stride, int hd, int n,
                        float scale, float *sc, float *const *out) {
    for (int j = 0; j < n; j++) {
        const float *k = K + (size_t)j * stride;
        for (int g = 0; g < G; g++) {
            float s = 0;
            for (int d = 0; d < hd; d++) s += q[g][d] * k[d];
            sc[(size_t)g * (size_t)n + (size_t)j] = s * scale;
        }
    }
    softmax_rows(G, sc, n);
    for (int g = 0; g < G; g++) {
        memset(out[g], 0, (size_t)hd * sizeof(float));
        for (int j = 0; j < n; j++) {
            const float *v = V + (size_t)j * stride;
            float p = sc[(size_t)g * (size_t)n + (size_t)j];
            for (int d = 0; d < hd; d++) out[g][d] += p * v[d];
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ATT_AVX2 __attribute__((target("avx2,fma")))

ATT_AVX2 static inline float att_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Scores for G queries (a compile-time constant at each call, so the 2·G
 * accumulators stay in registers): two keys a step, 2·G independent FMA chains. */
ATT_AVX2 static inline __attribute__((always_inline)) void att_scores(const int G, const float *const *q, const float *K,
                                                                       size_t stride, int hd, int n, float scale,
                                                                       float *sc) {
    int j = 0;
    for (; j + 2 <= n; j += 2) {
        const float *k0 = K + (size_t)j * stride, *k1 = k0 + stride;
        __m256 a0[LLMC_ATT_MAX_GROUP], a1[LLMC_ATT_MAX_GROUP];
        for (int g = 0; g < G; g++) a0[g] = a1[g] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d += 8) {
            __m256 kv0 = _mm256_loadu_ps(k0 + d), kv1 = _mm256_loadu_ps(k1 + d);
            for (int g = 0; g < G; g++) {
                __m256 qv = _mm256_loadu_ps(q[g] + d);
                a0[g] = _mm256_fmadd_ps(qv, kv0, a0[g]);
                a1[g] = _mm256_fmadd_ps(qv, kv1, a1[g]);
            }
        }
        for (int g = 0; g < G; g++) {
            sc[(size_t)g * (size_t)n + (size_t)j] = att_hsum(a0[g]) * scale;
            sc[(size_t)g * (size_t)n + (size_t)j + 1] = att_hsum(a1[g]) * scale;
        }
    }
    for (; j < n; j++) {
        const float *k0 = K + (size_t)j * stride;
        for (int g = 0; g < G; g++) {
            __m256 a = _mm256_setzero_ps();
            for (int d = 0; d < hd; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q[g] + d), _mm256_loadu_ps(k0 + d), a);
            sc[(size_t)g * (size_t)n + (size_t)j] = att_hsum(a) * scale;
        }
    }
}

/* out = Σ_j p_j · V_j for NV·8 lanes starting at column d0 (NV constant at each call). */
ATT_AVX2 static inline __attribute__((always_inline)) void att_pv(const int NV, const float *p, const float *V,
                                                                   size_t stride, int n, int d0, float *out) {
    __m256 acc[8];
    for (int u = 0; u < NV; u++) acc[u] = _mm256_setzero_ps();
    for (int j = 0; j < n; j++) {
        const float *v = V + (size_t)j * stride + d0;
        __m256 pv = _mm256_set1_ps(p[j]);
        for (int u = 0; u < NV; u++) acc[u] = _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + 8 * u), acc[u]);
    }
    for (int u = 0; u < NV; u++) _mm256_storeu_ps(out + d0 + 8 * u, acc[u]);
}

/* hd a multiple of 8, G <= LLMC_ATT_MAX_GROUP. */
ATT_AVX2 static void attention_avx2(int G, const float *const *q, const float *K, const float *V, size_t stride, int hd,
                                    int n, float scale, float *sc, float *const *out) {
    switch (G) {
    case 1: att_scores(1, q, K, stride, hd, n, scale, sc); break;
    case 2: att_scores(2, q, K, stride, hd, n, scale, sc); break;
    case 3: att_scores(3, q, K, stride, hd, n, scale, sc); break;
    default: att_scores(4, q, K, stride, hd, n, scale, sc); break;
    }
    softmax_rows(G, sc, n);
    for (int g = 0; g < G; g++) {
        const float *p = sc + (size_t)g * (size_t)n;
        int d0 = 0;
        for (; d0 + 64 <= hd; d0 += 64) att_pv(8, p, V, stride, n, d0, out[g]);
        for (; d0 < hd; d0 += 8) att_pv(1, p, V, stride, n, d0, out[g]);
    }
}

#endif

void llmc_cpu_attention(int G, const float *const *q, const float *K, const float *V, size_t stride, int hd, int n,
                        float scale, float *sc, float *const *out) {
    if (G <= 0 || n <= 0) return;
#if defined(__x86_64__) && defined(__GNUC__)
    if (hd % 8 == 0 && G <= LLMC_ATT_MAX_GROUP && strcmp(llmc_cpu_kernel_name(), "scalar") != 0) {
        attention_avx2(G, q, K, V, stride, hd, n, scale, sc, out);
        return;
    }
#endif
    attention_c(G, q, K, V, stride, hd, n, scale, sc, out);
}
