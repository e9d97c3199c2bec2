/* CPU backend: dequantization against the gguf Python package (fixtures in
 * tests/golden/quant/), matmul of every dtype on every kernel family this CPU
 * supports against a double-precision dot product of the dequantized rows (and, in the
 * batch-invariant modes, against the same token alone), the thread pool, embed/get_row. */
#include "test.h"
#include "backend/cpu/ops.h"
#include <stdint.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float frnd(void) { return (float)((rnd() & 0xFFFFFF) / (double)0x1000000 * 2.0 - 1.0); }

static void *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(len > 0 ? (size_t)len : 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); p = NULL; }
    fclose(f);
    *n = (size_t)len;
    return p;
}

static int dtype_by_name(const char *s) {
    for (int t = 0; t < LLMC_DT_COUNT; t++)
        if (strcmp(llmc_dtype_name((llmc_dtype)t), s) == 0) return t;
    return -1;
}

/* Random but valid weights: random bytes with the f16 scale fields made finite. */
static void *random_weights(llmc_dtype t, int64_t rows, int64_t cols, size_t *nbytes) {
    size_t rb = llmc_dtype_row_bytes(t, cols), n = rb * (size_t)rows;
    uint8_t *p = malloc(n);
    *nbytes = n;
    if (t == LLMC_DT_F32) {
        float *f = (float *)p;
        for (size_t i = 0; i < n / 4; i++) f[i] = frnd();
        return p;
    }
    if (t == LLMC_DT_F16 || t == LLMC_DT_BF16) {
        uint16_t *h = (uint16_t *)p;
        for (size_t i = 0; i < n / 2; i++) h[i] = t == LLMC_DT_F16 ? llmc_f32_to_f16(frnd()) : llmc_f32_to_bf16(frnd());
        return p;
    }
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
    size_t bb = llmc_dtype_block_bytes(t);
    int offs[2] = {0, -1};
    float scale = 0.01f;
    switch (t) {
    case LLMC_DT_Q4_1: case LLMC_DT_Q4_K: case LLMC_DT_Q5_K: offs[1] = 2; break;
    case LLMC_DT_Q6_K: offs[0] = 208; scale = 0.001f; break;
    default: break;
    }
    for (size_t b = 0; b < n / bb; b++)
        for (int k = 0; k < 2; k++)
            if (offs[k] >= 0) {
                uint16_t h = llmc_f32_to_f16(scale * frnd());
                memcpy(p + b * bb + offs[k], &h, 2);
            }
    return p;
}

static void test_dequant_fixtures(void) {
    const char *src = test_env("LLMC_SOURCE_DIR", ".");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/quant/manifest.txt", src);
    FILE *mf = fopen(path, "r");
    CHECK_MSG(mf != NULL, "cannot open %s", path);
    if (!mf) return;
    char name[32];
    long rows, cols;
    int seen = 0;
    while (fscanf(mf, "%31s %ld %ld", name, &rows, &cols) == 3) {
        int t = dtype_by_name(name);
        CHECK_MSG(t >= 0, "unknown dtype %s", name);
        if (t < 0) continue;
        size_t nb, nf;
        snprintf(path, sizeof path, "%s/tests/golden/quant/%s.bin", src, name);
        void *raw = read_file(path, &nb);
        snprintf(path, sizeof path, "%s/tests/golden/quant/%s.f32", src, name);
        float *ref = read_file(path, &nf);
        CHECK_MSG(raw && ref, "fixture %s missing", name);
        if (!raw || !ref) { free(raw); free(ref); continue; }
        llmc_tensor W = {.name = name, .dtype = (llmc_dtype)t, .ndim = 2, .shape = {rows, cols}, .data = raw, .nbytes = nb};
        llmc_error err;
        CHECK_INT(llmc_cpu_check_weight(&W, &err), LLMC_OK);
        CHECK_INT(nf, (size_t)(rows * cols * 4));
        float *out = malloc(nf), *row = malloc((size_t)cols * 4);
        llmc_cpu_dequantize(&W, out);
        int bad = 0;
        for (long i = 0; i < rows * cols; i++) {
            float a = out[i], b = ref[i];
            if (!(fabsf(a - b) <= 1e-6f * fabsf(b))) {
                if (bad++ < 3) fprintf(stderr, "%s[%ld]: got %.9g want %.9g\n", name, i, a, b);
            }
        }
        CHECK_MSG(bad == 0, "%s: %d elements differ from the gguf reference", name, bad);
        for (long r = 0; r < rows; r++) {
            llmc_cpu_get_row(&W, r, row);
            CHECK_MSG(memcmp(row, out + r * cols, (size_t)cols * 4) == 0, "%s get_row %ld", name, r);
        }
        int32_t ids[3] = {(int32_t)rows - 1, 0, 2};
        float *emb = malloc(3 * (size_t)cols * 4);
        llmc_cpu_embed(&W, ids, 3, emb);
        for (int k = 0; k < 3; k++)
            CHECK_MSG(memcmp(emb + k * cols, out + ids[k] * cols, (size_t)cols * 4) == 0, "%s embed %d", name, k);
        free(emb); free(out); free(row); free(raw); free(ref);
        seen++;
    }
    fclose(mf);
    CHECK_INT(seen, LLMC_DT_COUNT);
}

