/* The "avx512" kernel family: AVX-512 F/BW/VL + VNNI on 256-bit vectors
 * (vpdpbusd integer dots), plus AVX2/FMA/F16C (see kern_x86.inc). */
#if defined(__x86_64__) && defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX2__) && \
    defined(__FMA__) && defined(__F16C__)
#define KX_VNNI 1
#define KX_NO_GATHER 1
#define KX_TABLE kx_avx512_table
#include "backend/cpu/kern_x86.inc"

static bool avx512_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}
static bool avx512_matmul(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                        const float *x, int n_tok, float *const *y, llmc_act_mode act) {
    return cpu_matmul_tiled(&kx_avx512_table, tp, nw, W, bias, x, n_tok, y, act);
}
const cpu_kernel cpu_kernel_avx512 = {"avx512", avx512_supported, avx512_matmul};
#else
#include "backend/cpu/cpu_internal.h"
static bool avx512_no(void) { return false; }
const cpu_kernel cpu_kernel_avx512 = {"avx512", avx512_no, cpu_matmul_scalar_n};
#endif
