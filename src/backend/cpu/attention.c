/* Attention for a group of query heads that share one K/V head (GQA): scores
 * q·k·scale over a range of cached positions, softmax, and the weighted sum of
 * V rows. The group shares every K and V row load. The dot products and the
 * accumulation run in AVX2+FMA vectors whenever a SIMD matmul family is active
 * (each needs AVX2+FMA; LLMC_CPU_KERNEL=scalar pins attention to portable C too),
 * else in portable C. Softmax is the same on both: f32 exp, the sum in double. */
#include "backend/cpu/ops.h"
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Gemma 2's attention soft-capping of the scaled scores: cap · tanh(s / cap). */
static void softcap_rows(int G, float *sc, int n, float cap) {
    if (!(cap > 0)) return;
    for (size_t i = 0; i < (size_t)G * (size_t)n; i++) sc[i] = cap * tanhf(sc[i] / cap);
}

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
                        float scale, float softcap, float *sc, float *const *out) {
    for (int j = 0; j < n; j++) {
        const float *k = K + (size_t)j * stride;
        for (int g = 0; g < G; g++) {
            float s = 0;
            for (int d = 0; d < hd; d++) s += q[g][d] * k[d];
            sc[(size_t)g * (size_t)n + (size_t)j] = s * scale;
        }
    }
    softcap_rows(G, sc, n, softcap);
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
                                    int n, float scale, float softcap, float *sc, float *const *out) {
    switch (G) {
    case 1: att_scores(1, q, K, stride, hd, n, scale, sc); break;
    case 2: att_scores(2, q, K, stride, hd, n, scale, sc); break;
    case 3: att_scores(3, q, K, stride, hd, n, scale, sc); break;
    default: att_scores(4, q, K, stride, hd, n, scale, sc); break;
    }
    softcap_rows(G, sc, n, softcap);
    softmax_rows(G, sc, n);
    for (int g = 0; g < G; g++) {
        const float *p = sc + (size_t)g * (size_t)n;
        int d0 = 0;
        for (; d0 + 64 <= hd; d0 += 64) att_pv(8, p, V, stride, n, d0, out[g]);
        for (; d0 < hd; d0 += 8) att_pv(1, p, V, stride, n, d0, out[g]);
    }
}

/* exp on 8 lanes (Cephes' expf: range reduction by ln 2, degree-5 polynomial; about
 * 1 ulp on [-87, 88]; lanes below come out tiny, callers mask them to 0). */
ATT_AVX2 static inline __m256 att_exp(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447505531f));
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

#define ATT_KB 16 /* keys per block */

/* One key block for RV·8 rows held transposed (row r = lane r%8 of vector r/8): every
 * step is vertical, so no horizontal sums and no transposed K or V. Qt, Ot: [hd][RV·8];
 * P: [ATT_KB][RV·8]; m, l: running max and sum per row. RV is a constant at each call. */
