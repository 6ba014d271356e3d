#include "cuda/cpu_reference_qa.hpp"

#include <algorithm>

#include "svilm/core/rng.hpp"
#include "svilm/model.hpp"
#include "svilm/train/finetune.hpp"

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

namespace {

Tensor<float, 1> flat_copy(TensorView<const float, 1> t) {
    Tensor<float, 1> out(t.shape(), uninitialized);
    std::copy_n(t.data(), t.size(), out.data());
    return out;
}

}  // namespace

FinetuneObjectivesResult cpu_finetune_objectives(const QaHeadConfig& config, std::uint64_t seed, TensorView<const float, 2> rows,
                                                 TensorView<const float, 2> v, TensorView<const float, 2> q,
                                                 TensorView<const std::int64_t, 1> qa_labels,
                                                 TensorView<const std::int64_t, 1> action_labels, index_t action_classes) {
    FinetuneObjectivesResult r;
    const train::Standardisation<float> s = train::standardisation_of<float, cpu>(cpu_ctx, rows);
    nn::ParameterStore<float> qa_store, action_store;
    const QaHead<float> head(qa_store, "qa_head", config);
    const nn::Linear<float> classifier(action_store, "action_head", config.embed_dim, action_classes);
    Generator rng(seed);
    qa_store.allocate(cpu_ctx, rng);
    action_store.allocate(cpu_ctx, rng);
    r.qa_values = flat_copy(qa_store.values());
    r.action_values = flat_copy(action_store.values());
    qa_store.zero_grad();
    action_store.zero_grad();
    r.qa_loss = train::qa_loss_and_gradients<float, cpu>(cpu_ctx, nullptr, head, qa_labels, {}, {}, {}, v, q, &s, &s);
    r.action_loss = train::action_loss_and_gradients<float, cpu>(cpu_ctx, nullptr, classifier, action_labels, {}, v, &s);
    r.qa_grads = flat_copy(qa_store.grads());
    r.action_grads = flat_copy(action_store.grads());
    return r;
}

}  // namespace svilm::testing
