// Finite-difference gradient checks in double: the grouping block, each loss, the video QA head
// and its loss, a 2-layer video encoder, the text encoder and the whole model. The hard straight-through assignment has no
// finite-difference gradient (its forward value is piecewise constant); these checks use the
// soft assignment, and the parity test checks the straight-through gradients against autograd.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/context.hpp"
#include "model/module_gradcheck.hpp"
#include "svilm/model.hpp"

namespace svilm::testing {
namespace {

template <int Rank>
Tensor<double, Rank> random_tensor(Generator& rng, const Extents<Rank>& shape, double std = 1.0) {
    Tensor<double, Rank> t(shape, uninitialized);
    rng.normal<double, Rank>(t, 0.0, std);
    return t;
}

template <int Rank>
std::span<double> span_of(Tensor<double, Rank>& t) {
    return {t.data(), std::size_t(t.size())};
}

// Parameters drawn with std 0.3 (LayerNorm weights around 1) so activations are not degenerate.
void randomize(nn::ParameterStore<double>& store, std::uint64_t seed) {
    Generator rng(seed);
    for (const nn::ParameterInfo& p : store.parameters()) {
        const auto v = store.value(p);
        rng.normal<double, 1>(v, 0.0, 0.3);
        if (p.role == nn::Role::norm_weight)
            for (index_t i = 0; i < v.size(); ++i) v(i) += 1.0;
    }
}

TEST_CASE("gradcheck: grouping block with the soft assignment, Gumbel noise, x and g inputs") {
    const index_t B = 2, L = 6, M = 3, C = 8;
    nn::ParameterStore<double> store;
    GroupingBlock<double> block(store, "grouping", C, 2, 1e-6, GroupingConfig{M, {1}, 1.0, false});
    Generator rng(5);
    store.allocate(cpu_ctx, rng);
    randomize(store, 6);
    Tensor<double, 3> x = random_tensor<3>(rng, {B, L, C}), g = random_tensor<3>(rng, {B, M, C});
    Tensor<double, 3> noise({B, M, L}), dy = random_tensor<3>(rng, {B, M, C});
    rng.gumbel<double, 3>(noise);
    Tensor<double, 3> dx({B, L, C}), dg({B, M, C});
    auto loss = [&] {
        GroupingBlockSaved<double> s;
        Tensor<double, 3> out({B, M, C});
        block.forward(cpu_ctx, out, s, x, g, noise);
        return dot(out.data(), dy.data(), out.size());
    };
    ModuleCheck check{"grouping_block", &store, loss, [&] {
                          GroupingBlockSaved<double> s;
                          Tensor<double, 3> out({B, M, C});
                          block.forward(cpu_ctx, out, s, x, g, noise);
                          block.backward(cpu_ctx, dx, dg, dy, s, x, g);
                      }};
    check.inputs = {{"x", span_of(x), span_of(dx)}, {"g", span_of(g), span_of(dg)}};
    run_module_check(check);
}

TEST_CASE("gradcheck: the hard assignment's forward value is one-hot and A sums below 1 per group") {
    const index_t B = 2, L = 7, M = 3, C = 8;
    nn::ParameterStore<double> store;
    GroupingBlock<double> block(store, "grouping", C, 2, 1e-6, GroupingConfig{M, {1}, 1.0, true});
    Generator rng(8);
    store.allocate(cpu_ctx, rng);
    randomize(store, 9);
    Tensor<double, 3> x = random_tensor<3>(rng, {B, L, C}), g = random_tensor<3>(rng, {B, M, C}), out({B, M, C});
    GroupingBlockSaved<double> s;
    block.forward(cpu_ctx, out, s, x, g, {});
    for (index_t b = 0; b < B; ++b)
        for (index_t l = 0; l < L; ++l) {
            double sum = 0;
            for (index_t m = 0; m < M; ++m) {
                CHECK((s.assignment(b, m, l) == 0.0 || s.assignment(b, m, l) == 1.0));
                sum += s.assignment(b, m, l);
            }
            CHECK(sum == 1.0);
        }
    for (index_t b = 0; b < B; ++b)
        for (index_t m = 0; m < M; ++m) {
            double row = 0;
            for (index_t l = 0; l < L; ++l) row += s.normalized(b, m, l);
            CHECK(row < 1.0);  // eps = 1: a group that takes n tokens gets n / (n + 1)
        }
}

TEST_CASE("gradcheck: contrastive loss, including the logit scale and its clamp at 100") {
    for (const double log_scale : {std::log(1 / 0.07), std::log(150.0)}) {
        INFO("log_scale " << log_scale);
        const index_t B = 4, D = 6;
        nn::ParameterStore<double> store;
        const auto scale = store.add<0>("logit_scale", {}, nn::Role::scalar, log_scale);
        Generator rng(3);
        store.allocate(cpu_ctx, rng);
        Tensor<double, 2> v = random_tensor<2>(rng, {B, D}, 0.3), c = random_tensor<2>(rng, {B, D}, 0.3);
        Tensor<double, 2> dv({B, D}), dc({B, D});
        const double dloss = 0.7;
        auto loss = [&] {
            ContrastiveSaved<double> s;
            return dloss * contrastive_loss_forward<double>(cpu_ctx, s, v, c, scale.value()());
        };
        ModuleCheck check{"contrastive", &store, loss, [&] {
                              ContrastiveSaved<double> s;
                              contrastive_loss_forward<double>(cpu_ctx, s, v, c, scale.value()());
                              contrastive_loss_backward<double>(cpu_ctx, dv, dc, scale.grad(), dloss, s, v, c);
                          }};
        check.inputs = {{"v", span_of(v), span_of(dv)}, {"c", span_of(c), span_of(dc)}};
        run_module_check(check);
    }
}

TEST_CASE("gradcheck: temporal grouping loss; a clip without a scene change is left out") {
    const index_t B = 3, Nt = 5, D = 4;
    Generator rng(11);
    Tensor<double, 3> z = random_tensor<3>(rng, {B, Nt, D}), dz({B, Nt, D});
    Tensor<double, 2> mask({B, Nt});
    for (index_t t : {1, 2}) mask(0, t) = 1;
    for (index_t t : {0, 1, 2, 3, 4}) mask(1, t) = 1;  // all foreground: no scene change
    mask(2, 4) = 1;
    const double tau = 0.5, dloss = 1.3;
    nn::ParameterStore<double> store;
    store.allocate(cpu_ctx, rng);
    auto loss = [&] {
        TemporalGroupingSaved<double> s;
        return dloss * temporal_grouping_loss_forward<double>(cpu_ctx, s, z, mask, tau);
    };
    ModuleCheck check{"temporal_grouping", &store, loss, [&] {
                          TemporalGroupingSaved<double> s;
                          temporal_grouping_loss_forward<double>(cpu_ctx, s, z, mask, tau);
                          CHECK(s.valid_count == 2);
                          temporal_grouping_loss_backward<double>(cpu_ctx, dz, dloss, s, z, tau);
                      }};
    check.inputs = {{"z", span_of(z), span_of(dz)}};
    run_module_check(check);
    for (index_t t = 0; t < Nt; ++t)
        for (index_t d = 0; d < D; ++d) CHECK(dz(1, t, d) == 0.0);

    Tensor<double, 2> no_change({B, Nt});
    TemporalGroupingSaved<double> s;
    CHECK(temporal_grouping_loss_forward<double>(cpu_ctx, s, z, no_change, tau) == 0.0);
    Tensor<double, 2> bad = Tensor<double, 2>::full({B, Nt}, 0.5);
    CHECK_THROWS_AS(temporal_grouping_loss_forward<double>(cpu_ctx, s, z, bad, tau), ValueError);
}

TEST_CASE("gradcheck: spatial grounding loss with missing nouns and the grounding logit scale") {
    const index_t B = 3, K = 2, M = 4, D = 5;
    Generator rng(17);
    Tensor<double, 3> nouns = random_tensor<3>(rng, {B, K, D}, 0.5), groups = random_tensor<3>(rng, {B, M, D}, 0.5);
    Tensor<double, 3> dn({B, K, D}), dg({B, M, D});
    Tensor<std::uint8_t, 2> valid({B, K});
    valid(0, 0) = valid(0, 1) = valid(1, 0) = 1;  // caption 1 has one noun, caption 2 none
    nn::ParameterStore<double> store;
    const auto scale = store.add<0>("grounding_logit_scale", {}, nn::Role::scalar, std::log(1 / 0.07));
    store.allocate(cpu_ctx, rng);
    const double tau_a = 0.3, dloss = 0.9;
    auto loss = [&] {
        GroundingSaved<double> s;
        return dloss * grounding_loss_forward<double>(cpu_ctx, s, nouns, valid, groups, scale.value()(), tau_a);
    };
    ModuleCheck check{"grounding", &store, loss, [&] {
                          GroundingSaved<double> s;
                          grounding_loss_forward<double>(cpu_ctx, s, nouns, valid, groups, scale.value()(), tau_a);
                          CHECK(s.valid_count == 3);
                          grounding_loss_backward<double>(cpu_ctx, dn, dg, scale.grad(), dloss, s, nouns, groups, tau_a);
                      }};
    check.inputs = {{"nouns", span_of(nouns), span_of(dn)}, {"groups", span_of(groups), span_of(dg)}};
    run_module_check(check);
    for (index_t k = 0; k < K; ++k)
        for (index_t d = 0; d < D; ++d) CHECK(dn(2, k, d) == 0.0);  // no noun, no gradient

    Tensor<std::uint8_t, 2> none({B, K});
    GroundingSaved<double> s;
    CHECK(grounding_loss_forward<double>(cpu_ctx, s, nouns, none, groups, 1.0, tau_a) == 0.0);
}

TEST_CASE("gradcheck: the video QA head into its logits, and its loss with a question outside the vocabulary") {
    const index_t B = 4, D = 4, hidden = 6, K = 5;
    nn::ParameterStore<double> store;
    const QaHead<double> head(store, "qa_head", {D, hidden, K});
    Generator rng(51);
    store.allocate(cpu_ctx, rng);
    randomize(store, 52);
    Tensor<double, 2> v = random_tensor<2>(rng, {B, D}), q = random_tensor<2>(rng, {B, D});
    Tensor<double, 2> dv({B, D}), dq({B, D});
    SUBCASE("logits, from a random upstream gradient") {
        const Tensor<double, 2> dy = random_tensor<2>(rng, {B, K});
        auto loss = [&] {
            QaHeadSaved<double> s;
            Tensor<double, 2> logits({B, K});
            head.forward(cpu_ctx, logits, s, v, q);
            return dot(logits.data(), dy.data(), dy.size());
        };
        ModuleCheck check{"qa_head", &store, loss, [&] {
                              QaHeadSaved<double> s;
                              Tensor<double, 2> logits({B, K});
                              head.forward(cpu_ctx, logits, s, v, q);
                              head.backward(cpu_ctx, dv, dq, dy, s, v, q);
                          }};
        check.inputs = {{"v", span_of(v), span_of(dv)}, {"q", span_of(q), span_of(dq)}};
        run_module_check(check);
    }
    SUBCASE("the loss, question 1 outside the vocabulary (label -1)") {
        Tensor<std::int64_t, 1> labels({B});
        const std::int64_t values[] = {2, -1, 0, 4};
        for (index_t i = 0; i < B; ++i) labels(i) = values[i];
        const double dloss = 1.7;
        auto forward = [&](QaHeadSaved<double>& s, QaLossSaved<double>& ls, Tensor<double, 2>& logits) {
            head.forward(cpu_ctx, logits, s, v, q);
            return qa_loss_forward<double>(cpu_ctx, ls, logits, labels);
        };
        auto loss = [&] {
            QaHeadSaved<double> s;
            QaLossSaved<double> ls;
            Tensor<double, 2> logits({B, K});
            return dloss * forward(s, ls, logits);
        };
        ModuleCheck check{"qa_head_loss", &store, loss, [&] {
                              QaHeadSaved<double> s;
                              QaLossSaved<double> ls;
                              Tensor<double, 2> logits({B, K}), d_logits({B, K});
                              forward(s, ls, logits);
                              qa_loss_backward<double>(cpu_ctx, d_logits, dloss, ls, logits);
                              head.backward(cpu_ctx, dv, dq, d_logits, s, v, q);
                          }};
        check.inputs = {{"v", span_of(v), span_of(dv)}, {"q", span_of(q), span_of(dq)}};
        run_module_check(check);
        for (index_t d = 0; d < D; ++d) CHECK((dv(1, d) == 0.0 && dq(1, d) == 0.0));  // no label, no gradient
    }
}

SVilmConfig small_config() {
    SVilmConfig c;
    c.video = {16, 8, 4, 2, 8, 2, 2, 16, 1e-6, {3, {1, 2}, 1.0, false}};  // 16x16 frames, 8x8 patches, N_t = 2, L = 8
    c.text = {20, 6, 8, 2, 2, 16, 1e-12};
    c.embed_dim = 6;
    c.num_nouns = 2;
    c.tau_temporal = 0.5;
    c.tau_assign = 0.5;
    return c;
}

void check_video_encoder(const VideoConfig& vc, const std::string& name) {
    nn::ParameterStore<double> store;
    VideoEncoder<double> encoder(store, vc, "video");
    Generator rng(21);
    store.allocate(cpu_ctx, rng);
    randomize(store, 22);
    const index_t B = 2, L = vc.tokens(), M = vc.grouping.num_group_tokens, C = vc.width;
    Tensor<double, 5> video = random_tensor<5>(rng, {B, vc.frames, 3, vc.image_size, vc.image_size});
    std::vector<Tensor<double, 3>> noise;
    std::vector<TensorView<const double, 3>> noise_views;
    for (std::size_t k = 0; k < vc.grouping.after.size(); ++k) {
        noise.emplace_back(Extents<3>{B, M, L});
        rng.gumbel<double, 3>(noise.back());
    }
    for (const auto& n : noise) noise_views.push_back(n);
    Tensor<double, 3> dt = random_tensor<3>(rng, {B, L, C}), dg = random_tensor<3>(rng, {B, M, C});
    Tensor<double, 2> dp = random_tensor<2>(rng, {B, C});
    auto loss = [&] {
        VideoEncoderSaved<double> s;
        encoder.forward(cpu_ctx, s, video, noise_views);
        return dot(s.tokens.data(), dt.data(), dt.size()) + dot(s.groups.data(), dg.data(), dg.size()) +
               dot(s.pooled.data(), dp.data(), dp.size());
    };
    ModuleCheck check{name, &store, loss, [&] {
                          VideoEncoderSaved<double> s;
                          encoder.forward(cpu_ctx, s, video, noise_views);
                          encoder.backward(cpu_ctx, dt, dg, dp, s);
                      }};
    run_module_check(check);
}

TEST_CASE("gradcheck: 2-layer video encoder (grouping after both layers) into tokens, groups and pooled") {
    check_video_encoder(small_config().video, "video_encoder");
}

TEST_CASE("gradcheck: 3-layer video encoder whose only grouping block is not the last layer") {
    VideoConfig vc = small_config().video;
    vc.depth = 3;
    vc.grouping.after = {1};  // the group output feeds two more layers and is also an output
    check_video_encoder(vc, "video_encoder_early_grouping");
}

TEST_CASE("gradcheck: text encoder with padded captions into the [CLS] state") {
    const SVilmConfig config = small_config();
    nn::ParameterStore<double> store;
    TextEncoder<double> encoder(store, config.text, "text");
    Generator rng(31);
    store.allocate(cpu_ctx, rng);
    randomize(store, 32);
    const index_t B = 3, N = 5;
    Tensor<std::int64_t, 2> ids({B, N});
    Tensor<std::uint8_t, 2> mask({B, N});
    for (index_t b = 0; b < B; ++b)
        for (index_t n = 0; n < N; ++n) {
            ids(b, n) = (3 * b + 7 * n + 1) % config.text.vocab_size;
            mask(b, n) = n < N - b;
        }
    Tensor<double, 2> dcls = random_tensor<2>(rng, {B, config.text.width});
    auto loss = [&] {
        TextEncoderSaved<double> s;
        encoder.forward(cpu_ctx, s, ids, mask);
        return dot(s.cls.data(), dcls.data(), dcls.size());
    };
    ModuleCheck check{"text_encoder", &store, loss, [&] {
                          TextEncoderSaved<double> s;
                          encoder.forward(cpu_ctx, s, ids, mask);
                          encoder.backward(cpu_ctx, dcls, s);
                      }};
    run_module_check(check);
}

TEST_CASE("gradcheck: the whole model's total loss into every parameter") {
    const SVilmConfig config = small_config();
    SVilm<double> model(cpu_ctx, config, 41);
    randomize(model.parameters(), 42);
    const VideoConfig& vc = config.video;
    const index_t B = 3, K = config.num_nouns, N = 5, Nt = vc.temporal_positions();
    Generator rng(43);
    Tensor<double, 5> video = random_tensor<5>(rng, {B, vc.frames, 3, vc.image_size, vc.image_size});
    Tensor<double, 2> mask({B, Nt});
    Tensor<std::uint8_t, 2> valid({B, K});
    for (index_t i = 0; i < B; ++i) mask(i, i % Nt) = 1;
    valid(0, 0) = valid(0, 1) = valid(1, 0) = 1;
    Tensor<std::int64_t, 2> ids({B, N}), pids({B * K, N});
    Tensor<std::uint8_t, 2> am({B, N}), pm({B * K, N});
    for (index_t i = 0; i < B; ++i)
        for (index_t n = 0; n < N; ++n) {
            ids(i, n) = (5 * i + 3 * n + 2) % config.text.vocab_size;
            am(i, n) = n < N - i;
        }
    for (index_t i = 0; i < B * K; ++i)
        for (index_t n = 0; n < N; ++n) {
            pids(i, n) = (7 * i + 2 * n + 1) % config.text.vocab_size;
            pm(i, n) = n < 3;
        }
    const SVilmBatch<double> batch{video, mask, ids, am, pids, pm, valid};
    std::vector<Tensor<double, 3>> noise;
    std::vector<TensorView<const double, 3>> noise_views;
    for (std::size_t k = 0; k < vc.grouping.after.size(); ++k) {
        noise.emplace_back(Extents<3>{B, vc.grouping.num_group_tokens, vc.tokens()});
        rng.gumbel<double, 3>(noise.back());
    }
    for (const auto& n : noise) noise_views.push_back(n);
    auto loss = [&] {
        SVilmState<double> s;
        model.forward(cpu_ctx, s, batch, noise_views);
        return s.losses.total;
    };
    ModuleCheck check{"svilm", &model.parameters(), loss, [&] {
                          SVilmState<double> s;
                          model.forward(cpu_ctx, s, batch, noise_views);
                          CHECK(s.losses.contrastive > 0);
                          CHECK(s.losses.temporal > 0);
                          CHECK(s.losses.grounding > 0);
                          model.backward(cpu_ctx, s);
                      }};
    run_module_check(check);
}

}  // namespace
}  // namespace svilm::testing

