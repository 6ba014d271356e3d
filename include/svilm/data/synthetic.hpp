// svilm/data/synthetic.hpp: the synthetic structured-video benchmark (docs/model.md §12), the one header to
// include for it: a random-access dataset of rendered videos with their captions, noun phrases,
// per-object masks and boxes, and scene-change frames, and the conversion of its frames to the
// model's normalised input.
//
//   SyntheticConfig config;                   // 64x64, 8 frames, 1-3 objects, seed 0, train
//   config.split = SyntheticSplit::test_unseen;
//   const SyntheticDataset data(config);
//   const SyntheticVideo v = data.item(17);   // v.caption "a pink diamond moves up and ..."
//   Tensor<float, 4> x = to_model_input<float>(v.frames);   // (T, 3, H, W)
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/data/synthetic_render.hpp"
#include "svilm/data/synthetic_scene.hpp"

namespace svilm::data {

// Pixel box [x0, x1) x [y0, y1); empty (all 0) when the object is not visible.
struct Box {
    index_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    bool empty() const { return x1 <= x0 || y1 <= y0; }
    friend bool operator==(const Box&, const Box&) = default;
};

struct SyntheticVideo {
    Tensor<std::uint8_t, 4> frames;    // (T, H, W, 3) sRGB
    Tensor<std::uint8_t, 3> labels;    // (T, H, W): 0 background, k + 1 where object k is visible
    SceneScript script;                // what was drawn; script.objects[k] is object k
    std::string caption;               // "a red circle moves left and a blue square grows"
    std::vector<std::string> nouns;    // nouns[k] = "{colour} {shape}" of object k, caption order
    std::vector<std::vector<Box>> boxes;  // boxes[k][t]: bounding box of object k's visible pixels
    index_t change_frame = -1;         // first frame of the second scene, or -1

    index_t object_count() const { return index_t(script.objects.size()); }

    // (T, H, W): 1 where object k is visible, else 0.
    Tensor<std::uint8_t, 3> mask(index_t k) const {
        if (k < 0 || k >= object_count())
            throw ValueError("SyntheticVideo::mask: object " + std::to_string(k) + " of " +
                             std::to_string(object_count()));
        Tensor<std::uint8_t, 3> out(labels.shape(), uninitialized);
        const std::uint8_t id = std::uint8_t(k + 1);
        for (index_t p = 0; p < labels.size(); ++p) out.data()[p] = labels.data()[p] == id;
        return out;
    }
};

// Bounding boxes of every label: boxes[k][t] for label k + 1 in labels (T, H, W).
inline std::vector<std::vector<Box>> label_boxes(TensorView<const std::uint8_t, 3> labels, index_t objects) {
    const index_t T = labels.extent(0), H = labels.extent(1), W = labels.extent(2);
    std::vector<std::vector<Box>> boxes(static_cast<std::size_t>(objects), std::vector<Box>(static_cast<std::size_t>(T)));
    for (index_t t = 0; t < T; ++t) {
        for (auto& per_object : boxes) per_object[std::size_t(t)] = {W, H, 0, 0};
        for (index_t i = 0; i < H; ++i)
            for (index_t j = 0; j < W; ++j) {
                const int label = labels(t, i, j);
                if (label == 0 || label > objects) continue;
                Box& b = boxes[std::size_t(label - 1)][std::size_t(t)];
                b = {std::min(b.x0, j), std::min(b.y0, i), std::max(b.x1, j + 1), std::max(b.y1, i + 1)};
            }
        for (auto& per_object : boxes)
            if (per_object[std::size_t(t)].empty()) per_object[std::size_t(t)] = Box{};
    }
    return boxes;
}

// Renders a script with its caption, nouns and ground truth.
inline SyntheticVideo render_video(SceneScript script) {
    SyntheticVideo v;
    v.frames = Tensor<std::uint8_t, 4>({script.frames, script.height, script.width, 3}, uninitialized);
    v.labels = Tensor<std::uint8_t, 3>({script.frames, script.height, script.width}, uninitialized);
    render_script(script, v.frames, v.labels);
    v.caption = caption(script);
    v.nouns = noun_phrases(script);
    v.boxes = label_boxes(v.labels, index_t(script.objects.size()));
    v.change_frame = script.change_frame;
    v.script = std::move(script);
    return v;
}

// A fixed-size, random-access view of one split: item i is a pure function of (config, i), so
// two datasets with the same config hold the same videos, whatever order or thread draws them.
class SyntheticDataset {
public:
    explicit SyntheticDataset(const SyntheticConfig& config) : config_(config) { validate(config_); }

    const SyntheticConfig& config() const { return config_; }
    index_t size() const { return config_.count; }

    // requires: 0 <= i < size(). Thread-safe (const, no shared state).
    SyntheticVideo item(index_t i) const {
        if (i < 0 || i >= size())
            throw ValueError("SyntheticDataset::item: index " + std::to_string(i) + " outside [0, " +
                             std::to_string(size()) + ")");
        return render_video(sample_script(config_, i));
    }

private:
    SyntheticConfig config_;
};

// ImageNet statistics the video encoder expects (docs/model.md §2).
inline constexpr std::array<double, 3> imagenet_mean = {0.485, 0.456, 0.406};
inline constexpr std::array<double, 3> imagenet_std = {0.229, 0.224, 0.225};

// out (T, 3, H, W) = (frames / 255 - mean[c]) / std[c] for frames (T, H, W, 3), both contiguous.
// out may be one clip of a contiguous (B, T, 3, H, W) batch: batch.select(0, b).
template <class T>
void normalize_frames(TensorView<T, 4> out, std::type_identity_t<TensorView<const std::uint8_t, 4>> frames) {
    const char* op = "normalize_frames";
    const index_t F = frames.extent(0), H = frames.extent(1), W = frames.extent(2);
    expect_shape(op, "frames", frames, {F, H, W, 3});
    expect_shape(op, "out", out, {F, 3, H, W});
    expect_contiguous(op, "frames", frames);
    expect_contiguous(op, "out", out);
    // (x / 255 - mean) / std as one multiply-add per element, which vectorises
    std::array<T, 3> scale, shift;
    for (std::size_t c = 0; c < 3; ++c) {
        scale[c] = T(1.0 / (255.0 * imagenet_std[c]));
        shift[c] = T(-imagenet_mean[c] / imagenet_std[c]);
    }
    const index_t pixels = H * W;
    for (index_t f = 0; f < F; ++f) {
        const std::uint8_t* in = frames.data() + f * pixels * 3;
        for (std::size_t c = 0; c < 3; ++c) {
            T* plane = out.data() + (f * 3 + index_t(c)) * pixels;
            for (index_t p = 0; p < pixels; ++p) plane[p] = T(in[3 * p + index_t(c)]) * scale[c] + shift[c];
        }
    }
}

// The frames (T, H, W, 3) as the model's normalised input (T, 3, H, W).
template <class T>
Tensor<T, 4> to_model_input(std::type_identity_t<TensorView<const std::uint8_t, 4>> frames) {
    Tensor<T, 4> out({frames.extent(0), 3, frames.extent(1), frames.extent(2)}, uninitialized);
    normalize_frames<T>(out, frames);
    return out;
}

}  // namespace svilm::data
