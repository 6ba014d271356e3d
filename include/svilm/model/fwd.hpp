// svilm/model/fwd.hpp: the model classes' declarations and the small types both backends share
// (the batch is in batch.hpp).
// The device is part of the type: one definition serves both (VideoEncoder<T, Device> in
// video_encoder.hpp and so on), its op calls resolved by the context's device.
#pragma once

#include "svilm/core/device.hpp"

namespace svilm {

template <class T, class Device = cpu>
class VideoEncoder;

template <class T, class Device = cpu>
class TextEncoder;

template <class T, class Device = cpu>
class SVilm;

// Which losses run (the paper's ablation, Table 6).
struct LossSwitches {
    bool contrastive = true;
    bool temporal = true;
    bool grounding = true;
};

template <class T>
struct SVilmLosses {
    T contrastive = 0, temporal = 0, grounding = 0, total = 0;
};

}  // namespace svilm
