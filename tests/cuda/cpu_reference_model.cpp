#include "cuda/cpu_reference_model.hpp"

#include "svilm/core/rng.hpp"
#include "svilm/model/video_encoder.hpp"

namespace svilm::testing {

struct CpuVideoReference::Impl {
    nn::ParameterStore<float> store;
    VideoEncoder<float> encoder;
};

CpuVideoReference::CpuVideoReference(const VideoConfig& config, std::uint64_t seed) : impl_(std::make_unique<Impl>()) {
    impl_->encoder = VideoEncoder<float>(impl_->store, config, "video", 1.0);
    Generator rng(seed);
    impl_->store.allocate(rng);
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
    impl_->encoder.forward(s, video, views);
    impl_->store.zero_grad();
    impl_->encoder.backward(d_tokens, d_groups, d_pooled, s);
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

}  // namespace svilm::testing
