// The CUDA pre-training losses, AdamW and gradient clipping beyond the op table's comparison
// with the CPU (tests/ops/op_table.hpp: every loss, its gradients and the logit scales' at each
// setting; the AdamW update and the clipping op): what must hold exactly on the device (clips
// without a scene change and captions without a noun get no gradient, a clamped scale passes
// none, the loss is 0 when nothing is left) and the error paths; 3 clipped AdamW updates on a
// small store with every parameter role against the CPU AdamW, the update on hand-made ranges
// with padding against a plain loop. Where no GPU exists every test says so and passes without
// checking anything on a device.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/cpu_reference_losses.hpp"
#include "cuda/cuda_test_support.hpp"

namespace svilm::testing {
namespace {

// Random rows of length `shape[Rank - 1]`, each L2-normalised as the losses' inputs are.
template <int Rank>
Tensor<float, Rank> unit_rows(const Extents<Rank>& shape, std::uint64_t seed) {
    Tensor<float, Rank> t = random_tensor<float, Rank>(shape, seed);
    const index_t cols = shape[Rank - 1];
    for (index_t r = 0; cols && r < t.size() / cols; ++r) {
        double sq = 0;
        for (index_t c = 0; c < cols; ++c) sq += double(t.data()[r * cols + c]) * t.data()[r * cols + c];
        for (index_t c = 0; c < cols; ++c) t.data()[r * cols + c] = float(t.data()[r * cols + c] / std::sqrt(sq));
    }
    return t;
}

Tensor<float, 0, cuda> device_scalar(const Context<cuda>& ctx, float value) {
    return to_device<float, 0>(ctx, Tensor<float, 0>::full({}, value));
}
float host_scalar(const Context<cuda>& ctx, const Tensor<float, 0, cuda>& x) { return to_host<float, 0>(ctx, x)(); }

bool scalar_close(double gpu, double cpu, Tolerance tol = fp32_tolerance) {
    return std::isfinite(gpu) && std::abs(gpu - cpu) <= tol.atol + tol.rtol * std::abs(cpu);
}

TEST_CASE("cuda losses: a contrastive logit scale clamped at 100 passes no gradient; an empty batch is refused") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t B = 64, D = 256;
    const Tensor<float, 2, cuda> vd = to_device<float, 2>(ctx, unit_rows<2>({B, D}, 31)),
                                 cd = to_device<float, 2>(ctx, unit_rows<2>({B, D}, 32));
    const float prior = 0.25f;  // the scale's gradient accumulates onto it
    Tensor<float, 2, cuda> dvd = nan_device<2>(ctx, {B, D}), dcd = nan_device<2>(ctx, {B, D});
    Tensor<float, 0, cuda> dsd = device_scalar(ctx, prior);
    ContrastiveSaved<float, cuda> s;
    contrastive_loss_forward<float>(ctx, s, vd, cd, float(std::log(150.0)));
    contrastive_loss_backward<float>(ctx, dvd, dcd, dsd, 0.7f, s, vd, cd);
    CHECK(s.scale == 100.0f);
    CHECK(host_scalar(ctx, dsd) == prior);
    const Tensor<float, 2, cuda> empty({0, D}, uninitialized);
    CHECK_THROWS_WITH_AS(contrastive_loss_forward<float>(ctx, s, empty, empty, 1.0f), doctest::Contains("empty batch"),
                         ShapeError);
}

TEST_CASE("cuda losses: clips without a scene change are left out with exactly zero gradient; a bad mask value is named") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t B = 6, Nt = 8, D = 256;
    const Tensor<float, 3, cuda> zd = to_device<float, 3>(ctx, unit_rows<3>({B, Nt, D}, 33));
    Tensor<float, 2> mask({B, Nt});
    for (index_t t = 2; t <= 5; ++t) mask(0, t) = 1;
    for (index_t t = 0; t < Nt; ++t) mask(1, t) = 1;  // all foreground: no scene change
    mask(3, 0) = 1;                                   // clip 2 all background: no scene change either
    for (index_t t = 1; t <= 6; ++t) mask(4, t) = 1;
    mask(5, 3) = mask(5, 4) = 1;
    const float tau = 0.1f, dloss = 1.3f;
    Tensor<float, 3, cuda> dzd = nan_device<3>(ctx, {B, Nt, D});
    TemporalGroupingSaved<float, cuda> s;
    temporal_grouping_loss_forward<float>(ctx, s, zd, mask, tau);
    temporal_grouping_loss_backward<float>(ctx, dzd, dloss, s, zd, tau);
    CHECK(s.valid_count == 4);
    const Tensor<float, 3> dz = to_host<float, 3>(ctx, dzd);
    for (const index_t i : {1, 2})
        for (index_t k = 0; k < Nt * D; ++k) REQUIRE(dz.data()[i * Nt * D + k] == 0.0f);

