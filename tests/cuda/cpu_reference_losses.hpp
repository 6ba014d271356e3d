// tests/cuda/cpu_reference_losses.hpp: the CPU AdamW and clipping that the CUDA tests compare
// against, compiled by the C++ compiler in cpu_reference_losses.cpp (nvcc never sees the OpenMP
// kernels). The losses are compared through the op table (tests/cuda/cpu_reference.hpp).
#pragma once

#include <vector>

#include "svilm/core/tensor.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/optim/adamw_options.hpp"

namespace svilm::testing {

// One AdamW step per row of grads (steps, store size) at lrs[step], each after clipping that
// row at max_norm, by optim::AdamW and optim::clip_grad_norm; returns the pre-clip norms. The
// store (on the CPU) ends with its values updated; the moments are copied out.
std::vector<double> cpu_adamw_run(nn::ParameterStore<float>& store, const optim::AdamWOptions& options,
                                  TensorView<const float, 2> grads, const std::vector<double>& lrs, double max_norm,
                                  TensorView<float, 1> exp_avg, TensorView<float, 1> exp_avg_sq);

}  // namespace svilm::testing
