// svilm/ops/cuda/elementwise.cuh: the element-wise helpers of residual branches and the mean
// over one axis, the CUDA twins of svilm/ops/elementwise.hpp and svilm/ops/pooling.hpp.
#pragma once

#include <algorithm>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"

namespace svilm::cuda_ops {

namespace kernels {

inline unsigned grid_cover(index_t n) { return unsigned(std::clamp<index_t>((n + 255) / 256, 1, 65536)); }

template <class T>
__global__ void axpy(T* y, const T* x, T alpha, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
        y[i] += alpha * x[i];
}

template <class T>
__global__ void scale(T* y, const T* x, T alpha, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
        y[i] = alpha * x[i];
}

// y (O, I) = mean over N of x (O, N, I): one thread per output element, N in order.
template <class T>
__global__ void mean_pool_forward(T* y, const T* x, index_t outer, index_t n, index_t inner) {
    const index_t total = outer * inner;
    for (index_t k = index_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += index_t(gridDim.x) * blockDim.x) {
        const index_t o = k / inner, i = k % inner;
        T sum = 0;
        for (index_t j = 0; j < n; ++j) sum += x[(o * n + j) * inner + i];
        y[k] = sum / T(n);
    }
}

template <class T>
__global__ void mean_pool_backward(T* dx, const T* dy, index_t outer, index_t n, index_t inner) {
    const index_t total = outer * n * inner;
    for (index_t k = index_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += index_t(gridDim.x) * blockDim.x) {
        const index_t o = k / (n * inner), i = k % inner;
        dx[k] = dy[o * inner + i] / T(n);
    }
}

}  // namespace kernels

// y += alpha * x (same shape, contiguous): gradient accumulation at residual joins.
template <class T, int Rank>
void add_into(const CudaContext& ctx, TensorView<T, Rank, cuda> y, std::type_identity_t<TensorView<const T, Rank, cuda>> x,
              T alpha = T(1)) {
    expect_shape("cuda add_into", "x", x, y.shape());
    if (!x.is_contiguous() || !y.is_contiguous()) throw ShapeError("cuda add_into: x and y must be contiguous");
    if (y.size() == 0) return;
    kernels::axpy<T><<<kernels::grid_cover(y.size()), 256, 0, ctx.stream()>>>(y.data(), x.data(), alpha, y.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// y = alpha * x; y may alias x.
template <class T, int Rank>
void scale_forward(const CudaContext& ctx, TensorView<T, Rank, cuda> y, std::type_identity_t<TensorView<const T, Rank, cuda>> x,
                   T alpha) {
    expect_shape("cuda scale_forward", "x", x, y.shape());
    if (!x.is_contiguous() || !y.is_contiguous()) throw ShapeError("cuda scale_forward: x and y must be contiguous");
    if (y.size() == 0) return;
    kernels::scale<T><<<kernels::grid_cover(y.size()), 256, 0, ctx.stream()>>>(y.data(), x.data(), alpha, y.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// y (O, I) = mean over N of x (O, N, I); N must be positive.
template <class T>
void mean_pool_forward(const CudaContext& ctx, TensorView<T, 2, cuda> y, std::type_identity_t<TensorView<const T, 3, cuda>> x) {
    const index_t outer = x.extent(0), n = x.extent(1), inner = x.extent(2);
    expect_shape("cuda mean_pool_forward", "y", y, {outer, inner});
    if (n == 0) throw ShapeError("cuda mean_pool_forward: x " + to_string<3>(x.shape()) + " has an empty pooled axis");
    if (!x.is_contiguous() || !y.is_contiguous()) throw ShapeError("cuda mean_pool_forward: x and y must be contiguous");
    if (outer * inner == 0) return;
    kernels::mean_pool_forward<T><<<kernels::grid_cover(outer * inner), 256, 0, ctx.stream()>>>(y.data(), x.data(), outer, n,
                                                                                                inner);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dx (O, N, I) = dy (O, I) / N broadcast over N; assigned.
template <class T>
void mean_pool_backward(const CudaContext& ctx, TensorView<T, 3, cuda> dx, std::type_identity_t<TensorView<const T, 2, cuda>> dy) {
    const index_t outer = dx.extent(0), n = dx.extent(1), inner = dx.extent(2);
    expect_shape("cuda mean_pool_backward", "dy", dy, {outer, inner});
    if (!dx.is_contiguous() || !dy.is_contiguous()) throw ShapeError("cuda mean_pool_backward: dx and dy must be contiguous");
    if (dx.size() == 0) return;
    kernels::mean_pool_backward<T><<<kernels::grid_cover(dx.size()), 256, 0, ctx.stream()>>>(dx.data(), dy.data(), outer, n,
                                                                                             inner);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm::cuda_ops