/* Load-time quantization must match the gguf package's quantizer byte for byte:
 * the Q8_0/Q4_0 fixtures are gguf.quants.quantize() of the F32 fixture. */
static void test_quantize_row(void) {
    const char *src = test_env("LLMC_SOURCE_DIR", ".");
    char path[4096];
    size_t nx, n8, n4;
    snprintf(path, sizeof path, "%s/tests/golden/quant/F32.bin", src);
    float *x = read_file(path, &nx);
    snprintf(path, sizeof path, "%s/tests/golden/quant/Q8_0.bin", src);
    uint8_t *q8 = read_file(path, &n8);
    snprintf(path, sizeof path, "%s/tests/golden/quant/Q4_0.bin", src);
    uint8_t *q4 = read_file(path, &n4);
    CHECK(x && q8 && q4);
    if (x && q8 && q4) {
        int64_t n = (int64_t)(nx / 4);
        uint8_t *o = malloc(n8 > n4 ? n8 : n4);
        CHECK(llmc_cpu_quantize_row(LLMC_DT_Q8_0, x, n, o));
        CHECK_MSG(memcmp(o, q8, n8) == 0, "Q8_0 quantization differs from gguf.quants.quantize");
        CHECK(llmc_cpu_quantize_row(LLMC_DT_Q4_0, x, n, o));
        CHECK_MSG(memcmp(o, q4, n4) == 0, "Q4_0 quantization differs from gguf.quants.quantize");
        CHECK(!llmc_cpu_quantize_row(LLMC_DT_Q4_K, x, n, o));
        CHECK(!llmc_cpu_quantize_row(LLMC_DT_Q8_0, x, 31, o));
        free(o);
    }
    free(x); free(q8); free(q4);
}

static void test_check_weight(void) {
    uint8_t buf[64] = {0};
    llmc_error err;
    llmc_tensor W = {.name = "w", .dtype = LLMC_DT_Q4_0, .ndim = 2, .shape = {1, 33}, .data = buf, .nbytes = 64};
    CHECK(llmc_cpu_check_weight(&W, &err) == LLMC_ERR_FORMAT); /* not a block multiple */
    W.shape[1] = 64; W.shape[0] = 2;
    CHECK(llmc_cpu_check_weight(&W, &err) == LLMC_ERR_FORMAT); /* 72 bytes needed, 64 given */
    W.shape[0] = 1;
    CHECK(llmc_cpu_check_weight(&W, &err) == LLMC_OK);
    W.dtype = (llmc_dtype)99;
    CHECK(llmc_cpu_check_weight(&W, &err) == LLMC_ERR_UNSUPPORTED);
}

