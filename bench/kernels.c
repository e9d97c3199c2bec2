/* Kernel microbenchmark: the machine's FMA peak and read bandwidth, then GEMM
 * throughput of llmc_cpu_matmul_act per weight dtype, activation mode, model
 * shape and batch size (rows of activations), as GFLOP/s (2·rows·cols·n over the
 * best time) and as a fraction of the f32-FMA peak. Not a test; numbers go to
 * BENCHMARKS.md. Build: bash bench/kernels.sh [build-dir]
 * Run: build/bench_kernels [threads]. Environment (all optional):
 *   KERNEL=avx2|avx512|amx|scalar  one family (default: the automatic one)
 *   DTYPE=q4_1,q8_0,...            weight dtypes (default bf16,f32,q8_0,q4_0,q4_1)
 *   ACT=precise,fast,inv,invfast,invdq  activation modes (inv = LLMC_ACT_INVARIANT, what the
 *                                  serving engine runs; invdq adds LLMC_ACT_DEQUANT, its
 *                                  --batch-f32; default precise,fast,inv)
 *   NS=1,2,4,8,16,32,64,512        batch sizes (of 1 2 4 8 16 32 64 128 256 512)
 *   SHAPES=up,down,head,up3b,down3b  weight shapes (default up,down,up3b,down3b)
 *   MIN_S=0.25                     seconds per measurement (best of the repetitions)
 *   ONLY_PEAK=1                    print the peak and bandwidth and stop */
#include "backend/cpu/ops.h"
#include "formats/tensor.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static uint32_t rs = 12345;
static uint32_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 17; rs ^= rs << 5; return rs; }

static void *make_w(llmc_dtype t, int64_t rows, int64_t cols, size_t *nb) {
    size_t n = llmc_dtype_row_bytes(t, cols) * rows;
    uint8_t *p = aligned_alloc(64, (n + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
    /* realistic magnitudes: denormals would make float paths look slow */
    if (t == LLMC_DT_F32)
        for (size_t i = 0; i < n / 4; i++) ((float *)p)[i] = (int)(rnd() % 2001 - 1000) / 1e4f;
    if (t == LLMC_DT_F16 || t == LLMC_DT_BF16)
        for (size_t i = 0; i < n / 2; i++) {
            float f = (int)(rnd() % 2001 - 1000) / 1e4f;
            ((uint16_t *)p)[i] = t == LLMC_DT_F16 ? llmc_f32_to_f16(f) : llmc_f32_to_bf16(f);
        }
    size_t bb = llmc_dtype_block_bytes(t);
    if (llmc_dtype_block_elems(t) > 1)
        for (size_t b = 0; b < n / bb; b++) {
            uint16_t h = llmc_f32_to_f16(0.01f), hm = llmc_f32_to_f16(-0.05f);
            if (bb == 210) memcpy(p + b * bb + 208, &h, 2);
            else { memcpy(p + b * bb, &h, 2); if (t == LLMC_DT_Q4_1 || t == LLMC_DT_Q4_K) memcpy(p + b * bb + 2, &hm, 2); }
        }
    *nb = n;
    return p;
}

typedef struct { float *a; int64_t n; double *out; } bw_ctx;
static void bw_task(void *p, int64_t b, int64_t e, int tid) {
    bw_ctx *c = p;
    double s = 0;
    for (int64_t i = b * 4096; i < e * 4096 && i < c->n; i += 16)
        s += c->a[i] + c->a[i + 4] + c->a[i + 8] + c->a[i + 12];
    c->out[tid] += s;
}

/* ---- peak: a pure FMA loop, 10 independent 8-lane chains per thread (enough to cover
 * the FMA latency on two pipes), so flops / time is the f32 FMA peak of the cores. */
#define PEAK_ITERS 20000000LL
typedef struct { double sink[256]; bool zmm; } peak_ctx;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* 10 chains of FMAs on vector type V (written out: at -O2 an array of accumulators would live in
 * memory); NAME(iters, seed) returns lane 0 of their sum. */
#define PEAK_LOOP(NAME, TARGET, V, SET1, FMA, ADD, LANE0)                                                          \
    __attribute__((target(TARGET), noinline)) static float NAME(int64_t iters, float seed) {                     \
        V m = SET1(0.999999f), c = SET1(1e-7f);                                                                  \
        V a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3), a4 = SET1(seed + 4);    \
        V a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7), a8 = SET1(seed + 8), a9 = SET1(seed + 9); \
        for (int64_t i = 0; i < iters; i++) {                                                                    \
            a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c); a4 = FMA(a4, m, c);  \
            a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c); a8 = FMA(a8, m, c); a9 = FMA(a9, m, c);  \
        }                                                                                                        \
        return LANE0(ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), ADD(a8, a9)));        \
    }
