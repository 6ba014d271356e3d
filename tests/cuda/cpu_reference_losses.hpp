// tests/cuda/cpu_reference_losses.hpp: the CPU losses, AdamW and clipping that the CUDA tests
// compare against, compiled by the C++ compiler in cpu_reference_losses.cpp (nvcc never sees
// the OpenMP kernels).
#pragma once

#include <cstdint>
#include <vector>

#include "svilm/core/tensor.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/optim/adamw_options.hpp"

namespace svilm::testing {

// Each returns the loss and runs the backward for dloss: input gradients assigned, the log
// scale's gradient accumulated onto d_log_scale.
float cpu_contrastive_loss(TensorView<float, 2> dv, TensorView<float, 2> dc, float& d_log_scale, TensorView<const float, 2> v,
                           TensorView<const float, 2> c, float log_scale, float dloss);
// p (B, N_t): the foreground probabilities of the forward
float cpu_temporal_grouping_loss(TensorView<float, 3> dz, TensorView<float, 2> p, TensorView<const float, 3> z,
                                 TensorView<const float, 2> mask, float tau, float dloss);
// scores (B, K, B): s(i, k, j) of the forward
float cpu_grounding_loss(TensorView<float, 3> d_nouns, TensorView<float, 3> d_groups, float& d_log_scale,
                         TensorView<float, 3> scores, TensorView<const float, 3> nouns, TensorView<const std::uint8_t, 2> valid,
                         TensorView<const float, 3> groups, float log_scale, float tau_assign, float dloss);

// One AdamW step per row of grads (steps, store size) at lrs[step], each after clipping that
// row at max_norm, by optim::AdamW and optim::clip_grad_norm; returns the pre-clip norms. The
// store (on the CPU) ends with its values updated; the moments are copied out.
std::vector<double> cpu_adamw_run(nn::ParameterStore<float>& store, const optim::AdamWOptions& options,
                                  TensorView<const float, 2> grads, const std::vector<double>& lrs, double max_norm,
                                  TensorView<float, 1> exp_avg, TensorView<float, 1> exp_avg_sq);

}  // namespace svilm::testing
