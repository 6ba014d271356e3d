// svilm/optim/adamw.hpp: AdamW (decoupled weight decay, Loshchilov & Hutter) over a parameter
// store's flat buffers, with torch.optim.AdamW's exact update, and clipping by global norm.
//
// Weight decay applies to Role::weight parameters only: docs/model.md §7 excludes biases, norms,
// embeddings, group tokens and logit scales.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "svilm/core/parallel.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/optim/adamw_options.hpp"

namespace svilm::optim {

// requires: the store is allocated and keeps its layout (the moments mirror its flat buffer).
template <class T>
class AdamW {
public:
    AdamW(nn::ParameterStore<T>& store, const AdamWOptions& options)
        : options(options), exp_avg({checked(store).values().size()}), exp_avg_sq({store.values().size()}),
          store_(&store) {}

    // One update from the store's gradients at learning rate `lr` (the schedule's value):
    //   p -= lr wd p (decay group only);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    //   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    void step(double lr) {
        ++step_count;
        const double c1 = 1 - std::pow(options.beta1, double(step_count));
        const double c2 = 1 - std::pow(options.beta2, double(step_count));
        const T b1 = T(options.beta1), b2 = T(options.beta2), eps = T(options.eps);
        const T step_size = T(lr / c1), root_c2 = T(std::sqrt(c2));
        T* values = store_->values().data();
        const T* grads = store_->grads().data();
        T* m = exp_avg.data();
        T* v = exp_avg_sq.data();
        const std::vector<nn::ParameterInfo>& params = store_->parameters();
        const auto count = std::int64_t(params.size());
        // one parallel loop over all parameters; each element's update is independent. Sizes
        // differ by orders of magnitude: 16 ranges per thread keep the threads evenly busy.
        parallel_for(
            count,
            [&](std::int64_t k) {
                const nn::ParameterInfo& p = params[std::size_t(k)];
                const T decay = nn::decays(p.role) ? T(1 - lr * options.weight_decay) : T(1);
                const index_t end = p.offset + p.size;
#pragma omp simd
                for (index_t i = p.offset; i < end; ++i) {
                    values[i] *= decay;
                    m[i] = b1 * m[i] + (T(1) - b1) * grads[i];
                    v[i] = b2 * v[i] + (T(1) - b2) * grads[i] * grads[i];
                    values[i] -= step_size * m[i] / (std::sqrt(v[i]) / root_c2 + eps);
                }
            },
            true, 16);
    }
    void step() { step(options.lr); }

    AdamWOptions options;
    Tensor<T, 1> exp_avg, exp_avg_sq;  // same layout as the store's flat buffers
    std::int64_t step_count = 0;

private:
    static nn::ParameterStore<T>& checked(nn::ParameterStore<T>& store) {
        if (!store.allocated()) throw ValueError("AdamW: the parameter store is not allocated");
        return store;
    }
    nn::ParameterStore<T>* store_;
};

// The global L2 norm of all gradients (before clipping), accumulated in double over fixed
// chunks (the same sum for any thread count); when it exceeds max_norm, every gradient is scaled
// by max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_).
template <class T>
double clip_grad_norm(nn::ParameterStore<T>& store, double max_norm) {
    const TensorView<T, 1> g = store.grads();
    T* data = g.data();
    const index_t n = g.size(), chunk = 1 << 16, chunks = (n + chunk - 1) / chunk;
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

}  // namespace svilm::optim
