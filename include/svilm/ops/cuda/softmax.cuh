// svilm/ops/cuda/softmax.cuh: softmax over the last axis with an optional additive mask, the
// CUDA twin of svilm/ops/softmax.hpp: y (B, R, N) = softmax(x + mask (B, N) broadcast over R).
// A row that is entirely -inf comes out as zeros (and so does its gradient), as on the CPU.
// One block per row.
#pragma once

#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/cuda/reduce.cuh"

namespace svilm {

namespace cuda_kernels {

template <class T>
__global__ void softmax_forward(T* y, const T* x, const T* mask, index_t rows_per_batch, index_t n) {
    __shared__ T scratch[32];
    const index_t row = blockIdx.x, b = row / rows_per_batch;
    const T* xr = x + row * n;
    T* yr = y + row * n;
    const T* m = mask ? mask + b * n : nullptr;
    T top = T(-INFINITY);
    for (index_t i = threadIdx.x; i < n; i += blockDim.x) top = max(top, xr[i] + (m ? m[i] : T(0)));
    top = block_max(top, scratch);
    if (isinf(top) && top < 0) {  // every entry masked: no distribution
        for (index_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = T(0);
        return;
    }
    T sum = 0;
    for (index_t i = threadIdx.x; i < n; i += blockDim.x) {
        const T e = exp(xr[i] + (m ? m[i] : T(0)) - top);
        yr[i] = e;
        sum += e;
    }
    const T inv = T(1) / block_sum(sum, scratch);
    for (index_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] *= inv;
}

template <class T>
__global__ void softmax_backward(T* dx, const T* dy, const T* y, index_t n) {
    __shared__ T scratch[32];
    const index_t row = blockIdx.x;
    const T* gr = dy + row * n;
    const T* yr = y + row * n;
    T dot = 0;
    for (index_t i = threadIdx.x; i < n; i += blockDim.x) dot += gr[i] * yr[i];
    dot = block_sum(dot, scratch);
    for (index_t i = threadIdx.x; i < n; i += blockDim.x) dx[row * n + i] = yr[i] * (gr[i] - dot);
}

}  // namespace cuda_kernels

// y (B, R, N) = softmax(x (B, R, N) + mask (B, N)) along N; mask may be an empty view.
template <class T>
void softmax_forward(const Context<cuda>& ctx, TensorView<T, 3, cuda> y, std::type_identity_t<TensorView<const T, 3, cuda>> x,
                     std::type_identity_t<TensorView<const T, 2, cuda>> mask) {
    const char* op = "softmax_forward";
    const index_t B = x.extent(0), R = x.extent(1), N = x.extent(2);
    expect_contiguous(op, "x", x);
    contract::same_contiguous(op, "y", y, x);
    if (mask.data()) {
        expect_shape(op, "mask", mask, {B, N});
        expect_contiguous(op, "mask", mask);
    }
    if (B * R == 0 || N == 0) return;
    cuda_kernels::softmax_forward<T><<<unsigned(B * R), 256, 0, ctx.stream()>>>(y.data(), x.data(), mask.data(), R, N);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dx (B, R, N) = y * (dy - sum(dy * y)); assigned. dx may alias dy.
template <class T>
void softmax_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> dx, std::type_identity_t<TensorView<const T, 3, cuda>> dy,
                      std::type_identity_t<TensorView<const T, 3, cuda>> y) {
    const char* op = "softmax_backward";
    contract::row_backward(op, dx, dy, y);
    const index_t rows = y.extent(0) * y.extent(1), n = y.extent(2);
    if (rows == 0 || n == 0) return;
    cuda_kernels::softmax_backward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(dx.data(), dy.data(), y.data(), n);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