typedef struct { int *hits; } tp_ctx;
static void tp_task(void *p, int64_t b, int64_t e, int tid) {
    tp_ctx *c = p;
    for (int64_t i = b; i < e; i++) __atomic_fetch_add(&c->hits[i], 1 + tid * 0, __ATOMIC_RELAXED);
}
static void test_threadpool(void) {
    for (int nt = 1; nt <= 4; nt++) {
        llmc_threadpool *tp = llmc_threadpool_new(nt);
        CHECK(tp != NULL);
        CHECK_INT(llmc_threadpool_size(tp), nt);
        int hits[1000];
        int ok = 1;
        for (int it = 0; it < 300; it++) {
            int n = 1 + (it * 37) % 1000;
            memset(hits, 0, sizeof hits);
            tp_ctx c = {hits};
            llmc_threadpool_run(tp, tp_task, &c, n);
            for (int i = 0; i < n; i++) ok &= hits[i] == 1;
            for (int i = n; i < 1000; i++) ok &= hits[i] == 0;
        }
        CHECK_MSG(ok, "threadpool with %d threads visited an index not exactly once", nt);
        llmc_threadpool_free(tp);
    }
    llmc_threadpool_free(NULL);
}

static bool is_quant(llmc_dtype t) { return llmc_dtype_block_elems(t) > 1; }

/* y vs a double reference. Float paths: reordering tolerance. Quantized-weight
 * paths may quantize activations to 8 bits per 32-block (amax/127 steps): the
 * bound adds, per block, sum|w| * half a step. LLMC_ACT_PRECISE quantizes the
 * rounding residual (at most half a step) again, so its step is 254x finer. */
static int check_matmul(const char *kname, llmc_dtype t, const float *Wf, const float *bias, const float *x,
                        int64_t rows, int64_t cols, int n_tok, const float *y, llmc_act_mode act) {
    int bad = 0;
    for (int tok = 0; tok < n_tok; tok++)
        for (int64_t r = 0; r < rows; r++) {
            const float *w = Wf + r * cols, *xt = x + tok * cols;
            double s = 0, mag = 0, qerr = 0;
            for (int64_t c = 0; c < cols; c++) { s += (double)w[c] * xt[c]; mag += fabs((double)w[c] * xt[c]); }
            if (is_quant(t))
                for (int64_t b = 0; b < cols; b += 32) {
                    double amax = 0, sw = 0;
                    for (int k = 0; k < 32; k++) { amax = fmax(amax, fabs(xt[b + k])); sw += fabs(w[b + k]); }
                    qerr += sw * amax / (act == LLMC_ACT_FAST ? 127.0 : 127.0 * 254.0) * 0.5;
                }
            if (bias) s += bias[r];
            /* LLMC_ACT_FAST on bf16 weights may round activations to bf16 (2^-9 relative) */
            double bf = act == LLMC_ACT_FAST && t == LLMC_DT_BF16 ? mag / 256.0 : 0.0;
            double got = y[tok * rows + r], tol = 2e-5 * mag + 1.01 * qerr + bf + 1e-6;
            if (!(fabs(got - s) <= tol)) {
                if (bad++ < 3)
                    fprintf(stderr, "[%s %s %lldx%lld n_tok=%d] y[%d][%lld] = %.8g, want %.8g (tol %.3g)\n", kname,
                            llmc_dtype_name(t), (long long)rows, (long long)cols, n_tok, tok, (long long)r, got, s, tol);
            }
        }
    return bad;
}

