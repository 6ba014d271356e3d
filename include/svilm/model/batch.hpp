// svilm/model/batch.hpp: one training batch of the S-ViLM model, and its validation, shared by
// the CPU and the CUDA model (no ops here, so nvcc can include it).
#pragma once

#include <cstdint>
#include <string>

#include "svilm/core/device.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/fwd.hpp"

namespace svilm {

// One training batch. The clips live on the model's device; the masks, ids and validity flags
// stay on the host (small, and checked there). prompt_* and noun_valid may be empty when
// grounding is off.
template <class T, class Device = cpu>
struct SVilmBatch {
    TensorView<const T, 5, Device> video;              // (B, T, 3, H, W) blended clips, normalised
    TensorView<const T, 2> fg_mask;                    // (B, N_t) m_{i,t}: 1 where the clip's own segment is
    TensorView<const std::int64_t, 2> caption_ids;     // (B, N)
    TensorView<const std::uint8_t, 2> caption_mask;    // (B, N) 1 for tokens, 0 for padding
    TensorView<const std::int64_t, 2> prompt_ids;      // (B * K, N) noun prompts, row i * K + k
    TensorView<const std::uint8_t, 2> prompt_mask;     // (B * K, N)
    TensorView<const std::uint8_t, 2> noun_valid;      // (B, K) 1 for a real noun
};

// The video encoder's input, on either device: video (B, T, 3, H, W) with B >= 1, and no noise or
// one tensor per grouping block.
template <class T, class Device>
void check_video_input(const char* op, const VideoConfig& c, const TensorView<const T, 5, Device>& video,
                       std::size_t noise_tensors, std::size_t grouping_blocks) {
    const index_t B = video.extent(0);
    if (B < 1) throw ShapeError(std::string(op) + ": empty batch");
    expect_shape(op, "video", video, {B, c.frames, 3, c.image_size, c.image_size});
    if (noise_tensors != 0 && noise_tensors != grouping_blocks)
        throw ShapeError(std::string(op) + ": " + std::to_string(noise_tensors) + " noise tensors for " +
                         std::to_string(grouping_blocks) + " grouping blocks");
}

// The text encoder's input: ids and attention mask (B, N) on the host, B >= 1, 1 <= N <= max_length.
inline void check_text_input(const char* op, const TextConfig& c, TensorView<const std::int64_t, 2> ids,
                             TensorView<const std::uint8_t, 2> attention_mask) {
    const index_t B = ids.extent(0), N = ids.extent(1);
    if (B < 1) throw ShapeError(std::string(op) + ": empty batch");
    expect_shape(op, "attention_mask", attention_mask, ids.shape());
    if (N < 1 || N > c.max_length)
        throw ShapeError(std::string(op) + ": ids " + to_string<2>(ids.shape()) + " has " + std::to_string(N) +
                         " positions, the encoder takes 1 to " + std::to_string(c.max_length));
}

namespace detail {

inline void check_text_batch(const SVilmConfig& config, const char* op, const char* ids_name, const char* mask_name,
                             TensorView<const std::int64_t, 2> ids, TensorView<const std::uint8_t, 2> mask, index_t rows) {
    const index_t N = ids.extent(1);
    expect_shape(op, ids_name, ids, {rows, N});
    expect_shape(op, mask_name, mask, {rows, N});
    if (N < 1 || N > config.text.max_length)
        throw ShapeError(std::string(op) + ": " + ids_name + " has " + std::to_string(N) +
                         " positions, the text encoder takes 1 to " + std::to_string(config.text.max_length));
    for (index_t r = 0; r < rows; ++r)
        for (index_t n = 0; n < N; ++n)
            if (ids(r, n) < 0 || ids(r, n) >= config.text.vocab_size)
                throw ValueError(std::string(op) + ": " + ids_name + "[" + std::to_string(r) + ", " + std::to_string(n) +
                                 "] = " + std::to_string(ids(r, n)) + " is outside the vocabulary of " +
                                 std::to_string(config.text.vocab_size));
}

}  // namespace detail

// Every shape and id of the batch, before any work: errors name `op` and the argument.
template <class T, class Device>
void validate_batch(const SVilmConfig& config, const SVilmBatch<T, Device>& batch, LossSwitches switches, const char* op) {
    const VideoConfig& v = config.video;
    const index_t B = batch.video.extent(0), K = config.num_nouns;
    if (B < 1) throw ShapeError(std::string(op) + ": empty batch");
    expect_shape(op, "video", batch.video, {B, v.frames, 3, v.image_size, v.image_size});
    expect_contiguous(op, "video", batch.video);
    detail::check_text_batch(config, op, "caption_ids", "caption_mask", batch.caption_ids, batch.caption_mask, B);
    if (switches.temporal) expect_shape(op, "fg_mask", batch.fg_mask, {B, v.temporal_positions()});
    if (switches.grounding && K > 0) {
        if (!batch.prompt_ids.data()) throw ShapeError(std::string(op) + ": grounding is on but the batch has no noun prompts");
        detail::check_text_batch(config, op, "prompt_ids", "prompt_mask", batch.prompt_ids, batch.prompt_mask, B * K);
        expect_shape(op, "noun_valid", batch.noun_valid, {B, K});
    }
}

}  // namespace svilm
