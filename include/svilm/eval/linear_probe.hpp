// svilm/eval/linear_probe.hpp: the linear probe of action recognition (docs/model.md §8, §13):
// multinomial logistic regression on frozen features, fitted by full-batch L-BFGS, and the choice
// of its regularisation strength on a validation split.
//
// Model: features x (D) are standardised with the training split's per-feature mean and standard
// deviation (population, divisor N), stored in the probe and applied to every later input; a
// feature constant over the training split gets scale 1, so it standardises to 0. Scores
// z = W x_std + b with W (C, D) and b (C); probabilities softmax(z); the predicted label is the
// argmax of z, ties to the lowest class (svilm/eval/classification.hpp).
// Objective, in double whatever the features' type, for N training pairs (x_i, y_i):
//   L(W, b) = (1/N) sum_i -log softmax(W x_i,std + b)[y_i] + (lambda / 2) ||W||_F^2
// The data term is a mean, so a lambda means the same for any N; the bias is not regularised.
// L-BFGS starts from W = 0, b = 0; see minimise_lbfgs for its rules and stopping tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/eval/classification.hpp"
#include "svilm/ops/gemm.hpp"

namespace svilm::eval {

// ---- L-BFGS ------------------------------------------------------------------------------------

struct LbfgsOptions {
    index_t memory = 10;                        // (s, y) pairs kept
    index_t max_iterations = 1000;
    double gradient_tolerance = 1e-6;           // on the gradient's infinity norm
    double relative_decrease_tolerance = 1e-9;  // (L_prev - L) / max(|L_prev|, |L|, 1)
};

enum class LbfgsStop { gradient, relative_decrease, max_iterations, line_search };

struct LbfgsReport {
    index_t iterations = 0;   // accepted steps
    index_t evaluations = 0;  // objective and gradient evaluations
    double loss = 0;          // at the returned parameters
    double gradient_norm = 0; // infinity norm there
    bool converged = false;   // stopped by the gradient or the relative-decrease test
    LbfgsStop stop = LbfgsStop::max_iterations;
};

// Minimises objective(theta, gradient) -> value (which fills gradient) from the theta given,
// in place. Each iteration: direction -H g by the two-loop recursion over the last
// `memory` pairs (s = step, y = gradient change; a pair is kept only when its curvature
// s.y > 1e-10 |s| |y|), with initial inverse Hessian (s.y / y.y) I from the newest pair;
// without pairs, steepest descent with first trial step min(1, 1 / |g|_2), otherwise step 1.
// Backtracking line search: the step is halved (at most 60 times) until Armijo's condition
// L(theta + t d) <= L + 1e-4 t g.d holds with a finite L. If it fails on a quasi-Newton
// direction the pairs are dropped and steepest descent is tried.
// Stops, in this order: |g|_inf < gradient_tolerance (converged); the iteration limit; no
// decrease along steepest descent (rounding has stopped progress); the relative decrease of an
// accepted step below relative_decrease_tolerance (converged; L-BFGS-B's test, an absolute
// decrease once |L| < 1). On a stiff objective (a large lambda) the last can fire with |g|_inf
// well above gradient_tolerance while L is at its minimum to rounding: |g| = lambda |W - W*|
// there, so a large gradient means a tiny error in W; the report keeps the gradient norm.
template <class Objective>
LbfgsReport minimise_lbfgs(Objective&& objective, std::span<double> theta, const LbfgsOptions& options = {}) {
    const char* op = "minimise_lbfgs";
    if (options.memory < 1) throw ValueError(std::string(op) + ": memory must be positive");
    if (options.max_iterations < 0) throw ValueError(std::string(op) + ": negative iteration limit");
    if (!(options.gradient_tolerance >= 0) || !(options.relative_decrease_tolerance >= 0))
        throw ValueError(std::string(op) + ": tolerances must be non-negative");
    const std::size_t P = theta.size();
    auto dot = [P](const std::vector<double>& a, const auto& b) {
        double s = 0;
        for (std::size_t k = 0; k < P; ++k) s += a[k] * b[k];
        return s;
    };
    auto infinity_norm = [](const std::vector<double>& v) {
        double m = 0;
        for (double x : v) m = std::max(m, std::abs(x));
        return m;
    };
    struct Pair {
        std::vector<double> s, y;
        double rho;  // 1 / s.y
    };
    std::vector<Pair> pairs;  // oldest first
    std::vector<double> gradient(P), trial(P), trial_gradient(P), direction(P), alpha;

    LbfgsReport report;
    double loss = objective(std::span<const double>(theta.data(), P), std::span<double>(gradient));
    report.evaluations = 1;
    if (!std::isfinite(loss)) throw ValueError(std::string(op) + ": the objective is not finite at the start");
    for (;;) {
        if (infinity_norm(gradient) < options.gradient_tolerance) {
            report.stop = LbfgsStop::gradient;
            break;
        }
        if (report.iterations >= options.max_iterations) {
            report.stop = LbfgsStop::max_iterations;
            break;
        }
        // direction = -H g by the two-loop recursion
        for (std::size_t k = 0; k < P; ++k) direction[k] = gradient[k];
        alpha.assign(pairs.size(), 0.0);
        for (std::size_t i = pairs.size(); i-- > 0;) {
            alpha[i] = pairs[i].rho * dot(pairs[i].s, direction);
            for (std::size_t k = 0; k < P; ++k) direction[k] -= alpha[i] * pairs[i].y[k];
        }
        if (!pairs.empty()) {
            const Pair& newest = pairs.back();
            const double gamma = 1.0 / (newest.rho * dot(newest.y, newest.y));
            for (double& d : direction) d *= gamma;
        }
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            const double beta = pairs[i].rho * dot(pairs[i].y, direction);
            for (std::size_t k = 0; k < P; ++k) direction[k] += (alpha[i] - beta) * pairs[i].s[k];
        }
        for (double& d : direction) d = -d;
        double slope = dot(gradient, direction);
        const bool steepest = pairs.empty() || !(slope < 0);
        if (steepest) {
            pairs.clear();
            for (std::size_t k = 0; k < P; ++k) direction[k] = -gradient[k];
            slope = -dot(gradient, gradient);
        }

        double step = steepest ? std::min(1.0, 1.0 / std::sqrt(-slope)) : 1.0, trial_loss = 0;
        bool accepted = false;
        for (int halvings = 0; halvings <= 60; ++halvings, step *= 0.5) {
            for (std::size_t k = 0; k < P; ++k) trial[k] = theta[k] + step * direction[k];
            trial_loss = objective(std::span<const double>(trial), std::span<double>(trial_gradient));
            ++report.evaluations;
            accepted = std::isfinite(trial_loss) && trial_loss <= loss + 1e-4 * step * slope;
            if (accepted) break;
        }
        if (!accepted) {
            if (!steepest) {
                pairs.clear();
                continue;
            }
            report.stop = LbfgsStop::line_search;
            break;
        }

        Pair pair{std::vector<double>(P), std::vector<double>(P), 0};
        for (std::size_t k = 0; k < P; ++k) {
            pair.s[k] = trial[k] - theta[k];
            pair.y[k] = trial_gradient[k] - gradient[k];
        }
        const double curvature = dot(pair.s, pair.y);
        if (curvature > 1e-10 * std::sqrt(dot(pair.s, pair.s) * dot(pair.y, pair.y))) {
            pair.rho = 1.0 / curvature;
            if (index_t(pairs.size()) == options.memory) pairs.erase(pairs.begin());
            pairs.push_back(std::move(pair));
        }
        const double decrease = loss - trial_loss, scale = std::max({std::abs(loss), std::abs(trial_loss), 1.0});
        std::copy(trial.begin(), trial.end(), theta.begin());
        gradient.swap(trial_gradient);
        loss = trial_loss;
        ++report.iterations;
        if (decrease / scale < options.relative_decrease_tolerance) {
            report.stop = LbfgsStop::relative_decrease;
            break;
        }
    }
    report.loss = loss;
    report.gradient_norm = infinity_norm(gradient);
    report.converged = report.stop == LbfgsStop::gradient || report.stop == LbfgsStop::relative_decrease;
    return report;
}

