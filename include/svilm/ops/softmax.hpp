// svilm/ops/softmax.hpp: softmax over the last axis with an optional additive mask.
//
// A row whose every entry is -inf (everything masked) has no distribution; it comes out as
// zeros, and so does its gradient, rather than PyTorch's NaNs.
#pragma once

#include <cmath>

#include "svilm/core/profile.hpp"
#include "svilm/ops/detail/vector_math.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"

namespace svilm {

namespace detail {

// In place: row (n) <- softmax(row). Returns false for a row that is entirely -inf.
template <class T>
bool softmax_row_inplace(T* row, index_t n) {
    const T m = max_of(row, n);
    if (m == -INFINITY) {
        std::fill_n(row, n, T(0));
        return false;
    }
    const T inv = T(1) / exp_shifted_sum(row, row, n, m);
#pragma omp simd
    for (index_t i = 0; i < n; ++i) row[i] *= inv;
    return true;
}

}  // namespace detail

// y (B, R, N) = softmax(x (B, R, N) + mask (B, N) broadcast over R) along N.
// mask may be an empty view (none); it typically holds 0 and -inf (key padding).
template <class T>
void softmax_forward(const Context<cpu>&, TensorView<T, 3> y, std::type_identity_t<TensorView<const T, 3>> x,
                     std::type_identity_t<TensorView<const T, 2>> mask) {
    const profile::Scope profile_scope(__func__);
    const char* op = "softmax_forward";
    const index_t batch = x.extent(0), rows = x.extent(1), n = x.extent(2);
    expect_contiguous(op, "x", x);
    contract::same_contiguous(op, "y", y, x);
    if (mask.data()) {
        expect_shape(op, "mask", mask, {batch, n});
        expect_contiguous(op, "mask", mask);
    }
    parallel_for(
        batch * rows,
        [&](index_t br) {
            const T* in = x.data() + br * n;
            T* out = y.data() + br * n;
            if (mask.data()) {
                const T* m = mask.data() + (br / rows) * n;
#pragma omp simd
                for (index_t i = 0; i < n; ++i) out[i] = in[i] + m[i];
            } else {
                std::copy_n(in, n, out);
            }
            detail::softmax_row_inplace(out, n);
        },
        batch * rows * n > 16384);
}

// dx (B, R, N) = y * (dy - sum(dy * y)); assigned. dx may alias dy.
template <class T>
void softmax_backward(const Context<cpu>&, TensorView<T, 3> dx, std::type_identity_t<TensorView<const T, 3>> dy,
                      std::type_identity_t<TensorView<const T, 3>> y) {
    const profile::Scope profile_scope(__func__);
    const char* op = "softmax_backward";
    contract::row_backward(op, dx, dy, y);
    const index_t n = y.extent(2), total_rows = y.extent(0) * y.extent(1);
    parallel_for(
        total_rows,
        [&](index_t r) {
            const T* yr = y.data() + r * n;
            const T* gr = dy.data() + r * n;
            T* dr = dx.data() + r * n;
            const T inner = detail::dot(gr, yr, n);
#pragma omp simd
            for (index_t i = 0; i < n; ++i) dr[i] = yr[i] * (gr[i] - inner);
        },
        total_rows * n > 16384);
}

}  // namespace svilm
