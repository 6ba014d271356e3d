#include "cuda/cpu_reference_qa.hpp"

#include <algorithm>

#include "svilm/core/rng.hpp"
#include "svilm/model.hpp"

namespace svilm::testing {

namespace {
const Context<cpu> cpu_ctx;
}  // namespace

struct CpuQaHeadReference::Impl {
    nn::ParameterStore<float> store;
    QaHead<float> head;
};

CpuQaHeadReference::CpuQaHeadReference(const QaHeadConfig& config, std::uint64_t seed) : impl_(std::make_unique<Impl>()) {
    impl_->head = QaHead<float>(impl_->store, "qa_head", config);
    Generator rng(seed);
    impl_->store.allocate(cpu_ctx, rng);
    for (const nn::ParameterInfo& p : impl_->store.parameters())
        if (p.role == nn::Role::bias) rng.normal<float, 1>(impl_->store.value(p), 0.0f, 0.1f);
}

CpuQaHeadReference::~CpuQaHeadReference() = default;

nn::ParameterStore<float>& CpuQaHeadReference::store() { return impl_->store; }

QaHeadResult CpuQaHeadReference::run(TensorView<const float, 2> v, TensorView<const float, 2> q,
                                     TensorView<const std::int64_t, 1> labels) {
    const index_t B = v.extent(0), D = v.extent(1), K = impl_->head.config().answers;
    QaHeadResult r;
    r.logits = Tensor<float, 2>({B, K}, uninitialized);
    r.d_logits = Tensor<float, 2>({B, K}, uninitialized);
    r.dv = Tensor<float, 2>({B, D}, uninitialized);
    r.dq = Tensor<float, 2>({B, D}, uninitialized);
    QaHeadSaved<float> s;
    impl_->head.forward(cpu_ctx, r.logits, s, v, q);
    QaLossSaved<float> ls;
    r.loss = qa_loss_forward<float>(cpu_ctx, ls, r.logits, labels);
    qa_loss_backward<float>(cpu_ctx, r.d_logits, 1.0f, ls, r.logits);
    impl_->store.zero_grad();
    impl_->head.backward(cpu_ctx, r.dv, r.dq, r.d_logits, s, v, q);
    r.grads = Tensor<float, 1>(impl_->store.grads().shape(), uninitialized);
    std::copy_n(impl_->store.grads().data(), r.grads.size(), r.grads.data());
    return r;
}

}  // namespace svilm::testing