// ---- the probe ---------------------------------------------------------------------------------

// A split: features (N, D) and their labels (N), each in [0, C).
template <class T>
struct LabelledFeatures {
    TensorView<const T, 2> features;
    std::span<const index_t> labels;
};

namespace detail {

template <class T>
void expect_finite_features(const char* op, const char* split, TensorView<const T, 2> features) {
    for (index_t i = 0; i < features.extent(0); ++i)
        for (index_t d = 0; d < features.extent(1); ++d)
            if (!std::isfinite(double(features(i, d))))
                throw ValueError(std::string(op) + ": " + split + " feature[" + std::to_string(i) + ", " +
                                 std::to_string(d) + "] is not finite");
}

template <class T>
void expect_labelled_features(const char* op, const char* split, const LabelledFeatures<T>& data, index_t classes) {
    if (data.features.extent(0) < 1 || data.features.extent(1) < 1)
        throw ShapeError(std::string(op) + ": " + split + " features " + to_string<2>(data.features.shape()) +
                         " are empty");
    if (index_t(data.labels.size()) != data.features.extent(0))
        throw ShapeError(std::string(op) + ": " + split + " features " + to_string<2>(data.features.shape()) + " vs " +
                         std::to_string(data.labels.size()) + " labels");
    for (std::size_t i = 0; i < data.labels.size(); ++i)
        if (data.labels[i] < 0 || data.labels[i] >= classes)
            throw ValueError(std::string(op) + ": " + split + " label " + std::to_string(i) + " is " +
                             std::to_string(data.labels[i]) + ", outside [0, " + std::to_string(classes) + ")");
    expect_finite_features<T>(op, split, data.features);
}

inline void expect_lambda(const char* op, double lambda) {
    if (!(lambda >= 0) || !std::isfinite(lambda))
        throw ValueError(std::string(op) + ": lambda " + std::to_string(lambda) + " must be finite and non-negative");
}

}  // namespace detail

