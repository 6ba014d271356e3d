// svilm/ops/cuda/elementwise.cuh: the element-wise helpers of residual branches, copies and fills
// of strided views, a bias shared by all rows, the mean over one axis: the CUDA twins of
// svilm/ops/elementwise.hpp and svilm/ops/pooling.hpp, same signatures with Context<cuda> and
// device views. Column sums (bias gradients) are deterministic: fixed chunks of rows, then the
// chunks in order.
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>

#include "svilm/ops/contracts.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/launch.cuh"

namespace svilm {

namespace cuda_kernels {

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

template <class T>
__global__ void add2(T* y, const T* a, const T* b, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
        y[i] = a[i] + b[i];
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

// The axes of a strided copy or fill after cuda_detail::strided_shape merged what it could: an
// element's linear index, last axis fastest, gives its offset in dst and in src.
inline constexpr int max_strided_rank = 8;
struct StridedShape {
    int rank;
    index_t extent[max_strided_rank];
    index_t dst_stride[max_strided_rank];
    index_t src_stride[max_strided_rank];
};

__device__ inline void strided_offsets(const StridedShape& s, index_t i, index_t& dst, index_t& src) {
    dst = 0;
    src = 0;
    for (int a = s.rank - 1; a >= 0; --a) {
        const index_t k = i % s.extent[a];
        i /= s.extent[a];
        dst += k * s.dst_stride[a];
        src += k * s.src_stride[a];
    }
}

// dst = src element by element, n = the element count: one thread per element.
template <class T>
__global__ void copy_elements(T* dst, const T* src, StridedShape s, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        index_t d, o;
        strided_offsets(s, i, d, o);
        dst[d] = src[o];
    }
}

template <class T>
__global__ void fill_elements(T* dst, StridedShape s, index_t n, T value) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        index_t d, o;
        strided_offsets(s, i, d, o);
        dst[d] = value;
    }
}

// Column sums run over fixed chunks of rows, then over the chunks in order: deterministic, and
// parallel over rows.
inline constexpr index_t column_chunk_rows = 64;

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

// y[r, c] = (x[r, c] + shift[c]) * scale[c]; a null shift: y = x * scale. One thread per element.
template <class T>
__global__ void column_affine(T* y, const T* x, const T* shift, const T* scale, index_t cols, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const index_t c = i % cols;
        y[i] = (x[i] + (shift ? shift[c] : T(0))) * scale[c];
    }
}

}  // namespace cuda_kernels

