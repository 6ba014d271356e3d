// svilm/ops/cuda/elementwise.cuh: the element-wise helpers of residual branches, the mean over
// one axis, strided copies and deterministic column sums: the CUDA twins of
// svilm/ops/elementwise.hpp, svilm/ops/pooling.hpp and the column sums of bias gradients.
#pragma once

#include <algorithm>
#include <string>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/cuda/launch.cuh"

namespace svilm::cuda_ops {

namespace kernels {

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

// y (R, C) rows with leading dimension ld = row (C) broadcast, or += it when `accumulate`.
template <class T>
__global__ void broadcast_rows(T* y, const T* row, index_t rows, index_t cols, index_t ld, bool accumulate) {
    const index_t n = rows * cols;
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        T& dst = y[(i / cols) * ld + i % cols];
        dst = accumulate ? dst + row[i % cols] : row[i % cols];
    }
}

// Column sums run over fixed chunks of rows, then over the chunks in order: deterministic, and
// parallel over rows. The number of chunks of `rows` (at least 1), checked against the grid.
inline constexpr index_t column_chunk_rows = 64;
inline index_t column_chunks(const char* op, index_t rows) {
    const index_t chunks = std::max<index_t>(1, (rows + column_chunk_rows - 1) / column_chunk_rows);
    if (chunks > 65535) throw ShapeError(std::string(op) + ": " + std::to_string(rows) + " rows exceed the grid");
    return chunks;
}

template <class T>
__global__ void add2(T* y, const T* a, const T* b, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
        y[i] = a[i] + b[i];
}

// dst = src for (D0, D1, D2) views with any strides: one thread per element, the last axis fastest.
template <class T>
__global__ void copy3(T* dst, const T* src, index_t d1, index_t d2, index_t n, index_t ds0, index_t ds1, index_t ds2,
                      index_t ss0, index_t ss1, index_t ss2) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const index_t a = i / (d1 * d2), b = (i / d2) % d1, c = i % d2;
        dst[a * ds0 + b * ds1 + c * ds2] = src[a * ss0 + b * ss1 + c * ss2];
    }
}

// Stage 1 of a deterministic column sum: partial (chunks, C), chunk k = rows [k * rows_per_chunk, ...).
template <class T>
__global__ void column_partials(T* partial, const T* x, index_t rows, index_t cols, index_t rows_per_chunk) {
    const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x, k = blockIdx.y;
    if (c >= cols) return;
    const index_t r0 = k * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
    T sum = T(0);
    for (index_t r = r0; r < r1; ++r) sum += x[r * cols + c];
    partial[k * cols + c] = sum;
}

// Stage 2: y[c] (+)= sum over chunks in order.
template <class T>
__global__ void column_total(T* y, const T* partial, index_t chunks, index_t cols, bool accumulate) {
    const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    T sum = T(0);
    for (index_t k = 0; k < chunks; ++k) sum += partial[k * cols + c];
    y[c] = accumulate ? y[c] + sum : sum;
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

// y = a + b (same shape, contiguous); y may alias a or b.
template <class T, int Rank>
void add_forward(const CudaContext& ctx, TensorView<T, Rank, cuda> y, std::type_identity_t<TensorView<const T, Rank, cuda>> a,
                 std::type_identity_t<TensorView<const T, Rank, cuda>> b) {
    expect_shape("cuda add_forward", "a", a, y.shape());
    expect_shape("cuda add_forward", "b", b, y.shape());
    if (!a.is_contiguous() || !b.is_contiguous() || !y.is_contiguous())
        throw ShapeError("cuda add_forward: every view must be contiguous");
    if (y.size() == 0) return;
    kernels::add2<T><<<kernels::grid_cover(y.size()), 256, 0, ctx.stream()>>>(y.data(), a.data(), b.data(), y.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dst = src for rank-3 views of the same shape with any strides (narrowed slices of a joint
// token stream, per-clip transposes). dst must not overlap src.
template <class T>
void copy_strided(const CudaContext& ctx, TensorView<T, 3, cuda> dst, std::type_identity_t<TensorView<const T, 3, cuda>> src) {
    expect_shape("cuda copy_strided", "src", src, dst.shape());
    if (dst.size() == 0) return;
    kernels::copy3<T><<<kernels::grid_cover(dst.size()), 256, 0, ctx.stream()>>>(
        dst.data(), src.data(), dst.extent(1), dst.extent(2), dst.size(), dst.stride(0), dst.stride(1), dst.stride(2),
        src.stride(0), src.stride(1), src.stride(2));
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// y (C) = sum over rows of x (R, C), or y += that sum when `accumulate` (bias gradients), in
// chunks of rows (kernels::column_chunks).
template <class T>
void column_sum(const CudaContext& ctx, TensorView<T, 1, cuda> y, std::type_identity_t<TensorView<const T, 2, cuda>> x,
                bool accumulate) {
    const index_t rows = x.extent(0), cols = x.extent(1);
    expect_shape("cuda column_sum", "y", y, {cols});
    if (!x.is_contiguous() || !y.is_contiguous()) throw ShapeError("cuda column_sum: x and y must be contiguous");
    if (cols == 0) return;
    const index_t chunks = kernels::column_chunks("cuda column_sum", rows);
    Tensor<T, 2, cuda> partial({chunks, cols}, uninitialized);
    const unsigned col_blocks = kernels::blocks_for(cols, 256);
    kernels::column_partials<T><<<dim3(col_blocks, unsigned(chunks)), 256, 0, ctx.stream()>>>(partial.data(), x.data(), rows,
                                                                                               cols, kernels::column_chunk_rows);
    SVILM_CUDA_CHECK(cudaGetLastError());
    kernels::column_total<T><<<col_blocks, 256, 0, ctx.stream()>>>(y.data(), partial.data(), chunks, cols, accumulate);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm::cuda_ops
