/* The "avx2" kernel family: AVX2 + FMA + F16C (see kern_x86.inc). */
#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define KX_VNNI 0
#define KX_TABLE kx_avx2_table
#include "backend/cpu/kern_x86.inc"

static bool avx2_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
static bool avx2_matmul(llmc_threadpool *tp, int nw, const llmc_tensor *const *W, const llmc_tensor *const *bias,
                        const float *x, int n_tok, float *const *y, llmc_act_mode act) {
    return cpu_matmul_tiled(&kx_avx2_table, tp, nw, W, bias, x, n_tok, y, act);
}
const cpu_kernel cpu_kernel_avx2 = {"avx2", avx2_supported, avx2_matmul};
#else
/* Built without the flags (non-x86 or a compiler without them): never selected. */
#include "backend/cpu/cpu_internal.h"
static bool avx2_no(void) { return false; }
const cpu_kernel cpu_kernel_avx2 = {"avx2", avx2_no, cpu_matmul_scalar_n};
#endif
