// svilm/ops/cuda/gumbel_assign.cuh: the grouping block's assignment (docs/model.md §2.1, step 4) on the
// device, the CUDA twin of svilm/ops/gumbel_assign.hpp: softmax over the group axis M of
// (B, M, L) with optional Gumbel noise and temperature, the hard one-hot of the
// straight-through estimator (ties to the lowest group), and the eps = 1 normalisation over the
// tokens. Group softmax: one thread per (b, l) column walking the M groups; normalisation: one
// block per (b, m) row.
#pragma once

#include <string>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/cuda/launch.cuh"
#include "svilm/ops/cuda/reduce.cuh"
#include "svilm/ops/saved.hpp"

namespace svilm {

namespace cuda_kernels {

template <class T>
__global__ void group_softmax_forward(T* y, const T* logits, const T* noise, index_t batch, index_t groups, index_t tokens,
                                      T inv_tau) {
    const index_t column = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (column >= batch * tokens) return;
    const index_t b = column / tokens, l = column % tokens, base = b * groups * tokens + l;
    T top = T(-INFINITY);
    for (index_t m = 0; m < groups; ++m) {
        const index_t k = base + m * tokens;
        const T v = (logits[k] + (noise ? noise[k] : T(0))) * inv_tau;
        y[k] = v;
        top = max(top, v);
    }
    T sum = 0;
    for (index_t m = 0; m < groups; ++m) {
        const index_t k = base + m * tokens;
        y[k] = exp(y[k] - top);
        sum += y[k];
    }
    for (index_t m = 0; m < groups; ++m) y[base + m * tokens] /= sum;
}

template <class T>
__global__ void one_hot_argmax(T* hard, const T* soft, index_t batch, index_t groups, index_t tokens) {
    const index_t column = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (column >= batch * tokens) return;
    const index_t b = column / tokens, l = column % tokens, base = b * groups * tokens + l;
    index_t best = 0;
    for (index_t m = 1; m < groups; ++m)
        if (soft[base + m * tokens] > soft[base + best * tokens]) best = m;
    for (index_t m = 0; m < groups; ++m) hard[base + m * tokens] = m == best ? T(1) : T(0);
}

template <class T>
__global__ void group_softmax_backward(T* dlogits, const T* dy, const T* y, index_t batch, index_t groups, index_t tokens,
                                       T inv_tau) {
    const index_t column = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (column >= batch * tokens) return;
    const index_t b = column / tokens, l = column % tokens, base = b * groups * tokens + l;
    T dot = 0;
    for (index_t m = 0; m < groups; ++m) dot += dy[base + m * tokens] * y[base + m * tokens];
    for (index_t m = 0; m < groups; ++m) {
        const index_t k = base + m * tokens;
        dlogits[k] = y[k] * (dy[k] - dot) * inv_tau;
    }
}

template <class T>
__global__ void assign_normalize_forward(T* a, const T* y, index_t tokens, T eps) {
    __shared__ T scratch[32];
    const index_t row = blockIdx.x;
    T sum = 0;
    for (index_t l = threadIdx.x; l < tokens; l += blockDim.x) sum += y[row * tokens + l];
    const T inv = T(1) / (block_sum(sum, scratch) + eps);
    for (index_t l = threadIdx.x; l < tokens; l += blockDim.x) a[row * tokens + l] = y[row * tokens + l] * inv;
}

template <class T>
__global__ void assign_normalize_backward(T* dy, const T* da, const T* y, index_t tokens, T eps) {
    __shared__ T scratch[32];
    const index_t row = blockIdx.x;
    T sum = 0, inner = 0;
    for (index_t l = threadIdx.x; l < tokens; l += blockDim.x) {
        sum += y[row * tokens + l];
        inner += da[row * tokens + l] * y[row * tokens + l];
    }
    const T s = block_sum(sum, scratch) + eps;
    inner = block_sum(inner, scratch) / s;
    for (index_t l = threadIdx.x; l < tokens; l += blockDim.x) dy[row * tokens + l] = (da[row * tokens + l] - inner) / s;
}

}  // namespace cuda_kernels

namespace cuda_detail {

// out and in (B, M, L) of the same shape, both contiguous.
template <class T>
void expect_assignment(const char* op, const char* out_name, const TensorView<T, 3, cuda>& out, const char* in_name,
                       const TensorView<const T, 3, cuda>& in) {
    expect_shape(op, out_name, out, in.shape());
    expect_contiguous(op, out_name, out);
    expect_contiguous(op, in_name, in);
}

}  // namespace cuda_detail

// y (B, M, L) = softmax over M of (logits + noise) / tau; noise may be an empty view (inference).
template <class T>
void group_softmax_forward(const Context<cuda>& ctx, TensorView<T, 3, cuda> y,
                           std::type_identity_t<TensorView<const T, 3, cuda>> logits,
                           std::type_identity_t<TensorView<const T, 3, cuda>> noise, T tau) {
    const char* op = "group_softmax_forward";
    cuda_detail::expect_assignment<T>(op, "y", y, "logits", logits);
    if (noise.data()) {
        expect_shape(op, "noise", noise, logits.shape());
        expect_contiguous(op, "noise", noise);
    }
    if (!(tau > T(0))) throw ValueError(std::string(op) + ": tau must be positive");
    const index_t B = logits.extent(0), M = logits.extent(1), L = logits.extent(2);
    if (B * L == 0 || M == 0) return;
    cuda_kernels::group_softmax_forward<T><<<cuda_detail::blocks_for(B * L, 256), 256, 0, ctx.stream()>>>(
        y.data(), logits.data(), noise.data(), B, M, L, T(1) / tau);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dlogits (B, M, L) = softmax backward along M of dy, divided by tau; assigned.
template <class T>
void group_softmax_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> dlogits,
                            std::type_identity_t<TensorView<const T, 3, cuda>> dy,
                            std::type_identity_t<TensorView<const T, 3, cuda>> y, T tau) {
    const char* op = "group_softmax_backward";
    cuda_detail::expect_assignment<T>(op, "dlogits", dlogits, "y", y);
    expect_shape(op, "dy", dy, y.shape());
    expect_contiguous(op, "dy", dy);
    const index_t B = y.extent(0), M = y.extent(1), L = y.extent(2);
    if (B * L == 0 || M == 0) return;
    cuda_kernels::group_softmax_backward<T><<<cuda_detail::blocks_for(B * L, 256), 256, 0, ctx.stream()>>>(
        dlogits.data(), dy.data(), y.data(), B, M, L, T(1) / tau);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// y_hard (B, M, L) = one_hot over M of argmax_m y_soft (ties to the lowest m), y_soft saved.
template <class T>
void gumbel_assign_forward(const Context<cuda>& ctx, TensorView<T, 3, cuda> y_hard, GumbelAssignSaved<T, cuda>& saved,
                           std::type_identity_t<TensorView<const T, 3, cuda>> logits,
                           std::type_identity_t<TensorView<const T, 3, cuda>> noise, T tau = T(1)) {
    cuda_detail::expect_assignment<T>("gumbel_assign_forward", "y_hard", y_hard, "logits", logits);
    if (saved.y_soft.shape() != logits.shape()) saved.y_soft = Tensor<T, 3, cuda>(logits.shape(), uninitialized);
    group_softmax_forward<T>(ctx, saved.y_soft, logits, noise, tau);
    const index_t B = logits.extent(0), M = logits.extent(1), L = logits.extent(2);
    if (B * L == 0 || M == 0) return;
    cuda_kernels::one_hot_argmax<T><<<cuda_detail::blocks_for(B * L, 256), 256, 0, ctx.stream()>>>(
        y_hard.data(), saved.y_soft.data(), B, M, L);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// Straight-through: dlogits (B, M, L) is the gradient of y_soft; assigned.
template <class T>
void gumbel_assign_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> dlogits,
                            std::type_identity_t<TensorView<const T, 3, cuda>> dy, const GumbelAssignSaved<T, cuda>& saved,
                            T tau = T(1)) {
    expect_shape("gumbel_assign_backward", "dy", dy, saved.y_soft.shape());
    group_softmax_backward<T>(ctx, dlogits, dy, saved.y_soft, tau);
}

// a (B, M, L) = y / (sum over L of y + eps), eps = 1 as GroupViT.
template <class T>
void assign_normalize_forward(const Context<cuda>& ctx, TensorView<T, 3, cuda> a,
                              std::type_identity_t<TensorView<const T, 3, cuda>> y, T eps = T(1)) {
    cuda_detail::expect_assignment<T>("assign_normalize_forward", "a", a, "y", y);
    const index_t rows = y.extent(0) * y.extent(1), L = y.extent(2);
    if (rows == 0) return;
    cuda_kernels::assign_normalize_forward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(a.data(), y.data(), L, eps);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dy (B, M, L) = (da - sum_l(da * y) / s) / s with s = sum_l y + eps; assigned.
template <class T>
void assign_normalize_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> dy,
                               std::type_identity_t<TensorView<const T, 3, cuda>> da,
                               std::type_identity_t<TensorView<const T, 3, cuda>> y, T eps = T(1)) {
    const char* op = "assign_normalize_backward";
    cuda_detail::expect_assignment<T>(op, "dy", dy, "y", y);
    expect_shape(op, "da", da, y.shape());
    expect_contiguous(op, "da", da);
    const index_t rows = y.extent(0) * y.extent(1), L = y.extent(2);
    if (rows == 0) return;
    cuda_kernels::assign_normalize_backward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(dy.data(), da.data(), y.data(), L, eps);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
