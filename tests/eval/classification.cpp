// Classification metrics (svilm/eval/classification.hpp) on hand-made labels and scores with
// known answers: accuracy, per-class accuracy, the confusion matrix, chance levels, argmax ties, a
// class without samples, the text rendering and refused inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "svilm/eval.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::eval;

TEST_CASE("classification: accuracy, per-class accuracy, confusion matrix and chance from labels") {
    // sample:    0  1  2  3  4  5  6
    // true:      0  1  2  2  0  0  2
    // predicted: 0  1  1  2  0  2  2
    // Confusion (rows true, columns predicted): [2 0 1; 0 1 0; 0 1 2]. Correct 2 + 1 + 2 = 5 of 7.
    // Per class: 2/3, 1/1, 2/3, mean 7/9. True counts 3, 1, 3: classes 0 and 2 tie for the majority,
    // the lower index wins, 3/7.
    const std::vector<index_t> truth = {0, 1, 2, 2, 0, 0, 2}, predicted = {0, 1, 1, 2, 0, 2, 2};
    const ClassificationMetrics m = classification_metrics(predicted, truth, 3);
    CHECK(m.count == 7);
    CHECK(m.classes == 3);
    const index_t want[3][3] = {{2, 0, 1}, {0, 1, 0}, {0, 1, 2}};
    for (index_t t = 0; t < 3; ++t)
        for (index_t p = 0; p < 3; ++p) CHECK(m.confusion(t, p) == want[t][p]);
    CHECK(m.accuracy == doctest::Approx(5.0 / 7));
    CHECK(m.per_class_accuracy[0] == doctest::Approx(2.0 / 3));
    CHECK(m.per_class_accuracy[1] == 1);
    CHECK(m.per_class_accuracy[2] == doctest::Approx(2.0 / 3));
    CHECK(m.mean_per_class_accuracy == doctest::Approx(7.0 / 9));
    CHECK(m.chance_uniform == doctest::Approx(1.0 / 3));
    CHECK(m.majority_class == 0);
    CHECK(m.chance_majority == doctest::Approx(3.0 / 7));
}

TEST_CASE("classification: argmax of scores, equal maxima to the lowest class") {
    Tensor<float, 2> scores({5, 3});
    const float rows[5][3] = {{0.1f, 0.7f, 0.2f}, {0.5f, 0.5f, 0.1f}, {0.3f, 0.3f, 0.3f}, {-1, -2, -0.5f}, {0, 2, 2}};
    for (index_t i = 0; i < 5; ++i)
        for (index_t c = 0; c < 3; ++c) scores(i, c) = rows[i][c];
    CHECK(argmax_labels<float>(scores) == std::vector<index_t>{1, 0, 0, 2, 1});
    // truth 1, 1, 0, 2, 2: rows 0, 2 and 3 right, 3 of 5; confusion [1 0 0; 1 1 0; 0 1 1]
    const std::vector<index_t> truth = {1, 1, 0, 2, 2};
    const ClassificationMetrics m = classification_metrics_from_scores<float>(scores, truth);
    CHECK(m.classes == 3);
    CHECK(m.accuracy == doctest::Approx(0.6));
    CHECK(m.confusion(1, 0) == 1);
    CHECK(m.confusion(2, 1) == 1);
    CHECK(m.per_class_accuracy[1] == doctest::Approx(0.5));
    // a collapsed model (every score equal) predicts class 0 everywhere: half of a balanced set
    const ClassificationMetrics collapsed =
        classification_metrics_from_scores<float>(Tensor<float, 2>::full({4, 2}, 0.5f), std::vector<index_t>{0, 1, 0, 1});
    CHECK(collapsed.accuracy == 0.5);
    CHECK(collapsed.confusion(1, 0) == 2);
}

TEST_CASE("classification: a class without samples has NaN accuracy and stays out of the mean") {
    // C = 4, class 3 never true but predicted once. Per class: 1/2, 1, 0 (class 2's one sample is
    // missed), NaN for class 3. Mean over classes 0-2: (1/2 + 1 + 0) / 3 = 1/2.
    const std::vector<index_t> truth = {0, 0, 1, 2}, predicted = {0, 3, 1, 1};
    const ClassificationMetrics m = classification_metrics(predicted, truth, 4);
    CHECK(m.accuracy == 0.5);
    CHECK(std::isnan(m.per_class_accuracy[3]));
    CHECK(m.per_class_accuracy[2] == 0);
    CHECK(m.mean_per_class_accuracy == doctest::Approx(0.5));
    CHECK(m.confusion(0, 3) == 1);
    CHECK(m.chance_uniform == 0.25);
    CHECK(m.chance_majority == 0.5);

    const std::vector<std::string> names = {"left", "right", "up", "still"};
    const std::string text = format_classification(m, names);
    CHECK(text.find("4 samples, 4 classes; top-1 accuracy 50.0%, mean per-class 50.0%") != std::string::npos);
    CHECK(text.find("chance: uniform 25.0%, majority class (left) 50.0%") != std::string::npos);
    CHECK(text.find("true \\ predicted  left  right  up  still  accuracy %") != std::string::npos);
    // rows: names padded to the corner's width, counts under their column names
    CHECK(text.find("\nleft                 1      0   0      1        50.0\n") != std::string::npos);
    CHECK(text.find("\nstill                0      0   0      0           -\n") != std::string::npos);
    CHECK_THROWS_AS(format_classification(m, std::vector<std::string>{"left"}), ShapeError);
}

TEST_CASE("classification: refused inputs name the call") {
    const std::vector<index_t> truth = {0, 1, 2};
    auto message_of = [](auto&& call) {
        try {
            call();
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string out_of_range = message_of([&] { classification_metrics(std::vector<index_t>{0, 3, 1}, truth, 3); });
    CHECK(out_of_range.find("classification_metrics: predicted label 1 is 3, outside [0, 3)") != std::string::npos);
    CHECK_THROWS_AS(classification_metrics(truth, std::vector<index_t>{0, -1, 1}, 3), ValueError);
    CHECK_THROWS_AS(classification_metrics(truth, std::vector<index_t>{0, 1}, 3), ShapeError);
    CHECK_THROWS_AS(classification_metrics(std::vector<index_t>{}, std::vector<index_t>{}, 3), ValueError);
    CHECK_THROWS_AS(classification_metrics(truth, truth, 0), ValueError);
    Tensor<double, 2> scores({3, 3});
    CHECK_THROWS_AS(classification_metrics_from_scores<double>(scores, std::vector<index_t>{0, 1}), ShapeError);
    scores(1, 2) = std::nan("");
    const std::string nan_score = message_of([&] { argmax_labels<double>(scores); });
    CHECK(nan_score.find("argmax_labels: score[1, 2] is NaN") != std::string::npos);
    CHECK_THROWS_AS(argmax_labels<double>(Tensor<double, 2>({2, 0})), ShapeError);
}

}  // namespace
}  // namespace svilm::testing