ATT_AVX2 static inline __attribute__((always_inline)) void att_rows_block(const int RV, const float *Qt, float *Ot, float *P, __m256 *m,
                                                                         __m256 *l, const __m256i *lov, const __m256i *hiv, const float *K,
                                                                         const float *V, size_t stride, int hd, int jb, int nk, float softcap) {
    const int W = RV * 8, KK = RV > 2 ? 2 : 4, DD = RV > 2 ? 2 : 4;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    /* scores, KK keys at a time (keys past nk read row jb and are masked below) */
    for (int k0 = 0; k0 < nk; k0 += KK) {
        __m256 acc[4][4];
        const float *kr[4];
        #pragma GCC unroll 4
        for (int kk = 0; kk < KK; kk++) {
            kr[kk] = K + (size_t)(k0 + kk < nk ? jb + k0 + kk : jb) * stride;
            #pragma GCC unroll 4
            for (int v = 0; v < RV; v++) acc[kk][v] = _mm256_setzero_ps();
        }
        for (int d = 0; d < hd; d++) {
            __m256 qv[4];
            #pragma GCC unroll 4
            for (int v = 0; v < RV; v++) qv[v] = _mm256_loadu_ps(Qt + (size_t)d * W + 8 * v);
            #pragma GCC unroll 4
            for (int kk = 0; kk < KK; kk++) {
                __m256 kb = _mm256_broadcast_ss(kr[kk] + d);
                #pragma GCC unroll 4
                for (int v = 0; v < RV; v++) acc[kk][v] = _mm256_fmadd_ps(kb, qv[v], acc[kk][v]);
            }
        }
        for (int kk = 0; kk < KK && k0 + kk < nk; kk++) {
            __m256i jv = _mm256_set1_epi32(jb + k0 + kk);
            #pragma GCC unroll 4
            for (int v = 0; v < RV; v++) {
                /* visible: lo <= j <= hi */
                __m256i bad = _mm256_or_si256(_mm256_cmpgt_epi32(lov[v], jv), _mm256_cmpgt_epi32(jv, hiv[v]));
                _mm256_storeu_ps(P + (size_t)(k0 + kk) * W + 8 * v, _mm256_blendv_ps(acc[kk][v], ninf, _mm256_castsi256_ps(bad)));
            }
        }
    }
    if (softcap > 0) /* Gemma 2: cap · tanh(s / cap); masked scores stay -inf */
        for (int i = 0; i < nk * W; i++)
            if (P[i] > -INFINITY) P[i] = softcap * tanhf(P[i] / softcap);
    /* online softmax per row lane */
    __m256 corr[4];
    #pragma GCC unroll 4
    for (int v = 0; v < RV; v++) {
        __m256 mn = m[v];
        for (int j = 0; j < nk; j++) mn = _mm256_max_ps(mn, _mm256_loadu_ps(P + (size_t)j * W + 8 * v));
        /* rows that saw nothing yet stay at -inf: compute against 0 there (their p and sums are 0) */
        __m256 ms = _mm256_blendv_ps(mn, _mm256_setzero_ps(), _mm256_cmp_ps(mn, ninf, _CMP_EQ_OQ));
        corr[v] = att_exp(_mm256_sub_ps(m[v], ms));
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < nk; j++) {
            __m256 sj = _mm256_loadu_ps(P + (size_t)j * W + 8 * v);
            __m256 pj = _mm256_and_ps(att_exp(_mm256_sub_ps(sj, ms)), _mm256_cmp_ps(sj, ninf, _CMP_NEQ_OQ));
            _mm256_storeu_ps(P + (size_t)j * W + 8 * v, pj);
            sum = _mm256_add_ps(sum, pj);
        }
        l[v] = _mm256_fmadd_ps(l[v], corr[v], sum);
        m[v] = mn;
    }
    /* Ot = Ot·corr + Σ_j V_j[d] · p_j, DD columns of V at a time */
    for (int d0 = 0; d0 < hd; d0 += DD) {
        __m256 acc[4][4];
        #pragma GCC unroll 4
        for (int dd = 0; dd < DD; dd++)
            #pragma GCC unroll 4
            for (int v = 0; v < RV; v++) acc[dd][v] = _mm256_mul_ps(_mm256_loadu_ps(Ot + (size_t)(d0 + dd) * W + 8 * v), corr[v]);
        for (int j = 0; j < nk; j++) {
            const float *vr = V + (size_t)(jb + j) * stride + d0;
            __m256 pv[4];
            #pragma GCC unroll 4
            for (int v = 0; v < RV; v++) pv[v] = _mm256_loadu_ps(P + (size_t)j * W + 8 * v);
            #pragma GCC unroll 4
            for (int dd = 0; dd < DD; dd++) {
                __m256 vb = _mm256_broadcast_ss(vr + dd);
                #pragma GCC unroll 4
                for (int v = 0; v < RV; v++) acc[dd][v] = _mm256_fmadd_ps(vb, pv[v], acc[dd][v]);
            }
        }
        #pragma GCC unroll 4
        for (int dd = 0; dd < DD; dd++)
            #pragma GCC unroll 4
            for (int v = 0; v < RV; v++) _mm256_storeu_ps(Ot + (size_t)(d0 + dd) * W + 8 * v, acc[dd][v]);
    }
}

