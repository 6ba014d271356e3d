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

// Every extent non-negative, and the product of the non-zero extents below 2^62, so element
// counts, strides and byte sizes cannot overflow.
template <int Rank>
void check_extents(const Extents<Rank>& shape, const char* op) {
    index_t product = 1;
    for (index_t e : shape) {
        if (e < 0) throw ShapeError(std::string(op) + ": negative extent in " + to_string<Rank>(shape));
        if (e == 0) continue;
        if (__builtin_mul_overflow(product, e, &product) || product > (index_t(1) << 62))
            throw ShapeError(std::string(op) + ": extents " + to_string<Rank>(shape) + " are too large");
    }
}

}  // namespace svilm
