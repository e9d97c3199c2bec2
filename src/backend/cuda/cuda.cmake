# CUDA backend: built when LLMC_CUDA is on and nvcc is found; otherwise the library is
# CPU-only and cuda.c answers "CUDA is not available in this build".
if(LLMC_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # T4 (sm_75) through H100 (sm_90), plus PTX for newer GPUs.
      set(CMAKE_CUDA_ARCHITECTURES "75-real;80-real;86-real;89-real;90-real;90-virtual")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    add_library(llmc_cuda STATIC ${CMAKE_SOURCE_DIR}/src/backend/cuda/cuda_rt.cu)
    set_target_properties(llmc_cuda PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON POSITION_INDEPENDENT_CODE ON
                          CUDA_RUNTIME_LIBRARY Static)
    target_include_directories(llmc_cuda PRIVATE ${CMAKE_SOURCE_DIR}/src)
    # The directory's C warning flags mean nothing to nvcc: replace them (host side via -Xcompiler).
    set_property(TARGET llmc_cuda PROPERTY COMPILE_OPTIONS "")
    target_compile_options(llmc_cuda PRIVATE -O3 -Xcompiler=-Wall)
    target_link_libraries(llmc_cuda PUBLIC CUDA::cudart_static CUDA::cublas)
    target_link_libraries(llmc_lib PUBLIC llmc_cuda)
    # llmc_lib was created before CUDA was enabled: give it the list too (CMP0104).
    set_target_properties(llmc_lib PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
    target_compile_definitions(llmc_lib PRIVATE LLMC_HAVE_CUDA=1)
    message(STATUS "llmc: CUDA backend on (${CMAKE_CUDA_COMPILER}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
  else()
    message(STATUS "llmc: nvcc not found; CPU-only build")
  endif()
else()
  message(STATUS "llmc: LLMC_CUDA=OFF; CPU-only build")
endif()
