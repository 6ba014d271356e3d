// One table of op cases drives the gradient check of every CPU op (ggml's test-backend-ops
// idea). Each backward recomputes its forward's saved state, as a module would hold it.
#include <doctest/doctest.h>

#include <cstdint>

#include "support/context.hpp"
#include "support/gradcheck.hpp"
#include "svilm/ops.hpp"

namespace svilm::testing {
namespace {

using I64View = TensorView<const std::int64_t, 1>;

std::vector<GradCase> op_cases() {
    std::vector<GradCase> cases;

    cases.push_back({"matmul",
                     {{"a", {3, 4}}, {"b", {4, 5}}},
                     {{3, 5}},
                     [](const Buffers& in, Buffers& out) {
                         matmul_forward<double>(cpu_ctx, view_of<2>(out[0], {3, 5}), view_of<2>(in[0], {3, 4}), view_of<2>(in[1], {4, 5}));
                     },
                     [](const Buffers& in, const Buffers& dout, Buffers& g) {
                         matmul_backward<double>(cpu_ctx, view_of<2>(g[0], {3, 4}), view_of<2>(g[1], {4, 5}), view_of<2>(dout[0], {3, 5}),
                                                 view_of<2>(in[0], {3, 4}), view_of<2>(in[1], {4, 5}));
                     }});

    // x (2, 3, 4) flattened to (6, 4) rows, as a module feeds (B, N, C).
    cases.push_back({"linear",
                     {{"x", {6, 4}}, {"weight", {5, 4}, true}, {"bias", {5}, true}},
                     {{6, 5}},
                     [](const Buffers& in, Buffers& out) {
                         linear_forward<double>(cpu_ctx, view_of<2>(out[0], {6, 5}), view_of<2>(in[0], {6, 4}), view_of<2>(in[1], {5, 4}),
                                                view_of<1>(in[2], {5}));
                     },
                     [](const Buffers& in, const Buffers& dout, Buffers& g) {
                         linear_backward<double>(cpu_ctx, view_of<2>(g[0], {6, 4}), view_of<2>(g[1], {5, 4}), view_of<1>(g[2], {5}),
                                                 view_of<2>(dout[0], {6, 5}), view_of<2>(in[0], {6, 4}), view_of<2>(in[1], {5, 4}));
                     }});

    cases.push_back({"linear_no_bias",
                     {{"x", {3, 4}}, {"weight", {2, 4}, true}},
                     {{3, 2}},
                     [](const Buffers& in, Buffers& out) {
                         linear_forward<double>(cpu_ctx, view_of<2>(out[0], {3, 2}), view_of<2>(in[0], {3, 4}), view_of<2>(in[1], {2, 4}), {});
                     },
                     [](const Buffers& in, const Buffers& dout, Buffers& g) {
                         linear_backward<double>(cpu_ctx, view_of<2>(g[0], {3, 4}), view_of<2>(g[1], {2, 4}), {}, view_of<2>(dout[0], {3, 2}),
                                                 view_of<2>(in[0], {3, 4}), view_of<2>(in[1], {2, 4}));
                     }});

    cases.push_back({"layer_norm",
                     {{"x", {4, 6}}, {"weight", {6}, true}, {"bias", {6}, true}},
                     {{4, 6}},
                     [](const Buffers& in, Buffers& out) {
                         LayerNormSaved<double> saved;
                         layer_norm_forward<double>(cpu_ctx, view_of<2>(out[0], {4, 6}), saved, view_of<2>(in[0], {4, 6}),
                                                    view_of<1>(in[1], {6}), view_of<1>(in[2], {6}), 1e-6);
                     },
                     [](const Buffers& in, const Buffers& dout, Buffers& g) {
                         LayerNormSaved<double> saved;
                         Buffer y(24);
                         layer_norm_forward<double>(cpu_ctx, view_of<2>(y, {4, 6}), saved, view_of<2>(in[0], {4, 6}), view_of<1>(in[1], {6}),
                                                    view_of<1>(in[2], {6}), 1e-6);
                         layer_norm_backward<double>(cpu_ctx, view_of<2>(g[0], {4, 6}), view_of<1>(g[1], {6}), view_of<1>(g[2], {6}),
                                                     view_of<2>(dout[0], {4, 6}), saved, view_of<2>(in[0], {4, 6}),
                                                     view_of<1>(in[1], {6}));
                     }});

    cases.push_back({"gelu",
                     {{"x", {20}}},
                     {{20}},
                     [](const Buffers& in, Buffers& out) { gelu_forward<double>(cpu_ctx, view_of<1>(out[0], {20}), view_of<1>(in[0], {20})); },
                     [](const Buffers& in, const Buffers& dout, Buffers& g) {
                         gelu_backward<double>(cpu_ctx, view_of<1>(g[0], {20}), view_of<1>(dout[0], {20}), view_of<1>(in[0], {20}));
                     }});

    // Batch 1 masks keys 1 and 4; the mask is a constant, not differentiated.
    auto softmax_mask = std::make_shared<Buffer>(Buffer{0, 0, 0, 0, 0, 0, -INFINITY, 0, 0, -INFINITY});
    cases.push_back({"softmax_masked",
                     {{"x", {2, 3, 5}}},
                     {{2, 3, 5}},
                     [softmax_mask](const Buffers& in, Buffers& out) {
                         softmax_forward<double>(cpu_ctx, view_of<3>(out[0], {2, 3, 5}), view_of<3>(in[0], {2, 3, 5}),
                                                 view_of<2>(*softmax_mask, {2, 5}));
                     },
                     [softmax_mask](const Buffers& in, const Buffers& dout, Buffers& g) {
                         Buffer y(30);
                         softmax_forward<double>(cpu_ctx, view_of<3>(y, {2, 3, 5}), view_of<3>(in[0], {2, 3, 5}),
                                                 view_of<2>(*softmax_mask, {2, 5}));
                         softmax_backward<double>(cpu_ctx, view_of<3>(g[0], {2, 3, 5}), view_of<3>(dout[0], {2, 3, 5}), view_of<3>(y, {2, 3, 5}));
                     }});

    // Two heads of 3; batch 1 pads keys 3 and 4. A second case pads all of batch 1's keys.
    for (const bool all_padded : {false, true}) {
        auto keep = std::make_shared<std::vector<std::uint8_t>>(std::vector<std::uint8_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
        if (all_padded) std::fill(keep->begin() + 5, keep->end(), std::uint8_t(0));
        auto mask = [keep] { return TensorView<const std::uint8_t, 2>(keep->data(), {2, 5}); };
        cases.push_back({all_padded ? "attention_all_keys_padded" : "attention_key_padding",
                         {{"q", {2, 4, 6}}, {"k", {2, 5, 6}}, {"v", {2, 5, 6}}},
                         {{2, 4, 6}},
                         [mask](const Buffers& in, Buffers& out) {
                             AttentionSaved<double> saved;
                             attention_forward<double>(cpu_ctx, view_of<3>(out[0], {2, 4, 6}), saved, view_of<3>(in[0], {2, 4, 6}),
                                                       view_of<3>(in[1], {2, 5, 6}), view_of<3>(in[2], {2, 5, 6}), mask(), 2);
                         },
                         [mask](const Buffers& in, const Buffers& dout, Buffers& g) {
                             AttentionSaved<double> saved;
                             Buffer out(48);
                             attention_forward<double>(cpu_ctx, view_of<3>(out, {2, 4, 6}), saved, view_of<3>(in[0], {2, 4, 6}),
                                                       view_of<3>(in[1], {2, 5, 6}), view_of<3>(in[2], {2, 5, 6}), mask(), 2);
                             attention_backward<double>(cpu_ctx, view_of<3>(g[0], {2, 4, 6}), view_of<3>(g[1], {2, 5, 6}),
                                                        view_of<3>(g[2], {2, 5, 6}), view_of<3>(dout[0], {2, 4, 6}), saved,
                                                        view_of<3>(in[0], {2, 4, 6}), view_of<3>(in[1], {2, 5, 6}),
                                                        view_of<3>(in[2], {2, 5, 6}), view_of<3>(out, {2, 4, 6}), mask(), 2);
                         }});
    }

    auto ids = std::make_shared<std::vector<std::int64_t>>(std::vector<std::int64_t>{0, 3, 3, 5, 1, 0, 3, 2});
    cases.push_back({"embedding",
                     {{"weight", {6, 3}, true}},
                     {{8, 3}},
                     [ids](const Buffers& in, Buffers& out) {
                         embedding_forward<double>(cpu_ctx, view_of<2>(out[0], {8, 3}), view_of<2>(in[0], {6, 3}), I64View(ids->data(), {8}));
                     },
                     [ids](const Buffers&, const Buffers& dout, Buffers& g) {
                         embedding_backward<double>(cpu_ctx, view_of<2>(g[0], {6, 3}), view_of<2>(dout[0], {8, 3}), I64View(ids->data(), {8}));
                     }});

    cases.push_back({"mean_pool",
                     {{"x", {2, 3, 4}}},
                     {{2, 4}},
                     [](const Buffers& in, Buffers& out) {
                         mean_pool_forward<double>(cpu_ctx, view_of<2>(out[0], {2, 4}), view_of<3>(in[0], {2, 3, 4}));
                     },
                     [](const Buffers&, const Buffers& dout, Buffers& g) {
                         mean_pool_backward<double>(cpu_ctx, view_of<3>(g[0], {2, 3, 4}), view_of<2>(dout[0], {2, 4}));
                     }});

    cases.push_back({"l2_normalize",
                     {{"x", {3, 5}}},
                     {{3, 5}},
                     [](const Buffers& in, Buffers& out) {
                         L2NormalizeSaved<double> saved;
                         l2_normalize_forward<double>(cpu_ctx, view_of<2>(out[0], {3, 5}), saved, view_of<2>(in[0], {3, 5}));
                     },
                     [](const Buffers& in, const Buffers& dout, Buffers& g) {
                         L2NormalizeSaved<double> saved;
                         Buffer y(15);
                         l2_normalize_forward<double>(cpu_ctx, view_of<2>(y, {3, 5}), saved, view_of<2>(in[0], {3, 5}));
                         l2_normalize_backward<double>(cpu_ctx, view_of<2>(g[0], {3, 5}), view_of<2>(dout[0], {3, 5}), view_of<2>(y, {3, 5}),
                                                       saved);
                     }});

    auto targets = std::make_shared<std::vector<std::int64_t>>(std::vector<std::int64_t>{2, 0, 5, 5});
    cases.push_back({"cross_entropy",
                     {{"logits", {4, 6}}},
                     {{1}},
                     [targets](const Buffers& in, Buffers& out) {
                         CrossEntropySaved<double> saved;
                         out[0][0] = cross_entropy_forward<double>(cpu_ctx, saved, view_of<2>(in[0], {4, 6}), I64View(targets->data(), {4}));
                     },
                     [targets](const Buffers& in, const Buffers& dout, Buffers& g) {
                         CrossEntropySaved<double> saved;
                         cross_entropy_forward<double>(cpu_ctx, saved, view_of<2>(in[0], {4, 6}), I64View(targets->data(), {4}));
                         cross_entropy_backward<double>(cpu_ctx, view_of<2>(g[0], {4, 6}), dout[0][0], saved, view_of<2>(in[0], {4, 6}),
                                                        I64View(targets->data(), {4}));
                     }});

    // Gumbel noise is drawn once and held fixed; tau = 0.7 exercises the temperature.
    auto noise = std::make_shared<Buffer>(30);
    {
        Generator g(7);
        g.gumbel<double, 1>(TensorView<double, 1>(noise->data(), {30}));
    }
    const double tau = 0.7;
    auto noise_view = [noise] { return TensorView<const double, 3>(noise->data(), {2, 3, 5}); };
    cases.push_back({"gumbel_assign_straight_through",
                     {{"logits", {2, 3, 5}}},
                     {{2, 3, 5}},
                     [=](const Buffers& in, Buffers& out) {
                         GumbelAssignSaved<double> saved;
                         gumbel_assign_forward<double>(cpu_ctx, view_of<3>(out[0], {2, 3, 5}), saved, view_of<3>(in[0], {2, 3, 5}),
                                                       noise_view(), tau);
                     },
                     [=](const Buffers& in, const Buffers& dout, Buffers& g) {
                         GumbelAssignSaved<double> saved;
                         Buffer hard(30);
                         gumbel_assign_forward<double>(cpu_ctx, view_of<3>(hard, {2, 3, 5}), saved, view_of<3>(in[0], {2, 3, 5}),
                                                       noise_view(), tau);
                         gumbel_assign_backward<double>(cpu_ctx, view_of<3>(g[0], {2, 3, 5}), view_of<3>(dout[0], {2, 3, 5}), saved, tau);
                     },
                     // the straight-through estimator differentiates y_soft
                     [=](const Buffers& in, Buffers& out) {
                         group_softmax_forward<double>(cpu_ctx, view_of<3>(out[0], {2, 3, 5}), view_of<3>(in[0], {2, 3, 5}), noise_view(),
                                                       tau);
                     }});

    cases.push_back({"assign_normalize",
                     {{"y", {2, 3, 5}}},
                     {{2, 3, 5}},
                     [](const Buffers& in, Buffers& out) {
                         assign_normalize_forward<double>(cpu_ctx, view_of<3>(out[0], {2, 3, 5}), view_of<3>(in[0], {2, 3, 5}));
                     },
                     [](const Buffers& in, const Buffers& dout, Buffers& g) {
                         assign_normalize_backward<double>(cpu_ctx, view_of<3>(g[0], {2, 3, 5}), view_of<3>(dout[0], {2, 3, 5}),
                                                           view_of<3>(in[0], {2, 3, 5}));
                     },
                     nullptr,
                     [](Generator& rng, Buffers& in) { rng.uniform<double, 1>(view_of<1>(in[0], {30}), 0.05, 1.0); }});

    cases.push_back({"residual_add",
                     {{"a", {3, 4}}, {"b", {3, 4}}},
                     {{3, 4}},
                     [](const Buffers& in, Buffers& out) {
                         add_forward<double, 2>(cpu_ctx, view_of<2>(out[0], {3, 4}), view_of<2>(in[0], {3, 4}), view_of<2>(in[1], {3, 4}));
                     },
                     [](const Buffers&, const Buffers& dout, Buffers& g) {
                         add_backward<double, 2>(cpu_ctx, view_of<2>(g[0], {3, 4}), view_of<2>(g[1], {3, 4}), view_of<2>(dout[0], {3, 4}));
                     }});

    cases.push_back({"scale",
                     {{"x", {7}}},
                     {{7}},
                     [](const Buffers& in, Buffers& out) {
                         scale_forward<double, 1>(cpu_ctx, view_of<1>(out[0], {7}), view_of<1>(in[0], {7}), -2.5);
                     },
                     [](const Buffers&, const Buffers& dout, Buffers& g) {
                         scale_forward<double, 1>(cpu_ctx, view_of<1>(g[0], {7}), view_of<1>(dout[0], {7}), -2.5);
                     }});
    return cases;
}

TEST_CASE("every CPU op passes its finite-difference gradient check in double") {
    for (const GradCase& c : op_cases()) {
        run_gradcheck(c);
    }
}

}  // namespace
}  // namespace svilm::testing
