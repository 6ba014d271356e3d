// The CUDA video QA head against the CPU head, from the same weights, embeddings and labels:
// the logits, the loss with questions outside the vocabulary (label -1) left out, its logit
// gradient, dv, dq and every parameter gradient; with every label answerable and with none. The
// [v, q, v * q] op alone is compared through the op table (cuda_core.cu). The fine-tuning
// objectives (svilm/train/finetune.hpp) on standardised frozen embeddings, too. Where no GPU exists
// every test says so and passes without checking anything on a device.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "cuda/cpu_reference_qa.hpp"
#include "cuda/cuda_test_support.hpp"
#include "svilm/train/finetune.hpp"

namespace svilm::testing {
namespace {

// MSRVTT-QA-like sizes: 256-d embeddings, 1000 answers; 37 questions, so no kernel's block is full.
constexpr QaHeadConfig qa_config{256, 512, 1000};
constexpr index_t qa_batch = 37;

// Labels of qa_batch questions: every fifth from row 1 and the last two outside the vocabulary
// (-1), or all answerable, or none.
enum class Labels { some_unanswerable, all_answerable, none_answerable };
Tensor<std::int64_t, 1> qa_labels(Labels which) {
    Tensor<std::int64_t, 1> labels({qa_batch});
    for (index_t i = 0; i < qa_batch; ++i) {
        const bool outside = which == Labels::none_answerable ||
                             (which == Labels::some_unanswerable && (i % 5 == 1 || i >= qa_batch - 2));
        labels(i) = outside ? -1 : (i * 389) % qa_config.answers;
    }
    return labels;
}

int parameter_mismatches(const nn::ParameterStore<float>& layout, const Tensor<float, 1>& gpu, const Tensor<float, 1>& cpu) {
    int bad = 0;
    for (const nn::ParameterInfo& p : layout.parameters())
        bad += compare_buffers(p.name.c_str(), p.shape, gpu.data() + p.offset, cpu.data() + p.offset, p.size, gemm_tolerance);
    return bad;
}

TEST_CASE("cuda: the QA head's logits, loss and every gradient equal the CPU head's") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    const index_t B = qa_batch, D = qa_config.embed_dim, K = qa_config.answers;
    CpuQaHeadReference cpu(qa_config, 81);
    const Tensor<float, 2> v = random_tensor<float, 2>({B, D}, 82), q = random_tensor<float, 2>({B, D}, 83);

    // the same module code as the CPU reference, its store on the device with the CPU's values
    nn::ParameterStore<float, cuda> params;
    const QaHead<float, cuda> head(params, "qa_head", qa_config);
    params.allocate(ctx);
    params.copy_values_from(cpu.store());
    const Tensor<float, 2, cuda> v_d = to_device<float, 2>(ctx, v), q_d = to_device<float, 2>(ctx, q);