static void test_matmul(void) {
    static const char *kernels[] = {"scalar", "avx2", "avx512", "amx"};
    /* 32-block formats also get rows of 576 (18 blocks: a pair after the groups of 8),
     * 608 (19: an odd last block) and 96 (3: no full group); float rows of 100 have a
     * tail shorter than a vector */
    static const int64_t shapes[][2] = {{6, 512}, {67, 768}, {1, 256}, {131, 1536}, {33, 576}, {5, 608}, {9, 96}, {12, 100},
                                         {48, 576}, {16, 64}}; /* whole 16-row tiles (AMX) */
    /* 300: more tokens than one work item of the AVX-512 panel mode holds (256), on small shapes */
    static const int ntoks[] = {1, 2, 5, 17, 40, 300};
    llmc_threadpool *tps[3] = {NULL, llmc_threadpool_new(2), llmc_threadpool_new(3)};
    for (size_t k = 0; k < sizeof kernels / sizeof *kernels; k++) {
        if (!llmc_cpu_force_kernel(kernels[k])) {
            fprintf(stderr, "note: kernel family %s not available on this CPU/build; not tested\n", kernels[k]);
            continue;
        }
        CHECK_STR(llmc_cpu_kernel_name(), kernels[k]);
        for (int t = 0; t < LLMC_DT_COUNT; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                int64_t rows = shapes[s][0], cols = shapes[s][1];
                if (cols % llmc_dtype_block_elems((llmc_dtype)t)) continue;
                size_t nb;
                void *raw = random_weights((llmc_dtype)t, rows, cols, &nb);
                llmc_tensor W = {.name = "w", .dtype = (llmc_dtype)t, .ndim = 2, .shape = {rows, cols}, .data = raw, .nbytes = nb};
                float *Wf = malloc((size_t)(rows * cols) * 4);
                llmc_cpu_dequantize(&W, Wf);
                float *bias = malloc((size_t)rows * 4);
                for (int64_t r = 0; r < rows; r++) bias[r] = frnd();
                llmc_tensor B = {.name = "b", .dtype = LLMC_DT_F32, .ndim = 1, .shape = {rows}, .data = bias, .nbytes = (size_t)rows * 4};
                for (size_t nt = 0; nt < sizeof ntoks / sizeof *ntoks; nt++) {
                    int n_tok = ntoks[nt];
                    if (n_tok > 40 && rows * cols > 48 * 576) continue;
                    float *x = malloc((size_t)(n_tok * cols) * 4), *y = malloc((size_t)(n_tok * rows) * 4);
                    for (int64_t i = 0; i < n_tok * cols; i++) x[i] = frnd() * ((i % 97) == 0 ? 8.f : 1.f);
                    llmc_threadpool *tp = tps[(s + nt) % 3];
                    const llmc_tensor *bp = (nt & 1) ? &B : NULL;
                    for (int act = 0; act < 2; act++) {
                        for (int64_t i = 0; i < n_tok * rows; i++) y[i] = NAN;
                        if (act == 0) llmc_cpu_matmul(tp, &W, bp, x, n_tok, y); /* the default: precise */
                        else llmc_cpu_matmul_act(tp, &W, bp, x, n_tok, y, LLMC_ACT_FAST);
                        int bad = check_matmul(kernels[k], (llmc_dtype)t, Wf, bp ? bias : NULL, x, rows, cols, n_tok, y,
                                               act ? LLMC_ACT_FAST : LLMC_ACT_PRECISE);
                        CHECK_MSG(bad == 0, "%s %s %lldx%lld n_tok=%d act=%s: %d outputs off", kernels[k],
                                  llmc_dtype_name((llmc_dtype)t), (long long)rows, (long long)cols, n_tok,
                                  act ? "fast" : "precise", bad);
                    }
                    free(x); free(y);
                }
                free(Wf); free(bias); free(raw);
            }
    }
    CHECK(llmc_cpu_force_kernel("auto"));
    CHECK(!llmc_cpu_force_kernel("no-such-kernel"));
    fprintf(stderr, "auto kernel: %s\n", llmc_cpu_kernel_name());
    for (int i = 0; i < 3; i++) llmc_threadpool_free(tps[i]);
}

/* llmc_cpu_matmul_n (q/k/v, gate/up in one pass) gives exactly the separate products,
 * for every kernel family, both activation modes, decode and prefill sizes, and a
 * mixed-dtype set (which takes the per-matrix fallback). */
