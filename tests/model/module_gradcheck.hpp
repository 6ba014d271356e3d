// tests/model/module_gradcheck.hpp: finite-difference checks of whole modules in double.
//
// A module's loss is sum(outputs * dy) for a fixed random dy. The check:
//   1. parameter gradients are pre-filled with 0.5 and must accumulate onto it; input
//      gradients are pre-filled with NaN and must be assigned;
//   2. for every parameter tensor, a few entries (first, middle, last and two random ones) and
//      for every input a sample of entries are compared with central differences:
//      |analytic - numeric| <= 1e-7 + 1e-5 |numeric| (docs/conventions.md §4).
// Probing entries of every named tensor, not a random subset of the flat buffer, proves each
// parameter is wired into backward.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "support/context.hpp"
#include "support/compare.hpp"
#include "svilm/nn/parameter.hpp"

namespace svilm::testing {

struct ModuleInput {
    std::string name;
    std::span<double> values;
    std::span<double> analytic;        // the input gradient backward assigns (pre-filled with NaN)
};

struct ModuleCheck {
    std::string name;
    nn::ParameterStore<double>* store = nullptr;
    std::function<double()> loss;        // forward only: sum(outputs * dy)
    std::function<void()> run_backward;  // forward + backward, parameter grads accumulate, input grads assigned
    std::vector<ModuleInput> inputs;     // filled by the caller before run
};

inline std::vector<index_t> probe_indices(index_t size, Generator& rng, index_t random_probes) {
    std::vector<index_t> idx{0, size / 2, size - 1};
    for (index_t i = 0; i < random_probes; ++i) idx.push_back(index_t(rng.uniform_int(std::uint64_t(size))));
    std::sort(idx.begin(), idx.end());
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    return idx;
}

inline double central_difference(double& x, const std::function<double()>& loss) {
    constexpr double h = 1e-6;
    const double saved = x;
    x = saved + h;
    const double plus = loss();
    x = saved - h;
    const double minus = loss();
    x = saved;
    return (plus - minus) / (2 * h);
}

// `inputs` must be set up by the caller so that their spans stay valid while checking.
inline void run_module_check(ModuleCheck& c, std::uint64_t seed = 99) {
    INFO("module gradcheck: " << c.name);
    nn::ParameterStore<double>& store = *c.store;
    constexpr double prefill = 0.5;
    std::fill_n(store.grads().data(), store.grads().size(), prefill);
    for (ModuleInput& in : c.inputs) std::fill(in.analytic.begin(), in.analytic.end(), std::nan(""));
    c.run_backward();
    Generator rng(seed);
    const Tolerance tol{1e-7, 1e-5};
    for (const nn::ParameterInfo& p : store.parameters()) {
        const auto idx = probe_indices(p.size, rng, 2);
        std::vector<double> analytic, numeric;
        for (index_t i : idx) {
            analytic.push_back(store.grad(p)(i) - prefill);
            numeric.push_back(central_difference(store.value(p)(i), c.loss));
        }
        CHECK(compare_buffers(c.name + "." + p.name + " (parameter, +=)", {index_t(idx.size())}, analytic.data(),
                              numeric.data(), index_t(idx.size()), tol) == 0);
    }
    for (ModuleInput& in : c.inputs) {
        const auto idx = probe_indices(index_t(in.values.size()), rng, 12);
        std::vector<double> analytic, numeric;
        for (index_t i : idx) {
            REQUIRE(std::isfinite(in.analytic[std::size_t(i)]));
            analytic.push_back(in.analytic[std::size_t(i)]);
            numeric.push_back(central_difference(in.values[std::size_t(i)], c.loss));
        }
        CHECK(compare_buffers(c.name + "." + in.name + " (input, =)", {index_t(idx.size())}, analytic.data(), numeric.data(),
                              index_t(idx.size()), tol) == 0);
    }
}

inline double dot(const double* a, const double* b, index_t n) {
    double s = 0;
    for (index_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

}  // namespace svilm::testing