/* hd a multiple of 8 (so of DD), R <= LLMC_ATT_MAX_ROWS. scratch: 2·hd·32 + 16·32 floats. */
ATT_AVX2 static void attention_rows_avx2(int R, const float *const *q, const int *lo, const int *hi, const float *K, const float *V,
                                         size_t stride, int hd, float scale, float softcap, float *scratch, float *const *out) {
    const int RV = (R + 7) / 8, W = RV * 8;
    float *Qt = scratch, *Ot = Qt + (size_t)hd * W, *P = Ot + (size_t)hd * W;
    int lp[LLMC_ATT_MAX_ROWS], hp[LLMC_ATT_MAX_ROWS];
    int kmin = lo[0], kmax = hi[0];
    for (int r = 0; r < W; r++) {
        lp[r] = r < R ? lo[r] : 0x7fffffff; /* padding rows see nothing */
        hp[r] = r < R ? hi[r] : -1;
        if (r < R && lo[r] < kmin) kmin = lo[r];
        if (r < R && hi[r] > kmax) kmax = hi[r];
        for (int d = 0; d < hd; d++) Qt[(size_t)d * W + r] = r < R ? q[r][d] * scale : 0.0f;
    }
    memset(Ot, 0, sizeof(float) * (size_t)hd * W);
    __m256 m[4], l[4];
    __m256i lov[4], hiv[4];
    for (int v = 0; v < RV; v++) {
        m[v] = _mm256_set1_ps(-INFINITY);
        l[v] = _mm256_setzero_ps();
        lov[v] = _mm256_loadu_si256((const __m256i *)(lp + 8 * v));
        hiv[v] = _mm256_loadu_si256((const __m256i *)(hp + 8 * v));
    }
    /* Blocks at multiples of ATT_KB: a row sees the same blocks whatever other rows share the call. */
    for (int jb = kmin / ATT_KB * ATT_KB; jb <= kmax; jb += ATT_KB) {
        int nk = kmax - jb + 1 < ATT_KB ? kmax - jb + 1 : ATT_KB;
        switch (RV) {
        case 1: att_rows_block(1, Qt, Ot, P, m, l, lov, hiv, K, V, stride, hd, jb, nk, softcap); break;
        case 2: att_rows_block(2, Qt, Ot, P, m, l, lov, hiv, K, V, stride, hd, jb, nk, softcap); break;
        case 3: att_rows_block(3, Qt, Ot, P, m, l, lov, hiv, K, V, stride, hd, jb, nk, softcap); break;
        default: att_rows_block(4, Qt, Ot, P, m, l, lov, hiv, K, V, stride, hd, jb, nk, softcap); break;
        }
    }
    float lr[LLMC_ATT_MAX_ROWS];
    for (int v = 0; v < RV; v++) _mm256_storeu_ps(lr + 8 * v, l[v]);
    for (int r = 0; r < R; r++) {
        float inv = lr[r] > 0 ? 1.0f / lr[r] : 0.0f;
        for (int d = 0; d < hd; d++) out[r][d] = Ot[(size_t)d * W + r] * inv;
    }
}

#endif

bool llmc_cpu_attention_rows_fast(int hd) {
#if defined(__x86_64__) && defined(__GNUC__)
    return hd % 8 == 0 && strcmp(llmc_cpu_kernel_name(), "scalar") != 0;
#else
    (void)hd;
    return false;
#endif
}

void llmc_cpu_attention_rows(int R, const float *const *q, const int *lo, const int *hi, const float *K, const float *V, size_t stride, int hd,
                             float scale, float softcap, float *scratch, float *const *out) {
    if (R <= 0) return;
#if defined(__x86_64__) && defined(__GNUC__)
    if (R <= LLMC_ATT_MAX_ROWS && llmc_cpu_attention_rows_fast(hd)) {
        attention_rows_avx2(R, q, lo, hi, K, V, stride, hd, scale, softcap, scratch, out);
        return;
    }
#endif
    /* Portable: one row at a time over its visible keys (scratch: hi - lo + 1 scores). */
    for (int r = 0; r < R; r++) {
        const float *qq[1] = {q[r]};
        float *oo[1] = {out[r]};
        size_t off = (size_t)lo[r] * stride;
        llmc_cpu_attention(1, qq, K + off, V + off, stride, hd, hi[r] - lo[r] + 1, scale, softcap, scratch, oo);
    }
}

void llmc_cpu_attention(int G, const float *const *q, const float *K, const float *V, size_t stride, int hd, int n,
                        float scale, float softcap, float *sc, float *const *out) {
    if (G <= 0 || n <= 0) return;
#if defined(__x86_64__) && defined(__GNUC__)
    if (hd % 8 == 0 && G <= LLMC_ATT_MAX_GROUP && strcmp(llmc_cpu_kernel_name(), "scalar") != 0) {
        attention_avx2(G, q, K, V, stride, hd, n, scale, softcap, sc, out);
        return;
    }
#endif
    attention_c(G, q, K, V, stride, hd, n, scale, softcap, sc, out);
}