    for (const Labels which : {Labels::some_unanswerable, Labels::all_answerable, Labels::none_answerable}) {
        const Tensor<std::int64_t, 1> labels = qa_labels(which);
        INFO("labels: " << (which == Labels::some_unanswerable ? "some -1" : which == Labels::all_answerable ? "none -1" : "all -1"));
        const QaHeadResult want = cpu.run(v, q, labels);

        Tensor<float, 2, cuda> logits = nan_device<2>(ctx, {B, K}), d_logits = nan_device<2>(ctx, {B, K});
        Tensor<float, 2, cuda> dv = nan_device<2>(ctx, {B, D}), dq = nan_device<2>(ctx, {B, D});
        QaHeadSaved<float, cuda> s;
        head.forward(ctx, logits, s, v_d, q_d);
        CHECK(mismatches("logits", to_host<float, 2>(ctx, logits), want.logits, gemm_tolerance) == 0);
        QaLossSaved<float, cuda> ls;
        const float loss = qa_loss_forward<float>(ctx, ls, logits, labels);
        CAPTURE(loss);
        CAPTURE(want.loss);
        CHECK(std::abs(loss - want.loss) <= 1e-4f + 1e-3f * std::abs(want.loss));
        qa_loss_backward<float>(ctx, d_logits, 1.0f, ls, logits);
        CHECK(mismatches("d_logits", to_host<float, 2>(ctx, d_logits), want.d_logits) == 0);
        params.zero_grad();
        head.backward(ctx, dv, dq, d_logits, s, v_d, q_d);
        CHECK(mismatches("dv", to_host<float, 2>(ctx, dv), want.dv, gemm_tolerance) == 0);
        CHECK(mismatches("dq", to_host<float, 2>(ctx, dq), want.dq, gemm_tolerance) == 0);
        CHECK(parameter_mismatches(cpu.store(), to_host<float, 1>(ctx, params.grads()), want.grads) == 0);
    }
}

TEST_CASE("cuda: the QA loss names a label outside [-1, K) and its row") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    const Tensor<float, 2, cuda> logits = zeros<float, 2, cuda>(ctx, {qa_batch, qa_config.answers});
    Tensor<std::int64_t, 1> labels = qa_labels(Labels::all_answerable);
    labels(7) = qa_config.answers;
    QaLossSaved<float, cuda> ls;
    CHECK_THROWS_WITH_AS(qa_loss_forward<float>(ctx, ls, logits, labels), doctest::Contains("of row 7"), ValueError);
}

TEST_CASE("cuda: the fine-tuning objectives on standardised frozen embeddings equal the CPU's") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    const index_t B = qa_batch, D = qa_config.embed_dim, K_action = 7;
    const Tensor<float, 2> rows = random_tensor<float, 2>({64, D}, 91);
    const Tensor<float, 2> v = random_tensor<float, 2>({B, D}, 92), q = random_tensor<float, 2>({B, D}, 93);
    const Tensor<std::int64_t, 1> answers = qa_labels(Labels::some_unanswerable);
    Tensor<std::int64_t, 1> actions({B});
    for (index_t i = 0; i < B; ++i) actions(i) = (i * 5) % K_action;
    const FinetuneObjectivesResult want = cpu_finetune_objectives(qa_config, 94, rows, v, q, answers, actions, K_action);

    nn::ParameterStore<float, cuda> qa_store, action_store;
    const QaHead<float, cuda> head(qa_store, "qa_head", qa_config);
    const nn::Linear<float, cuda> classifier(action_store, "action_head", D, K_action);
    qa_store.allocate(ctx);
    action_store.allocate(ctx);
    upload<float, 1, cuda>(ctx, qa_store.values(), want.qa_values);
    upload<float, 1, cuda>(ctx, action_store.values(), want.action_values);
    qa_store.zero_grad();
    action_store.zero_grad();
    const train::Standardisation<float, cuda> s = train::standardisation_of<float, cuda>(ctx, rows);
    const Tensor<float, 2, cuda> v_d = to_device<float, 2>(ctx, v), q_d = to_device<float, 2>(ctx, q);
    const float qa_loss = train::qa_loss_and_gradients<float, cuda>(ctx, nullptr, head, answers, {}, {}, {}, v_d, q_d, &s, &s);
    const float action_loss = train::action_loss_and_gradients<float, cuda>(ctx, nullptr, classifier, actions, {}, v_d, &s);
    CHECK(std::abs(qa_loss - want.qa_loss) <= 1e-4f + 1e-3f * std::abs(want.qa_loss));
    CHECK(std::abs(action_loss - want.action_loss) <= 1e-4f + 1e-3f * std::abs(want.action_loss));
    CHECK(mismatches("qa head gradients", to_host<float, 1>(ctx, qa_store.grads()), want.qa_grads, gemm_tolerance) == 0);
    CHECK(mismatches("action head gradients", to_host<float, 1>(ctx, action_store.grads()), want.action_grads, gemm_tolerance) == 0);
}

}  // namespace
}  // namespace svilm::testing