__attribute__((target("avx2"))) static inline float peak_lane0_256(__m256 v) { return _mm256_cvtss_f32(v); }
__attribute__((target("avx512f"))) static inline float peak_lane0_512(__m512 v) { return _mm512_cvtss_f32(v); }
PEAK_LOOP(peak_loop, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, peak_lane0_256)
static bool peak_ok(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#define PEAK_FLOPS_PER_ITER (10.0 * 8 * 2)
/* The same with 16-lane zmm chains: the AVX-512 families' peak (twice the ymm one on cores with
 * two 512-bit FMA pipes, the same on cores that split zmm over two 256-bit pipes). */
PEAK_LOOP(peak_loop512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, peak_lane0_512)
static bool peak512_ok(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx512f"); }
#else
static float peak_loop(int64_t iters, float seed) { (void)iters; return seed; }
static bool peak_ok(void) { return false; }
static float peak_loop512(int64_t iters, float seed) { (void)iters; return seed; }
static bool peak512_ok(void) { return false; }
#define PEAK_FLOPS_PER_ITER 0.0
#endif
static void peak_task(void *p, int64_t b, int64_t e, int tid) {
    peak_ctx *c = p;
    for (int64_t i = b; i < e; i++) c->sink[tid & 255] += (c->zmm ? peak_loop512 : peak_loop)(PEAK_ITERS / 8, (float)i);
}
/* GFLOP/s of all threads together: best of 5 runs of one loop per thread (zmm: the 16-lane loop). */
static double measure_peak(llmc_threadpool *tp, int nth, bool zmm) {
    if (!(zmm ? peak512_ok() : peak_ok())) return 0;
    peak_ctx c = {{0}, zmm};
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double a = now();
        llmc_threadpool_run(tp, peak_task, &c, nth);
        double e = now() - a;
        if (e < best) best = e;
    }
    return nth * (PEAK_ITERS / 8) * PEAK_FLOPS_PER_ITER * (zmm ? 2 : 1) / best / 1e9;
}

static double bench_mm(llmc_threadpool *tp, llmc_dtype t, int64_t rows, int64_t cols, int n_tok, llmc_act_mode act,
                       double min_s) {
    size_t nb;
    void *w = make_w(t, rows, cols, &nb);
    llmc_tensor W = {.name = "w", .dtype = t, .ndim = 2, .shape = {rows, cols}, .data = w, .nbytes = nb};
    float *x = malloc(sizeof(float) * cols * n_tok), *y = malloc(sizeof(float) * rows * n_tok);
    for (int64_t i = 0; i < cols * n_tok; i++) x[i] = (int)(rnd() % 2001 - 1000) / 1000.f;
    llmc_cpu_matmul_act(tp, &W, NULL, x, n_tok, y, act);
    /* best of many (at least 3): the minimum is the least disturbed by other processes */
    double t0 = now(), best = 1e30;
    int reps = 0;
    do {
        double a = now();
        llmc_cpu_matmul_act(tp, &W, NULL, x, n_tok, y, act);
        double e = now() - a;
        if (e < best) best = e;
        reps++;
    } while (now() - t0 < min_s || reps < 3);
    free(w); free(x); free(y);
    return best;
}

/* Is name in the comma-separated list (NULL list: def decides)? */
static bool listed(const char *list, const char *name, bool def) {
    if (!list) return def;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncasecmp(p, name, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

int main(int argc, char **argv) {
    int nth = argc > 1 ? atoi(argv[1]) : 0;
    llmc_threadpool *tp = llmc_threadpool_new(nth);
    nth = llmc_threadpool_size(tp);
    const char *kernel = getenv("KERNEL");
    if (kernel && !llmc_cpu_force_kernel(kernel)) {
        fprintf(stderr, "kernel family %s not available here\n", kernel);
        return 1;
    }
    double peak = measure_peak(tp, nth, false), peak512 = measure_peak(tp, nth, true);
    printf("threads %d, kernel %s, f32 FMA peak %.1f GFLOP/s on ymm (%.2f GHz effective per core at 32 flop/cycle)", nth,
           llmc_cpu_kernel_name(), peak, peak / nth / 32.0);
    if (peak512 > 0) printf(", %.1f GFLOP/s on zmm (%.1f flop/cycle at that clock)", peak512, peak512 / nth / (peak / nth / 32.0));
    printf("\n");
    /* The % column is against the peak of the family's widest vectors. */
    const char *fam = llmc_cpu_kernel_name();
    if (peak512 > 0 && (!strcmp(fam, "avx512") || !strcmp(fam, "amx"))) peak = peak512;
    /* read bandwidth over 512 MB */
    int64_t n = 128LL << 20;
    float *a = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) a[i] = 1.f;
    double outs[256] = {0};
    bw_ctx bc = {a, n, outs};
    llmc_threadpool_run(tp, bw_task, &bc, n / 4096);
    double best_bw = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        llmc_threadpool_run(tp, bw_task, &bc, n / 4096);
        double e = now() - t0;
        if (e < best_bw) best_bw = e;
    }
    printf("read bandwidth: %.1f GB/s\n", n * 4 / best_bw / 1e9);
    free(a);
    if (getenv("ONLY_PEAK")) return 0;
    fflush(stdout);

    static const struct { const char *name; int64_t rows, cols; } shapes[] = {
        {"up", 1536, 576}, {"down", 576, 1536}, {"head", 49152, 576}, {"up3b", 8192, 3072}, {"down3b", 3072, 8192}};
    static const struct { const char *name; int mode; } acts[] = {
        {"precise", LLMC_ACT_PRECISE}, {"fast", LLMC_ACT_FAST}, {"inv", LLMC_ACT_PRECISE | LLMC_ACT_INVARIANT},
        {"invfast", LLMC_ACT_FAST | LLMC_ACT_INVARIANT}, {"invdq", LLMC_ACT_PRECISE | LLMC_ACT_INVARIANT | LLMC_ACT_DEQUANT}};
    static const llmc_dtype dts[] = {LLMC_DT_BF16, LLMC_DT_F32, LLMC_DT_Q8_0, LLMC_DT_Q4_0, LLMC_DT_Q4_1,
                                     LLMC_DT_F16, LLMC_DT_Q4_K, LLMC_DT_Q6_K};
    static const int ns[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
    const char *env_dt = getenv("DTYPE"), *env_act = getenv("ACT"), *env_ns = getenv("NS"), *env_sh = getenv("SHAPES");
    const double min_s = getenv("MIN_S") ? atof(getenv("MIN_S")) : 0.25;
    printf("%-7s %-8s %-6s %5s %5s %4s %10s %9s %6s\n", "dtype", "act", "shape", "rows", "cols", "n", "ms", "GFLOP/s", "peak");
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        if (!listed(env_dt, llmc_dtype_name(dts[d]), d < 5)) continue;
        bool quant = llmc_dtype_block_elems(dts[d]) > 1;
        for (size_t m = 0; m < sizeof acts / sizeof *acts; m++) {
            if (!listed(env_act, acts[m].name, m < 3)) continue;
            if (!quant && (m == 1 || m == 4)) continue; /* float weights: fast = precise except on AMX bf16 */
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                if (!listed(env_sh, shapes[s].name, s != 2)) continue;
                for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
                    char nbuf[16];
                    snprintf(nbuf, sizeof nbuf, "%d", ns[k]);
                    if (!listed(env_ns, nbuf, true)) continue;
                    int64_t rows = shapes[s].rows, cols = shapes[s].cols;
                    double tm = bench_mm(tp, dts[d], rows, cols, ns[k], (llmc_act_mode)acts[m].mode, min_s);
                    double gf = 2.0 * rows * cols * ns[k] / tm / 1e9;
                    printf("%-7s %-8s %-6s %5lld %5lld %4d %10.4f %9.1f %5.1f%%\n", llmc_dtype_name(dts[d]), acts[m].name,
                           shapes[s].name, (long long)rows, (long long)cols, ns[k], tm * 1e3, gf, peak > 0 ? 100 * gf / peak : 0);
                    fflush(stdout);
                }
            }
        }
    }
    llmc_threadpool_free(tp);
    return 0;
}