static void test_matmul_n(void) {
    static const char *kernels[] = {"scalar", "avx2", "avx512", "amx"};
    static const llmc_dtype dts[] = {LLMC_DT_Q4_1, LLMC_DT_Q8_0, LLMC_DT_Q4_K, LLMC_DT_BF16, LLMC_DT_F32};
    static const int64_t rows[3] = {33, 8, 67};
    const int64_t cols = 768;
    llmc_threadpool *tp = llmc_threadpool_new(2);
    for (size_t k = 0; k < sizeof kernels / sizeof *kernels; k++) {
        if (!llmc_cpu_force_kernel(kernels[k])) continue;
        for (size_t d = 0; d <= sizeof dts / sizeof *dts; d++) {
            llmc_tensor W[3];
            void *raw[3];
            for (int m = 0; m < 3; m++) { /* d == count: mixed dtypes */
                llmc_dtype t = d < sizeof dts / sizeof *dts ? dts[d] : dts[m];
                size_t nb;
                raw[m] = random_weights(t, rows[m], cols, &nb);
                W[m] = (llmc_tensor){.name = "w", .dtype = t, .ndim = 2, .shape = {rows[m], cols}, .data = raw[m], .nbytes = nb};
            }
            const llmc_tensor *Wp[3] = {&W[0], &W[1], &W[2]}, *bp[3] = {NULL, NULL, NULL};
            for (int n_tok = 1; n_tok <= 17; n_tok += 16)
                for (int act = 0; act < 2; act++) {
                    float *x = malloc(sizeof(float) * (size_t)(n_tok * cols)), *ya[3], *yb[3];
                    for (int64_t i = 0; i < n_tok * cols; i++) x[i] = frnd();
                    for (int m = 0; m < 3; m++) {
                        ya[m] = malloc(sizeof(float) * (size_t)(n_tok * rows[m]));
                        yb[m] = malloc(sizeof(float) * (size_t)(n_tok * rows[m]));
                        llmc_cpu_matmul_act(tp, Wp[m], NULL, x, n_tok, ya[m], (llmc_act_mode)act);
                    }
                    llmc_cpu_matmul_n(tp, 3, Wp, bp, x, n_tok, yb, (llmc_act_mode)act);
                    for (int m = 0; m < 3; m++) {
                        CHECK_MSG(memcmp(ya[m], yb[m], sizeof(float) * (size_t)(n_tok * rows[m])) == 0,
                                  "%s %s n_tok=%d act=%d matrix %d: matmul_n differs", kernels[k],
                                  d < sizeof dts / sizeof *dts ? llmc_dtype_name(dts[d]) : "mixed", n_tok, act, m);
                        free(ya[m]); free(yb[m]);
                    }
                    free(x);
                }
            for (int m = 0; m < 3; m++) free(raw[m]);
        }
    }
    CHECK(llmc_cpu_force_kernel("auto"));
    llmc_threadpool_free(tp);
}

/* Batch-invariant modes (the serving engine's) on every family and dtype, odd shapes (rows not
 * a multiple of the 4-row micro-kernels, 19 blocks, float tails), batch sizes on both sides of
 * the fused-kernel / dequantized-tile switch (16), 1 to 3 threads: each row is bit for bit the
 * same as the token alone, and within the precise tolerance of the double reference. On AVX2
 * the quantized precise rows run f32 math in both forms (fused below 16 tokens, tiles from 16),
 * so this also checks that the two give the same bits. */
