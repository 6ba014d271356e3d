// tests/cuda/cpu_reference_model.hpp: the CPU model the CUDA model tests compare against,
// compiled by the C++ compiler in cpu_reference_model.cpp (nvcc never sees the CPU modules).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "svilm/core/tensor.hpp"
#include "svilm/model/batch.hpp"
#include "svilm/model/config.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/train/trainer.hpp"

namespace svilm::testing {

// The CPU video encoder's outputs and every parameter gradient (flat, the store's layout).
struct VideoEncoderResult {
    Tensor<float, 3> tokens, groups;
    Tensor<float, 2> pooled;
    std::vector<Tensor<float, 3>> assignments, soft;  // per grouping block, (B, M, L)
    Tensor<float, 1> grads;
};

// A CPU video encoder under "video" with its parameter store, initialised from `seed`, every
// LayerNorm parameter and the temporal embedding perturbed (so no gradient is trivially zero).
class CpuVideoReference {
public:
    CpuVideoReference(const VideoConfig& config, std::uint64_t seed);
    ~CpuVideoReference();

    nn::ParameterStore<float>& store();

    // Forward (with the given noise, or none when empty) then backward from the three gradients.
    VideoEncoderResult run(TensorView<const float, 5> video, const std::vector<Tensor<float, 3>>& noise,
                           TensorView<const float, 3> d_tokens, TensorView<const float, 3> d_groups,
                           TensorView<const float, 2> d_pooled);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A whole CPU model with its AdamW, for the CUDA model's losses, gradients and training run.
class CpuModelReference {
public:
    CpuModelReference(const SVilmConfig& config, std::uint64_t seed);
    ~CpuModelReference();

    nn::ParameterStore<float>& store();

    // One forward + backward from zeroed gradients: the losses; the gradients stay in store().
    SVilmLosses<float> gradients(const SVilmBatch<float>& batch, const std::vector<Tensor<float, 3>>& noise);
    // One training step: forward, backward, clipping at max_norm, AdamW at lr (weight decay
    // 0.05). Returns the losses; the gradient norm before clipping in `norm`.
    SVilmLosses<float> train_step(const SVilmBatch<float>& batch, const std::vector<Tensor<float, 3>>& noise, double lr,
                                  double max_norm, double& norm);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The steps of a CPU Trainer on the test clip source (support/indexed_source.hpp): the model
// from `model_seed`, the clips from `source_seed`; no run folder.
std::vector<train::StepResult> cpu_training_run(const SVilmConfig& config, std::uint64_t model_seed,
                                                std::uint64_t source_seed, const train::TrainerOptions& options);

// Resumes a CPU Trainer from `checkpoint` (any device wrote it) and runs it to options.steps.
// Returns the steps it ran; `resumed_values` receives the model's parameters right after the
// resume, before any step.
std::vector<train::StepResult> cpu_resumed_run(const SVilmConfig& config, std::uint64_t source_seed,
                                               const train::TrainerOptions& options,
                                               const std::filesystem::path& checkpoint, Tensor<float, 1>& resumed_values);

}  // namespace svilm::testing
