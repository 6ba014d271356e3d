// svilm/train/diverged.hpp: the error a training run stops with when a loss or a gradient norm
// stops being finite (pre-training and fine-tuning alike).
#pragma once

#include "svilm/core/error.hpp"

namespace svilm::train {

// Training produced a NaN or an infinity; the message names the step and the term.
class DivergedError : public Error {
public:
    using Error::Error;
};

}  // namespace svilm::train
