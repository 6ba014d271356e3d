#include "cuda/cpu_reference_losses.hpp"

#include <algorithm>

#include "svilm/core/context.hpp"
#include "svilm/ops/losses.hpp"
#include "svilm/ops/optimizer.hpp"
#include "svilm/optim/adamw.hpp"

namespace svilm::testing {

namespace {
const Context<cpu> cpu_ctx;
}  // namespace

float cpu_contrastive_loss(TensorView<float, 2> dv, TensorView<float, 2> dc, float& d_log_scale, TensorView<const float, 2> v,
                           TensorView<const float, 2> c, float log_scale, float dloss) {
    ContrastiveSaved<float> s;
    const float loss = contrastive_loss_forward<float>(cpu_ctx, s, v, c, log_scale);
    contrastive_loss_backward<float>(cpu_ctx, dv, dc, TensorView<float, 0>(&d_log_scale, {}), dloss, s, v, c);
    return loss;
}

float cpu_temporal_grouping_loss(TensorView<float, 3> dz, TensorView<float, 2> p, TensorView<const float, 3> z,
                                 TensorView<const float, 2> mask, float tau, float dloss) {
    TemporalGroupingSaved<float> s;
    const float loss = temporal_grouping_loss_forward<float>(cpu_ctx, s, z, mask, tau);
    std::copy_n(s.p.data(), s.p.size(), p.data());
    temporal_grouping_loss_backward<float>(cpu_ctx, dz, dloss, s, z, tau);
    return loss;
}

float cpu_grounding_loss(TensorView<float, 3> d_nouns, TensorView<float, 3> d_groups, float& d_log_scale,
                         TensorView<float, 3> scores, TensorView<const float, 3> nouns, TensorView<const std::uint8_t, 2> valid,
                         TensorView<const float, 3> groups, float log_scale, float tau_assign, float dloss) {
    GroundingSaved<float> s;
    const float loss = grounding_loss_forward<float>(cpu_ctx, s, nouns, valid, groups, log_scale, tau_assign);
    std::copy_n(s.scores.data(), s.scores.size(), scores.data());
    grounding_loss_backward<float>(cpu_ctx, d_nouns, d_groups, TensorView<float, 0>(&d_log_scale, {}), dloss, s, nouns, groups,
                                   tau_assign);
    return loss;
}

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
