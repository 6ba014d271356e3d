// svilm/model/qa_head.hpp: the video QA answer head (docs/model.md §8 and §13), written once for
// both devices: classification over the K answers of the vocabulary from the pooled video
// embedding v (B, D) and the question embedding q (B, D):
//
//   x      = [v, q, v * q]                 (B, 3D)     qa_features_forward
//   h      = GELU(x W1^T + b1)             (B, hidden) <prefix>.fc1, exact erf GELU
//   logits = h W2^T + b2                   (B, K)      <prefix>.fc2
//
// No dropout (docs/model.md §11: 0 everywhere). Parameters are registered in the caller's store
// under `prefix` ("qa_head.fc1.weight" (hidden, 3D), "qa_head.fc1.bias", "qa_head.fc2.weight"
// (K, hidden), "qa_head.fc2.bias"), initialised as every Linear (docs/model.md §11). The
// features are one fused op (svilm/ops/qa_features.hpp, CUDA twin in ops/cuda/qa_features.cuh)
// rather than an element-wise product plus copies into column slices: one pass each way.
//
//   svilm::nn::ParameterStore<float> store;
//   svilm::QaHead<float> head(store, "qa_head", {256, 512, 1000});
//   store.allocate(ctx, rng);
//   svilm::QaHeadSaved<float> s;
//   head.forward(ctx, logits, s, v, q);                              // logits (B, K)
//   svilm::QaLossSaved<float> ls;
//   const float loss = svilm::qa_loss_forward(ctx, ls, logits, labels);  // labels (B), -1 allowed
//   store.zero_grad();
//   svilm::qa_loss_backward(ctx, d_logits, 1.0f, ls, logits);
//   head.backward(ctx, dv, dq, d_logits, s, v, q);                   // dv, dq assigned
//
// Questions outside the answer vocabulary. svilm/data/video_qa.hpp gives a question whose answer
// is not among the K answers the label -1; the cross_entropy op accepts only targets in [0, K)
// and has no ignore index. The loss helper below therefore gathers the rows whose label is in
// [0, K) and runs cross_entropy on them alone: the loss is their mean (PyTorch's
// F.cross_entropy(..., ignore_index=-1)), a -1 row gets a zero logit gradient, and a batch with no
// answerable question has loss 0 and zero gradients. Evaluation keeps every question: the
// predicted answer is eval::argmax_labels of the logits (svilm/eval/classification.hpp) and
// data::qa_accuracy counts a -1 question as wrong whatever was predicted.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/nn/mlp.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

struct QaHeadConfig {
    index_t embed_dim = 0;  // D: the width of v and q
    index_t hidden = 0;     // fc1's output width
    index_t answers = 0;    // K: the answer vocabulary's size

    void validate() const {
        if (embed_dim < 1 || hidden < 1 || answers < 1)
            throw ValueError("QaHeadConfig: embed_dim " + std::to_string(embed_dim) + ", hidden " + std::to_string(hidden) +
                             " and answers " + std::to_string(answers) + " must all be positive");
    }
};

template <class T, class Device = cpu>
struct QaHeadSaved {
    Tensor<T, 2, Device> features;  // (B, 3D): [v, q, v * q], fc1's input
    nn::MlpSaved<T, Device> mlp;    // (B, hidden): fc1's output and its GELU
};

template <class T, class Device = cpu>
class QaHead {
public:
    QaHead() = default;
    QaHead(nn::ParameterStore<T, Device>& store, const std::string& prefix, const QaHeadConfig& config)
        : mlp(store, nn::join(prefix, "fc1"), nn::join(prefix, "fc2"), 3 * checked(config).embed_dim, config.hidden,
              config.answers),
          config_(config) {}

    const QaHeadConfig& config() const { return config_; }

    // logits (B, K) from v and q (B, D), all on ctx's device and contiguous; fills s.
    void forward(const Context<Device>& ctx, TensorView<T, 2, Device> logits, QaHeadSaved<T, Device>& s,
                 TensorView<const T, 2, Device> v, TensorView<const T, 2, Device> q) const {
        const char* op = "QaHead::forward";
        const index_t B = v.extent(0), D = config_.embed_dim;
        expect_shape(op, "v", v, {B, D});
        expect_shape(op, "q", q, {B, D});
        expect_shape(op, "logits", logits, {B, config_.answers});
        nn::ensure_shape(s.features, {B, 3 * D});
        qa_features_forward(ctx, s.features.view(), v, q);
        mlp.forward(ctx, logits, s.mlp, s.features);
    }

    // dv, dq (B, D) assigned (either may be an empty view: not computed); the parameter gradients
    // accumulate. v and q are the forward's. Scratch: one (B, 3D) and one (B, hidden) buffer.
    void backward(const Context<Device>& ctx, TensorView<T, 2, Device> dv, TensorView<T, 2, Device> dq,
                  TensorView<const T, 2, Device> d_logits, const QaHeadSaved<T, Device>& s, TensorView<const T, 2, Device> v,
                  TensorView<const T, 2, Device> q) const {
        const char* op = "QaHead::backward";
        const index_t B = v.extent(0);
        expect_shape(op, "saved.features", s.features.view(), {B, 3 * config_.embed_dim});
        expect_shape(op, "d_logits", d_logits, {B, config_.answers});
        Tensor<T, 2, Device> d_features(s.features.shape(), uninitialized);
        mlp.backward(ctx, d_features, d_logits, s.mlp, s.features);
        qa_features_backward(ctx, dv, dq, d_features.view(), v, q);
    }

