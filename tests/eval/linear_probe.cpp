// The linear probe (svilm/eval/linear_probe.hpp): separable data fitted to 100% with a converged
// L-BFGS, the objective's gradient against central differences, the gradient at the optimum,
// two 1-D cases solved by hand, standardisation carried into predictions, the choice of lambda
// on a noisy, imbalanced set (and its tie rule), and refused inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "svilm/core/rng.hpp"
#include "svilm/eval.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::eval;

// Features and labels kept together; split() views them.
struct Dataset {
    Tensor<float, 2> features;
    std::vector<index_t> labels;
    LabelledFeatures<float> split() const { return {features, labels}; }
};

// C clusters in the plane, cluster c around angle 360 c / C degrees at radius 3, each point
// within 0.5 of its centre: linearly separable.
Dataset separable_clusters(index_t per_class, index_t classes, std::uint64_t seed) {
    Dataset data{Tensor<float, 2>({per_class * classes, 2}), {}};
    Tensor<float, 2> jitter({per_class * classes, 2});
    Generator(seed).uniform<float, 2>(jitter, -0.35f, 0.35f);
    for (index_t c = 0; c < classes; ++c)
        for (index_t k = 0; k < per_class; ++k) {
            const index_t i = c * per_class + k;
            const double angle = 2 * std::numbers::pi * double(c) / double(classes);
            data.features(i, 0) = float(3 * std::cos(angle)) + jitter(i, 0);
            data.features(i, 1) = float(3 * std::sin(angle)) + jitter(i, 1);
            data.labels.push_back(c);
        }
    return data;
}

// Two classes, the first `ones` samples of class 1: feature 0 is +-1 (by class) plus N(0, 1)
// noise, the other D - 1 features are pure N(0, 1) noise that a weak penalty overfits.
Dataset noisy_binary(index_t N, index_t D, index_t ones, std::uint64_t seed) {
    Dataset data{Tensor<float, 2>({N, D}), {}};
    Generator(seed).normal<float, 2>(data.features);
    for (index_t i = 0; i < N; ++i) {
        const index_t y = i < ones;
        data.features(i, 0) += y ? 1.0f : -1.0f;
        data.labels.push_back(y);
    }
    return data;
}

double train_accuracy(const LinearProbe& probe, const Dataset& data) {
    return classification_metrics(probe.predict<float>(data.features), data.labels, probe.classes).accuracy;
}

// theta = [W (C, D) row-major, b (C)], the objective's layout.
std::vector<double> parameters_of(const LinearProbe& probe) {
    std::vector<double> theta(probe.weight.data(), probe.weight.data() + probe.weight.size());
    theta.insert(theta.end(), probe.bias.begin(), probe.bias.end());
    return theta;
}

TEST_CASE("linear probe: separable 2-D clusters are fitted to 100% and L-BFGS converges") {
    const Dataset data = separable_clusters(20, 3, 7);
    const LinearProbe probe = fit_linear_probe(data.split(), 3, 1e-3);
    CHECK(probe.fit.converged);
    CHECK(probe.fit.stop == LbfgsStop::gradient);
    CHECK(probe.fit.gradient_norm < 1e-6);
    CHECK(probe.fit.iterations > 0);
    CHECK(probe.fit.iterations < 1000);
    CHECK(probe.fit.evaluations >= probe.fit.iterations + 1);
    CHECK(probe.fit.loss < 0.5);
    CHECK(train_accuracy(probe, data) == 1);
    // the report agrees with the objective evaluated at the returned parameters
    const Tensor<double, 2> standardised = probe.standardise<float>(data.features);
    LinearProbeObjective objective(standardised, data.labels, 3, 1e-3);
    std::vector<double> gradient(std::size_t(objective.parameters()));
    CHECK(objective(parameters_of(probe), gradient) == doctest::Approx(probe.fit.loss).epsilon(1e-12));
    // an iteration limit stops early and says so
    LbfgsOptions short_run;
    short_run.max_iterations = 2;
    const LinearProbe stopped = fit_linear_probe(data.split(), 3, 1e-3, short_run);
    CHECK(stopped.fit.iterations == 2);
    CHECK(stopped.fit.stop == LbfgsStop::max_iterations);
    CHECK_FALSE(stopped.fit.converged);
}

