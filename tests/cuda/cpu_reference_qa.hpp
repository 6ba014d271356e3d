// tests/cuda/cpu_reference_qa.hpp: the CPU video QA head the CUDA head is compared with,
// compiled by the C++ compiler in cpu_reference_qa.cpp (nvcc never sees the CPU ops).
#pragma once

#include <cstdint>
#include <memory>

#include "svilm/core/tensor.hpp"
#include "svilm/model/qa_head.hpp"
#include "svilm/nn/parameter.hpp"

namespace svilm::testing {

// What one forward, loss and backward of the head produce on the CPU.
struct QaHeadResult {
    Tensor<float, 2> logits, d_logits;  // (B, K)
    Tensor<float, 2> dv, dq;            // (B, D)
    float loss = 0;
    Tensor<float, 1> grads;  // every parameter gradient, flat in the store's layout
};

// A CPU QaHead<float> under "qa_head" with its store, initialised from `seed` with every bias
// then drawn as 0.1 N(0, 1), so no bias is trivially 0.
class CpuQaHeadReference {
public:
    CpuQaHeadReference(const QaHeadConfig& config, std::uint64_t seed);
    ~CpuQaHeadReference();

    nn::ParameterStore<float>& store();

    // logits of v and q (B, D); the loss over `labels` (B, -1 left out) and its d_logits; the
    // backward from d_logits with zeroed parameter gradients.
    QaHeadResult run(TensorView<const float, 2> v, TensorView<const float, 2> q, TensorView<const std::int64_t, 1> labels);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The fine-tuning objectives of svilm/train/finetune.hpp on frozen embeddings, on the CPU: the
// QA head and a linear action classifier (both initialised from `seed`), each reading v (and q)
// standardised with the statistics of `rows` (N, D). Losses and every head gradient.
struct FinetuneObjectivesResult {
    float qa_loss = 0, action_loss = 0;
    Tensor<float, 1> qa_grads, action_grads;              // flat, in each head store's layout
    Tensor<float, 1> qa_values, action_values;            // the heads' initial values, for the device copies
};

FinetuneObjectivesResult cpu_finetune_objectives(const QaHeadConfig& config, std::uint64_t seed, TensorView<const float, 2> rows,
                                                 TensorView<const float, 2> v, TensorView<const float, 2> q,
                                                 TensorView<const std::int64_t, 1> qa_labels,
                                                 TensorView<const std::int64_t, 1> action_labels, index_t action_classes);

}  // namespace svilm::testing