    const Tensor<float, 2> no_change({B, Nt});
    CHECK(temporal_grouping_loss_forward<float>(ctx, s, zd, no_change, tau) == 0.0f);
    CHECK(s.valid_count == 0);
    dzd = nan_device<3>(ctx, {B, Nt, D});
    temporal_grouping_loss_backward<float>(ctx, dzd, dloss, s, zd, tau);
    const Tensor<float, 3> zeros = to_host<float, 3>(ctx, dzd);
    for (index_t k = 0; k < zeros.size(); ++k) REQUIRE(zeros.data()[k] == 0.0f);
    const Tensor<float, 2> bad = Tensor<float, 2>::full({B, Nt}, 0.5f);
    CHECK_THROWS_WITH_AS(temporal_grouping_loss_forward<float>(ctx, s, zd, bad, tau),
                         doctest::Contains("mask[0, 0] is neither 0 nor 1"), ValueError);
}

TEST_CASE("cuda losses: a caption without a noun gets no gradient; with no noun the loss is 0 and the scale untouched") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t B = 8, K = 2, M = 32, D = 256;
    Tensor<std::uint8_t, 2> valid = Tensor<std::uint8_t, 2>::full({B, K}, 1);
    valid(1, 1) = 0;               // caption 1 has one noun
    valid(2, 0) = valid(2, 1) = 0;  // caption 2 none
    const Tensor<float, 3, cuda> nd = to_device<float, 3>(ctx, unit_rows<3>({B, K, D}, 34)),
                                 gd = to_device<float, 3>(ctx, unit_rows<3>({B, M, D}, 35));
    const float tau_a = 0.1f, dloss = 0.9f, prior = -0.5f;
    for (const float log_scale : {float(std::log(1 / 0.07)), float(std::log(150.0))}) {
        INFO("log_scale " << log_scale);
        Tensor<float, 3, cuda> dnd = nan_device<3>(ctx, {B, K, D}), dgd = nan_device<3>(ctx, {B, M, D});
        Tensor<float, 0, cuda> dsd = device_scalar(ctx, prior);
        GroundingSaved<float, cuda> s;
        grounding_loss_forward<float>(ctx, s, nd, valid, gd, log_scale, tau_a);
        grounding_loss_backward<float>(ctx, dnd, dgd, dsd, dloss, s, nd, gd, tau_a);
        CHECK(s.valid_count == 13);
        const Tensor<float, 3> dn = to_host<float, 3>(ctx, dnd);
        for (index_t d = 0; d < D; ++d) CHECK(dn(2, 0, d) == 0.0f);
        if (log_scale > std::log(100.0f)) CHECK(host_scalar(ctx, dsd) == prior);  // the clamp passes no gradient
    }

    // no valid noun, then no noun slot at all: loss 0, zero gradients, the scale untouched
    for (const index_t slots : {K, index_t(0)}) {
        INFO("noun slots " << slots);
        const Tensor<std::uint8_t, 2> none({B, slots});
        const Tensor<float, 3, cuda> nouns_d = to_device<float, 3>(ctx, unit_rows<3>({B, slots, D}, 36));
        Tensor<float, 3, cuda> dnd = nan_device<3>(ctx, {B, slots, D}), dgd = nan_device<3>(ctx, {B, M, D});
        Tensor<float, 0, cuda> dsd = device_scalar(ctx, prior);
        GroundingSaved<float, cuda> s;
        CHECK(grounding_loss_forward<float>(ctx, s, nouns_d, none, gd, 1.0f, tau_a) == 0.0f);
        grounding_loss_backward<float>(ctx, dnd, dgd, dsd, dloss, s, nouns_d, gd, tau_a);
        const Tensor<float, 3> dn = to_host<float, 3>(ctx, dnd), dg = to_host<float, 3>(ctx, dgd);
        for (index_t k = 0; k < dn.size(); ++k) REQUIRE(dn.data()[k] == 0.0f);
        for (index_t k = 0; k < dg.size(); ++k) REQUIRE(dg.data()[k] == 0.0f);
        CHECK(host_scalar(ctx, dsd) == prior);
    }
}