    nn::Mlp<T, Device> mlp;  // fc1 (3D -> hidden), fc2 (hidden -> K)

private:
    static const QaHeadConfig& checked(const QaHeadConfig& config) {
        config.validate();
        return config;
    }

    QaHeadConfig config_;
};

// What qa_loss_forward keeps for qa_loss_backward: the answerable rows and their cross-entropy.
template <class T, class Device = cpu>
struct QaLossSaved {
    CrossEntropySaved<T, Device> cross_entropy;
    std::vector<std::pair<index_t, index_t>> runs;  // [begin, end) runs of answerable rows, in order
    Tensor<T, 2, Device> kept_logits;               // (R, K) those rows, unless every row is kept
    Tensor<std::int64_t, 1> kept_targets;           // (R) host: their labels
    index_t rows = 0, answers = 0;                  // the logits' (B, K)
    index_t kept = 0;                               // R
};

// Mean softmax cross-entropy of logits (B, K) over the questions whose label (targets, host,
// (B)) is in [0, K); a label of -1 (answer outside the vocabulary) is left out of the sum and of
// the count. Returns 0 when no label is in [0, K). A label below -1 or at K or above is a
// ValueError naming its row. logits contiguous, on ctx's device.
template <class T, class Device>
T qa_loss_forward(const Context<Device>& ctx, QaLossSaved<T, Device>& s,
                  std::type_identity_t<TensorView<const T, 2, Device>> logits, TensorView<const std::int64_t, 1> targets) {
    const char* op = "qa_loss_forward";
    const index_t B = logits.extent(0), K = logits.extent(1);
    expect_shape(op, "targets", targets, {B});
    expect_contiguous(op, "logits", logits);
    s.runs.clear();
    std::vector<std::int64_t> kept;
    for (index_t r = 0; r < B; ++r) {
        const std::int64_t t = targets(r);
        if (t < -1 || t >= K)
            throw ValueError(std::string(op) + ": label " + std::to_string(t) + " of row " + std::to_string(r) +
                             " is neither -1 (outside the vocabulary) nor in [0, " + std::to_string(K) + ")");
        if (t < 0) continue;
        if (!s.runs.empty() && s.runs.back().second == r)
            ++s.runs.back().second;
        else
            s.runs.emplace_back(r, r + 1);
        kept.push_back(t);
    }
    s.rows = B;
    s.answers = K;
    s.kept = index_t(kept.size());
    s.kept_targets = Tensor<std::int64_t, 1>({s.kept}, uninitialized);
    std::copy(kept.begin(), kept.end(), s.kept_targets.data());
    if (s.kept == 0) return T(0);
    if (s.kept == B) {  // nothing to leave out: the logits themselves
        s.kept_logits = Tensor<T, 2, Device>();
        return cross_entropy_forward(ctx, s.cross_entropy, logits, s.kept_targets.view());
    }
    nn::ensure_shape(s.kept_logits, {s.kept, K});
    index_t at = 0;
    for (const auto& [begin, end] : s.runs) {
        copy(ctx, s.kept_logits.view().narrow(0, at, at + end - begin), logits.narrow(0, begin, end));
        at += end - begin;
    }
    return cross_entropy_forward(ctx, s.cross_entropy, TensorView<const T, 2, Device>(s.kept_logits), s.kept_targets.view());
}

// d_logits (B, K) = dloss * d(loss) / d(logits), assigned: the answerable rows from the
// cross-entropy over them, the others 0. logits are the forward's.
template <class T, class Device>
void qa_loss_backward(const Context<Device>& ctx, std::type_identity_t<TensorView<T, 2, Device>> d_logits,
                      std::type_identity_t<T> dloss, const QaLossSaved<T, Device>& s,
                      std::type_identity_t<TensorView<const T, 2, Device>> logits) {
    const char* op = "qa_loss_backward";
    expect_shape(op, "logits", logits, {s.rows, s.answers});
    expect_shape(op, "d_logits", d_logits, {s.rows, s.answers});
    expect_contiguous(op, "d_logits", d_logits);
    if (s.kept == s.rows && s.kept > 0) {
        cross_entropy_backward(ctx, d_logits, dloss, s.cross_entropy, logits, s.kept_targets.view());
        return;
    }
    zero(ctx, d_logits);
    if (s.kept == 0) return;
    Tensor<T, 2, Device> d_kept({s.kept, s.answers}, uninitialized);
    cross_entropy_backward(ctx, d_kept.view(), dloss, s.cross_entropy, TensorView<const T, 2, Device>(s.kept_logits),
                           s.kept_targets.view());
    index_t at = 0;
    for (const auto& [begin, end] : s.runs) {
        copy(ctx, d_logits.narrow(0, begin, end), d_kept.view().narrow(0, at, at + end - begin));
        at += end - begin;
    }
}

}  // namespace svilm
