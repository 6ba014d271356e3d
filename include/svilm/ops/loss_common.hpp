// svilm/ops/loss_common.hpp: what the CPU and the CUDA losses share (no kernels here, so nvcc
// can include it). The learnable logit scales of docs/model.md §11 are stored as their log; the scale used
// is exp(param) clamped at 100, and, as torch.clamp, the clamp passes no gradient to the
// parameter once exp(param) exceeds 100.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "svilm/core/tensor.hpp"

namespace svilm {

inline constexpr double max_logit_scale = 100.0;

namespace detail {

// exp(log_scale) clamped at 100, and d scale / d log_scale (0 when clamped).
template <class T>
std::pair<T, T> clamped_scale(T log_scale) {
    const T raw = std::exp(log_scale);
    if (raw > T(max_logit_scale)) return {T(max_logit_scale), T(0)};
    return {raw, raw};
}

// The temporal grouping loss's clips: valid (B) is 1 for a clip whose mask (B, N_t) has a scene
// change (0 < sum < N_t), 0 for one without; returns how many have one. ValueError naming the
// element when a mask value is neither 0 nor 1.
template <class T>
index_t scene_change_clips(const char* op, TensorView<const T, 2> mask, TensorView<std::uint8_t, 1> valid) {
    const index_t B = mask.extent(0), Nt = mask.extent(1);
    index_t count = 0;
    for (index_t i = 0; i < B; ++i) {
        T fg_count = 0;
        for (index_t t = 0; t < Nt; ++t) {
            const T m = mask(i, t);
            if (m != T(0) && m != T(1))
                throw ValueError(std::string(op) + ": mask[" + std::to_string(i) + ", " + std::to_string(t) +
                                 "] is neither 0 nor 1");
            fg_count += m;
        }
        valid(i) = fg_count != T(0) && fg_count != T(Nt);
        count += valid(i);
    }
    return count;
}

}  // namespace detail
}  // namespace svilm