TEST_CASE("linear probe: the objective's gradient matches central differences, and vanishes at the optimum") {
    // random standardised-looking features (N, D) = (7, 3), C = 4, lambda 0.3, at a random theta
    const index_t N = 7, D = 3, C = 4;
    Tensor<double, 2> x({N, D});
    Generator(11).normal<double, 2>(x);
    const std::vector<index_t> labels = {0, 3, 1, 1, 2, 0, 3};
    LinearProbeObjective objective(x, labels, C, 0.3);
    REQUIRE(objective.parameters() == C * (D + 1));
    Tensor<double, 1> random_theta({objective.parameters()});
    Generator(12).normal<double, 1>(random_theta, 0.0, 1.0);
    std::vector<double> theta(random_theta.data(), random_theta.data() + random_theta.size());
    std::vector<double> analytic(theta.size()), discarded(theta.size());
    const double loss = objective(theta, analytic);
    CHECK(std::isfinite(loss));
    const double h = 1e-6;
    for (std::size_t k = 0; k < theta.size(); ++k) {
        std::vector<double> up = theta, down = theta;
        up[k] += h, down[k] -= h;
        const double numeric = (objective(up, discarded) - objective(down, discarded)) / (2 * h);
        CHECK(std::isfinite(analytic[k]));
        CHECK(std::abs(analytic[k] - numeric) <= 1e-7 + 1e-5 * std::abs(numeric));
    }

    // at the fitted optimum of a noisy (non-separable) set both gradients are ~0
    const Dataset data = noisy_binary(30, 3, 15, 5);
    const LinearProbe probe = fit_linear_probe(data.split(), 2, 0.1);
    REQUIRE(probe.fit.converged);
    const Tensor<double, 2> standardised = probe.standardise<float>(data.features);
    LinearProbeObjective at_optimum(standardised, data.labels, 2, 0.1);
    const std::vector<double> optimum = parameters_of(probe);
    std::vector<double> gradient(optimum.size()), discarded_at_optimum(optimum.size());
    at_optimum(optimum, gradient);
    for (std::size_t k = 0; k < optimum.size(); ++k) {
        CHECK(std::abs(gradient[k]) < 1e-6);
        std::vector<double> up = optimum, down = optimum;
        up[k] += h, down[k] -= h;
        CHECK(std::abs((at_optimum(up, discarded_at_optimum) - at_optimum(down, discarded_at_optimum)) / (2 * h)) < 1e-6);
    }
}

TEST_CASE("linear probe: two 1-D cases solved by hand") {
    // x = 3 (class 0) and 5 (class 1) standardise to -1 and +1 (mean 4, population std 1). By
    // symmetry the optimum is W = (-u/2, u/2), b = 0, where L(u) = log(1 + e^-u) + lambda u^2 / 4 and
    // L'(u) = 0 gives lambda u / 2 = 1 / (1 + e^u). With lambda = 1 / (2 ln 3): u = ln 3, so
    // P(class 1 | x = 5) = 3 / 4 and P(class 1 | x = 4) = 1 / 2.
    Tensor<float, 2> x({2, 1});
    x(0, 0) = 3, x(1, 0) = 5;
    const std::vector<index_t> labels = {0, 1};
    const double ln3 = std::log(3.0);
    const LinearProbe probe = fit_linear_probe(LabelledFeatures<float>{x, labels}, 2, 1 / (2 * ln3));
    REQUIRE(probe.fit.converged);
    CHECK(probe.mean[0] == 4);
    CHECK(probe.scale[0] == 1);
    CHECK(probe.weight(0, 0) == doctest::Approx(-ln3 / 2).epsilon(1e-6));
    CHECK(probe.weight(1, 0) == doctest::Approx(ln3 / 2).epsilon(1e-6));
    CHECK(std::abs(probe.bias[0]) < 1e-6);
    CHECK(std::abs(probe.bias[1]) < 1e-6);
    Tensor<float, 2> query({2, 1});
    query(0, 0) = 5, query(1, 0) = 4;
    const Tensor<double, 2> s = probe.scores<float>(query);
    CHECK(1 / (1 + std::exp(s(0, 0) - s(0, 1))) == doctest::Approx(0.75).epsilon(1e-6));
    CHECK(s(1, 0) == doctest::Approx(s(1, 1)));

    // A constant feature (std 0: scale 1, standardised to 0) and labels 0, 0, 0, 1: W stays 0 and the
    // unpenalised bias fits the class frequencies, softmax(b) = (3/4, 1/4), b = (ln 3 / 2, -ln 3 / 2),
    // however strong the penalty.
    const Tensor<float, 2> constant = Tensor<float, 2>::full({4, 1}, 7.0f);
    const std::vector<index_t> imbalanced = {0, 0, 0, 1};
    const LinearProbe prior = fit_linear_probe(LabelledFeatures<float>{constant, imbalanced}, 2, 10.0);
    REQUIRE(prior.fit.converged);
    CHECK(prior.scale[0] == 1);
    CHECK(prior.weight(0, 0) == 0);
    CHECK(prior.bias[0] == doctest::Approx(ln3 / 2).epsilon(1e-6));
    CHECK(prior.bias[1] == doctest::Approx(-ln3 / 2).epsilon(1e-6));
    CHECK(prior.predict<float>(constant) == std::vector<index_t>{0, 0, 0, 0});
}

