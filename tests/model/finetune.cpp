// Fine-tuning on the downstream classification tasks (svilm/train/finetune.hpp): the model's
// embedding forward/backward pairs and the QA and action objectives checked by finite differences
// in double (soft assignment: the hard one has no finite-difference gradient), the frozen path
// against the end-to-end one, the zero-shot initialisation of the classifier, and the Finetuner's
// steps (a learnable task learnt, frozen encoders untouched, a diverged loss stopping before any
// parameter moves).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "model/module_gradcheck.hpp"
#include "support/context.hpp"
#include "svilm/model.hpp"
#include "svilm/train/finetune.hpp"

namespace svilm::testing {
namespace {

SVilmConfig finetune_config() {
    SVilmConfig c;
    c.video = {16, 8, 4, 2, 8, 2, 2, 16, 1e-6, {3, {1, 2}, 1.0, false}};  // 16x16 frames, 8x8 patches, N_t = 2
    c.text = {20, 6, 8, 2, 2, 16, 1e-12};
    c.embed_dim = 6;
    c.num_nouns = 0;
    return c;
}

// Parameters drawn with std 0.3 (LayerNorm weights around 1) so activations are not degenerate.
template <class T>
void randomize(nn::ParameterStore<T>& store, std::uint64_t seed) {
    Generator rng(seed);
    for (const nn::ParameterInfo& p : store.parameters()) {
        const auto v = store.value(p);
        rng.normal<T, 1>(v, T(0), T(0.3));
        if (p.role == nn::Role::norm_weight)
            for (index_t i = 0; i < v.size(); ++i) v(i) += T(1);
    }
}

template <class T>
Tensor<T, 5> random_clips(const SVilmConfig& c, index_t B, std::uint64_t seed) {
    Tensor<T, 5> clips({B, c.video.frames, 3, c.video.image_size, c.video.image_size}, uninitialized);
    Generator rng(seed);
    rng.normal<T, 5>(clips, T(0), T(1));
    return clips;
}

struct Questions {
    Tensor<std::int64_t, 2> ids;
    Tensor<std::uint8_t, 2> mask;
};

Questions questions(const SVilmConfig& c, index_t B, index_t N) {
    Questions q{Tensor<std::int64_t, 2>({B, N}), Tensor<std::uint8_t, 2>({B, N})};
    for (index_t i = 0; i < B; ++i)
        for (index_t n = 0; n < N; ++n) {
            q.ids(i, n) = (5 * i + 3 * n + 2) % c.text.vocab_size;
            q.mask(i, n) = n < N - i % 2;  // every other question padded
        }
    return q;
}

Tensor<std::int64_t, 1> labels_of(std::initializer_list<std::int64_t> values) {
    Tensor<std::int64_t, 1> labels({index_t(values.size())});
    index_t i = 0;
    for (const std::int64_t v : values) labels(i++) = v;
    return labels;
}

// A standardisation from random rows: shifts and scales of every sign and size, one constant column.
train::Standardisation<double> random_standardisation(index_t D, std::uint64_t seed) {
    const index_t N = 7;
    Tensor<float, 2> rows({N, D}, uninitialized);
    Generator rng(seed);
    rng.normal<float, 2>(rows, 0.3f, 0.5f);
    for (index_t n = 0; n < N; ++n) rows(n, D - 1) = 0.25f;
    return train::standardisation_of<double, cpu>(cpu_ctx, rows);
}

TEST_CASE("gradcheck: video QA fine-tuning end to end, into the model and the answer head") {
    const SVilmConfig config = finetune_config();
    SVilm<double> model(cpu_ctx, config, 61);
    randomize(model.parameters(), 62);
    nn::ParameterStore<double> head_store;
    const QaHead<double> head(head_store, "qa_head", {config.embed_dim, 5, 4});
    Generator rng(63);
    head_store.allocate(cpu_ctx, rng);
    randomize(head_store, 64);
    const index_t B = 3;
    const Tensor<double, 5> clips = random_clips<double>(config, B, 65);
    const Questions q = questions(config, B, 5);
    const Tensor<std::int64_t, 1> labels = labels_of({2, -1, 3});  // question 1's answer is outside the vocabulary
    const train::Standardisation<double> sv = random_standardisation(config.embed_dim, 66);
    const train::Standardisation<double> sq = random_standardisation(config.embed_dim, 67);
    for (const bool standardise : {false, true}) {
        CAPTURE(standardise);
        const train::Standardisation<double>* pv = standardise ? &sv : nullptr;
        const train::Standardisation<double>* pq = standardise ? &sq : nullptr;
        auto loss = [&] {
            VideoEmbeddingSaved<double> v;
            TextEmbeddingSaved<double> t;
            model.forward_video_embedding(cpu_ctx, v, clips);
            model.forward_text_embedding(cpu_ctx, t, q.ids, q.mask);
            Tensor<double, 2> logits({B, 4});
            QaHeadSaved<double> hs;
            head.forward(cpu_ctx, logits, hs, train::standardised<double, cpu>(cpu_ctx, pv, v.embedding()),
                         train::standardised<double, cpu>(cpu_ctx, pq, t.embedding()));
            QaLossSaved<double> ls;
            return qa_loss_forward<double>(cpu_ctx, ls, logits, labels);
        };
        auto backward = [&] {
            train::qa_loss_and_gradients<double, cpu>(cpu_ctx, &model, head, labels, clips, q.ids, q.mask, {}, {}, pv, pq);
        };
        ModuleCheck model_check{"qa_finetune.model", &model.parameters(), loss, backward};
        run_module_check(model_check);
        ModuleCheck head_check{"qa_finetune.head", &head_store, loss, backward};
        run_module_check(head_check);
    }
}

TEST_CASE("gradcheck: action fine-tuning end to end, into the model and the linear classifier") {
    const SVilmConfig config = finetune_config();
    SVilm<double> model(cpu_ctx, config, 71);
    randomize(model.parameters(), 72);
    nn::ParameterStore<double> head_store;
    const nn::Linear<double> classifier(head_store, "action_head", config.embed_dim, 3);
    Generator rng(73);
    head_store.allocate(cpu_ctx, rng);
    randomize(head_store, 74);
    const index_t B = 4;
    const Tensor<double, 5> clips = random_clips<double>(config, B, 75);
    const Tensor<std::int64_t, 1> labels = labels_of({0, 2, 1, 2});
    const train::Standardisation<double> sv = random_standardisation(config.embed_dim, 76);
    for (const bool standardise : {false, true}) {
        CAPTURE(standardise);
        const train::Standardisation<double>* pv = standardise ? &sv : nullptr;
        auto loss = [&] {
            Tensor<double, 2> v = model.encode_video(cpu_ctx, clips), logits({B, 3});
            classifier.forward(cpu_ctx, logits, train::standardised<double, cpu>(cpu_ctx, pv, v));
            CrossEntropySaved<double> s;
            return cross_entropy_forward(cpu_ctx, s, TensorView<const double, 2>(logits), labels);
        };
        auto backward = [&] { train::action_loss_and_gradients<double, cpu>(cpu_ctx, &model, classifier, labels, clips, {}, pv); };
        ModuleCheck model_check{"action_finetune.model", &model.parameters(), loss, backward};
        run_module_check(model_check);
        ModuleCheck head_check{"action_finetune.head", &head_store, loss, backward};
        run_module_check(head_check);
    }
}

TEST_CASE("fine-tuning: frozen encoders give the head the same loss and gradients as end to end") {
    const SVilmConfig config = finetune_config();
    SVilm<double> model(cpu_ctx, config, 81);
    randomize(model.parameters(), 82);
    nn::ParameterStore<double> head_store;
    const QaHead<double> head(head_store, "qa_head", {config.embed_dim, 5, 4});
    Generator rng(83);
    head_store.allocate(cpu_ctx, rng);
    const index_t B = 3;
    const Tensor<double, 5> clips = random_clips<double>(config, B, 84);
    const Questions q = questions(config, B, 4);
    const Tensor<std::int64_t, 1> labels = labels_of({1, 0, 3});

    head_store.zero_grad();
    model.parameters().zero_grad();
    const double end_to_end = train::qa_loss_and_gradients<double, cpu>(cpu_ctx, &model, head, labels, clips, q.ids, q.mask);
    const std::vector<double> head_grads(head_store.grads().data(), head_store.grads().data() + head_store.grads().size());

    head_store.zero_grad();
    const Tensor<double, 2> v = model.encode_video(cpu_ctx, clips), t = model.encode_text(cpu_ctx, q.ids, q.mask);
    const double frozen = train::qa_loss_and_gradients<double, cpu>(cpu_ctx, nullptr, head, labels, {}, {}, {}, v, t);
    CHECK(frozen == doctest::Approx(end_to_end).epsilon(1e-12));
    for (index_t i = 0; i < head_store.grads().size(); ++i)
        CHECK(head_store.grads()(i) == doctest::Approx(head_grads[std::size_t(i)]).epsilon(1e-10));
    const auto without_q = [&] { train::qa_loss_and_gradients<double, cpu>(cpu_ctx, nullptr, head, labels, {}, {}, {}, v, {}); };
    CHECK_THROWS_AS(without_q(), ValueError);
}

TEST_CASE("fine-tuning: a classifier initialised from prompts gives scale * cosine logits") {
    nn::ParameterStore<float> store;
    const nn::Linear<float> classifier(store, "action_head", 3, 2);
    Generator rng(91);
    store.allocate(cpu_ctx, rng);
    Tensor<float, 2> prompts({2, 3});
    prompts(0, 0) = 1;                                     // class 0 along x
    prompts(1, 1) = 0.6f, prompts(1, 2) = 0.8f;            // class 1 in the y-z plane, unit length
    train::initialise_from_prompts<float, cpu>(cpu_ctx, classifier, prompts, 10.0);
    Tensor<float, 2> v({1, 3}), logits({1, 2});
    v(0, 0) = 0.6f, v(0, 2) = 0.8f;
    classifier.forward(cpu_ctx, logits, v);
    CHECK(logits(0, 0) == doctest::Approx(6.0));
    CHECK(logits(0, 1) == doctest::Approx(6.4));
    // standardised inputs: the same logits from the same raw embedding
    Tensor<float, 2> rows({4, 3});
    for (index_t n = 0; n < 4; ++n) rows(n, 0) = float(n), rows(n, 1) = float(n * n) - 1.0f, rows(n, 2) = 2.0f;  // column 2 constant
    const train::Standardisation<float> s = train::standardisation_of<float, cpu>(cpu_ctx, rows);
    train::initialise_from_prompts<float, cpu>(cpu_ctx, classifier, prompts, 10.0, &s);
    Tensor<float, 2> standardised_logits({1, 2});
    classifier.forward(cpu_ctx, standardised_logits, train::standardised<float, cpu>(cpu_ctx, &s, v));
    // column 2 is constant in the statistics (0.8 there, 2 in the rows): its term comes from the mean
    CHECK(standardised_logits(0, 0) == doctest::Approx(6.0));
    CHECK(standardised_logits(0, 1) == doctest::Approx(10.0 * 0.8 * 2.0));  // the raw 6.4 with v's own 0.8
    const Tensor<float, 2> three_classes({3, 3});
    const auto wrong_count = [&] { train::initialise_from_prompts<float, cpu>(cpu_ctx, classifier, three_classes, 1.0); };
    CHECK_THROWS_AS(wrong_count(), ShapeError);
}

TEST_CASE("Finetuner: learns a learnable task end to end; frozen encoders stay as they were") {
    SVilmConfig config = finetune_config();
    config.video.grouping.hard_assignment = true;  // as the presets train
    const index_t B = 8, K = 2;
    // the label is the sign of the clip's mean brightness: visible to any video encoder
    Tensor<float, 5> clips = random_clips<float>(config, B, 101);
    Tensor<std::int64_t, 1> labels({B});
    const index_t per_clip = clips.size() / B;
    for (index_t b = 0; b < B; ++b) {
        labels(b) = b % K;
        for (index_t i = 0; i < per_clip; ++i) clips.data()[b * per_clip + i] += labels(b) ? 1.0f : -1.0f;
    }
    for (const bool freeze : {false, true}) {
        CAPTURE(freeze);
        SVilm<float> model(cpu_ctx, config, 102);
        nn::ParameterStore<float> head_store;
        const nn::Linear<float> classifier(head_store, "action_head", config.embed_dim, K);
        Generator rng(103);
        head_store.allocate(cpu_ctx, rng);
        const std::vector<float> before(model.parameters().values().data(),
                                        model.parameters().values().data() + model.parameters().values().size());
        train::FinetuneOptions options;
        options.steps = 40;
        options.lr = 1e-3;
        options.head_lr = 1e-2;
        options.freeze_encoders = freeze;
        train::Finetuner<cpu> tuner(model, head_store, options);
        const Tensor<float, 2> frozen_v = model.encode_video(cpu_ctx, clips);
        auto compute = [&] {
            return freeze ? train::action_loss_and_gradients<float, cpu>(cpu_ctx, nullptr, classifier, labels, {}, frozen_v)
                          : train::action_loss_and_gradients<float, cpu>(cpu_ctx, &model, classifier, labels, clips);
        };
        const float first = tuner.step(compute);
        float last = first;
        while (tuner.steps_done() < options.steps) last = tuner.step(compute);
        CHECK(first == doctest::Approx(std::log(2.0)).epsilon(0.2));
        CHECK(last < 0.6f * first);
        const auto values = model.parameters().values();
        bool unchanged = true;
        for (index_t i = 0; i < values.size(); ++i) unchanged = unchanged && values(i) == before[std::size_t(i)];
        CHECK(unchanged == freeze);
    }
}

TEST_CASE("Finetuner: a loss or a gradient that is not finite stops the step before any parameter moves") {
    const SVilmConfig config = finetune_config();
    SVilm<float> model(cpu_ctx, config, 111);
    nn::ParameterStore<float> head_store;
    const nn::Linear<float> classifier(head_store, "action_head", config.embed_dim, 2);
    Generator rng(112);
    head_store.allocate(cpu_ctx, rng);
    const std::vector<float> head_before(head_store.values().data(), head_store.values().data() + head_store.values().size());
    train::Finetuner<cpu> tuner(model, head_store, {});
    CHECK_THROWS_AS(tuner.step([] { return std::nanf(""); }), train::DivergedError);
    CHECK(tuner.steps_done() == 0);
    // a finite loss whose gradient is not: stopped too, before the update
    const auto nan_gradient = [&] {
        head_store.grads()(0) = std::nanf("");
        return 1.0f;
    };
    CHECK_THROWS_WITH_AS(tuner.step(nan_gradient), doctest::Contains("the head's gradient norm"), train::DivergedError);
    CHECK(tuner.steps_done() == 0);
    for (index_t i = 0; i < head_store.values().size(); ++i) CHECK(head_store.values()(i) == head_before[std::size_t(i)]);
    train::FinetuneOptions bad;
    bad.steps = 0;
    CHECK_THROWS_AS(train::Finetuner<cpu>(model, head_store, bad), ValueError);
}

}  // namespace
}  // namespace svilm::testing
