// svilm/optim/schedule.hpp: the learning-rate schedule of docs/model.md §7: linear warm-up from 0 to the
// peak over the first warmup_steps, then cosine decay to min_lr at total_steps.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "svilm/core/error.hpp"

namespace svilm::optim {

struct WarmupCosine {
    double peak_lr = 1e-4;
    double min_lr = 0.0;
    std::int64_t warmup_steps = 0;
    std::int64_t total_steps = 1;

    // The rate for optimiser step `step` (0-based): step + 1 warm-up fractions of the peak, so
    // the first step already moves; then 0.5 (1 + cos(pi progress)) of the range above min_lr.
    double operator()(std::int64_t step) const {
        if (total_steps < 1 || warmup_steps < 0 || warmup_steps > total_steps || step < 0)
            throw ValueError("WarmupCosine: need 0 <= warmup_steps <= total_steps, total_steps >= 1, step >= 0");
        if (step < warmup_steps) return peak_lr * double(step + 1) / double(warmup_steps);
        const double span = double(std::max<std::int64_t>(1, total_steps - warmup_steps));
        const double progress = std::min(1.0, double(step - warmup_steps) / span);
        return min_lr + 0.5 * (peak_lr - min_lr) * (1 + std::cos(std::numbers::pi * progress));
    }
};

}  // namespace svilm::optim
