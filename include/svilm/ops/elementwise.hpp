// svilm/ops/elementwise.hpp: the element-wise helpers modules need around residual branches.
//
// A residual y = a + b has the backward da = dy, db = dy (add_backward); in a module the parent
// usually passes dy on to both branches and adds their input gradients with add_into.
#pragma once

#include <algorithm>
#include <string>

#include "svilm/core/profile.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/detail/column_sum.hpp"

namespace svilm {

namespace detail {

template <class T, int Rank>
void expect_same_contiguous(const char* op, const TensorView<T, Rank>& out, const auto& in, const char* in_name) {
    expect_shape(op, in_name, in, out.shape());
    expect_contiguous(op, "out", out);
    expect_contiguous(op, in_name, in);
}

}  // namespace detail

// y = a + b (residual add). y may alias a or b.
template <class T, int Rank>
void add_forward(const Context<cpu>&, TensorView<T, Rank> y, std::type_identity_t<TensorView<const T, Rank>> a,
                 std::type_identity_t<TensorView<const T, Rank>> b) {
    const profile::Scope profile_scope(__func__);
    detail::expect_same_contiguous("add_forward", y, a, "a");
    detail::expect_same_contiguous("add_forward", y, b, "b");
    const index_t n = y.size();
    T* out = y.data();
    const T* pa = a.data();
    const T* pb = b.data();
    parallel_for_ranges(
        n,
        [&](index_t lo, index_t hi) {
#pragma omp simd
            for (index_t i = lo; i < hi; ++i) out[i] = pa[i] + pb[i];
        },
        n > 65536);
}

// The backward of y = a + b: da = dy and db = dy (assigned; either may be an empty view).
template <class T, int Rank>
void add_backward(const Context<cpu>&, TensorView<T, Rank> da, TensorView<T, Rank> db, std::type_identity_t<TensorView<const T, Rank>> dy) {
    const profile::Scope profile_scope(__func__);
    if (da.data()) {
        detail::expect_same_contiguous("add_backward", da, dy, "dy");
        std::copy_n(dy.data(), dy.size(), da.data());
    }
    if (db.data()) {
        detail::expect_same_contiguous("add_backward", db, dy, "dy");
        std::copy_n(dy.data(), dy.size(), db.data());
    }
}

// y += alpha * x: gradient accumulation at residual joins and branch merges.
template <class T, int Rank>
void add_into(const Context<cpu>&, TensorView<T, Rank> y, std::type_identity_t<TensorView<const T, Rank>> x, T alpha = T(1)) {
    const profile::Scope profile_scope(__func__);
    detail::expect_same_contiguous("add_into", y, x, "x");
    const index_t n = y.size();
    T* out = y.data();
    const T* in = x.data();
    parallel_for_ranges(
        n,
        [&](index_t lo, index_t hi) {
#pragma omp simd
            for (index_t i = lo; i < hi; ++i) out[i] += alpha * in[i];
        },
        n > 65536);
}

// y = alpha * x.
template <class T, int Rank>
void scale_forward(const Context<cpu>&, TensorView<T, Rank> y, std::type_identity_t<TensorView<const T, Rank>> x, T alpha) {
    const profile::Scope profile_scope(__func__);
    detail::expect_same_contiguous("scale_forward", y, x, "x");
    const index_t n = y.size();
    T* out = y.data();
    const T* in = x.data();
    parallel_for_ranges(
        n,
        [&](index_t lo, index_t hi) {
#pragma omp simd
            for (index_t i = lo; i < hi; ++i) out[i] = alpha * in[i];
        },
        n > 65536);
}

// Copies any strided view into a same-shaped view, element by element (CPU).
template <class T, int Rank>
void copy(const Context<cpu>& ctx, TensorView<T, Rank> dst, std::type_identity_t<TensorView<const T, Rank>> src) {
    const profile::Scope profile_scope(__func__);
    expect_shape("copy", "src", src, dst.shape());
    if (dst.is_contiguous() && src.is_contiguous()) {
        std::copy_n(src.data(), src.size(), dst.data());
        return;
    }
    if constexpr (Rank == 0) {
        dst() = src();
    } else {
        for (index_t i = 0; i < dst.extent(0); ++i) copy<T, Rank - 1>(ctx, dst.select(0, i), src.select(0, i));
    }
}

template <class T, int Rank>
void fill(const Context<cpu>& ctx, TensorView<T, Rank> dst, T value) {
    const profile::Scope profile_scope(__func__);
    if (dst.is_contiguous()) {
        std::fill_n(dst.data(), dst.size(), value);
        return;
    }
    if constexpr (Rank == 0) {
        dst() = value;
    } else {
        for (index_t i = 0; i < dst.extent(0); ++i) fill<T, Rank - 1>(ctx, dst.select(0, i), value);
    }
}

// y (R, C) += bias (C) on every row: a bias shared by all rows (BERT's segment-0 embedding).
template <class T>
void bias_add_forward(const Context<cpu>&, TensorView<T, 2> y, std::type_identity_t<TensorView<const T, 1>> bias) {
    const profile::Scope profile_scope(__func__);
    const char* op = "bias_add_forward";
    expect_shape(op, "bias", bias, {y.extent(1)});
    expect_contiguous(op, "y", y);
    expect_contiguous(op, "bias", bias);
    const index_t rows = y.extent(0), cols = y.extent(1);
    const T* b = bias.data();
    parallel_for(
        rows,
        [&](index_t r) {
            T* row = y.data() + r * cols;
#pragma omp simd
            for (index_t c = 0; c < cols; ++c) row[c] += b[c];
        },
        rows * cols > 65536);
}

// dbias (C) += sum over rows of dy (R, C), in the fixed chunk order of detail::accumulate_column_sums.
template <class T>
void bias_add_backward(const Context<cpu>&, TensorView<T, 1> dbias, std::type_identity_t<TensorView<const T, 2>> dy) {
    const profile::Scope profile_scope(__func__);
    const char* op = "bias_add_backward";
    expect_shape(op, "dbias", dbias, {dy.extent(1)});
    expect_contiguous(op, "dbias", dbias);
    expect_contiguous(op, "dy", dy);
    const index_t cols = dy.extent(1);
    const T* g = dy.data();
    detail::accumulate_column_sums(dbias.data(), dy.extent(0), cols, [&](index_t r, T* partial) {
#pragma omp simd
        for (index_t c = 0; c < cols; ++c) partial[c] += g[r * cols + c];
    });
}

// y (R, C) = (x + shift) * scale, shift and scale (C) shared by every row: a fixed per-column
// standardisation of features (shift = -mean, scale = 1 / std) in front of a task head. y may
// alias x. All contiguous.
template <class T>
void column_affine_forward(const Context<cpu>&, TensorView<T, 2> y, std::type_identity_t<TensorView<const T, 2>> x,
                           std::type_identity_t<TensorView<const T, 1>> shift, std::type_identity_t<TensorView<const T, 1>> scale) {
    const profile::Scope profile_scope(__func__);
    const char* op = "column_affine_forward";
    detail::expect_same_contiguous(op, y, x, "x");
    expect_shape(op, "shift", shift, {x.extent(1)});
    expect_shape(op, "scale", scale, {x.extent(1)});
    expect_contiguous(op, "shift", shift);
    expect_contiguous(op, "scale", scale);
    const index_t rows = x.extent(0), cols = x.extent(1);
    const T *in = x.data(), *a = shift.data(), *s = scale.data();
    T* out = y.data();
    parallel_for(
        rows,
        [&](index_t r) {
#pragma omp simd
            for (index_t c = 0; c < cols; ++c) out[r * cols + c] = (in[r * cols + c] + a[c]) * s[c];
        },
        rows * cols > 65536);
}

// dx (R, C) = dy * scale (assigned; the shift and scale are constants, without gradients). dx
// may alias dy.
template <class T>
void column_affine_backward(const Context<cpu>&, TensorView<T, 2> dx, std::type_identity_t<TensorView<const T, 2>> dy,
                            std::type_identity_t<TensorView<const T, 1>> scale) {
    const profile::Scope profile_scope(__func__);
    const char* op = "column_affine_backward";
    detail::expect_same_contiguous(op, dx, dy, "dy");
    expect_shape(op, "scale", scale, {dy.extent(1)});
    expect_contiguous(op, "scale", scale);
    const index_t rows = dy.extent(0), cols = dy.extent(1);
    const T *g = dy.data(), *s = scale.data();
    T* out = dx.data();
    parallel_for(
        rows,
        [&](index_t r) {
#pragma omp simd
            for (index_t c = 0; c < cols; ++c) out[r * cols + c] = g[r * cols + c] * s[c];
        },
        rows * cols > 65536);
}

}  // namespace svilm