// The objective at the top over standardised features (N, D), as a function of
// theta = [W (C, D) row-major, b (C)], C (D + 1) values.
class LinearProbeObjective {
public:
    // requires: labels (N) in [0, classes); the views outlive the objective.
    LinearProbeObjective(TensorView<const double, 2> standardised, std::span<const index_t> labels, index_t classes,
                         double lambda)
        : features_(standardised), labels_(labels), classes_(classes), lambda_(lambda),
          logits_({standardised.extent(0), classes}, uninitialized) {
        if (index_t(labels.size()) != standardised.extent(0))
            throw ShapeError("LinearProbeObjective: features " + to_string<2>(standardised.shape()) + " vs " +
                             std::to_string(labels.size()) + " labels");
    }

    index_t parameters() const { return classes_ * (features_.extent(1) + 1); }

    // L(theta), and gradient = dL/dtheta (both C (D + 1)).
    double operator()(std::span<const double> theta, std::span<double> gradient) {
        const index_t N = features_.extent(0), D = features_.extent(1), C = classes_;
        if (index_t(theta.size()) != parameters() || index_t(gradient.size()) != parameters())
            throw ShapeError("LinearProbeObjective: " + std::to_string(theta.size()) + " parameters and " +
                             std::to_string(gradient.size()) + " gradients for " + std::to_string(parameters()));
        const TensorView<const double, 2> weight(theta.data(), {C, D});
        const double* bias = theta.data() + C * D;
        const Context<cpu> ctx;
        matmul<double>(ctx, logits_, features_, weight.transpose(0, 1));
        // logits_ becomes dL/dz = (softmax(z) - onehot(y)) / N, row by row
        double data_term = 0;
        for (index_t i = 0; i < N; ++i) {
            double top = -std::numeric_limits<double>::infinity();
            for (index_t c = 0; c < C; ++c) top = std::max(top, logits_(i, c) += bias[c]);
            double total = 0;
            for (index_t c = 0; c < C; ++c) total += std::exp(logits_(i, c) - top);
            const index_t y = labels_[std::size_t(i)];
            data_term += top + std::log(total) - logits_(i, y);
            for (index_t c = 0; c < C; ++c) logits_(i, c) = std::exp(logits_(i, c) - top) / total / double(N);
            logits_(i, y) -= 1.0 / double(N);
        }
        const TensorView<double, 2> weight_gradient(gradient.data(), {C, D});
        matmul<double>(ctx, weight_gradient, logits_.view().transpose(0, 1), features_);
        double squares = 0;
        for (index_t k = 0; k < C * D; ++k) {
            squares += theta[std::size_t(k)] * theta[std::size_t(k)];
            gradient[std::size_t(k)] += lambda_ * theta[std::size_t(k)];
        }
        for (index_t c = 0; c < C; ++c) {
            double sum = 0;
            for (index_t i = 0; i < N; ++i) sum += logits_(i, c);
            gradient[std::size_t(C * D + c)] = sum;
        }
        return data_term / double(N) + 0.5 * lambda_ * squares;
    }

private:
    TensorView<const double, 2> features_;
    std::span<const index_t> labels_;
    index_t classes_;
    double lambda_;
    Tensor<double, 2> logits_;  // (N, C)
};

