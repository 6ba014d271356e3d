// svilm/ops/cuda/gelu.cuh: exact-erf GELU on the device, forward and backward, the CUDA twin
// of svilm/ops/gelu.hpp (erf and exp from CUDA's math library). Compiled by nvcc.
#pragma once

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/cuda/launch.cuh"

namespace svilm {

namespace cuda_kernels {

template <class T>
__global__ void gelu_forward(T* y, const T* x, index_t n) {
    const T inv_sqrt2 = T(0.70710678118654752440);
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
        y[i] = T(0.5) * x[i] * (T(1) + erf(x[i] * inv_sqrt2));
}

template <class T>
__global__ void gelu_backward(T* dx, const T* dy, const T* x, index_t n) {
    const T inv_sqrt2 = T(0.70710678118654752440), inv_sqrt_2pi = T(0.39894228040143267794);
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const T cdf = T(0.5) * (T(1) + erf(x[i] * inv_sqrt2));
        const T pdf = inv_sqrt_2pi * exp(T(-0.5) * x[i] * x[i]);
        dx[i] = dy[i] * (cdf + x[i] * pdf);
    }
}

}  // namespace cuda_kernels

// y (n) = gelu(x (n)), queued on the context's stream. y may alias x.
template <class T>
void gelu_forward(const Context<cuda>& ctx, TensorView<T, 1, cuda> y, std::type_identity_t<TensorView<const T, 1, cuda>> x) {
    expect_shape("gelu_forward", "y", y, x.shape());
    expect_contiguous("gelu_forward", "x", x);
    expect_contiguous("gelu_forward", "y", y);
    if (x.size() == 0) return;
    cuda_kernels::gelu_forward<T><<<cuda_detail::grid_cover(x.size()), 256, 0, ctx.stream()>>>(y.data(), x.data(), x.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dx = dy * (Phi(x) + x phi(x)), assigned; dx may alias dy.
template <class T>
void gelu_backward(const Context<cuda>& ctx, TensorView<T, 1, cuda> dx, std::type_identity_t<TensorView<const T, 1, cuda>> dy,
                   std::type_identity_t<TensorView<const T, 1, cuda>> x) {
    expect_shape("gelu_backward", "dy", dy, x.shape());
    expect_shape("gelu_backward", "dx", dx, x.shape());
    expect_contiguous("gelu_backward", "x", x);
    expect_contiguous("gelu_backward", "dy", dy);
    expect_contiguous("gelu_backward", "dx", dx);
    if (x.size() == 0) return;
    cuda_kernels::gelu_backward<T><<<cuda_detail::grid_cover(x.size()), 256, 0, ctx.stream()>>>(
        dx.data(), dy.data(), x.data(), x.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
