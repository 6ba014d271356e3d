// svilm/ops/layer_norm.hpp: layer normalisation over the last axis.
#pragma once

#include <cmath>

#include "svilm/core/profile.hpp"
#include "svilm/ops/detail/column_sum.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

// What backward needs: per-row mean and 1 / sqrt(var + eps), shape (R).
// y (R, C) = (x - mean) * rstd * weight (C) + bias (C), biased variance, as PyTorch.
// requires: all views contiguous. ensures: saved holds mean and rstd of every row.
template <class T>
void layer_norm_forward(const Context<cpu>&, TensorView<T, 2> y, LayerNormSaved<T>& saved, std::type_identity_t<TensorView<const T, 2>> x,
                        std::type_identity_t<TensorView<const T, 1>> weight,
                        std::type_identity_t<TensorView<const T, 1>> bias, T eps) {
    const profile::Scope profile_scope(__func__);
    const char* op = "layer_norm_forward";
    const index_t rows = x.extent(0), cols = x.extent(1);
    contract::layer_norm_forward(op, y, x, weight, bias);
    if (saved.mean.extent(0) != rows) saved.mean = Tensor<T, 1>({rows}, uninitialized);
    if (saved.rstd.extent(0) != rows) saved.rstd = Tensor<T, 1>({rows}, uninitialized);
    const T* w = weight.data();
    const T* b = bias.data();
    parallel_for(
        rows,
        [&](index_t r) {
            const T* xr = x.data() + r * cols;
            T* yr = y.data() + r * cols;
            T sum = 0;
#pragma omp simd reduction(+ : sum)
            for (index_t c = 0; c < cols; ++c) sum += xr[c];
            const T mean = sum / T(cols);
            T sq = 0;  // two passes: exact for rows with a large mean
#pragma omp simd reduction(+ : sq)
            for (index_t c = 0; c < cols; ++c) sq += (xr[c] - mean) * (xr[c] - mean);
            const T rstd = T(1) / std::sqrt(sq / T(cols) + eps);
#pragma omp simd
            for (index_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
            saved.mean(r) = mean;
            saved.rstd(r) = rstd;
        },
        rows * cols > 16384);
}

// dx (R, C) assigned (empty view to skip); dweight (C), dbias (C) accumulate.
template <class T>
void layer_norm_backward(const Context<cpu>&, TensorView<T, 2> dx, TensorView<T, 1> dweight, TensorView<T, 1> dbias,
                         std::type_identity_t<TensorView<const T, 2>> dy, const LayerNormSaved<T>& saved,
                         std::type_identity_t<TensorView<const T, 2>> x,
                         std::type_identity_t<TensorView<const T, 1>> weight) {
    const profile::Scope profile_scope(__func__);
    const char* op = "layer_norm_backward";
    const index_t rows = x.extent(0), cols = x.extent(1);
    contract::layer_norm_backward(op, dy, saved.mean.view(), saved.rstd.view(), x, weight);
    const T* w = weight.data();
    const T* mean = saved.mean.data();
    const T* rstd = saved.rstd.data();
    if (dx.data()) {
        expect_shape(op, "dx", dx, x.shape());
        expect_contiguous(op, "dx", dx);
        parallel_for(
            rows,
            [&](index_t r) {
                const T* xr = x.data() + r * cols;
                const T* gr = dy.data() + r * cols;
                T* dr = dx.data() + r * cols;
                // dxhat = dy * w; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
                T sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
                for (index_t c = 0; c < cols; ++c) {
                    const T g = gr[c] * w[c];
                    sum_g += g;
                    sum_gx += g * (xr[c] - mean[r]) * rstd[r];
                }
                const T mean_g = sum_g / T(cols), mean_gx = sum_gx / T(cols);
#pragma omp simd
                for (index_t c = 0; c < cols; ++c) {
                    const T xhat = (xr[c] - mean[r]) * rstd[r];
                    dr[c] = rstd[r] * (gr[c] * w[c] - mean_g - xhat * mean_gx);
                }
            },
            rows * cols > 16384);
    }
    if (dweight.data()) {
        expect_shape(op, "dweight", dweight, {cols});
        expect_contiguous(op, "dweight", dweight);
        detail::accumulate_column_sums(dweight.data(), rows, cols, [&](index_t r, T* partial) {
            const T* xr = x.data() + r * cols;
            const T* gr = dy.data() + r * cols;
#pragma omp simd
            for (index_t c = 0; c < cols; ++c) partial[c] += gr[c] * (xr[c] - mean[r]) * rstd[r];
        });
    }
    if (dbias.data()) {
        expect_shape(op, "dbias", dbias, {cols});
        expect_contiguous(op, "dbias", dbias);
        detail::accumulate_column_sums(dbias.data(), rows, cols, [&](index_t r, T* partial) {
            const T* gr = dy.data() + r * cols;
#pragma omp simd
            for (index_t c = 0; c < cols; ++c) partial[c] += gr[c];
        });
    }
}

}  // namespace svilm
