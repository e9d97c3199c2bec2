/* The "amx" kernel family: the "avx512" kernels (kern_x86.inc) plus Intel AMX
 * tile multiplies (tdpbf16ps: a 16×32 by 32×16 bf16 product into a 16×16 f32 tile
 * per instruction) for bf16 weights in prefill when the caller asks for fast
 * activations (LLMC_ACT_FAST): the activations are rounded to bf16, as a bf16 model
 * computes in transformers, whose CPU prefill uses the same units. Decode (one
 * token) is bound by memory, not multiplies, and keeps the f32 path. */
#if defined(__x86_64__) && defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512VNNI__) && \
    defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "backend/cpu/cpu_internal.h"
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Tiles: 0, 1 results (16 rows × 16 tokens f32); 2 the weights (16 rows × 32 bf16);
 * 3, 4 two token blocks of activations (16 column pairs × 16 tokens × 2). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;
_Static_assert(sizeof(amx_cfg) == 64, "ldtilecfg takes 64 bytes");

static void amx_bf16_tile(const void *w, size_t rb, const uint16_t *xp, int64_t nkc, int64_t t0, int64_t t1, float *y,
                          int64_t rows, int64_t r0, const llmc_tensor *bias) {
    amx_cfg cfg = {.palette = 1};
    for (int i = 0; i < 5; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
    _tile_loadconfig(&cfg);
    float c[2][16][16];
    float b[16];
    for (int i = 0; i < 16; i++) b[i] = bias ? cpu_bias_at(bias, r0 + i) : 0.f;
    const uint8_t *wr = w;
    for (int64_t tb = t0 / 16; tb * 16 < t1; tb += 2) {
        const bool two = (tb + 1) * 16 < t1;
        const uint16_t *x0 = xp + (size_t)tb * (size_t)nkc * 512, *x1 = x0 + (size_t)nkc * 512;
        _tile_zero(0);
        _tile_zero(1);
        for (int64_t kc = 0; kc < nkc; kc++) {
            _tile_loadd(2, wr + kc * 64, (long)rb);
            _tile_loadd(3, x0 + kc * 512, 64);
            _tile_dpbf16ps(0, 2, 3);
            if (two) {
                _tile_loadd(4, x1 + kc * 512, 64);
                _tile_dpbf16ps(1, 2, 4);
            }
        }
        _tile_stored(0, c[0], 64);
        if (two) _tile_stored(1, c[1], 64);
        for (int h = 0; h < (two ? 2 : 1); h++)
            for (int m = 0; m < 16; m++) {
                int64_t t = (tb + h) * 16 + m;
                if (t < t0 || t >= t1) continue;
                float *yt = y + t * rows + r0;
                for (int i = 0; i < 16; i++) yt[i] = c[h][i][m] + b[i];
            }
    }
    _tile_release();
}

#define KX_VNNI 1
#define KX_TABLE kx_amx_table
#define KX_BF16_TILE amx_bf16_tile
#include "backend/cpu/kern_x86.inc"

#define AMX_ARCH_REQ_XCOMP_PERM 0x1023
#define AMX_XFEATURE_XTILEDATA 18

static bool amx_supported(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
          __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
          __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16")))
        return false;
    /* Linux hands out the tile state only on request (once per process). */
    static _Atomic int granted = -1;
    if (granted < 0) granted = syscall(SYS_arch_prctl, AMX_ARCH_REQ_XCOMP_PERM, AMX_XFEATURE_XTILEDATA) == 0;
    return granted == 1;
}
static bool amx_matmul(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                       const float *x, int n_tok, float *const *y, llmc_act_mode act) {
    return cpu_matmul_tiled(&kx_amx_table, tp, nw, W, bias, x, n_tok, y, act);
}
const cpu_kernel cpu_kernel_amx = {"amx", amx_supported, amx_matmul};
#else
#include "backend/cpu/cpu_internal.h"
static bool amx_no(void) { return false; }
const cpu_kernel cpu_kernel_amx = {"amx", amx_no, cpu_matmul_scalar_n};
#endif
