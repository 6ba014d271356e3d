// svilm/ops/optimizer.hpp: the optimiser's two passes over a flat parameter buffer on the CPU:
// the AdamW update and clipping by global norm (the CUDA ones, same signatures:
// svilm/optim/cuda/adamw.cuh). optim::AdamW and optim::clip_grad_norm call them for either device.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "svilm/core/profile.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/optim/adamw_update.hpp"

namespace svilm {

// One AdamW update of values from grads (all (n), the store's flat layout); see adamw_update.hpp.
template <class T>
void adamw_update(const Context<cpu>&, TensorView<T, 1> values, std::type_identity_t<TensorView<const T, 1>> grads,
                  TensorView<T, 1> exp_avg, TensorView<T, 1> exp_avg_sq, const AdamWRanges<cpu>& ranges,
                  const AdamWHyper<T>& h) {
    const profile::Scope profile_scope(__func__);
    const char* op = "adamw_update";
    expect_shape(op, "grads", grads, values.shape());
    expect_shape(op, "exp_avg", exp_avg, values.shape());
    expect_shape(op, "exp_avg_sq", exp_avg_sq, values.shape());
    T* p = values.data();
    const T* g = grads.data();
    T* m = exp_avg.data();
    T* v = exp_avg_sq.data();
    // one parallel loop over all parameters; each element's update is independent. Sizes differ
    // by orders of magnitude: 16 ranges per thread keep the threads evenly busy.
    parallel_for(
        ranges.count,
        [&](index_t s) {
            const T decay = ranges.decays(s) ? h.decay : T(1);
            const index_t end = ranges.end(s);
#pragma omp simd
            for (index_t i = ranges.begin(s); i < end; ++i) {
                p[i] *= decay;
                m[i] = h.beta1 * m[i] + (T(1) - h.beta1) * g[i];
                v[i] = h.beta2 * v[i] + (T(1) - h.beta2) * g[i] * g[i];
                p[i] -= h.step_size * m[i] / (std::sqrt(v[i]) / h.root_c2 + h.eps);
            }
        },
        true, 16);
}

// The global L2 norm of grads (before clipping), accumulated in double over fixed chunks of 2^16
// elements (the same sum for any thread count); when it exceeds max_norm, every gradient is
// scaled by max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_). A NaN or infinite norm is
// returned and nothing is scaled: the caller decides.
template <class T>
double clip_grad_norm(const Context<cpu>&, TensorView<T, 1> grads, double max_norm) {
    const profile::Scope profile_scope(__func__);
    expect_contiguous("clip_grad_norm", "grads", grads);
    T* data = grads.data();
    const index_t n = grads.size(), chunk = 1 << 16, chunks = (n + chunk - 1) / chunk;
    std::vector<double> partial(std::size_t(chunks), 0.0);
    parallel_for(chunks, [&](index_t c) {
        double sum = 0;
        const index_t end = std::min(n, (c + 1) * chunk);
        for (index_t i = c * chunk; i < end; ++i) sum += double(data[i]) * double(data[i]);
        partial[std::size_t(c)] = sum;
    });
    double total = 0;
    for (const double p : partial) total += p;
    const double norm = std::sqrt(total);
    if (norm > max_norm) {
        const T scale = T(max_norm / (norm + 1e-6));
        parallel_for_ranges(n, [&](index_t lo, index_t hi) {
#pragma omp simd
            for (index_t i = lo; i < hi; ++i) data[i] *= scale;
        });
    }
    return norm;
}

}  // namespace svilm