struct LinearProbe {
    index_t classes = 0;
    double lambda = 0;
    std::vector<double> mean, scale;  // (D): the training split's mean and standard deviation (1 if 0)
    Tensor<double, 2> weight;         // (C, D), on standardised features
    std::vector<double> bias;         // (C)
    LbfgsReport fit;

    index_t features() const { return index_t(mean.size()); }

    // (x - mean) / scale for features (M, D).
    // requires: D = features(), every value finite.
    template <class T>
    Tensor<double, 2> standardise(std::type_identity_t<TensorView<const T, 2>> x) const {
        const char* op = "LinearProbe::standardise";
        if (x.extent(1) != features())
            throw ShapeError(std::string(op) + ": features " + to_string<2>(x.shape()) + " vs a probe of " +
                             std::to_string(features()) + " features");
        detail::expect_finite_features<T>(op, "input", x);
        Tensor<double, 2> out(x.shape(), uninitialized);
        for (index_t i = 0; i < x.extent(0); ++i)
            for (index_t d = 0; d < x.extent(1); ++d)
                out(i, d) = (double(x(i, d)) - mean[std::size_t(d)]) / scale[std::size_t(d)];
        return out;
    }

    // Scores (M, C) = W standardise(x) + b for features x (M, D).
    template <class T>
    Tensor<double, 2> scores(std::type_identity_t<TensorView<const T, 2>> x) const {
        const Tensor<double, 2> standardised = standardise<T>(x);
        Tensor<double, 2> out({x.extent(0), classes}, uninitialized);
        matmul<double>(Context<cpu>{}, out, standardised, weight.view().transpose(0, 1));
        for (index_t i = 0; i < out.extent(0); ++i)
            for (index_t c = 0; c < classes; ++c) out(i, c) += bias[std::size_t(c)];
        return out;
    }

    // Labels (M): the argmax of the scores, ties to the lowest class.
    template <class T>
    std::vector<index_t> predict(std::type_identity_t<TensorView<const T, 2>> x) const {
        return argmax_labels<double>(scores<T>(x));
    }
};

namespace detail {

// A probe with the training split's standardisation and no weights yet.
template <class T>
LinearProbe standardisation_of(TensorView<const T, 2> features, index_t classes) {
    const index_t N = features.extent(0), D = features.extent(1);
    LinearProbe probe;
    probe.classes = classes;
    probe.mean.assign(std::size_t(D), 0.0);
    probe.scale.assign(std::size_t(D), 0.0);
    for (index_t d = 0; d < D; ++d) {
        double sum = 0;
        for (index_t i = 0; i < N; ++i) sum += double(features(i, d));
        const double mean = sum / double(N);
        double squares = 0;
        for (index_t i = 0; i < N; ++i) squares += (double(features(i, d)) - mean) * (double(features(i, d)) - mean);
        const double deviation = std::sqrt(squares / double(N));
        probe.mean[std::size_t(d)] = mean;
        probe.scale[std::size_t(d)] = deviation > 0 ? deviation : 1.0;
    }
    return probe;
}

// Fits `probe` (standardisation set) on standardised (N, D) with lambda.
inline void fit_standardised(LinearProbe& probe, TensorView<const double, 2> standardised, std::span<const index_t> labels,
                             double lambda, const LbfgsOptions& options) {
    const index_t C = probe.classes, D = standardised.extent(1);
    LinearProbeObjective objective(standardised, labels, C, lambda);
    std::vector<double> theta(std::size_t(objective.parameters()), 0.0);
    probe.lambda = lambda;
    probe.fit = minimise_lbfgs(objective, theta, options);
    probe.weight = Tensor<double, 2>({C, D}, uninitialized);
    std::copy_n(theta.begin(), C * D, probe.weight.data());
    probe.bias.assign(theta.begin() + C * D, theta.end());
}

}  // namespace detail

