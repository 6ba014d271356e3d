// svilm/core/shape.hpp: extents, strides and their printing.
#pragma once

#include <array>
#include <cstdint>
#include <sstream>
#include <string>

#include "svilm/core/error.hpp"

namespace svilm {

using index_t = std::int64_t;

template <int Rank>
using Extents = std::array<index_t, Rank>;

template <int Rank>
constexpr index_t numel(const Extents<Rank>& shape) {
    index_t n = 1;
    for (index_t e : shape) n *= e;
    return n;
}

// Row-major strides, in elements: the last axis is contiguous.
template <int Rank>
constexpr Extents<Rank> contiguous_strides(const Extents<Rank>& shape) {
    Extents<Rank> strides{};
    index_t s = 1;
    for (int axis = Rank - 1; axis >= 0; --axis) {
        strides[axis] = s;
        s *= shape[axis];
    }
    return strides;
}

// "(2, 5, 16)"; "()" for a scalar.
template <int Rank>
std::string to_string(const Extents<Rank>& shape) {
    std::ostringstream out;
    out << '(';
    for (int axis = 0; axis < Rank; ++axis) out << (axis ? ", " : "") << shape[axis];
    out << ')';
    return out.str();
}

template <int Rank>
void check_nonnegative(const Extents<Rank>& shape, const char* op) {
    for (index_t e : shape)
        if (e < 0) throw ShapeError(std::string(op) + ": negative extent in " + to_string<Rank>(shape));
}

}  // namespace svilm
