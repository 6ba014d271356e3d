// tests/cuda/cuda_test_support.hpp: what every CUDA test file shares: the skip where no GPU
// exists, NaN-filled device outputs (an element an op forgets to write fails the comparison),
// and the comparison against the CPU with the numerics policy's tolerances.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "support/compare.hpp"
#include "support/random.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/cuda.hpp"

namespace svilm::testing {

inline bool device_or_skip() {
    if (Context<cuda>::available()) return true;
    MESSAGE("CUDA test skipped: no usable GPU (" << Context<cuda>::unavailable_reason() << ")");
    return false;
}

template <int Rank>
Tensor<float, Rank, cuda> nan_device(const Context<cuda>& ctx, const Extents<Rank>& shape) {
    return to_device<float, Rank>(ctx, Tensor<float, Rank>::full(shape, std::numeric_limits<float>::quiet_NaN()));
}

// Elements of gpu outside the tolerance of cpu; the first ones are printed.
template <int Rank>
int mismatches(const char* what, const Tensor<float, Rank>& gpu, const Tensor<float, Rank>& cpu, Tolerance tol = fp32_tolerance) {
    const std::vector<index_t> shape(cpu.shape().begin(), cpu.shape().end());
    return compare_buffers(what, shape, gpu.data(), cpu.data(), cpu.size(), tol);
}

}  // namespace svilm::testing
