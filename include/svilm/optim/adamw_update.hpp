// svilm/optim/adamw_update.hpp: the arguments of the AdamW update op, which each device
// implements (svilm/ops/optimizer.hpp on the CPU, svilm/optim/cuda/adamw.cuh on CUDA) and
// optim::AdamW calls:
//
//   adamw_update(ctx, values, grads, exp_avg, exp_avg_sq, ranges, hyper)
//     for every element i of every range s:   p = values[i], g = grads[i]
//       m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//       p = p * (decays[s] ? decay : 1) - step_size * m / (sqrt(v) / root_c2 + eps)
//     elements outside every range (the padding between parameters) are left alone.
#pragma once

#include <cstdint>

#include "svilm/core/device.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

// The parameters of a flat buffer as sorted, disjoint element ranges [begin[s], end[s]), with
// decays[s] = 1 where weight decay applies (docs/model.md §7).
template <class Device>
struct AdamWRanges {
    Tensor<index_t, 1, Device> begin, end;
    Tensor<std::uint8_t, 1, Device> decays;
    index_t count = 0;
};

// One step's constants: decay = 1 - lr * weight_decay, step_size = lr / (1 - b1^t),
// root_c2 = sqrt(1 - b2^t).
template <class T>
struct AdamWHyper {
    T decay, beta1, beta2, step_size, root_c2, eps;
};

}  // namespace svilm
