// svilm/ops/embedding.hpp: table lookup (nn.Embedding).
#pragma once

#include <cstdint>
#include <string>

#include "svilm/core/profile.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

namespace detail {

inline void check_ids(const char* op, TensorView<const std::int64_t, 1> ids, index_t vocab) {
    for (index_t r = 0; r < ids.extent(0); ++r)
        if (ids(r) < 0 || ids(r) >= vocab)
            throw ValueError(std::string(op) + ": id " + std::to_string(ids(r)) + " at position " + std::to_string(r) +
                             " is outside the vocabulary of " + std::to_string(vocab));
}

}  // namespace detail

// y (R, C) = weight (V, C)[ids (R)]. An id outside [0, V) is a ValueError naming it.
template <class T>
void embedding_forward(const Context<cpu>&, TensorView<T, 2> y, std::type_identity_t<TensorView<const T, 2>> weight,
                       TensorView<const std::int64_t, 1> ids) {
    const profile::Scope profile_scope(__func__);
    const char* op = "embedding_forward";
    const index_t rows = ids.extent(0), vocab = weight.extent(0), cols = weight.extent(1);
    expect_shape(op, "y", y, {rows, cols});
    expect_contiguous(op, "weight", weight);
    expect_contiguous(op, "y", y);
    detail::check_ids(op, ids, vocab);
    parallel_for(
        rows, [&](index_t r) { std::copy_n(weight.data() + ids(r) * cols, cols, &y(r, 0)); }, rows * cols > 65536);
}

// dweight (V, C) += scatter of dy (R, C) by ids. Columns are split across threads and rows are
// visited in order, so repeated ids accumulate in the same order for any thread count.
template <class T>
void embedding_backward(const Context<cpu>&, TensorView<T, 2> dweight, std::type_identity_t<TensorView<const T, 2>> dy,
                        TensorView<const std::int64_t, 1> ids) {
    const profile::Scope profile_scope(__func__);
    const char* op = "embedding_backward";
    const index_t rows = ids.extent(0), cols = dweight.extent(1);
    expect_shape(op, "dy", dy, {rows, cols});
    expect_contiguous(op, "dweight", dweight);
    expect_contiguous(op, "dy", dy);
    detail::check_ids(op, ids, dweight.extent(0));
    constexpr index_t column_block = 64;
    const index_t blocks = (cols + column_block - 1) / column_block;
    parallel_for(
        blocks,
        [&](index_t blk) {
            const index_t c0 = blk * column_block, c1 = std::min(cols, c0 + column_block);
            for (index_t r = 0; r < rows; ++r) {
                T* dst = dweight.data() + ids(r) * cols;
                const T* src = dy.data() + r * cols;
                for (index_t c = c0; c < c1; ++c) dst[c] += src[c];
            }
        },
        rows * cols > 65536);
}

}  // namespace svilm