static void test_matmul_invariant_modes(void) {
    static const char *kernels[] = {"scalar", "avx2", "avx512", "amx"};
    static const int64_t shapes[][2] = {{5, 608}, {33, 96}, {7, 100}, {18, 576}};
    static const int ntoks[] = {2, 3, 5, 7, 16, 19};
    static const int modes[] = {LLMC_ACT_PRECISE | LLMC_ACT_INVARIANT, LLMC_ACT_PRECISE | LLMC_ACT_INVARIANT | LLMC_ACT_DEQUANT,
                                LLMC_ACT_FAST | LLMC_ACT_INVARIANT};
    llmc_threadpool *tps[3] = {llmc_threadpool_new(1), llmc_threadpool_new(2), llmc_threadpool_new(3)};
    for (size_t k = 0; k < sizeof kernels / sizeof *kernels; k++) {
        if (!llmc_cpu_force_kernel(kernels[k])) continue;
        for (int t = 0; t < LLMC_DT_COUNT; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                int64_t rows = shapes[s][0], cols = shapes[s][1];
                if (cols % llmc_dtype_block_elems((llmc_dtype)t) || (is_quant((llmc_dtype)t) && cols % 32)) continue;
                size_t nb;
                void *raw = random_weights((llmc_dtype)t, rows, cols, &nb);
                llmc_tensor W = {.name = "w", .dtype = (llmc_dtype)t, .ndim = 2, .shape = {rows, cols}, .data = raw, .nbytes = nb};
                float *Wf = malloc((size_t)(rows * cols) * 4);
                llmc_cpu_dequantize(&W, Wf);
                for (size_t nt = 0; nt < sizeof ntoks / sizeof *ntoks; nt++)
                    for (size_t md = 0; md < sizeof modes / sizeof *modes; md++) {
                        int n_tok = ntoks[nt];
                        llmc_act_mode mode = (llmc_act_mode)modes[md];
                        llmc_threadpool *tp = tps[(s + nt + md) % 3];
                        float *x = malloc((size_t)(n_tok * cols) * 4), *y = malloc((size_t)(n_tok * rows) * 4),
                              *y1 = malloc((size_t)rows * 4);
                        for (int64_t i = 0; i < n_tok * cols; i++) x[i] = frnd() * ((i % 89) == 0 ? 8.f : 1.f);
                        llmc_cpu_matmul_act(tp, &W, NULL, x, n_tok, y, mode);
                        int bad = check_matmul(kernels[k], (llmc_dtype)t, Wf, NULL, x, rows, cols, n_tok, y,
                                               md == 2 ? LLMC_ACT_FAST : LLMC_ACT_PRECISE);
                        int differ = 0;
                        for (int tok = 0; tok < n_tok; tok++) {
                            llmc_cpu_matmul_act(tps[tok % 3], &W, NULL, x + (size_t)tok * cols, 1, y1, mode);
                            differ += memcmp(y1, y + (size_t)tok * rows, (size_t)rows * 4) != 0;
                        }
                        CHECK_MSG(bad == 0 && differ == 0, "%s %s %lldx%lld n_tok=%d mode %#x: %d outputs off, %d rows differ from alone",
                                  kernels[k], llmc_dtype_name((llmc_dtype)t), (long long)rows, (long long)cols, n_tok,
                                  (unsigned)mode, bad, differ);
                        free(x); free(y); free(y1);
                    }
                free(Wf); free(raw);
            }
    }
    CHECK(llmc_cpu_force_kernel("auto"));
    for (int i = 0; i < 3; i++) llmc_threadpool_free(tps[i]);
}

/* llmc_cpu_attention against a double-precision softmax(q·k·scale)·V, for group sizes
 * 1..4, head dims on and off the vector width (12, 64, 72, 128), odd and even key counts. */
static void test_attention(void) {
    static const int hds[] = {12, 64, 72, 128}, ns[] = {1, 2, 7, 130};
    const size_t stride = 3 * 128 + 5; /* rows of a wider K/V cache */
    float *K = malloc(sizeof(float) * stride * 130), *V = malloc(sizeof(float) * stride * 130);
    float *sc = malloc(sizeof(float) * 4 * 130), qb[4][128], ob[4][128];
    for (size_t i = 0; i < stride * 130; i++) K[i] = frnd(), V[i] = frnd();
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
            for (int G = 1; G <= LLMC_ATT_MAX_GROUP; G++) {
                int hd = hds[h], n = ns[k];
                const float *q[4];
                float *o[4];
                for (int g = 0; g < G; g++) {
                    for (int d = 0; d < hd; d++) qb[g][d] = 2.f * frnd();
                    q[g] = qb[g];
                    o[g] = ob[g];
                }
                float scale = 1.0f / sqrtf((float)hd);
                llmc_cpu_attention(G, q, K + 5, V + 5, stride, hd, n, scale, 0.0f, sc, o);
                double worst = 0;
                for (int g = 0; g < G; g++) {
                    double s[130], mx = -1e300, sum = 0;
                    for (int j = 0; j < n; j++) {
                        s[j] = 0;
                        for (int d = 0; d < hd; d++) s[j] += (double)q[g][d] * K[5 + j * stride + d];
                        s[j] *= scale;
                        if (s[j] > mx) mx = s[j];
                    }
                    for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
                    for (int d = 0; d < hd; d++) {
                        double r = 0;
                        for (int j = 0; j < n; j++) r += s[j] / sum * V[5 + j * stride + d];
                        if (fabs(r - o[g][d]) > worst) worst = fabs(r - o[g][d]);
                    }
                }
                CHECK_MSG(worst < 1e-5, "attention G=%d hd=%d n=%d: max error %g", G, hd, n, worst);
            }
    free(K); free(V); free(sc);
}

