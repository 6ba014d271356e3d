// svilm/ops/gelu.hpp: GELU with the exact erf form, 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's
// default nn.GELU() (not the tanh approximation). float evaluates erf with a vectorised
// polynomial accurate to 2e-7 absolute; double uses std::erf.
#pragma once

#include <cmath>

#include "svilm/core/profile.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/detail/vector_math.hpp"

namespace svilm {

// y (n) = gelu(x (n)); flatten any rank with reshape. y may alias x.
template <class T>
void gelu_forward(const Context<cpu>&, TensorView<T, 1> y, std::type_identity_t<TensorView<const T, 1>> x) {
    const profile::Scope profile_scope(__func__);
    expect_shape("gelu_forward", "y", y, x.shape());
    expect_contiguous("gelu_forward", "x", x);
    expect_contiguous("gelu_forward", "y", y);
    const index_t n = x.size();
    const T* in = x.data();
    T* out = y.data();
    parallel_for_ranges(n, [&](index_t lo, index_t hi) { detail::gelu(in + lo, out + lo, hi - lo); }, n > 32768);
}

// dx = dy * (Phi(x) + x phi(x)); assigned. dx may alias dy.
template <class T>
void gelu_backward(const Context<cpu>&, TensorView<T, 1> dx, std::type_identity_t<TensorView<const T, 1>> dy,
                   std::type_identity_t<TensorView<const T, 1>> x) {
    const profile::Scope profile_scope(__func__);
    expect_shape("gelu_backward", "dy", dy, x.shape());
    expect_shape("gelu_backward", "dx", dx, x.shape());
    expect_contiguous("gelu_backward", "dx", dx);
    expect_contiguous("gelu_backward", "dy", dy);
    expect_contiguous("gelu_backward", "x", x);
    const index_t n = x.size();
    const T* in = x.data();
    const T* g = dy.data();
    T* out = dx.data();
    parallel_for_ranges(n, [&](index_t lo, index_t hi) { detail::gelu_backward(in + lo, g + lo, out + lo, hi - lo); }, n > 32768);
}

}  // namespace svilm