// The store's parameters as adamw_update's ranges on the device, as optim::AdamW builds them.
AdamWRanges<cuda> device_ranges(const Context<cuda>& ctx, const nn::ParameterStore<float>& store) {
    const auto count = index_t(store.parameters().size());
    Tensor<index_t, 1> begin({count}), end({count});
    Tensor<std::uint8_t, 1> decays({count});
    for (index_t s = 0; s < count; ++s) {
        const nn::ParameterInfo& p = store.parameters()[std::size_t(s)];
        begin(s) = p.offset;
        end(s) = p.offset + p.size;
        decays(s) = nn::decays(p.role) ? 1 : 0;
    }
    return {to_device<index_t, 1>(ctx, begin), to_device<index_t, 1>(ctx, end), to_device<std::uint8_t, 1>(ctx, decays), count};
}

// Step t's constants (t from 1), as optim::AdamW computes them.
AdamWHyper<float> hyper(const optim::AdamWOptions& o, double lr, std::int64_t t) {
    const double c1 = 1 - std::pow(o.beta1, double(t)), c2 = 1 - std::pow(o.beta2, double(t));
    return {float(1 - lr * o.weight_decay), float(o.beta1), float(o.beta2), float(lr / c1), float(std::sqrt(c2)), float(o.eps)};
}

TEST_CASE("cuda optim: 3 clipped AdamW updates equal the CPU AdamW (decay on weights only)") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const Context<cpu> cpu_ctx;
    nn::ParameterStore<float> store;
    store.add<2>("fc.weight", {24, 40}, nn::Role::weight);
    store.add<1>("fc.bias", {24}, nn::Role::bias);
    store.add<1>("norm.weight", {37}, nn::Role::norm_weight);
    store.add<1>("norm.bias", {37}, nn::Role::norm_bias);
    store.add<2>("embed.weight", {11, 24}, nn::Role::embedding);
    store.add<2>("proj.weight", {7, 24}, nn::Role::weight);
    store.add<0>("logit_scale", {}, nn::Role::scalar, std::log(1 / 0.07));
    Generator rng(37);
    store.allocate(cpu_ctx, rng);
    const index_t n = store.values().size(), steps = 3;

    // gradients on the parameters only (padding stays 0): large, small, large against max_norm
    const double max_norm = 1.0;
    Tensor<float, 2> grads({steps, n});
    Generator noise(38);
    for (index_t step = 0; step < steps; ++step)
        for (const nn::ParameterInfo& p : store.parameters()) {
            Tensor<float, 1> g({p.size}, uninitialized);
            noise.normal<float, 1>(g);
            const float size = step == 1 ? 1e-3f : 0.5f;
            for (index_t i = 0; i < p.size; ++i) grads(step, p.offset + i) = size * g(i);
        }
    const std::vector<double> lrs = {1e-2, 5e-3, 2e-3};
    const optim::AdamWOptions options{1e-3, 0.9, 0.999, 1e-8, 0.05};

    Tensor<float, 1, cuda> values = to_device<float, 1>(ctx, store.values());
    Tensor<float, 1, cuda> exp_avg_d = zeros<float, 1>(ctx, {n}), exp_avg_sq_d = zeros<float, 1>(ctx, {n});
    const AdamWRanges<cuda> ranges = device_ranges(ctx, store);
    std::vector<double> gpu_norms;
    for (index_t step = 0; step < steps; ++step) {
        Tensor<float, 1, cuda> g = to_device<float, 1>(ctx, grads.view().select(0, step));
        gpu_norms.push_back(clip_grad_norm<float>(ctx, g, max_norm));
        adamw_update<float>(ctx, values, g, exp_avg_d, exp_avg_sq_d, ranges, hyper(options, lrs[std::size_t(step)], step + 1));
    }
    Tensor<float, 1> exp_avg({n}), exp_avg_sq({n});
    const std::vector<double> norms = cpu_adamw_run(store, options, grads, lrs, max_norm, exp_avg, exp_avg_sq);

    CHECK(norms[0] > max_norm);
    CHECK(norms[1] < max_norm);
    for (index_t step = 0; step < steps; ++step) CHECK(scalar_close(gpu_norms[std::size_t(step)], norms[std::size_t(step)], {0, 1e-9}));
    const Tensor<float, 1> gpu_values = to_host<float, 1>(ctx, values);
    CHECK(compare_buffers("values", {n}, gpu_values.data(), store.values().data(), n, fp32_tolerance) == 0);
    CHECK(mismatches("exp_avg", to_host<float, 1>(ctx, exp_avg_d), exp_avg) == 0);
    CHECK(mismatches("exp_avg_sq", to_host<float, 1>(ctx, exp_avg_sq_d), exp_avg_sq) == 0);
}

