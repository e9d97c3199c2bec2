/* What this build of llmc is and what it finds on the machine: version, commit, the backends
 * compiled in, the CPU's features and the kernel family the CPU backend chose, the GPU found.
 * `llmc --version` prints it; bug reports and benchmarks quote it. */
#include "llmc.h"
#include "backend/cpu/ops.h"
#include "backend/cuda/cuda.h"
#include <stdio.h>
#include <string.h>

#ifndef LLMC_GIT_COMMIT
#define LLMC_GIT_COMMIT "unknown"
#endif

static void cpu_features(char *out, size_t cap) {
    out[0] = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    static const struct { const char *name; int on; } f[] = {
        {"sse4.2", 0}, {"avx", 0}, {"avx2", 0}, {"fma", 0}, {"f16c", 0}, {"avx512f", 0}, {"avx512bw", 0},
        {"avx512vl", 0}, {"avx512vnni", 0}, {"avx512bf16", 0},
    };
    __builtin_cpu_init();
    int on[sizeof f / sizeof f[0]] = {
        __builtin_cpu_supports("sse4.2"), __builtin_cpu_supports("avx"), __builtin_cpu_supports("avx2"),
        __builtin_cpu_supports("fma"), 0, __builtin_cpu_supports("avx512f"), __builtin_cpu_supports("avx512bw"),
        __builtin_cpu_supports("avx512vl"), __builtin_cpu_supports("avx512vnni"), 0,
    };
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    on[4] = __builtin_cpu_supports("f16c");
    on[9] = __builtin_cpu_supports("avx512bf16");
#endif
    size_t w = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (on[i] && w + strlen(f[i].name) + 2 < cap) w += (size_t)snprintf(out + w, cap - w, "%s%s", w ? " " : "", f[i].name);
#else
    snprintf(out, cap, "(not an x86-64 build)");
#endif
}

void llmc_get_build_info(llmc_build_info *b) {
    memset(b, 0, sizeof *b);
    b->version = LLMC_VERSION;
    b->commit = LLMC_GIT_COMMIT;
    b->cuda_built = llmc_cuda_built();
#ifdef LLMC_HAVE_MHD
    b->http_server = true;
#endif
    b->cpu_kernel = llmc_cpu_kernel_name();
    cpu_features(b->cpu_features, sizeof b->cpu_features);
    llmc_cuda_info ci;
    llmc_error err = {0};
    if (llmc_cuda_probe(0, &ci, &err) == LLMC_OK)
        snprintf(b->gpu, sizeof b->gpu, "%s (sm_%d%d, %zu MiB)", ci.name, ci.cc_major, ci.cc_minor, ci.total_bytes >> 20);
    else
        snprintf(b->gpu, sizeof b->gpu, "none (%s)", err.msg);
}
