// svilm/ops/cuda/l2_normalize.cuh: y = x / max(||x||, eps) over the last axis on the device, the
// CUDA twin of svilm/ops/l2_normalize.hpp. One block per row.
#pragma once

#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/cuda/reduce.cuh"
#include "svilm/ops/saved.hpp"

namespace svilm {

namespace cuda_kernels {

template <class T>
__global__ void l2_normalize_forward(T* y, T* norm_out, const T* x, index_t cols, T eps) {
    __shared__ T scratch[32];
    const index_t r = blockIdx.x;
    T sq = 0;
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) sq += x[r * cols + c] * x[r * cols + c];
    const T norm = sqrt(block_sum(sq, scratch));
    const T inv = T(1) / max(norm, eps);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) y[r * cols + c] = x[r * cols + c] * inv;
    if (threadIdx.x == 0) norm_out[r] = norm;
}

template <class T>
__global__ void l2_normalize_backward(T* dx, const T* dy, const T* y, const T* norm, index_t cols, T eps) {
    __shared__ T scratch[32];
    const index_t r = blockIdx.x;
    T inner = 0;
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) inner += y[r * cols + c] * dy[r * cols + c];
    inner = block_sum(inner, scratch);
    const bool clamped = !(norm[r] > eps);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x)
        dx[r * cols + c] = clamped ? dy[r * cols + c] / eps : (dy[r * cols + c] - y[r * cols + c] * inner) / norm[r];
}

}  // namespace cuda_kernels

// y (R, C) = x / max(||x||, eps), eps = 1e-12 in docs/model.md §11.
template <class T>
void l2_normalize_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y, L2NormalizeSaved<T, cuda>& saved,
                          std::type_identity_t<TensorView<const T, 2, cuda>> x, T eps = T(1e-12)) {
    const char* op = "l2_normalize_forward";
    const index_t rows = x.extent(0), cols = x.extent(1);
    expect_contiguous(op, "x", x);
    contract::same_contiguous(op, "y", y, x);
    if (saved.norm.extent(0) != rows) saved.norm = Tensor<T, 1, cuda>({rows}, uninitialized);
    if (rows == 0) return;
    cuda_kernels::l2_normalize_forward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(
        y.data(), saved.norm.data(), x.data(), cols, eps);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dx (R, C), assigned: (dy - y (y . dy)) / ||x|| where ||x|| > eps, dy / eps where clamped.
template <class T>
void l2_normalize_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dx,
                           std::type_identity_t<TensorView<const T, 2, cuda>> dy,
                           std::type_identity_t<TensorView<const T, 2, cuda>> y, const L2NormalizeSaved<T, cuda>& saved,
                           T eps = T(1e-12)) {
    const char* op = "l2_normalize_backward";
    const index_t rows = y.extent(0), cols = y.extent(1);
    contract::row_backward(op, dx, dy, y);
    expect_shape(op, "saved.norm", saved.norm.view(), {rows});
    if (rows == 0) return;
    cuda_kernels::l2_normalize_backward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(
        dx.data(), dy.data(), y.data(), saved.norm.data(), cols, eps);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
