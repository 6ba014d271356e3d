// svilm/ops/saved.hpp: what an op's forward keeps for its backward (tiny-cuda-nn's saved
// context), one type per op, parameterised by device so modules name it once for both.
//
// Where both devices keep the same tensors the struct is defined here. Where a device keeps more
// (the CUDA attention's scratch and tensor-core path, the CUDA cross-entropy's checked targets,
// the losses' host-side values) only the name is declared here and each device's op header
// defines its specialisation: ops/attention.hpp and ops/cuda/attention.cuh, and so on.
#pragma once

#include "svilm/core/device.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

template <class T, class Device = cpu>
struct LayerNormSaved {
    Tensor<T, 1, Device> mean, rstd;  // (R) per row
};

template <class T, class Device = cpu>
struct L2NormalizeSaved {
    Tensor<T, 1, Device> norm;  // (R): ||x_r||, before clamping at eps
};

template <class T, class Device = cpu>
struct GumbelAssignSaved {
    Tensor<T, 3, Device> y_soft;  // (B, M, L): softmax over M of (logits + noise) / tau
};

// Defined per device by the op headers.
template <class T, class Device = cpu>
struct AttentionSaved;
template <class T, class Device = cpu>
struct CrossEntropySaved;
template <class T, class Device = cpu>
struct ContrastiveSaved;
template <class T, class Device = cpu>
struct TemporalGroupingSaved;
template <class T, class Device = cpu>
struct GroundingSaved;

}  // namespace svilm
