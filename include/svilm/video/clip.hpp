// svilm/video/clip.hpp: one call from a video to the model's input: sample frames
// (sampling.hpp), decode them (reader.hpp), crop, resize and normalise them (preprocess.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/video/preprocess.hpp"
#include "svilm/video/reader.hpp"
#include "svilm/video/sampling.hpp"

namespace svilm::video {

struct ClipOptions {
    SamplingOptions sampling{};      // default: 8 frames, uniform over the whole video
    SeekMode seek = SeekMode::accurate;
    int size = 224;                  // output frames are size x size
    bool train = false;              // random resized crop + flip instead of the center crop
    RandomCropOptions crop{};
    Normalization normalization{};
    bool autorotate = true;          // turn frames upright by the video's display matrix
};

struct Clip {
    Tensor<float, 4> pixels;      // (T, 3, size, size)
    std::vector<index_t> frames;  // the frame index decoded for each of the T samples
};

// Fills out (T, 3, size, size) and returns the frame index of each sample. Random segment
// sampling and training crops draw from `rng`, in that order (the sampling's draws, then the
// crop's); a fixed-rate sampling must give exactly T samples (fewer: VideoError, the clip is
// too short). `converter` keeps its scaler between clips. A batch (B, T, 3, S, S) is filled clip
// by clip through batch.select(0, b).
inline std::vector<index_t> load_clip_into(VideoReader& reader, const ClipOptions& options, Generator* rng,
                                           TensorView<float, 4> out, FrameConverter& converter) {
    const index_t count = out.extent(0);
    expect_shape("load_clip_into", "out", out, {count, 3, options.size, options.size});
    const std::vector<FrameSample> samples = sample_frames(reader.frames(), options.sampling, rng);
    if (index_t(samples.size()) != count)
        throw VideoError(reader.name() + ": too short: the sampling gives " + std::to_string(samples.size()) + " of " +
                         std::to_string(count) + " frames");
    const std::vector<index_t> frames = choose_frames(reader.frames(), samples, options.seek);
    const VideoInfo& info = reader.info();
    // Crops are planned on the upright frame: a quarter turn swaps width and height.
    const int rotation = options.autorotate ? info.rotation : 0;
    const int upright_width = rotation % 180 ? info.height : info.width;
    const int upright_height = rotation % 180 ? info.width : info.height;
    FrameTransform transform;
    if (options.train) {
        if (!rng) throw ValueError(reader.name() + ": training crops need a Generator");
        transform = random_resized_crop(upright_width, upright_height, options.size, *rng, options.crop);
    } else {
        transform = center_crop(upright_width, upright_height, options.size);
    }
    transform.rotation = rotation;
    reader.decode(frames, [&](std::size_t k, const AVFrame& frame, index_t) {
        // A stream may change size midway; the crop was planned for the header's size.
        if (frame.width != info.width || frame.height != info.height)
            throw VideoError(reader.name() + ": frame size changes from " + std::to_string(info.width) + "x" +
                             std::to_string(info.height) + " to " + std::to_string(frame.width) + "x" +
                             std::to_string(frame.height));
        converter.to_tensor<float>(frame, transform, out.select(0, index_t(k)), reader.name(), options.normalization);
    });
    return frames;
}

inline Clip load_clip(VideoReader& reader, const ClipOptions& options, Generator* rng = nullptr) {
    index_t count = options.sampling.count;
    if (options.sampling.method == Sampling::fixed_rate) {
        // The clip is as long as the sampling: draw nothing, only count.
        count = index_t(fixed_rate_samples(reader.frames(), options.sampling.fps, options.sampling.range, count).size());
    }
    Clip clip{Tensor<float, 4>({count, 3, options.size, options.size}, uninitialized), {}};
    FrameConverter converter;
    clip.frames = load_clip_into(reader, options, rng, clip.pixels, converter);
    return clip;
}

inline Clip load_clip(const std::filesystem::path& path, const ClipOptions& options, Generator* rng = nullptr,
                      ReaderOptions reader_options = {}) {
    VideoReader reader(path, reader_options);
    return load_clip(reader, options, rng);
}

}  // namespace svilm::video