TEST_CASE("cuda optim: adamw_update equals a CPU loop of the same update and leaves the padding alone") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t n = 1000;
    // sorted, disjoint ranges; two of them touch; 100..127, 401..511 and 999 are padding
    const std::vector<index_t> begin = {0, 128, 400, 512}, end = {100, 400, 401, 999};
    const std::vector<std::uint8_t> decays = {1, 0, 1, 0};
    const auto count = index_t(begin.size());
    Tensor<index_t, 1> begin_h({count}), end_h({count});
    Tensor<std::uint8_t, 1> decays_h({count});
    for (index_t s = 0; s < count; ++s) {
        begin_h(s) = begin[std::size_t(s)];
        end_h(s) = end[std::size_t(s)];
        decays_h(s) = decays[std::size_t(s)];
    }
    const AdamWRanges<cuda> ranges{to_device<index_t, 1>(ctx, begin_h), to_device<index_t, 1>(ctx, end_h),
                                   to_device<std::uint8_t, 1>(ctx, decays_h), count};
    optim::AdamWOptions options;
    options.weight_decay = 0.1;
    const AdamWHyper<float> h = hyper(options, 1e-2, 3);

    Tensor<float, 1> values = random_tensor<float, 1>({n}, 60), m = random_tensor<float, 1>({n}, 62);
    const Tensor<float, 1> grads = random_tensor<float, 1>({n}, 61);
    Tensor<float, 1> v = random_tensor<float, 1>({n}, 63);
    for (index_t i = 0; i < n; ++i) v(i) *= 1e-2f * v(i);  // a second moment is not negative
    const Tensor<float, 1> values0 = values, m0 = m, v0 = v;
    Tensor<float, 1, cuda> values_d = to_device<float, 1>(ctx, values), m_d = to_device<float, 1>(ctx, m),
                           v_d = to_device<float, 1>(ctx, v);
    adamw_update<float>(ctx, values_d, to_device<float, 1>(ctx, grads), m_d, v_d, ranges, h);

    for (index_t s = 0; s < count; ++s)  // the CPU loop
        for (index_t i = begin[std::size_t(s)]; i < end[std::size_t(s)]; ++i) {
            const float g = grads(i);
            m(i) = h.beta1 * m(i) + (1 - h.beta1) * g;
            v(i) = h.beta2 * v(i) + (1 - h.beta2) * g * g;
            const float decay = decays[std::size_t(s)] ? h.decay : 1.0f;
            values(i) = values(i) * decay - h.step_size * m(i) / (std::sqrt(v(i)) / h.root_c2 + h.eps);
        }
    const Tensor<float, 1> gpu_values = to_host<float, 1>(ctx, values_d), gpu_m = to_host<float, 1>(ctx, m_d),
                           gpu_v = to_host<float, 1>(ctx, v_d);
    CHECK(mismatches("values", gpu_values, values) == 0);
    CHECK(mismatches("exp_avg", gpu_m, m) == 0);
    CHECK(mismatches("exp_avg_sq", gpu_v, v) == 0);
    for (const index_t i : {index_t(100), index_t(127), index_t(401), index_t(511), index_t(999)}) {
        CAPTURE(i);
        CHECK(gpu_values(i) == values0(i));
        CHECK(gpu_m(i) == m0(i));
        CHECK(gpu_v(i) == v0(i));
    }
    CHECK_THROWS_WITH_AS(adamw_update<float>(ctx, values_d, to_device<float, 1>(ctx, grads.view().narrow(0, 1, n)), m_d, v_d,
                                             ranges, h),
                         doctest::Contains("adamw_update: grads (999) expected (1000)"), ShapeError);
}

}  // namespace
}  // namespace svilm::testing
