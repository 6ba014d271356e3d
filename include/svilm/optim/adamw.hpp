// svilm/optim/adamw.hpp: AdamW (decoupled weight decay, Loshchilov & Hutter) over a parameter
// store's flat buffers, with torch.optim.AdamW's exact update, and clipping by global norm, for a
// store on either device (the passes themselves are the adamw_update and clip_grad_norm ops).
//
// Weight decay applies to Role::weight parameters only: docs/model.md §7 excludes biases, norms,
// embeddings, group tokens and logit scales.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/optim/adamw_options.hpp"
#include "svilm/optim/adamw_update.hpp"

namespace svilm::optim {

// requires: the store is allocated and keeps its layout (the moments mirror its flat buffer).
template <class T, class Device = cpu>
class AdamW {
public:
    AdamW(nn::ParameterStore<T, Device>& store, const AdamWOptions& options)
        : options(options), store_(&checked(store)),
          exp_avg(zeros<T, 1, Device>(store.context(), {store.buffer_size()})),
          exp_avg_sq(zeros<T, 1, Device>(store.context(), {store.buffer_size()})) {
        const std::vector<nn::ParameterInfo>& params = store.parameters();
        const auto count = index_t(params.size());
        Tensor<index_t, 1> begin({count}, uninitialized), end({count}, uninitialized);
        Tensor<std::uint8_t, 1> decays({count}, uninitialized);
        for (index_t s = 0; s < count; ++s) {
            const nn::ParameterInfo& p = params[std::size_t(s)];
            begin(s) = p.offset;
            end(s) = p.offset + p.size;
            decays(s) = nn::decays(p.role);
        }
        const Context<Device>& ctx = store.context();
        ranges_.begin = to_device<index_t, 1, Device>(ctx, begin);
        ranges_.end = to_device<index_t, 1, Device>(ctx, end);
        ranges_.decays = to_device<std::uint8_t, 1, Device>(ctx, decays);
        ranges_.count = count;
    }

    // One update from the store's gradients at learning rate `lr` (the schedule's value):
    //   p -= lr wd p (decay group only);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    //   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    void step(double lr) {
        ++step_count;
        const double c1 = 1 - std::pow(options.beta1, double(step_count));
        const double c2 = 1 - std::pow(options.beta2, double(step_count));
        const AdamWHyper<T> h{T(1 - lr * options.weight_decay), T(options.beta1), T(options.beta2), T(lr / c1),
                              T(std::sqrt(c2)), T(options.eps)};
        adamw_update(store_->context(), store_->values(), TensorView<const T, 1, Device>(store_->grads()), exp_avg.view(),
                     exp_avg_sq.view(), ranges_, h);
    }
    void step() { step(options.lr); }

    AdamWOptions options;

private:
    static nn::ParameterStore<T, Device>& checked(nn::ParameterStore<T, Device>& store) {
        if (!store.allocated()) throw ValueError("AdamW: the parameter store is not allocated");
        return store;
    }
    nn::ParameterStore<T, Device>* store_;

public:
    Tensor<T, 1, Device> exp_avg, exp_avg_sq;  // same layout as the store's flat buffers
    std::int64_t step_count = 0;

private:
    AdamWRanges<Device> ranges_;
};

// The global L2 norm of all of the store's gradients (before clipping); when it exceeds
// max_norm, every gradient is scaled by max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_).
template <class T, class Device>
double clip_grad_norm(nn::ParameterStore<T, Device>& store, double max_norm) {
    return clip_grad_norm(store.context(), store.grads(), max_norm);
}

}  // namespace svilm::optim
