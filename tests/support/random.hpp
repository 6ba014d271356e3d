// tests/support/random.hpp: seeded random inputs for op and model tests.
#pragma once

#include <cstdint>

#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm::testing {

// A tensor of standard normal draws from Philox stream `seed`.
template <class T, int Rank>
Tensor<T, Rank> random_tensor(const Extents<Rank>& shape, std::uint64_t seed) {
    Tensor<T, Rank> t(shape, uninitialized);
    Generator(seed).normal<T, Rank>(t);
    return t;
}

}  // namespace svilm::testing