namespace svilm::testing {
namespace {

TEST_CASE("model: inference encode_video equals the forward's embedding; K = 0; empty and bad batches are errors") {
    SVilmConfig config = small_config();
    config.video.depth = 3;
    config.video.grouping.after = {2};
    config.video.grouping.hard_assignment = true;
    config.num_nouns = 0;
    SVilm<double> model(cpu_ctx, config, 51);
    randomize(model.parameters(), 52);
    const VideoConfig& vc = config.video;
    Generator rng(53);
    Tensor<double, 5> video = random_tensor<5>(rng, {1, vc.frames, 3, vc.image_size, vc.image_size});
    Tensor<double, 2> mask({1, vc.temporal_positions()});
    mask(0, 0) = 1;
    Tensor<std::int64_t, 2> ids({1, 4});
    for (index_t n = 0; n < 4; ++n) ids(0, n) = n + 3;
    const auto am = Tensor<std::uint8_t, 2>::full({1, 4}, 1);
    const SVilmBatch<double> batch{video, mask, ids, am, {}, {}, {}};
    SVilmState<double> s;
    model.forward(cpu_ctx, s, batch, std::span<const TensorView<const double, 3>>{});
    const Tensor<double, 2> embedded = model.encode_video(cpu_ctx, video);
    expect_close<double, double, 2>("encode_video vs forward", embedded, s.video_embed(), Tolerance{1e-12, 1e-12});
    CHECK(s.losses.grounding == 0.0);    // K = 0: no nouns, no grounding
    CHECK(s.losses.contrastive == 0.0);  // one pair: the softmax over one caption is certain
    CHECK(s.losses.temporal > 0.0);
    model.parameters().zero_grad();
    model.backward(cpu_ctx, s);

    CHECK_THROWS_WITH_AS(model.encode_video(cpu_ctx, Tensor<double, 5>({0, vc.frames, 3, vc.image_size, vc.image_size})),
                         doctest::Contains("empty batch"), ShapeError);
    CHECK_THROWS_WITH_AS(model.encode_text(cpu_ctx, Tensor<std::int64_t, 2>({0, 4}), Tensor<std::uint8_t, 2>({0, 4})),
                         doctest::Contains("empty batch"), ShapeError);
    ids(0, 2) = config.text.vocab_size;
    SVilmState<double> bad;
    Generator untouched(7);
    CHECK_THROWS_WITH_AS(model.forward(cpu_ctx, bad, batch, untouched), doctest::Contains("caption_ids[0, 2]"), ValueError);
    CHECK(untouched.state().offset == 0);
    CHECK_THROWS_WITH_AS(model.backward(cpu_ctx, bad), doctest::Contains("not from a completed forward"), ValueError);
}

}  // namespace
}  // namespace svilm::testing
