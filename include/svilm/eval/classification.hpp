// svilm/eval/classification.hpp: classification metrics for video QA and action recognition
// (docs/model.md §8, §13): top-1 accuracy, per-class accuracy, the confusion matrix, and two
// chance levels to read them against, with a text rendering that names the classes.
//
// Labels are class indices in [0, C). From scores (N, C) the predicted label is the argmax of
// each row; equal maxima go to the lowest class index, so a constant row predicts class 0 (a
// collapsed model predicts one class, visibly, instead of a lucky spread).
// Per-class accuracy of class c = the share of the samples whose true class is c that are
// predicted c (c's recall). A class without samples has NaN and is left out of the mean
// per-class accuracy.
// Chance levels: uniform = 1 / C (guessing at random); majority = the share of the most frequent
// true class (always predicting it; equal counts: the lowest class index).
// Accuracies are fractions in [0, 1]; format_classification prints percent.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm::eval {

struct ClassificationMetrics {
    index_t count = 0;                        // N samples
    index_t classes = 0;                      // C
    double accuracy = 0;                      // top-1
    std::vector<double> per_class_accuracy;   // (C), NaN for a class without samples
    double mean_per_class_accuracy = 0;       // over the classes with samples
    Tensor<index_t, 2> confusion;             // (C, C): [true class, predicted class] sample counts
    double chance_uniform = 0;                // 1 / C
    double chance_majority = 0;               // the share of majority_class among the true labels
    index_t majority_class = 0;
};

// The argmax of each row of scores (N, C), ties to the lowest class index.
// requires: C >= 1; no NaN score (a NaN would make the argmax depend on where it sits).
template <class T>
std::vector<index_t> argmax_labels(std::type_identity_t<TensorView<const T, 2>> scores) {
    const index_t N = scores.extent(0), C = scores.extent(1);
    if (C < 1) throw ShapeError("argmax_labels: scores " + to_string<2>(scores.shape()) + " have no class");
    std::vector<index_t> labels(static_cast<std::size_t>(N));
    for (index_t i = 0; i < N; ++i) {
        index_t best = 0;
        for (index_t c = 0; c < C; ++c) {
            if (std::isnan(double(scores(i, c))))
                throw ValueError("argmax_labels: score[" + std::to_string(i) + ", " + std::to_string(c) + "] is NaN");
            if (scores(i, c) > scores(i, best)) best = c;
        }
        labels[std::size_t(i)] = best;
    }
    return labels;
}

// Metrics of predicted (N) against truth (N) labels over `classes` classes.
// requires: equal sizes, N >= 1, classes >= 1, every label in [0, classes).
// ensures: the confusion matrix sums to N and its trace / N is the accuracy.
inline ClassificationMetrics classification_metrics(std::span<const index_t> predicted, std::span<const index_t> truth,
                                                    index_t classes) {
    const char* op = "classification_metrics";
    if (predicted.size() != truth.size())
        throw ShapeError(std::string(op) + ": " + std::to_string(predicted.size()) + " predicted labels vs " +
                         std::to_string(truth.size()) + " true labels");
    if (truth.empty()) throw ValueError(std::string(op) + ": no samples");
    if (classes < 1) throw ValueError(std::string(op) + ": " + std::to_string(classes) + " classes");
    auto expect_in_range = [&](const char* name, std::size_t i, index_t label) {
        if (label < 0 || label >= classes)
            throw ValueError(std::string(op) + ": " + name + " label " + std::to_string(i) + " is " + std::to_string(label) +
                             ", outside [0, " + std::to_string(classes) + ")");
    };
    ClassificationMetrics m;
    m.count = index_t(truth.size());
    m.classes = classes;
    m.confusion = Tensor<index_t, 2>({classes, classes});
    for (std::size_t i = 0; i < truth.size(); ++i) {
        expect_in_range("predicted", i, predicted[i]);
        expect_in_range("true", i, truth[i]);
        ++m.confusion(truth[i], predicted[i]);
    }
    m.per_class_accuracy.assign(std::size_t(classes), std::numeric_limits<double>::quiet_NaN());
    index_t correct = 0, classes_with_samples = 0, majority_count = 0;
    for (index_t c = 0; c < classes; ++c) {
        index_t samples = 0;
        for (index_t p = 0; p < classes; ++p) samples += m.confusion(c, p);
        correct += m.confusion(c, c);
        if (samples > majority_count) majority_count = samples, m.majority_class = c;
        if (samples == 0) continue;
        m.per_class_accuracy[std::size_t(c)] = double(m.confusion(c, c)) / double(samples);
        m.mean_per_class_accuracy += m.per_class_accuracy[std::size_t(c)];
        ++classes_with_samples;
    }
    m.accuracy = double(correct) / double(m.count);
    m.mean_per_class_accuracy /= double(classes_with_samples);
    m.chance_uniform = 1.0 / double(classes);
    m.chance_majority = double(majority_count) / double(m.count);
    return m;
}

