// svilm/ops/elementwise.hpp: the element-wise helpers modules need around residual branches.
//
// A residual y = a + b has the backward da = dy, db = dy (add_backward); in a module the parent
// usually passes dy on to both branches and adds their input gradients with add_into.
#pragma once

#include <algorithm>
#include <string>

#include "svilm/core/parallel.hpp"
#include "svilm/core/tensor.hpp"

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
void add_forward(TensorView<T, Rank> y, std::type_identity_t<TensorView<const T, Rank>> a,
                 std::type_identity_t<TensorView<const T, Rank>> b) {
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
void add_backward(TensorView<T, Rank> da, TensorView<T, Rank> db, std::type_identity_t<TensorView<const T, Rank>> dy) {
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
void add_into(TensorView<T, Rank> y, std::type_identity_t<TensorView<const T, Rank>> x, T alpha = T(1)) {
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
void scale_forward(TensorView<T, Rank> y, std::type_identity_t<TensorView<const T, Rank>> x, T alpha) {
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
void copy(TensorView<T, Rank> dst, std::type_identity_t<TensorView<const T, Rank>> src) {
    expect_shape("copy", "src", src, dst.shape());
    if (dst.is_contiguous() && src.is_contiguous()) {
        std::copy_n(src.data(), src.size(), dst.data());
        return;
    }
    if constexpr (Rank == 0) {
        dst() = src();
    } else {
        for (index_t i = 0; i < dst.extent(0); ++i) copy<T, Rank - 1>(dst.select(0, i), src.select(0, i));
    }
}

template <class T, int Rank>
void fill(TensorView<T, Rank> dst, T value) {
    if (dst.is_contiguous()) {
        std::fill_n(dst.data(), dst.size(), value);
        return;
    }
    if constexpr (Rank == 0) {
        dst() = value;
    } else {
        for (index_t i = 0; i < dst.extent(0); ++i) fill<T, Rank - 1>(dst.select(0, i), value);
    }
}

}  // namespace svilm