/* llmc_cpu_attention_rows (the blocked prefill kernel) against a double-precision
 * reference: rows with their own visible ranges (causal, sliding windows, single keys),
 * row counts on and off the 4-row tile, head dims on and off the vector width, on the
 * SIMD path and on the portable one. */
static void test_attention_rows(void) {
    enum { NK = 300 };
    const size_t stride = 2 * 128 + 3;
    float *K = malloc(sizeof(float) * stride * NK), *V = malloc(sizeof(float) * stride * NK);
    float *scratch = malloc(sizeof(float) * (64 * 128 + 512 + NK));
    static float qb[LLMC_ATT_MAX_ROWS][128], ob[LLMC_ATT_MAX_ROWS][128];
    for (size_t i = 0; i < stride * NK; i++) K[i] = 2.f * frnd(), V[i] = frnd();
    static const int hds[] = {8, 12, 64, 72, 128}, Rs[] = {1, 3, 4, 5, 30, 32};
    const char *fams[] = {"auto", "scalar"};
    int runs = 0;
    for (int f = 0; f < 2; f++) {
        if (!llmc_cpu_force_kernel(fams[f])) continue;
        for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
            for (size_t k = 0; k < sizeof Rs / sizeof *Rs; k++)
                for (int shape = 0; shape < 4; shape++) {
                    /* shape 3: shape 0 with Gemma 2's soft-capping of the scores */
                    float cap = shape == 3 ? 3.0f : 0.0f;
                    int hd = hds[h], R = Rs[k], lo[LLMC_ATT_MAX_ROWS], hi[LLMC_ATT_MAX_ROWS];
                    const float *q[LLMC_ATT_MAX_ROWS];
                    float *o[LLMC_ATT_MAX_ROWS];
                    for (int r = 0; r < R; r++) {
                        /* shape 0: causal prefill rows (3 heads a token); 1: sliding window 7; 2: scattered ranges */
                        int t = r / 3;
                        hi[r] = shape == 2 ? (int)(frnd() * 0.5f * NK + NK / 2) % NK : NK - 12 + t;
                        if (hi[r] >= NK) hi[r] = NK - 1;
                        lo[r] = shape == 0 || shape == 3 ? 0 : shape == 1 ? (hi[r] - 6 > 0 ? hi[r] - 6 : 0) : hi[r] - (r * 37) % (hi[r] + 1);
                        for (int d = 0; d < hd; d++) qb[r][d] = 2.f * frnd();
                        q[r] = qb[r];
                        o[r] = ob[r];
                    }
                    float scale = 1.0f / sqrtf((float)hd);
                    llmc_cpu_attention_rows(R, q, lo, hi, K + 3, V + 3, stride, hd, scale, cap, scratch, o);
                    double worst = 0;
                    for (int r = 0; r < R; r++) {
                        static double sc[NK];
                        double mx = -1e300, sum = 0;
                        for (int j = lo[r]; j <= hi[r]; j++) {
                            double a = 0;
                            for (int d = 0; d < hd; d++) a += (double)q[r][d] * K[3 + j * stride + d];
                            sc[j] = a * scale;
                            if (cap > 0) sc[j] = cap * tanh(sc[j] / cap);
                            if (sc[j] > mx) mx = sc[j];
                        }
                        for (int j = lo[r]; j <= hi[r]; j++) sum += (sc[j] = exp(sc[j] - mx));
                        for (int d = 0; d < hd; d++) {
                            double x = 0;
                            for (int j = lo[r]; j <= hi[r]; j++) x += sc[j] / sum * V[3 + j * stride + d];
                            if (!(fabs(x - o[r][d]) <= worst)) worst = fabs(x - o[r][d]);
                        }
                    }
                    CHECK_MSG(worst < 2e-5, "attention_rows %s hd=%d R=%d shape %d: max error %g", fams[f], hd, R, shape, worst);
                    runs++;
                }
    }
    CHECK(llmc_cpu_force_kernel("auto"));
    CHECK(runs >= 120);
    free(K); free(V); free(scratch);
}

int main(void) {
    test_dequant_fixtures();
    test_check_weight();
    test_quantize_row();
    test_threadpool();
    test_matmul();
    test_matmul_n();
    test_matmul_invariant_modes();
    test_attention();
    test_attention_rows();
    return test_summary();
}
