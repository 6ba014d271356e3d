// svilm/model/fwd.hpp: the model classes' declarations. The device is part of the type: the CPU
// definitions are VideoEncoder<T, cpu> (video_encoder.hpp) and so on, the CUDA ones
// VideoEncoder<T, cuda> (cuda/video_encoder.cuh, compiled by nvcc).
#pragma once

#include "svilm/core/device.hpp"

namespace svilm {

template <class T, class Device = cpu>
class VideoEncoder;

template <class T, class Device = cpu>
class TextEncoder;

}  // namespace svilm
