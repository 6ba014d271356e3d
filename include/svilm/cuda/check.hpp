// svilm/cuda/check.hpp: every CUDA runtime and cuBLAS call is checked; a failure throws
// CudaError naming the call, the file and the line, and the runtime's own words.
#pragma once

#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "svilm/core/error.hpp"

namespace svilm {

// A failed CUDA runtime or cuBLAS call (no device, out of memory, a launch error).
class CudaError : public Error {
public:
    using Error::Error;
};

namespace cuda_detail {

// A failed call also leaves its error as the runtime's "last error"; it is cleared here, so the
// launch check after the next kernel does not report it again (sticky errors stay regardless).
inline void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
    if (status == cudaSuccess) return;
    cudaGetLastError();
    throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + call + ": " + cudaGetErrorName(status) +
                    " (" + cudaGetErrorString(status) + ")");
}

inline void cublas_check(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + call + ": " + cublasGetStatusName(status) +
                    " (" + cublasGetStatusString(status) + ")");
}

}  // namespace cuda_detail
}  // namespace svilm

#define SVILM_CUDA_CHECK(call) ::svilm::cuda_detail::cuda_check((call), #call, __FILE__, __LINE__)
#define SVILM_CUBLAS_CHECK(call) ::svilm::cuda_detail::cublas_check((call), #call, __FILE__, __LINE__)
