#include "cuda/cpu_reference_model.hpp"

#include "support/indexed_source.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/model.hpp"
#include "svilm/optim.hpp"
#include "svilm/train.hpp"

namespace svilm::testing {

namespace {
const Context<cpu> cpu_ctx;
}  // namespace

struct CpuVideoReference::Impl {
    nn::ParameterStore<float> store;
    VideoEncoder<float> encoder;
};

CpuVideoReference::CpuVideoReference(const VideoConfig& config, std::uint64_t seed) : impl_(std::make_unique<Impl>()) {
    impl_->encoder = VideoEncoder<float>(impl_->store, config, "video");
    Generator rng(seed);
    impl_->store.allocate(cpu_ctx, rng);
    Generator jitter(seed + 1);
    for (const nn::ParameterInfo& p : impl_->store.parameters()) {
        if (p.role != nn::Role::norm_weight && p.role != nn::Role::norm_bias && p.role != nn::Role::zero_embedding) continue;
        Tensor<float, 1> noise({p.size}, uninitialized);
        jitter.normal<float, 1>(noise);
        float* v = impl_->store.value(p).data();
        for (index_t i = 0; i < p.size; ++i) v[i] += 0.1f * noise(i);
    }
}

CpuVideoReference::~CpuVideoReference() = default;

nn::ParameterStore<float>& CpuVideoReference::store() { return impl_->store; }

VideoEncoderResult CpuVideoReference::run(TensorView<const float, 5> video, const std::vector<Tensor<float, 3>>& noise,
                                          TensorView<const float, 3> d_tokens, TensorView<const float, 3> d_groups,
                                          TensorView<const float, 2> d_pooled) {
    std::vector<TensorView<const float, 3>> views(noise.begin(), noise.end());
    VideoEncoderSaved<float> s;
    impl_->encoder.forward(cpu_ctx, s, video, views);
    impl_->store.zero_grad();
    impl_->encoder.backward(cpu_ctx, d_tokens, d_groups, d_pooled, s);
    VideoEncoderResult r;
    r.tokens = s.tokens;
    r.groups = s.groups;
    r.pooled = s.pooled;
    for (const auto& g : s.grouping) {
        r.assignments.push_back(g.block.assignment);
        r.soft.push_back(g.block.soft);
    }
    r.grads = Tensor<float, 1>(impl_->store.grads().shape(), uninitialized);
    std::copy_n(impl_->store.grads().data(), r.grads.size(), r.grads.data());
    return r;
}

struct CpuModelReference::Impl {
    Impl(const SVilmConfig& config, std::uint64_t seed) : model(cpu_ctx, config, seed), adamw(model.parameters(), options()) {}
    static optim::AdamWOptions options() {
        optim::AdamWOptions o;
        o.weight_decay = 0.05;
        return o;
    }
    SVilmLosses<float> run(const SVilmBatch<float>& batch, const std::vector<Tensor<float, 3>>& noise) {
        std::vector<TensorView<const float, 3>> views(noise.begin(), noise.end());
        SVilmState<float> state;
        model.forward(cpu_ctx, state, batch, views);
        model.parameters().zero_grad();
        model.backward(cpu_ctx, state);
        return state.losses;
    }
    SVilm<float> model;
    optim::AdamW<float> adamw;
};

CpuModelReference::CpuModelReference(const SVilmConfig& config, std::uint64_t seed)
    : impl_(std::make_unique<Impl>(config, seed)) {}
CpuModelReference::~CpuModelReference() = default;
nn::ParameterStore<float>& CpuModelReference::store() { return impl_->model.parameters(); }

SVilmLosses<float> CpuModelReference::gradients(const SVilmBatch<float>& batch, const std::vector<Tensor<float, 3>>& noise) {
    return impl_->run(batch, noise);
}

SVilmLosses<float> CpuModelReference::train_step(const SVilmBatch<float>& batch, const std::vector<Tensor<float, 3>>& noise,
                                                 double lr, double max_norm, double& norm) {
    const SVilmLosses<float> losses = impl_->run(batch, noise);
    norm = optim::clip_grad_norm(impl_->model.parameters(), max_norm);
    impl_->adamw.step(lr);
    return losses;
}

std::vector<train::StepResult> cpu_training_run(const SVilmConfig& config, std::uint64_t model_seed,
                                                std::uint64_t source_seed, const train::TrainerOptions& options) {
    SVilm<float> model(cpu_ctx, config, model_seed);
    IndexedSource source(config, source_seed);
    train::Trainer trainer(model, test_tokenizer(), source, options);
    return trainer.run();
}

std::vector<train::StepResult> cpu_resumed_run(const SVilmConfig& config, std::uint64_t source_seed,
                                               const train::TrainerOptions& options,
                                               const std::filesystem::path& checkpoint, Tensor<float, 1>& resumed_values) {
    SVilm<float> model = SVilm<float>::zeroed(cpu_ctx, config);
    IndexedSource source(config, source_seed);
    train::Trainer trainer(model, test_tokenizer(), source, options);
    trainer.resume(checkpoint);
    resumed_values = Tensor<float, 1>(model.parameters().values().shape(), uninitialized);
    copy<float, 1>(cpu_ctx, resumed_values, model.parameters().values());
    return trainer.run();
}

}  // namespace svilm::testing
