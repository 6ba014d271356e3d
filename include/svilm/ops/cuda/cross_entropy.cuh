// svilm/ops/cuda/cross_entropy.cuh: softmax cross-entropy with integer targets, averaged over
// rows, on the device: the CUDA twin of svilm/ops/cross_entropy.hpp. Targets are checked on the
// host (a target outside [0, K) is a ValueError naming it). The per-row losses come back to the
// host and are summed there in row order, so the mean is deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/reduce.cuh"

namespace svilm::cuda_ops {

template <class T>
struct CrossEntropySaved {
    Tensor<T, 1, cuda> logsumexp;            // (R)
    Tensor<std::int64_t, 1, cuda> targets;   // (R), checked
};

namespace kernels {

template <class T>
__global__ void cross_entropy_forward(T* row_loss, T* lse_out, const T* logits, const std::int64_t* targets, index_t classes) {
    __shared__ T scratch[32];
    const index_t r = blockIdx.x;
    const T* row = logits + r * classes;
    T top = T(-INFINITY);
    for (index_t k = threadIdx.x; k < classes; k += blockDim.x) top = max(top, row[k]);
    top = block_max(top, scratch);
    T sum = 0;
    for (index_t k = threadIdx.x; k < classes; k += blockDim.x) sum += exp(row[k] - top);
    const T lse = top + log(block_sum(sum, scratch));
    if (threadIdx.x == 0) {
        lse_out[r] = lse;
        row_loss[r] = lse - row[targets[r]];
    }
}

template <class T>
__global__ void cross_entropy_backward(T* dlogits, const T* logits, const T* lse, const std::int64_t* targets, index_t classes,
                                       T scale) {
    const index_t r = blockIdx.x;
    for (index_t k = threadIdx.x; k < classes; k += blockDim.x)
        dlogits[r * classes + k] = scale * (exp(logits[r * classes + k] - lse[r]) - (k == targets[r] ? T(1) : T(0)));
}

}  // namespace kernels

// Returns mean over r of logsumexp(logits[r]) - logits[r, targets[r]]; logits (R, K) on the
// device, targets (R) on the host. R must be positive. Synchronises the stream (the loss is a
// host value).
template <class T>
T cross_entropy_forward(const CudaContext& ctx, CrossEntropySaved<T>& saved, TensorView<const T, 2, cuda> logits,
                        TensorView<const std::int64_t, 1> targets) {
    const char* op = "cuda cross_entropy_forward";
    const index_t rows = logits.extent(0), classes = logits.extent(1);
    expect_shape(op, "targets", targets, {rows});
    if (!logits.is_contiguous()) throw ShapeError(std::string(op) + ": logits must be contiguous");
    if (rows == 0) throw ShapeError(std::string(op) + ": logits " + to_string<2>(logits.shape()) + " has no rows");
    Tensor<std::int64_t, 1> host({rows}, uninitialized);
    for (index_t r = 0; r < rows; ++r) {
        if (targets(r) < 0 || targets(r) >= classes)
            throw ValueError(std::string(op) + ": target " + std::to_string(targets(r)) + " of row " + std::to_string(r) +
                             " is outside [0, " + std::to_string(classes) + ")");
        host(r) = targets(r);
    }
    saved.targets = to_device<std::int64_t, 1>(ctx, host);
    saved.logsumexp = Tensor<T, 1, cuda>({rows}, uninitialized);
    Tensor<T, 1, cuda> row_loss({rows}, uninitialized);
    kernels::cross_entropy_forward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(row_loss.data(), saved.logsumexp.data(),
                                                                               logits.data(), saved.targets.data(), classes);
    SVILM_CUDA_CHECK(cudaGetLastError());
    const Tensor<T, 1> losses = to_host<T, 1>(ctx, row_loss);
    T total = 0;
    for (index_t r = 0; r < rows; ++r) total += losses(r);
    return total / T(rows);
}

// dlogits (R, K) = dloss * (softmax(logits) - one_hot(targets)) / R; assigned.
template <class T>
void cross_entropy_backward(const CudaContext& ctx, TensorView<T, 2, cuda> dlogits, T dloss, const CrossEntropySaved<T>& saved,
                            std::type_identity_t<TensorView<const T, 2, cuda>> logits) {
    const index_t rows = logits.extent(0), classes = logits.extent(1);
    expect_shape("cuda cross_entropy_backward", "dlogits", dlogits, logits.shape());
    expect_shape("cuda cross_entropy_backward", "saved.logsumexp", saved.logsumexp.view(), {rows});
    if (rows == 0) return;
    kernels::cross_entropy_backward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(
        dlogits.data(), logits.data(), saved.logsumexp.data(), saved.targets.data(), classes, dloss / T(rows));
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm::cuda_ops
