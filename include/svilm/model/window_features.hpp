// svilm/model/window_features.hpp: sliding-window features of a long video for temporal
// localisation heads (docs/model.md §8: "the frozen encoder extracts features over sliding windows;
// features and metadata (window, stride, fps, pooling) are exported"), on either device.
//
//   const WindowFeatures f = window_features(ctx, model, frames, stride, fps);   // frames (T_long, 3, H, W)
//   // f.features (num_windows, D): window w covers frames [f.start_frame[w], f.start_frame[w] + f.window)
//
// A window is the model's clip length (config.video.frames); windows start every `stride` frames
// from 0, and a last window ending at the video's end is added when the stride does not reach it,
// so every frame is covered. Each window's feature is the model's global video embedding of that
// clip without noise (docs/model.md §11: mean of the tokens, LayerNorm, video_proj, L2), the
// "pooling" a G-TAD-style pipeline is told. Windows are encoded `batch` at a time.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/model/svilm_model.hpp"

namespace svilm {

struct WindowFeatures {
    Tensor<float, 2> features;           // (num_windows, D) on the host, L2-normalised rows
    std::vector<index_t> start_frame;    // (num_windows)
    index_t window = 0, stride = 0;      // frames
    double fps = 0;                      // of the frames given
    std::string pooling = "global video embedding: mean over tokens, LayerNorm, video_proj, L2 (no noise)";

    index_t count() const { return index_t(start_frame.size()); }
    double start_seconds(index_t w) const { return double(start_frame.at(std::size_t(w))) / fps; }
    double end_seconds(index_t w) const { return double(start_frame.at(std::size_t(w)) + window) / fps; }
};

// The first frame of every window of `window` frames over `frames` frames, `stride` apart, plus
// one ending at the last frame when the stride leaves frames uncovered.
inline std::vector<index_t> window_starts(index_t frames, index_t window, index_t stride) {
    if (window < 1 || stride < 1) throw ValueError("window_starts: window and stride must be at least 1");
    if (frames < window)
        throw ValueError("window_starts: a video of " + std::to_string(frames) + " frames is shorter than one window of " +
                         std::to_string(window));
    std::vector<index_t> starts;
    for (index_t s = 0; s + window <= frames; s += stride) starts.push_back(s);
    if (starts.back() + window < frames) starts.push_back(frames - window);
    return starts;
}

// requires: frames (T_long, 3, H, W) on the host, normalised as the model's input, contiguous,
// H = W = config.video.image_size; stride, batch >= 1; fps > 0.
template <class Device>
WindowFeatures window_features(const Context<Device>& ctx, const SVilm<float, Device>& model,
                               TensorView<const float, 4> frames, index_t stride, double fps, index_t batch = 8) {
    const char* op = "window_features";
    const VideoConfig& v = model.config().video;
    expect_contiguous(op, "frames", frames);
    if (frames.extent(1) != 3 || frames.extent(2) != v.image_size || frames.extent(3) != v.image_size)
        throw ShapeError(std::string(op) + ": frames " + to_string<4>(frames.shape()) + ", the model takes (T, 3, " +
                         std::to_string(v.image_size) + ", " + std::to_string(v.image_size) + ")");
    if (!(fps > 0) || batch < 1) throw ValueError(std::string(op) + ": fps must be positive and batch at least 1");
    WindowFeatures out;
    out.window = v.frames;
    out.stride = stride;
    out.fps = fps;
    out.start_frame = window_starts(frames.extent(0), v.frames, stride);
    const index_t W = out.count(), D = model.config().embed_dim;
    const std::size_t frame_elements = std::size_t(3 * v.image_size * v.image_size);
    out.features = Tensor<float, 2>({W, D}, uninitialized);
    Tensor<float, 5> clips;
    for (index_t first = 0; first < W; first += batch) {
        const index_t n = std::min(batch, W - first);
        clips = Tensor<float, 5>({n, v.frames, 3, v.image_size, v.image_size}, uninitialized);
        for (index_t k = 0; k < n; ++k)
            std::memcpy(clips.data() + std::size_t(k * v.frames) * frame_elements,
                        frames.data() + std::size_t(out.start_frame[std::size_t(first + k)]) * frame_elements,
                        std::size_t(v.frames) * frame_elements * sizeof(float));
        Tensor<float, 2> embedded;
        if constexpr (is_cpu_v<Device>) {
            embedded = model.encode_video(ctx, clips);
        } else {
            const Tensor<float, 5, Device> on_device = to_device<float, 5, Device>(ctx, clips);
            embedded = to_host<float, 2, Device>(ctx, model.encode_video(ctx, on_device));
        }
        std::memcpy(out.features.data() + std::size_t(first * D), embedded.data(), std::size_t(n * D) * sizeof(float));
    }
    return out;
}

}  // namespace svilm
