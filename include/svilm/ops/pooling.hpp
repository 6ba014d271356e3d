// svilm/ops/pooling.hpp: mean over one axis, written for a (O, N, I) view of any tensor:
// e.g. the spatial mean of video tokens (B * N_t, N_s, C) -> (B * N_t, C).
#pragma once

#include "svilm/core/profile.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

// y (O, I) = mean over N of x (O, N, I). N must be positive.
template <class T>
void mean_pool_forward(const Context<cpu>&, TensorView<T, 2> y, std::type_identity_t<TensorView<const T, 3>> x) {
    const profile::Scope profile_scope(__func__);
    const char* op = "mean_pool_forward";
    const index_t outer = x.extent(0), n = x.extent(1), inner = x.extent(2);
    contract::mean_pool_forward(op, y, x);
    const T inv = T(1) / T(n);
    parallel_for(
        outer,
        [&](index_t o) {
            T* out = y.data() + o * inner;
            std::fill_n(out, inner, T(0));
            for (index_t j = 0; j < n; ++j) {
                const T* in = x.data() + (o * n + j) * inner;
#pragma omp simd
                for (index_t i = 0; i < inner; ++i) out[i] += in[i];
            }
#pragma omp simd
            for (index_t i = 0; i < inner; ++i) out[i] *= inv;
        },
        outer * n * inner > 65536);
}

// dx (O, N, I) = dy (O, I) / N broadcast over N; assigned.
template <class T>
void mean_pool_backward(const Context<cpu>&, TensorView<T, 3> dx, std::type_identity_t<TensorView<const T, 2>> dy) {
    const profile::Scope profile_scope(__func__);
    const char* op = "mean_pool_backward";
    const index_t outer = dx.extent(0), n = dx.extent(1), inner = dx.extent(2);
    contract::mean_pool_backward(op, dx, dy);
    const T inv = T(1) / T(n);
    parallel_for(
        outer,
        [&](index_t o) {
            for (index_t j = 0; j < n; ++j) {
                T* out = dx.data() + (o * n + j) * inner;
                const T* g = dy.data() + o * inner;
#pragma omp simd
                for (index_t i = 0; i < inner; ++i) out[i] = g[i] * inv;
            }
        },
        outer * n * inner > 65536);
}

}  // namespace svilm
