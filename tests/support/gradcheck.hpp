// tests/support/gradcheck.hpp: the table-driven finite-difference gradient check.
//
// A GradCase names its differentiable arguments, its outputs, a forward and a backward. The
// harness (dlib's layer test, in double):
//   1. fills outputs with NaN, runs forward, requires every output element written;
//   2. draws an upstream gradient dy, pre-fills input gradients with NaN and parameter
//      gradients with 0.5, runs backward: input gradients must be assigned (finite), parameter
//      gradients must accumulate onto the 0.5;
//   3. compares with central differences of loss = sum(forward(x) * dy):
//      |analytic - numeric| <= 1e-7 + 1e-5 |numeric| (docs/conventions.md §4).
// A case whose forward value is not differentiable (the straight-through hard assignment) gives
// the `surrogate` whose derivative its backward claims to compute. A case without a backward (an
// op the library does not differentiate: a data move, an optimiser pass) stops after step 1.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "svilm/core/rng.hpp"
#include "support/compare.hpp"

namespace svilm::testing {

using Buffer = std::vector<double>;
using Buffers = std::vector<Buffer>;

struct GradArg {
    std::string name;
    std::vector<index_t> shape;
    bool parameter = false;
};

struct GradCase {
    std::string name;
    std::vector<GradArg> inputs;
    std::vector<std::vector<index_t>> outputs;
    std::function<void(const Buffers& in, Buffers& out)> forward;
    std::function<void(const Buffers& in, const Buffers& dout, Buffers& grads)> backward;  // may be empty
    std::function<void(const Buffers& in, Buffers& out)> surrogate;  // defaults to forward
    std::function<void(Generator& rng, Buffers& in)> init;          // defaults to N(0, 1)
};

inline index_t count(const std::vector<index_t>& shape) {
    index_t n = 1;
    for (index_t e : shape) n *= e;
    return n;
}

template <int Rank>
TensorView<double, Rank> view_of(Buffer& b, const Extents<Rank>& shape) {
    REQUIRE(index_t(b.size()) == numel<Rank>(shape));
    return TensorView<double, Rank>(b.data(), shape);
}
template <int Rank>
TensorView<const double, Rank> view_of(const Buffer& b, const Extents<Rank>& shape) {
    REQUIRE(index_t(b.size()) == numel<Rank>(shape));
    return TensorView<const double, Rank>(b.data(), shape);
}

inline Buffers make_buffers(const std::vector<std::vector<index_t>>& shapes, double value) {
    Buffers out;
    for (const auto& s : shapes) out.emplace_back(std::size_t(count(s)), value);
    return out;
}

inline double weighted_sum(const Buffers& out, const Buffers& weights) {
    double loss = 0;
    for (std::size_t k = 0; k < out.size(); ++k)
        for (std::size_t i = 0; i < out[k].size(); ++i) loss += out[k][i] * weights[k][i];
    return loss;
}

inline void run_gradcheck(const GradCase& c, std::uint64_t seed = 1234) {
    INFO("gradcheck case: " << c.name);
    Generator rng(seed);
    std::vector<std::vector<index_t>> input_shapes;
    for (const auto& a : c.inputs) input_shapes.push_back(a.shape);
    Buffers in = make_buffers(input_shapes, 0.0);
    if (c.init) {
        c.init(rng, in);
    } else {
        for (auto& b : in) rng.normal<double, 1>(TensorView<double, 1>(b.data(), {index_t(b.size())}));
    }

    Buffers out = make_buffers(c.outputs, std::numeric_limits<double>::quiet_NaN());
    c.forward(in, out);
    for (std::size_t k = 0; k < out.size(); ++k)
        for (std::size_t i = 0; i < out[k].size(); ++i) {
            INFO("output " << k << " element " << i);
            REQUIRE(std::isfinite(out[k][i]));
        }
    if (!c.backward) return;

    Buffers dout = make_buffers(c.outputs, 0.0);
    for (auto& b : dout) rng.normal<double, 1>(TensorView<double, 1>(b.data(), {index_t(b.size())}));

    constexpr double parameter_prefill = 0.5;
    Buffers grads;
    for (const auto& a : c.inputs)
        grads.emplace_back(std::size_t(count(a.shape)),
                           a.parameter ? parameter_prefill : std::numeric_limits<double>::quiet_NaN());
    c.backward(in, dout, grads);

    const auto& probe = c.surrogate ? c.surrogate : c.forward;
    constexpr double h = 1e-6;
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
        const GradArg& arg = c.inputs[k];
        Buffer analytic = grads[k];
        if (arg.parameter)
            for (double& g : analytic) g -= parameter_prefill;
        Buffer numeric(analytic.size());
        for (std::size_t i = 0; i < in[k].size(); ++i) {
            const double saved = in[k][i];
            Buffers probe_out = make_buffers(c.outputs, 0.0);
            in[k][i] = saved + h;
            probe(in, probe_out);
            const double plus = weighted_sum(probe_out, dout);
            in[k][i] = saved - h;
            probe(in, probe_out);
            const double minus = weighted_sum(probe_out, dout);
            in[k][i] = saved;
            numeric[i] = (plus - minus) / (2 * h);
        }
        CHECK(compare_buffers(c.name + "." + arg.name + (arg.parameter ? " (parameter, +=)" : " (input, =)"), arg.shape,
                              analytic.data(), numeric.data(), index_t(numeric.size()), Tolerance{1e-7, 1e-5}) == 0);
    }
}

}  // namespace svilm::testing
