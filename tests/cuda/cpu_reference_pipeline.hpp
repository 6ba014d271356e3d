// tests/cuda/cpu_reference_pipeline.hpp: svilm::Pipeline<cpu> on generated files, what
// Pipeline<cuda> is compared with; compiled by the C++ compiler in cpu_reference_pipeline.cpp
// (nvcc never sees the CPU ops).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "svilm/core/tensor.hpp"

namespace svilm::testing {

// A tiny model file and three short videos written into `dir`.
struct PipelineFiles {
    std::filesystem::path model;
    std::vector<std::filesystem::path> videos;
};
PipelineFiles write_pipeline_files(const std::filesystem::path& dir);

// What the CPU pipeline gives on those files.
struct PipelineResults {
    Tensor<float, 2> videos;   // embed_videos (3, D)
    Tensor<float, 2> text;     // embed_text of pipeline_texts (2, D)
    Tensor<float, 2> windows;  // embed_windows(videos[2], 1.5, 1.0)
    std::vector<long long> groups;   // ground(videos[0], pipeline_caption): each noun's group
    std::vector<Tensor<float, 3>> maps;  // and its map
};
inline const std::vector<std::string> pipeline_texts = {"a red ball moves left", "a blue cube"};
inline const std::string pipeline_caption = "a red ball rolls towards a blue cube";
PipelineResults cpu_pipeline_results(const PipelineFiles& files);

}  // namespace svilm::testing
