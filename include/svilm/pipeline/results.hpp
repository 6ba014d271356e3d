// svilm/pipeline/results.hpp: what svilm::Pipeline returns (pipeline.hpp). Plain host data: tensors
// on the CPU, paths and times, so a result outlives the pipeline and any device.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "svilm/core/tensor.hpp"

namespace svilm {

// A video that could not be embedded: missing, corrupt, too short, undecodable.
struct SkippedVideo {
    std::filesystem::path path;
    std::string reason;  // the error, naming the file
};

// Embeddings of many videos, one row per video that was read; the others are in `skipped`.
struct EmbeddedVideos {
    Tensor<float, 2> embeddings;                // (N, D), rows L2-normalised (docs/model.md §11)
    std::vector<std::filesystem::path> videos;  // (N) the video of each row, in the order given
    std::vector<std::size_t> inputs;            // (N) each row's position in the list given
    std::vector<SkippedVideo> skipped;
};

// A long video cut into windows of `window` seconds every `stride` seconds, one embedding each:
// the features a temporal localisation head reads.
struct WindowEmbeddings {
    Tensor<float, 2> embeddings;  // (W, D), rows L2-normalised
    std::vector<double> start;    // (W) seconds from the first frame
    std::vector<double> end;      // (W) seconds; end - start = window except where the video is shorter
    double window = 0, stride = 0;
    double fps = 0;               // the stream's average frame rate
    double duration = 0;          // seconds
    index_t frames_per_window = 0;  // the model's clip length: frames sampled uniformly in each window
};

// One noun phrase of a caption grounded in a video: the group token whose embedding is closest to
// the phrase's prompt embedding, and that group's soft assignment over the frames.
struct GroundedNoun {
    std::string phrase;      // as the noun extractor wrote it ("red ball")
    std::string prompt;      // what was encoded ("a video of a red ball.")
    index_t group = 0;       // 0 <= group < M
    std::vector<float> similarities;  // (M) cosine of the phrase with every group; group is the argmax
    Tensor<float, 3> map;    // (T, H, W) the group's assignment probability per pixel of the display frames
};

// ground(): a video, a caption, and where each of the caption's nouns is in the video.
struct Grounding {
    std::filesystem::path video;
    std::string caption;
    Tensor<std::uint8_t, 4> frames;  // (T, H, W, 3) RGB display frames: the model's frames, centre square
    std::vector<index_t> frame_indices;  // (T) the video frame each display frame is
    std::vector<double> times;           // (T) seconds
    std::vector<GroundedNoun> nouns;     // in the caption's order; empty when it has no groundable noun
};

}  // namespace svilm
