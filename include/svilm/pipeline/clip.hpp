// svilm/pipeline/clip.hpp: the model's inference input of a video, as every evaluation, program
// and svilm::Pipeline reads it (docs/model.md §2): T frames spread uniformly over the video (or
// over its sampling range), the centre square resized to the model's image size, no
// augmentation, ImageNet normalisation: a (T, 3, S, S) clip.
#pragma once

#include "svilm/model/config.hpp"
#include "svilm/video/clip.hpp"

namespace svilm {

inline video::ClipOptions inference_clip(const VideoConfig& v) {
    video::ClipOptions options;
    options.sampling.count = v.frames;
    options.size = int(v.image_size);
    return options;
}

}  // namespace svilm
