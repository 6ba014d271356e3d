// svilm/interop/xtensor.hpp: hand svilm tensors to xtensor without a copy, and back.
//
// Link svilm::xtensor (built when CMake finds xtensor). The adaptor aliases the view's memory:
// it is valid while the tensor lives, and writes through a mutable view land in the tensor.
#pragma once

#include <array>
#include <cstddef>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "svilm/core/tensor.hpp"

namespace svilm {

// xt::adapt over a CPU view, same extents and strides (in elements).
template <class T, int Rank>
auto to_xtensor(const TensorView<T, Rank, cpu>& view) {
    std::array<std::size_t, Rank> shape{}, strides{};
    for (int i = 0; i < Rank; ++i) {
        shape[i] = std::size_t(view.extent(i));
        strides[i] = std::size_t(view.stride(i));
    }
    std::size_t span = 1;  // elements from the first to one past the last, for xtensor's bounds
    for (int i = 0; i < Rank; ++i) span += shape[i] ? (shape[i] - 1) * strides[i] : 0;
    return xt::adapt(view.data(), view.size() ? span : 0, xt::no_ownership(), shape, strides);
}

// Copies any xtensor expression of rank Rank into a new svilm tensor.
template <class T, int Rank, class Expression>
Tensor<T, Rank> from_xtensor(const Expression& expression) {
    const xt::xtensor<T, std::size_t(Rank)> evaluated = expression;
    Extents<Rank> shape{};
    for (int i = 0; i < Rank; ++i) shape[i] = index_t(evaluated.shape()[std::size_t(i)]);
    Tensor<T, Rank> out(shape, uninitialized);
    std::copy(evaluated.begin(), evaluated.end(), out.data());
    return out;
}

}  // namespace svilm
