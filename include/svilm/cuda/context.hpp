// svilm/cuda/context.hpp: Context<cuda>, what every CUDA op takes first (tiny-cuda-nn style): the
// device, one stream, the cuBLAS handle bound to it with its workspace, and the math mode.
//
//   if (!svilm::Context<svilm::cuda>::available()) ...;   // no driver or no device: say why and carry on
//   svilm::Context<svilm::cuda> ctx;                      // device 0
//   ctx.set_math(svilm::MathMode::tf32);                  // opt in: TF32 (or bf16) tensor cores for float GEMMs
#pragma once

#include <cstddef>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "svilm/core/context.hpp"
#include "svilm/cuda/allocator.hpp"
#include "svilm/cuda/check.hpp"
#include "svilm/ops/gemm_types.hpp"

namespace svilm {

template <>
class Context<cuda> {
public:
    // How many devices the runtime sees; 0 when there is no driver or no device (never throws).
    static int device_count() noexcept {
        int n = 0;
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            cudaGetLastError();
            return 0;
        }
        return n;
    }
    static bool available() noexcept { return device_count() > 0; }
    // Why there is no device, in the runtime's words (for test skips and error messages).
    static std::string unavailable_reason() {
        int n = 0;
        const cudaError_t status = cudaGetDeviceCount(&n);
        cudaGetLastError();
        if (status != cudaSuccess) return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
        return n == 0 ? "no CUDA device" : "";
    }

    explicit Context(int device = 0, std::size_t workspace_bytes = std::size_t(32) << 20) : device_(device) {
        SVILM_CUDA_CHECK(cudaSetDevice(device));
        SVILM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        try {
            SVILM_CUBLAS_CHECK(cublasCreate(&cublas_));
            SVILM_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
            workspace_bytes_ = workspace_bytes;
            workspace_ = cuda_memory::Pool::instance().allocate(workspace_bytes);
            SVILM_CUBLAS_CHECK(cublasSetWorkspace(cublas_, workspace_, workspace_bytes));
            SVILM_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
            SVILM_CUDA_CHECK(cudaGetDeviceProperties(&properties_, device));
        } catch (...) {
            release();
            throw;
        }
    }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    ~Context() { release(); }

    int device() const { return device_; }
    cudaStream_t stream() const { return stream_; }
    cublasHandle_t cublas() const { return cublas_; }
    const cudaDeviceProp& properties() const { return properties_; }
    std::string description() const {
        return std::string(properties_.name) + " (sm_" + std::to_string(properties_.major) +
               std::to_string(properties_.minor) + ", " + std::to_string(properties_.totalGlobalMem >> 20) + " MiB)";
    }

    // Tensor-core math for float GEMMs; fp32 (none) by default.
    void set_math(MathMode mode) { math_ = mode; }
    MathMode math() const { return math_; }

    // Waits for everything queued on the stream; a failed kernel surfaces here at the latest.
    void synchronize() const { SVILM_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

private:
    void release() noexcept {
        if (cublas_) cublasDestroy(cublas_);
        if (workspace_) cuda_memory::Pool::instance().deallocate(workspace_);
        if (stream_) cudaStreamDestroy(stream_);
        cublas_ = nullptr;
        workspace_ = nullptr;
        stream_ = nullptr;
    }

    int device_ = 0;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    void* workspace_ = nullptr;
    std::size_t workspace_bytes_ = 0;
    cudaDeviceProp properties_{};
    MathMode math_ = MathMode::fp32;
};

}  // namespace svilm
