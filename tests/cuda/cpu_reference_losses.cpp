#include "cuda/cpu_reference_losses.hpp"

#include <algorithm>

#include "svilm/ops/optimizer.hpp"
#include "svilm/optim/adamw.hpp"

namespace svilm::testing {

std::vector<double> cpu_adamw_run(nn::ParameterStore<float>& store, const optim::AdamWOptions& options,
                                  TensorView<const float, 2> grads, const std::vector<double>& lrs, double max_norm,
                                  TensorView<float, 1> exp_avg, TensorView<float, 1> exp_avg_sq) {
    optim::AdamW<float> adamw(store, options);
    std::vector<double> norms;
    for (index_t step = 0; step < grads.extent(0); ++step) {
        std::copy_n(&grads(step, 0), grads.extent(1), store.grads().data());
        norms.push_back(optim::clip_grad_norm(store, max_norm));
        adamw.step(lrs[std::size_t(step)]);
    }
    std::copy_n(adamw.exp_avg.data(), adamw.exp_avg.size(), exp_avg.data());
    std::copy_n(adamw.exp_avg_sq.data(), adamw.exp_avg_sq.size(), exp_avg_sq.data());
    return norms;
}

}  // namespace svilm::testing