TEST_CASE("linear probe: the training split's standardisation is stored and applied to new features") {
    // Feature d of the second set is a_d x + c_d with scales a = (1000, 0.001) and offsets
    // (5e4, -0.02). Standardisation removes them: both probes have the same weights and give the same
    // scores on correspondingly transformed queries.
    const Dataset data = separable_clusters(10, 2, 3);
    const double a[2] = {1000, 0.001}, c[2] = {5e4, -0.02};
    Dataset moved{Tensor<float, 2>({20, 2}), data.labels};
    double mean[2] = {0, 0};
    for (index_t i = 0; i < 20; ++i)
        for (index_t d = 0; d < 2; ++d) {
            moved.features(i, d) = float(a[d] * data.features(i, d) + c[d]);
            mean[d] += double(moved.features(i, d)) / 20;
        }
    const LinearProbe probe = fit_linear_probe(data.split(), 2, 0.01);
    const LinearProbe moved_probe = fit_linear_probe(moved.split(), 2, 0.01);
    for (index_t d = 0; d < 2; ++d) {
        CHECK(moved_probe.mean[std::size_t(d)] == doctest::Approx(mean[d]));
        CHECK(moved_probe.scale[std::size_t(d)] == doctest::Approx(a[d] * probe.scale[std::size_t(d)]).epsilon(1e-5));
        for (index_t k = 0; k < 2; ++k) CHECK(moved_probe.weight(k, d) == doctest::Approx(probe.weight(k, d)).epsilon(1e-4));
    }
    Tensor<float, 2> query({3, 2}), moved_query({3, 2});
    const float points[3][2] = {{0.5f, -2}, {3, 0}, {-4, 1}};
    for (index_t i = 0; i < 3; ++i)
        for (index_t d = 0; d < 2; ++d) {
            query(i, d) = points[i][d];
            moved_query(i, d) = float(a[d] * points[i][d] + c[d]);
        }
    const Tensor<double, 2> scores = probe.scores<float>(query), moved_scores = moved_probe.scores<float>(moved_query);
    for (index_t i = 0; i < 3; ++i)
        for (index_t k = 0; k < 2; ++k) {
            CHECK(moved_scores(i, k) == doctest::Approx(scores(i, k)).epsilon(1e-3));
            // scores = W (x - mean) / scale + b, written out
            double by_hand = moved_probe.bias[std::size_t(k)];
            for (index_t d = 0; d < 2; ++d)
                by_hand += moved_probe.weight(k, d) * (double(moved_query(i, d)) - moved_probe.mean[std::size_t(d)]) /
                           moved_probe.scale[std::size_t(d)];
            CHECK(moved_scores(i, k) == doctest::Approx(by_hand).epsilon(1e-12));
        }
    CHECK(probe.predict<float>(query) == moved_probe.predict<float>(moved_query));
}

