# The optional CUDA backend (svilm/cuda.hpp, target svilm::cuda): CUDA runtime + cuBLAS.
#
# Architecture policy: CMAKE_CUDA_ARCHITECTURES is honoured when set (CI builds sm_90 only);
# otherwise svilm's own CUDA code is built for 80 and 90 (A100, H100/H200). Consumers compile
# svilm's kernels in their own .cu files for their own architectures.
# The toolkit is looked for on PATH and at /usr/local/cuda; SVILM_CUDA=OFF turns it all off.
if(NOT SVILM_CUDA)
    message(STATUS "svilm: CUDA backend: off (SVILM_CUDA=OFF)")
    return()
endif()
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS "/usr/local/cuda/bin/nvcc")
    set(CMAKE_CUDA_COMPILER "/usr/local/cuda/bin/nvcc")
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
    message(STATUS "svilm: CUDA backend: off (no nvcc; the CUDA Toolkit lives at /usr/local/cuda on NVIDIA's packages)")
    return()
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
enable_language(CUDA)
find_package(CUDAToolkit QUIET)
if(NOT CUDAToolkit_FOUND)
    message(STATUS "svilm: CUDA backend: off (nvcc found, the toolkit's libraries not)")
    return()
endif()
add_library(svilm_cuda INTERFACE)
add_library(svilm::cuda ALIAS svilm_cuda)
set_target_properties(svilm_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(svilm_cuda INTERFACE svilm CUDA::cudart CUDA::cublas)
target_compile_definitions(svilm_cuda INTERFACE SVILM_HAVE_CUDA=1)
# kernels use constexpr helpers of the standard library (std::numeric_limits and the like)
target_compile_options(svilm_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)
# The host code nvcc compiles (the device-generic trainer, the tokenizer, the thread pool of
# core/parallel.hpp) sees the same _OPENMP as the C++ files of the same program: inline functions
# that differ with it would otherwise have two definitions, and the linker would keep either.
if(OpenMP_CXX_FOUND)
    target_compile_options(svilm_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${OpenMP_CXX_FLAGS}>)
endif()
message(STATUS "svilm: CUDA backend: on (CUDA ${CUDAToolkit_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