// Fits a probe on train (features (N, D), labels (N)) for `classes` classes with regularisation
// strength lambda.
// requires: N, D >= 1; labels (N) in [0, classes); classes >= 2; finite features; lambda finite
// and >= 0.
// ensures: fit says how the optimiser stopped; with fit.converged and lambda > 0 the probe is the
// objective's unique minimum within gradient_tolerance (up to the softmax's shift invariance,
// which the zero start keeps at sum_c b_c = 0 and sum_c W_c = 0).
template <class T>
LinearProbe fit_linear_probe(const LabelledFeatures<T>& train, index_t classes, double lambda,
                             const LbfgsOptions& options = {}) {
    const char* op = "fit_linear_probe";
    if (classes < 2) throw ValueError(std::string(op) + ": a probe needs at least 2 classes, not " + std::to_string(classes));
    detail::expect_lambda(op, lambda);
    detail::expect_labelled_features<T>(op, "train", train, classes);
    LinearProbe probe = detail::standardisation_of<T>(train.features, classes);
    const Tensor<double, 2> standardised = probe.standardise<T>(train.features);
    detail::fit_standardised(probe, standardised, train.labels, lambda, options);
    return probe;
}

struct RegularisationScore {
    double lambda = 0;
    double validation_accuracy = 0;  // top-1, a fraction
    LbfgsReport fit;
};

struct RegularisationChoice {
    std::vector<RegularisationScore> table;  // in the order of the lambdas given
    LinearProbe probe;                       // the chosen lambda's probe, fitted on train only
};

// Fits one probe per lambda on train and keeps the one with the best top-1 accuracy on
// validation; equal accuracies go to the larger lambda (the simpler model). Nothing is refitted
// on train + validation.
// requires: as fit_linear_probe for both splits (validation with the same D); lambdas not empty.
template <class T>
RegularisationChoice choose_regularisation(const LabelledFeatures<T>& train, const LabelledFeatures<T>& validation,
                                           index_t classes, std::span<const double> lambdas,
                                           const LbfgsOptions& options = {}) {
    const char* op = "choose_regularisation";
    if (classes < 2) throw ValueError(std::string(op) + ": a probe needs at least 2 classes, not " + std::to_string(classes));
    if (lambdas.empty()) throw ValueError(std::string(op) + ": no lambdas to choose from");
    for (double lambda : lambdas) detail::expect_lambda(op, lambda);
    detail::expect_labelled_features<T>(op, "train", train, classes);
    detail::expect_labelled_features<T>(op, "validation", validation, classes);
    if (validation.features.extent(1) != train.features.extent(1))
        throw ShapeError(std::string(op) + ": train features " + to_string<2>(train.features.shape()) +
                         " vs validation features " + to_string<2>(validation.features.shape()));
    const LinearProbe standardisation = detail::standardisation_of<T>(train.features, classes);
    const Tensor<double, 2> standardised = standardisation.standardise<T>(train.features);
    RegularisationChoice choice;
    double best_accuracy = -1;
    for (double lambda : lambdas) {
        LinearProbe probe = standardisation;
        detail::fit_standardised(probe, standardised, train.labels, lambda, options);
        const std::vector<index_t> predicted = probe.predict<T>(validation.features);
        const double accuracy = classification_metrics(predicted, validation.labels, classes).accuracy;
        choice.table.push_back({lambda, accuracy, probe.fit});
        if (accuracy > best_accuracy || (accuracy == best_accuracy && lambda > choice.probe.lambda)) {
            best_accuracy = accuracy;
            choice.probe = std::move(probe);
        }
    }
    return choice;
}

}  // namespace svilm::eval