TEST_CASE("linear probe: the validation split chooses a lambda that does not over-regularise, ties to the larger") {
    // Train: 40 samples, 10 features of which one carries the class (+-1 plus unit noise: the best
    // accuracy possible is Phi(1) = 84%), 26 of class 1 and 14 of class 0. Validation: 400 balanced
    // samples from the same distribution. A strong penalty shrinks W until the unpenalised bias,
    // fitted to the training imbalance, predicts class 1 everywhere: lambda = 1e4 scores exactly
    // 1/2 and lambda = 1 falls in between. The weakly penalised ones (1e-4 to 0.1) score within a
    // few points of each other (accuracy hardly sees the difference), so the test asks for one of
    // them, the table's best, not a particular one.
    const Dataset train = noisy_binary(40, 10, 26, 21), validation = noisy_binary(400, 10, 200, 22);
    const std::vector<double> lambdas = {1e-4, 1e-2, 1e-1, 1, 1e4};
    const RegularisationChoice choice = choose_regularisation(train.split(), validation.split(), 2, lambdas);
    REQUIRE(choice.table.size() == lambdas.size());
    for (std::size_t k = 0; k < lambdas.size(); ++k) {
        CHECK(choice.table[k].lambda == lambdas[k]);
        CHECK(choice.table[k].fit.converged);
    }
    double best = 0;
    for (const RegularisationScore& s : choice.table) best = std::max(best, s.validation_accuracy);
    CHECK(best > 0.7);
    CHECK(choice.table[4].validation_accuracy == 0.5);
    CHECK(choice.table[3].validation_accuracy < best - 0.05);
    CHECK(choice.probe.lambda <= 0.1);
    for (const RegularisationScore& s : choice.table)
        if (s.lambda == choice.probe.lambda) CHECK(s.validation_accuracy == best);
    // the probe returned is the chosen lambda's, fitted on train only
    CHECK(classification_metrics(choice.probe.predict<float>(validation.features), validation.labels, 2).accuracy == best);
    const LinearProbe refit = fit_linear_probe(train.split(), 2, choice.probe.lambda);
    CHECK(refit.bias == choice.probe.bias);

    // well-separated clusters: every lambda scores 100% on validation, the largest is chosen
    const Dataset easy = separable_clusters(10, 2, 4), easy_validation = separable_clusters(10, 2, 5);
    const std::vector<double> few = {0.01, 1, 0.1};
    const RegularisationChoice tie = choose_regularisation(easy.split(), easy_validation.split(), 2, few);
    for (const RegularisationScore& s : tie.table) CHECK(s.validation_accuracy == 1);
    CHECK(tie.probe.lambda == 1);
}

TEST_CASE("linear probe: refused inputs name the call") {
    const Dataset data = separable_clusters(3, 2, 1);
    auto message_of = [](auto&& call) {
        try {
            call();
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    std::vector<index_t> out_of_range = data.labels;
    out_of_range[4] = 2;
    const std::string label = message_of([&] { fit_linear_probe(LabelledFeatures<float>{data.features, out_of_range}, 2, 0.1); });
    CHECK(label == "fit_linear_probe: train label 4 is 2, outside [0, 2)");
    const std::vector<index_t> short_labels(5, 0);
    const std::string mismatch = message_of([&] { fit_linear_probe(LabelledFeatures<float>{data.features, short_labels}, 2, 0.1); });
    CHECK(mismatch == "fit_linear_probe: train features (6, 2) vs 5 labels");
    CHECK_THROWS_AS(fit_linear_probe(LabelledFeatures<float>{data.features, short_labels}, 2, 0.1), ShapeError);
    Dataset with_nan = data;
    with_nan.features(1, 0) = std::nanf("");
    const std::string nan_feature = message_of([&] { fit_linear_probe(with_nan.split(), 2, 0.1); });
    CHECK(nan_feature == "fit_linear_probe: train feature[1, 0] is not finite");
    CHECK_THROWS_AS(fit_linear_probe(data.split(), 1, 0.1), ValueError);
    CHECK_THROWS_AS(fit_linear_probe(data.split(), 2, -1.0), ValueError);
    CHECK_THROWS_AS(fit_linear_probe(data.split(), 2, std::nan("")), ValueError);
    LbfgsOptions no_memory;
    no_memory.memory = 0;
    CHECK_THROWS_AS(fit_linear_probe(data.split(), 2, 0.1, no_memory), ValueError);

    const LinearProbe probe = fit_linear_probe(data.split(), 2, 0.1);
    const std::string width = message_of([&] { probe.predict<float>(Tensor<float, 2>({2, 3})); });
    CHECK(width == "LinearProbe::standardise: features (2, 3) vs a probe of 2 features");
    CHECK_THROWS_AS(probe.scores<float>(with_nan.features), ValueError);

    const std::vector<double> lambdas = {0.1};
    const std::string validation_label = message_of([&] {
        choose_regularisation(data.split(), LabelledFeatures<float>{data.features, out_of_range}, 2, lambdas);
    });
    CHECK(validation_label == "choose_regularisation: validation label 4 is 2, outside [0, 2)");
    CHECK_THROWS_AS(choose_regularisation(data.split(), data.split(), 2, std::vector<double>{}), ValueError);
    CHECK_THROWS_AS(choose_regularisation(data.split(), LabelledFeatures<float>{Tensor<float, 2>({6, 3}), data.labels}, 2, lambdas),
                    ShapeError);
}

}  // namespace
}  // namespace svilm::testing
