# CPU backend build tweaks: each SIMD kernel file gets its own target flags (and -O3:
# the micro-kernels rely on full unrolling of their per-token loops to keep
# accumulators in registers); the
# rest of the library stays portable and picks a family at run time (ops.c).
include(CheckCCompilerFlag)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  check_c_compiler_flag("-mavx2 -mfma -mf16c" LLMC_HAVE_AVX2_FLAGS)
  check_c_compiler_flag("-mavx512f -mavx512bw -mavx512vl -mavx512vnni" LLMC_HAVE_AVX512_FLAGS)
  check_c_compiler_flag("-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mamx-tile -mamx-bf16" LLMC_HAVE_AMX_FLAGS)
  if(LLMC_HAVE_AVX2_FLAGS)
    set_source_files_properties(${CMAKE_SOURCE_DIR}/src/backend/cpu/kern_avx2.c
      PROPERTIES COMPILE_OPTIONS "-O3;-mavx2;-mfma;-mf16c")
  endif()
  if(LLMC_HAVE_AVX2_FLAGS AND LLMC_HAVE_AVX512_FLAGS)
    set_source_files_properties(${CMAKE_SOURCE_DIR}/src/backend/cpu/kern_avx512.c
      PROPERTIES COMPILE_OPTIONS "-O3;-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni")
  endif()
  if(LLMC_HAVE_AVX2_FLAGS AND LLMC_HAVE_AMX_FLAGS)
    set_source_files_properties(${CMAKE_SOURCE_DIR}/src/backend/cpu/kern_amx.c
      PROPERTIES COMPILE_OPTIONS "-O3;-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni;-mamx-tile;-mamx-bf16")
  endif()
endif()