// The same from scores (N, C) through argmax_labels; C is the number of classes.
template <class T>
ClassificationMetrics classification_metrics_from_scores(std::type_identity_t<TensorView<const T, 2>> scores,
                                                         std::span<const index_t> truth) {
    if (index_t(truth.size()) != scores.extent(0))
        throw ShapeError("classification_metrics_from_scores: scores " + to_string<2>(scores.shape()) + " vs " +
                         std::to_string(truth.size()) + " true labels");
    const std::vector<index_t> predicted = argmax_labels<T>(scores);
    return classification_metrics(predicted, truth, scores.extent(1));
}

// A summary line, then the confusion matrix with the class names (rows: true class, columns:
// predicted class) and each true class's accuracy, e.g.
//   classification: 7 samples, 3 classes; top-1 accuracy 71.4%, mean per-class 77.8%; chance: ...
//   true \ predicted  left  right  up  accuracy %
//   left                 2      0   1        66.7
// A class without samples shows "-" for its accuracy.
// requires: one name per class.
inline std::string format_classification(const ClassificationMetrics& m, std::span<const std::string> class_names) {
    if (index_t(class_names.size()) != m.classes)
        throw ShapeError("format_classification: " + std::to_string(class_names.size()) + " class names for " +
                         std::to_string(m.classes) + " classes");
    auto percent = [](double fraction) {
        char text[32];
        std::snprintf(text, sizeof text, "%.1f", 100 * fraction);
        return std::string(text);
    };
    auto pad_left = [](const std::string& s, std::size_t width) { return std::string(width - std::min(width, s.size()), ' ') + s; };
    auto pad_right = [](const std::string& s, std::size_t width) { return s + std::string(width - std::min(width, s.size()), ' '); };
    std::string out = "classification: " + std::to_string(m.count) + " samples, " + std::to_string(m.classes) +
                      " classes; top-1 accuracy " + percent(m.accuracy) + "%, mean per-class " +
                      percent(m.mean_per_class_accuracy) + "%; chance: uniform " + percent(m.chance_uniform) +
                      "%, majority class (" + class_names[std::size_t(m.majority_class)] + ") " +
                      percent(m.chance_majority) + "%\n";
    const std::string corner = "true \\ predicted", accuracy_title = "accuracy %";
    std::size_t row_width = corner.size();
    for (const std::string& name : class_names) row_width = std::max(row_width, name.size());
    std::vector<std::size_t> column_width(class_names.size());
    for (index_t p = 0; p < m.classes; ++p) {
        std::size_t width = class_names[std::size_t(p)].size();
        for (index_t t = 0; t < m.classes; ++t) width = std::max(width, std::to_string(m.confusion(t, p)).size());
        column_width[std::size_t(p)] = width;
    }
    out += pad_right(corner, row_width);
    for (index_t p = 0; p < m.classes; ++p) out += "  " + pad_left(class_names[std::size_t(p)], column_width[std::size_t(p)]);
    out += "  " + accuracy_title + "\n";
    for (index_t t = 0; t < m.classes; ++t) {
        out += pad_right(class_names[std::size_t(t)], row_width);
        for (index_t p = 0; p < m.classes; ++p)
            out += "  " + pad_left(std::to_string(m.confusion(t, p)), column_width[std::size_t(p)]);
        const double accuracy = m.per_class_accuracy[std::size_t(t)];
        out += "  " + pad_left(std::isnan(accuracy) ? "-" : percent(accuracy), accuracy_title.size()) + "\n";
    }
    return out;
}

}  // namespace svilm::eval
