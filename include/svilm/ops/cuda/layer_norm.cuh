// svilm/ops/cuda/layer_norm.cuh: layer normalisation over the last axis on the device, the CUDA
// twin of svilm/ops/layer_norm.hpp (two-pass variance, biased, as PyTorch). One block per row;
// the weight and bias gradients are column sums over fixed chunks of rows, then over the chunks
// in order, so they are deterministic.
#pragma once

#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/cuda/elementwise.cuh"
#include "svilm/ops/cuda/reduce.cuh"
#include "svilm/ops/saved.hpp"

namespace svilm {

namespace cuda_kernels {

template <class T>
__global__ void layer_norm_forward(T* y, T* mean_out, T* rstd_out, const T* x, const T* w, const T* b, index_t cols, T eps) {
    __shared__ T scratch[32];
    const index_t r = blockIdx.x;
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T sum = 0;
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) sum += xr[c];
    const T mean = block_sum(sum, scratch) / T(cols);
    T sq = 0;
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) sq += (xr[c] - mean) * (xr[c] - mean);
    const T rstd = T(1) / sqrt(block_sum(sq, scratch) / T(cols) + eps);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
    if (threadIdx.x == 0) {
        mean_out[r] = mean;
        rstd_out[r] = rstd;
    }
}

template <class T>
__global__ void layer_norm_backward_input(T* dx, const T* dy, const T* x, const T* w, const T* mean, const T* rstd,
                                          index_t cols) {
    __shared__ T scratch[32];
    const index_t r = blockIdx.x;
    const T* xr = x + r * cols;
    const T* gr = dy + r * cols;
    T sum_g = 0, sum_gx = 0;
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const T g = gr[c] * w[c];
        sum_g += g;
        sum_gx += g * (xr[c] - mean[r]) * rstd[r];
    }
    const T mean_g = block_sum(sum_g, scratch) / T(cols);
    const T mean_gx = block_sum(sum_gx, scratch) / T(cols);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const T xhat = (xr[c] - mean[r]) * rstd[r];
        dx[r * cols + c] = rstd[r] * (gr[c] * w[c] - mean_g - xhat * mean_gx);
    }
}

// Stage 1 of the parameter gradients: per chunk of rows, partial_w[k, c] = sum_r dy[r, c] xhat[r, c]
// and partial_b[k, c] = sum_r dy[r, c], rows in order (stage 2 sums the chunks in order).
template <class T>
__global__ void layer_norm_param_partials(T* partial_w, T* partial_b, const T* dy, const T* x, const T* mean, const T* rstd,
                                          index_t rows, index_t cols, index_t rows_per_chunk) {
    const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x, k = blockIdx.y;
    if (c >= cols) return;
    const index_t r0 = k * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
    T sw = 0, sb = 0;
    for (index_t r = r0; r < r1; ++r) {
        const T g = dy[r * cols + c];
        sw += g * (x[r * cols + c] - mean[r]) * rstd[r];
        sb += g;
    }
    partial_w[k * cols + c] = sw;
    partial_b[k * cols + c] = sb;
}

}  // namespace cuda_kernels

// y (R, C) = (x - mean) * rstd * weight + bias; saved gets mean and rstd (R).
template <class T>
void layer_norm_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y, LayerNormSaved<T, cuda>& saved,
                        std::type_identity_t<TensorView<const T, 2, cuda>> x,
                        std::type_identity_t<TensorView<const T, 1, cuda>> weight,
                        std::type_identity_t<TensorView<const T, 1, cuda>> bias, T eps) {
    const char* op = "layer_norm_forward";
    const index_t rows = x.extent(0), cols = x.extent(1);
    contract::layer_norm_forward(op, y, x, weight, bias);
    if (saved.mean.extent(0) != rows) saved.mean = Tensor<T, 1, cuda>({rows}, uninitialized);
    if (saved.rstd.extent(0) != rows) saved.rstd = Tensor<T, 1, cuda>({rows}, uninitialized);
    if (rows == 0) return;
    cuda_kernels::layer_norm_forward<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(
        y.data(), saved.mean.data(), saved.rstd.data(), x.data(), weight.data(), bias.data(), cols, eps);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dx (R, C) assigned (empty view to skip); dweight, dbias (C) accumulate (empty to skip).
template <class T>
void layer_norm_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dx, TensorView<T, 1, cuda> dweight,
                         TensorView<T, 1, cuda> dbias, std::type_identity_t<TensorView<const T, 2, cuda>> dy,
                         const LayerNormSaved<T, cuda>& saved, std::type_identity_t<TensorView<const T, 2, cuda>> x,
                         std::type_identity_t<TensorView<const T, 1, cuda>> weight) {
    const char* op = "layer_norm_backward";
    const index_t rows = x.extent(0), cols = x.extent(1);
    contract::layer_norm_backward(op, dy, saved.mean.view(), saved.rstd.view(), x, weight);
    if (dx.data()) {
        expect_shape(op, "dx", dx, x.shape());
        expect_contiguous(op, "dx", dx);
    }
    if (dweight.data()) {
        expect_shape(op, "dweight", dweight, {cols});
        expect_contiguous(op, "dweight", dweight);
    }
    if (dbias.data()) {
        expect_shape(op, "dbias", dbias, {cols});
        expect_contiguous(op, "dbias", dbias);
    }
    if (rows == 0 || cols == 0) return;
    if (dx.data()) {
        cuda_kernels::layer_norm_backward_input<T><<<unsigned(rows), 256, 0, ctx.stream()>>>(
            dx.data(), dy.data(), x.data(), weight.data(), saved.mean.data(), saved.rstd.data(), cols);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
    if (dweight.data() || dbias.data()) {
        const index_t chunks = cuda_detail::column_chunks(op, rows);
        Tensor<T, 2, cuda> partial_w({chunks, cols}, uninitialized), partial_b({chunks, cols}, uninitialized);
        const unsigned col_blocks = cuda_detail::blocks_for(cols, 256);
        cuda_kernels::layer_norm_param_partials<T><<<dim3(col_blocks, unsigned(chunks)), 256, 0, ctx.stream()>>>(
            partial_w.data(), partial_b.data(), dy.data(), x.data(), saved.mean.data(), saved.rstd.data(), rows, cols,
            cuda_kernels::column_chunk_rows);
        SVILM_CUDA_CHECK(cudaGetLastError());
        if (dweight.data()) {
            cuda_kernels::column_total<T><<<col_blocks, 256, 0, ctx.stream()>>>(
                dweight.data(), partial_w.data(), chunks, cols, true);
            SVILM_CUDA_CHECK(cudaGetLastError());
        }
        if (dbias.data()) {
            cuda_kernels::column_total<T><<<col_blocks, 256, 0, ctx.stream()>>>(
                dbias.data(), partial_b.data(), chunks, cols, true);
            SVILM_CUDA_CHECK(cudaGetLastError());
        }
    }
}

}  // namespace svilm