namespace cuda_detail {

template <class T, int Rank>
void expect_same_contiguous(const char* op, const TensorView<T, Rank, cuda>& out, const auto& in, const char* in_name) {
    expect_shape(op, in_name, in, out.shape());
    expect_contiguous(op, "out", out);
    expect_contiguous(op, in_name, in);
}

// The number of chunks of `rows` (at least 1) of a column sum, checked against the grid.
inline index_t column_chunks(const char* op, index_t rows) {
    const index_t chunks = std::max<index_t>(1, (rows + cuda_kernels::column_chunk_rows - 1) / cuda_kernels::column_chunk_rows);
    if (chunks > 65535) throw ShapeError(std::string(op) + ": " + std::to_string(rows) + " rows exceed the grid");
    return chunks;
}

// dbias (C) = sum over rows of dy (R, C), or dbias += that sum when `accumulate` (bias
// gradients), in chunks of rows.
template <class T>
void column_sum(const Context<cuda>& ctx, const char* op, TensorView<T, 1, cuda> dbias, TensorView<const T, 2, cuda> dy,
                bool accumulate) {
    const index_t rows = dy.extent(0), cols = dy.extent(1);
    expect_shape(op, "dbias", dbias, {cols});
    expect_contiguous(op, "dbias", dbias);
    expect_contiguous(op, "dy", dy);
    if (cols == 0) return;
    const index_t chunks = column_chunks(op, rows);
    Tensor<T, 2, cuda> partial({chunks, cols}, uninitialized);
    const unsigned col_blocks = blocks_for(cols, 256);
    cuda_kernels::column_partials<T><<<dim3(col_blocks, unsigned(chunks)), 256, 0, ctx.stream()>>>(
        partial.data(), dy.data(), rows, cols, cuda_kernels::column_chunk_rows);
    SVILM_CUDA_CHECK(cudaGetLastError());
    cuda_kernels::column_total<T><<<col_blocks, 256, 0, ctx.stream()>>>(dbias.data(), partial.data(), chunks, cols, accumulate);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// The axes of a view pair with size-1 axes dropped and neighbours merged wherever both views
// step over the inner axis in one stride (a contiguous pair becomes one axis), so the kernels
// divide as little as possible. src_strides may equal dst_strides (a fill).
template <int Rank>
cuda_kernels::StridedShape strided_shape(const Extents<Rank>& shape, const Extents<Rank>& dst_strides,
                                         const Extents<Rank>& src_strides) {
    static_assert(Rank <= cuda_kernels::max_strided_rank, "strided copies and fills go up to rank 8");
    cuda_kernels::StridedShape s{};
    for (int a = 0; a < Rank; ++a) {
        if (shape[a] == 1) continue;
        const int p = s.rank - 1;
        if (p >= 0 && s.dst_stride[p] == shape[a] * dst_strides[a] && s.src_stride[p] == shape[a] * src_strides[a]) {
            s.extent[p] *= shape[a];  // axis p is axis a's outer neighbour in both views
            s.dst_stride[p] = dst_strides[a];
            s.src_stride[p] = src_strides[a];
            continue;
        }
        s.extent[s.rank] = shape[a];
        s.dst_stride[s.rank] = dst_strides[a];
        s.src_stride[s.rank] = src_strides[a];
        ++s.rank;
    }
    if (s.rank == 0) {  // one element
        s.rank = 1;
        s.extent[0] = s.dst_stride[0] = s.src_stride[0] = 1;
    }
    return s;
}

}  // namespace cuda_detail

// y = a + b (residual add), same shape, contiguous. y may alias a or b.
template <class T, int Rank>
void add_forward(const Context<cuda>& ctx, TensorView<T, Rank, cuda> y, std::type_identity_t<TensorView<const T, Rank, cuda>> a,
                 std::type_identity_t<TensorView<const T, Rank, cuda>> b) {
    cuda_detail::expect_same_contiguous("add_forward", y, a, "a");
    cuda_detail::expect_same_contiguous("add_forward", y, b, "b");
    if (y.size() == 0) return;
    cuda_kernels::add2<T><<<cuda_detail::grid_cover(y.size()), 256, 0, ctx.stream()>>>(y.data(), a.data(), b.data(), y.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// The backward of y = a + b: da = dy and db = dy (assigned; either may be an empty view).
template <class T, int Rank>
void add_backward(const Context<cuda>& ctx, TensorView<T, Rank, cuda> da, TensorView<T, Rank, cuda> db,
                  std::type_identity_t<TensorView<const T, Rank, cuda>> dy) {
    for (const TensorView<T, Rank, cuda>& d : {da, db}) {
        if (!d.data()) continue;
        cuda_detail::expect_same_contiguous("add_backward", d, dy, "dy");
        DeviceMemory<cuda>::copy(ctx, d.data(), dy.data(), std::size_t(dy.size()) * sizeof(T));
    }
}

// y += alpha * x (same shape, contiguous): gradient accumulation at residual joins.
template <class T, int Rank>
void add_into(const Context<cuda>& ctx, TensorView<T, Rank, cuda> y, std::type_identity_t<TensorView<const T, Rank, cuda>> x,
              T alpha = T(1)) {
    cuda_detail::expect_same_contiguous("add_into", y, x, "x");
    if (y.size() == 0) return;
    cuda_kernels::axpy<T><<<cuda_detail::grid_cover(y.size()), 256, 0, ctx.stream()>>>(y.data(), x.data(), alpha, y.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// y = alpha * x (same shape, contiguous); y may alias x.
template <class T, int Rank>
void scale_forward(const Context<cuda>& ctx, TensorView<T, Rank, cuda> y, std::type_identity_t<TensorView<const T, Rank, cuda>> x,
                   T alpha) {
    cuda_detail::expect_same_contiguous("scale_forward", y, x, "x");
    if (y.size() == 0) return;
    cuda_kernels::scale<T><<<cuda_detail::grid_cover(y.size()), 256, 0, ctx.stream()>>>(y.data(), x.data(), alpha, y.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dst = src for views of the same shape with any strides (narrowed slices of a joint token
// stream, per-clip transposes), rank 0 to 8: one cudaMemcpyAsync when both are contiguous, else
// one thread per element. dst must not overlap src.
template <class T, int Rank>
void copy(const Context<cuda>& ctx, TensorView<T, Rank, cuda> dst, std::type_identity_t<TensorView<const T, Rank, cuda>> src) {
    expect_shape("copy", "src", src, dst.shape());
    if (dst.size() == 0) return;
    if (dst.is_contiguous() && src.is_contiguous()) {
        DeviceMemory<cuda>::copy(ctx, dst.data(), src.data(), std::size_t(dst.size()) * sizeof(T));
        return;
    }
    if constexpr (Rank > 0) {  // a rank-0 view is always contiguous
        const auto s = cuda_detail::strided_shape<Rank>(dst.shape(), dst.strides(), src.strides());
        cuda_kernels::copy_elements<T><<<cuda_detail::grid_cover(dst.size()), 256, 0, ctx.stream()>>>(
            dst.data(), src.data(), s, dst.size());
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
}

// Every element of dst (any strides, rank 0 to 8) set to value.
template <class T, int Rank>
void fill(const Context<cuda>& ctx, TensorView<T, Rank, cuda> dst, T value) {
    if (dst.size() == 0) return;
    const auto s = cuda_detail::strided_shape<Rank>(dst.shape(), dst.strides(), dst.strides());
    cuda_kernels::fill_elements<T><<<cuda_detail::grid_cover(dst.size()), 256, 0, ctx.stream()>>>(
        dst.data(), s, dst.size(), value);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// y (R, C) += bias (C) on every row: a bias shared by all rows (BERT's segment-0 embedding).
// y and bias contiguous.
template <class T>
void bias_add_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y,
                      std::type_identity_t<TensorView<const T, 1, cuda>> bias) {
    const char* op = "bias_add_forward";
    expect_shape(op, "bias", bias, {y.extent(1)});
    expect_contiguous(op, "y", y);
    expect_contiguous(op, "bias", bias);
    if (y.size() == 0) return;
    cuda_kernels::broadcast_rows<T><<<cuda_detail::grid_cover(y.size()), 256, 0, ctx.stream()>>>(
        y.data(), bias.data(), y.extent(0), y.extent(1), y.extent(1), true);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// y (R, C) = (x + shift) * scale, shift and scale (C) shared by every row (a fixed per-column
// standardisation). y may alias x. All contiguous.
template <class T>
void column_affine_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y, std::type_identity_t<TensorView<const T, 2, cuda>> x,
                           std::type_identity_t<TensorView<const T, 1, cuda>> shift,
                           std::type_identity_t<TensorView<const T, 1, cuda>> scale) {
    const char* op = "column_affine_forward";
    cuda_detail::expect_same_contiguous(op, y, x, "x");
    expect_shape(op, "shift", shift, {x.extent(1)});
    expect_shape(op, "scale", scale, {x.extent(1)});
    expect_contiguous(op, "shift", shift);
    expect_contiguous(op, "scale", scale);
    if (y.size() == 0) return;
    cuda_kernels::column_affine<T><<<cuda_detail::grid_cover(y.size()), 256, 0, ctx.stream()>>>(
        y.data(), x.data(), shift.data(), scale.data(), x.extent(1), y.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dx (R, C) = dy * scale (assigned). dx may alias dy.
template <class T>
void column_affine_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dx, std::type_identity_t<TensorView<const T, 2, cuda>> dy,
                            std::type_identity_t<TensorView<const T, 1, cuda>> scale) {
    const char* op = "column_affine_backward";
    cuda_detail::expect_same_contiguous(op, dx, dy, "dy");
    expect_shape(op, "scale", scale, {dy.extent(1)});
    expect_contiguous(op, "scale", scale);
    if (dx.size() == 0) return;
    cuda_kernels::column_affine<T><<<cuda_detail::grid_cover(dx.size()), 256, 0, ctx.stream()>>>(
        dx.data(), dy.data(), static_cast<const T*>(nullptr), scale.data(), dy.extent(1), dx.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dbias (C) += sum over rows of dy (R, C), in fixed chunks of rows then the chunks in order.
template <class T>
void bias_add_backward(const Context<cuda>& ctx, TensorView<T, 1, cuda> dbias,
                       std::type_identity_t<TensorView<const T, 2, cuda>> dy) {
    cuda_detail::column_sum<T>(ctx, "bias_add_backward", dbias, dy, true);
}

// y (O, I) = mean over N of x (O, N, I); N must be positive.
template <class T>
void mean_pool_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y,
                       std::type_identity_t<TensorView<const T, 3, cuda>> x) {
    const char* op = "mean_pool_forward";
    const index_t outer = x.extent(0), n = x.extent(1), inner = x.extent(2);
    contract::mean_pool_forward(op, y, x);
    if (outer * inner == 0) return;
    cuda_kernels::mean_pool_forward<T><<<cuda_detail::grid_cover(outer * inner), 256, 0, ctx.stream()>>>(
        y.data(), x.data(), outer, n, inner);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dx (O, N, I) = dy (O, I) / N broadcast over N; assigned.
template <class T>
void mean_pool_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> dx,
                        std::type_identity_t<TensorView<const T, 2, cuda>> dy) {
    const char* op = "mean_pool_backward";
    const index_t outer = dx.extent(0), n = dx.extent(1), inner = dx.extent(2);
    contract::mean_pool_backward(op, dx, dy);
    if (dx.size() == 0) return;
    cuda_kernels::mean_pool_backward<T><<<cuda_detail::grid_cover(dx.size()), 256, 0, ctx.stream()>>>(
        dx.data(), dy.data(), outer, n, inner);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
