// svilm/model/logit_scale.hpp: the learnable logit scales of SPEC 11, shared by the CPU and CUDA
// losses. A scale is stored as its log; the scale used is exp(param) clamped at 100, and, as
// torch.clamp, the clamp passes no gradient to the parameter once exp(param) exceeds 100.
#pragma once

#include <cmath>
#include <utility>

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

}  // namespace detail
}  // namespace svilm
