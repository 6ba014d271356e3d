// svilm/ops/qa_features.hpp: the video QA head's input x = [v, q, v * q] (docs/model.md §8) built
// from pooled video and question embeddings, and its backward, in one pass each.
//
// One fused op rather than an element-wise product op plus three copies into column slices: the
// forward writes every row of x once, and the backward forms dv and dq directly from the three
// column blocks of dx, with no (B, D) temporaries and no strided accumulation. The CUDA twin
// (svilm/ops/cuda/qa_features.cuh) has the same signatures.
#pragma once

#include "svilm/core/profile.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"

namespace svilm {

// x (B, 3D) = [v, q, v * q] row by row: x[:, 0:D] = v, x[:, D:2D] = q, x[:, 2D:3D] = v * q.
// requires: v, q (B, D), x contiguous; x must not overlap v or q.
template <class T>
void qa_features_forward(const Context<cpu>&, TensorView<T, 2> x, std::type_identity_t<TensorView<const T, 2>> v,
                         std::type_identity_t<TensorView<const T, 2>> q) {
    const profile::Scope profile_scope(__func__);
    contract::qa_features_forward("qa_features_forward", x, v, q);
    const index_t rows = v.extent(0), D = v.extent(1);
    parallel_for(
        rows,
        [&](index_t r) {
            const T* pv = v.data() + r * D;
            const T* pq = q.data() + r * D;
            T* out = x.data() + r * 3 * D;
#pragma omp simd
            for (index_t d = 0; d < D; ++d) {
                out[d] = pv[d];
                out[D + d] = pq[d];
                out[2 * D + d] = pv[d] * pq[d];
            }
        },
        rows * D > 65536);
}

// dv = dx[:, 0:D] + dx[:, 2D:3D] * q and dq = dx[:, D:2D] + dx[:, 2D:3D] * v, both (B, D),
// assigned; either may be an empty view (not computed).
template <class T>
void qa_features_backward(const Context<cpu>&, TensorView<T, 2> dv, TensorView<T, 2> dq,
                          std::type_identity_t<TensorView<const T, 2>> dx, std::type_identity_t<TensorView<const T, 2>> v,
                          std::type_identity_t<TensorView<const T, 2>> q) {
    const profile::Scope profile_scope(__func__);
    contract::qa_features_backward("qa_features_backward", dv, dq, dx, v, q);
    const index_t rows = v.extent(0), D = v.extent(1);
    parallel_for(
        rows,
        [&](index_t r) {
            const T* g = dx.data() + r * 3 * D;
            if (dv.data()) {
                const T* pq = q.data() + r * D;
                T* out = dv.data() + r * D;
#pragma omp simd
                for (index_t d = 0; d < D; ++d) out[d] = g[d] + g[2 * D + d] * pq[d];
            }
            if (dq.data()) {
                const T* pv = v.data() + r * D;
                T* out = dq.data() + r * D;
#pragma omp simd
                for (index_t d = 0; d < D; ++d) out[d] = g[D + d] + g[2 * D + d] * pv[d];
            }
        },
        rows * D > 65536);
}

}  // namespace svilm
