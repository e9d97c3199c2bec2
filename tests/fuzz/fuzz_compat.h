/* Force-included (-include) into every library file of the fuzz build (scripts/fuzz.sh).
 * clang before 15 rejects __builtin_cpu_supports("f16c"), which src/backend/cpu's kernel
 * selection uses: the fuzz build then reports no SIMD extension, and the CPU backend takes its
 * portable paths (the harnesses fuzz parsers, not kernels). */
#if defined(__clang__) && __clang_major__ < 15
#define __builtin_cpu_supports(feature) 0
#endif
