// svilm/ops/cuda/cross_entropy.cuh: softmax cross-entropy with integer targets, averaged over
// rows, on the device: the CUDA twin of svilm/ops/cross_entropy.hpp, same signatures with the
// targets as host views (as on the CPU). Targets are checked on the host (a target outside
// [0, K) is a ValueError naming it) and uploaded once by the forward. The per-row losses come
// back to the host and are summed there in row order, so the mean is deterministic.
#pragma once

#include <cstdint>
#include <string>

#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/reduce.cuh"
#include "svilm/ops/saved.hpp"

namespace svilm {

template <class T>
struct CrossEntropySaved<T, cuda> {
    Tensor<T, 1, cuda> logsumexp;           // (R)
    Tensor<std::int64_t, 1, cuda> targets;  // (R) the forward's targets, checked
    Tensor<std::int64_t, 1> host_targets;   // (R) the same on the host
};

namespace cuda_kernels {

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

}  // namespace cuda_kernels

namespace cuda_detail {

// targets (R) as a contiguous host tensor, each in [0, classes) else a ValueError naming it.
inline Tensor<std::int64_t, 1> checked_targets(const char* op, TensorView<const std::int64_t, 1> targets, index_t classes) {
    Tensor<std::int64_t, 1> host(targets.shape(), uninitialized);
    for (index_t r = 0; r < targets.extent(0); ++r) {
        if (targets(r) < 0 || targets(r) >= classes)
            throw ValueError(std::string(op) + ": target " + std::to_string(targets(r)) + " of row " + std::to_string(r) +
                             " is outside [0, " + std::to_string(classes) + ")");
        host(r) = targets(r);
    }
    return host;
}

}  // namespace cuda_detail

// Returns mean over r of logsumexp(logits[r]) - logits[r, targets[r]]; logits (R, K) on the
// device, targets (R) on the host. R must be positive. Synchronises the stream (the loss is a
// host value).
template <class T>
T cross_entropy_forward(const Context<cuda>& ctx, CrossEntropySaved<T, cuda>& saved, TensorView<const T, 2, cuda> logits,
                        TensorView<const std::int64_t, 1> targets) {
    const char* op = "cross_entropy_forward";
    const index_t rows = logits.extent(0), classes = logits.extent(1);
    expect_shape(op, "targets", targets, {rows});
    expect_contiguous(op, "logits", logits);
    if (rows == 0) throw ShapeError(std::string(op) + ": logits " + to_string<2>(logits.shape()) + " has no rows");
    saved.host_targets = cuda_detail::checked_targets(op, targets, classes);
    saved.targets = to_device<std::int64_t, 1>(ctx, saved.host_targets);
    if (saved.logsumexp.extent(0) != rows) saved.logsumexp = Tensor<T, 1, cuda>({rows}, uninitialized);
    Tensor<T, 1, cuda> row_loss({rows}, uninitialized);
    cuda_kernels::cross_entropy_forward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(
        row_loss.data(), saved.logsumexp.data(), logits.data(), saved.targets.data(), classes);
    SVILM_CUDA_CHECK(cudaGetLastError());
    const Tensor<T, 1> losses = to_host<T, 1>(ctx, row_loss);
    T total = 0;
    for (index_t r = 0; r < rows; ++r) total += losses(r);
    return total / T(rows);
}

// dlogits (R, K) = dloss * (softmax(logits) - one_hot(targets)) / R; assigned. targets (R) on the
// host, as for the forward: when they are the forward's (the usual case) its device copy is
// used and nothing synchronises; other targets are checked and uploaded.
template <class T>
void cross_entropy_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dlogits, T dloss,
                            const CrossEntropySaved<T, cuda>& saved, std::type_identity_t<TensorView<const T, 2, cuda>> logits,
                            TensorView<const std::int64_t, 1> targets) {
    const char* op = "cross_entropy_backward";
    const index_t rows = logits.extent(0), classes = logits.extent(1);
    expect_shape(op, "dlogits", dlogits, logits.shape());
    expect_shape(op, "saved.logsumexp", saved.logsumexp.view(), {rows});
    expect_shape(op, "targets", targets, {rows});
    expect_contiguous(op, "dlogits", dlogits);
    expect_contiguous(op, "logits", logits);
    bool same = saved.host_targets.extent(0) == rows && saved.targets.extent(0) == rows;
    for (index_t r = 0; same && r < rows; ++r) same = targets(r) == saved.host_targets(r);
    Tensor<std::int64_t, 1, cuda> other;
    if (!same) other = to_device<std::int64_t, 1>(ctx, cuda_detail::checked_targets(op, targets, classes));
    if (rows == 0) return;
    cuda_kernels::cross_entropy_backward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(
        dlogits.data(), logits.data(), saved.logsumexp.data(), same ? saved.targets.data() : other.data(), classes,
        dloss / T(rows));
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
