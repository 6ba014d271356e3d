// svilm/ops/l2_normalize.hpp: y = x / max(||x||, eps) over the last axis (F.normalize).
#pragma once

#include <cmath>

#include "svilm/core/profile.hpp"
#include "svilm/ops/detail/vector_math.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

// y (R, C) = x / max(||x||, eps), eps = 1e-12 in docs/model.md §11.
template <class T>
void l2_normalize_forward(const Context<cpu>&, TensorView<T, 2> y, L2NormalizeSaved<T>& saved, std::type_identity_t<TensorView<const T, 2>> x,
                          T eps = T(1e-12)) {
    const profile::Scope profile_scope(__func__);
    const char* op = "l2_normalize_forward";
    const index_t rows = x.extent(0), cols = x.extent(1);
    expect_contiguous(op, "x", x);
    contract::same_contiguous(op, "y", y, x);
    if (saved.norm.extent(0) != rows) saved.norm = Tensor<T, 1>({rows}, uninitialized);
    parallel_for(
        rows,
        [&](index_t r) {
            const T* in = x.data() + r * cols;
            T* out = y.data() + r * cols;
            const T norm = std::sqrt(detail::dot(in, in, cols));
            const T inv = T(1) / std::max(norm, eps);
#pragma omp simd
            for (index_t c = 0; c < cols; ++c) out[c] = in[c] * inv;
            saved.norm(r) = norm;
        },
        rows * cols > 65536);
}

// dx (R, C), assigned: (dy - y (y . dy)) / ||x|| where ||x|| > eps, dy / eps where clamped.
template <class T>
void l2_normalize_backward(const Context<cpu>&, TensorView<T, 2> dx, std::type_identity_t<TensorView<const T, 2>> dy,
                           std::type_identity_t<TensorView<const T, 2>> y, const L2NormalizeSaved<T>& saved,
                           T eps = T(1e-12)) {
    const profile::Scope profile_scope(__func__);
    const char* op = "l2_normalize_backward";
    const index_t rows = y.extent(0), cols = y.extent(1);
    contract::row_backward(op, dx, dy, y);
    expect_shape(op, "saved.norm", saved.norm.view(), {rows});
    parallel_for(
        rows,
        [&](index_t r) {
            const T* yr = y.data() + r * cols;
            const T* gr = dy.data() + r * cols;
            T* dr = dx.data() + r * cols;
            const T norm = saved.norm(r);
            if (norm > eps) {
                const T inner = detail::dot(yr, gr, cols);
                const T inv = T(1) / norm;
#pragma omp simd
                for (index_t c = 0; c < cols; ++c) dr[c] = (gr[c] - yr[c] * inner) * inv;
            } else {
#pragma omp simd
                for (index_t c = 0; c < cols; ++c) dr[c] = gr[c] / eps;
            }
        },
        rows * cols > 65536);
}

}  // namespace svilm
