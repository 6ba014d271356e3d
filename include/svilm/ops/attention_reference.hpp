// svilm/ops/attention_reference.hpp: the readable, materialised attention (llm.c keeps the naive
// version next to the fast one). It builds the full (B, H, Nq, Nk) probability tensor: use it to
// check attention_forward / attention_backward and as the baseline in benchmarks, not in models.
#pragma once

#include <cmath>
#include <cstdint>

#include "svilm/core/profile.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

// out (B, Nq, C) and probs (B, H, Nq, Nk) from q (B, Nq, C), k, v (B, Nk, C), key_mask (B, Nk).
template <class T>
void attention_reference_forward(const Context<cpu>&, TensorView<T, 3> out, TensorView<T, 4> probs, std::type_identity_t<TensorView<const T, 3>> q,
                                 std::type_identity_t<TensorView<const T, 3>> k,
                                 std::type_identity_t<TensorView<const T, 3>> v, TensorView<const std::uint8_t, 2> key_mask,
                                 index_t heads) {
    const profile::Scope profile_scope(__func__);
    const index_t B = q.extent(0), Nq = q.extent(1), Nk = k.extent(1), d = q.extent(2) / heads;
    expect_shape("attention_reference_forward", "probs", probs, {B, heads, Nq, Nk});
    const T scale = T(1) / std::sqrt(T(d));
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < heads; ++h)
            for (index_t i = 0; i < Nq; ++i) {
                T max_score = -INFINITY;
                for (index_t j = 0; j < Nk; ++j) {
                    T s = 0;
                    for (index_t c = 0; c < d; ++c) s += q(b, i, h * d + c) * k(b, j, h * d + c);
                    s *= scale;
                    if (key_mask.data() && !key_mask(b, j)) s = -INFINITY;
                    probs(b, h, i, j) = s;
                    max_score = std::max(max_score, s);
                }
                T sum = 0;
                for (index_t j = 0; j < Nk; ++j) {
                    const T e = max_score == -INFINITY ? T(0) : std::exp(probs(b, h, i, j) - max_score);
                    probs(b, h, i, j) = e;
                    sum += e;
                }
                for (index_t j = 0; j < Nk; ++j) probs(b, h, i, j) = sum > 0 ? probs(b, h, i, j) / sum : T(0);
                for (index_t c = 0; c < d; ++c) {
                    T acc = 0;
                    for (index_t j = 0; j < Nk; ++j) acc += probs(b, h, i, j) * v(b, j, h * d + c);
                    out(b, i, h * d + c) = acc;
                }
            }
}

// dq, dk, dv (assigned) from dout and the forward's probs.
template <class T>
void attention_reference_backward(const Context<cpu>&, TensorView<T, 3> dq, TensorView<T, 3> dk, TensorView<T, 3> dv,
                                  std::type_identity_t<TensorView<const T, 3>> dout,
                                  std::type_identity_t<TensorView<const T, 4>> probs,
                                  std::type_identity_t<TensorView<const T, 3>> q, std::type_identity_t<TensorView<const T, 3>> k,
                                  std::type_identity_t<TensorView<const T, 3>> v, index_t heads) {
    const profile::Scope profile_scope(__func__);
    const index_t B = q.extent(0), Nq = q.extent(1), Nk = k.extent(1), d = q.extent(2) / heads;
    const T scale = T(1) / std::sqrt(T(d));
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < heads; ++h) {
            for (index_t i = 0; i < Nq; ++i)
                for (index_t c = 0; c < d; ++c) dq(b, i, h * d + c) = 0;
            for (index_t j = 0; j < Nk; ++j)
                for (index_t c = 0; c < d; ++c) dk(b, j, h * d + c) = dv(b, j, h * d + c) = 0;
            for (index_t i = 0; i < Nq; ++i) {
                T row_dot = 0;  // sum_j P_ij dP_ij
                for (index_t j = 0; j < Nk; ++j) {
                    T dp = 0;
                    for (index_t c = 0; c < d; ++c) dp += dout(b, i, h * d + c) * v(b, j, h * d + c);
                    row_dot += probs(b, h, i, j) * dp;
                }
                for (index_t j = 0; j < Nk; ++j) {
                    const T p = probs(b, h, i, j);
                    T dp = 0;
                    for (index_t c = 0; c < d; ++c) {
                        dp += dout(b, i, h * d + c) * v(b, j, h * d + c);
                        dv(b, j, h * d + c) += p * dout(b, i, h * d + c);
                    }
                    const T ds = p * (dp - row_dot) * scale;
                    for (index_t c = 0; c < d; ++c) {
                        dq(b, i, h * d + c) += ds * k(b, j, h * d + c);
                        dk(b, j, h * d + c) += ds * q(b, i, h * d + c);
                    }
                }
            }
        }
}

}  // namespace svilm
