// Zero-shot classification: class names made readable, templates filled, prompt ensembling as the
// normalised mean of normalised prompt embeddings, cosine scores, on an encoder whose embeddings
// are known, so every number is worked out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "svilm/eval.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::eval;

TEST_CASE("zero-shot: readable class names and filled templates") {
    CHECK(readable_class_name("ApplyEyeMakeup") == "apply eye makeup");
    CHECK(readable_class_name("moves_left") == "moves left");
    CHECK(readable_class_name("YoYo") == "yo yo");
    CHECK(readable_class_name("brush_hair") == "brush hair");
    CHECK(readable_class_name("MovesLeft") == "moves left");
    CHECK(fill_template("a video of {}.", "moves left") == "a video of moves left.");
    CHECK(fill_template("{} and {}", "x") == "x and x");
    CHECK_THROWS_AS(fill_template("no slot", "x"), ValueError);
}

TEST_CASE("zero-shot: prompt ensembling averages the normalised prompts of a class") {
    // 2-D embeddings: class "a" is asked as (3, 4) and (0, 2) -> normalised (0.6, 0.8) and (0, 1),
    // mean (0.3, 0.9), normalised (0.3162, 0.9487); class "b" as (1, 0) and (2, 0) -> (1, 0).
    const std::map<std::string, std::pair<float, float>> table = {
        {"first a", {3, 4}}, {"second a", {0, 2}}, {"first b", {1, 0}}, {"second b", {2, 0}}};
    std::vector<std::string> seen;
    const auto encode = [&](const std::vector<std::string>& prompts) {
        seen = prompts;
        Tensor<float, 2> out({index_t(prompts.size()), 2});
        for (std::size_t i = 0; i < prompts.size(); ++i) {
            out(index_t(i), 0) = table.at(prompts[i]).first;
            out(index_t(i), 1) = table.at(prompts[i]).second;
        }
        return out;
    };
    const ZeroShotClassifier z = ZeroShotClassifier::build({"a", "b"}, {"first {}", "second {}"}, encode);
    CHECK(seen == std::vector<std::string>{"first a", "second a", "first b", "second b"});
    CHECK(z.prompts(1) == std::vector<std::string>{"first b", "second b"});
    const double n = std::sqrt(0.3 * 0.3 + 0.9 * 0.9);
    CHECK(z.class_embeddings()(0, 0) == doctest::Approx(0.3 / n));
    CHECK(z.class_embeddings()(0, 1) == doctest::Approx(0.9 / n));
    CHECK(z.class_embeddings()(1, 0) == doctest::Approx(1));
    CHECK(z.class_embeddings()(1, 1) == doctest::Approx(0));

    // videos (0, 5) and (2, 1): cosines with (0.316, 0.949) and (1, 0)
    Tensor<float, 2> videos({2, 2});
    videos(0, 1) = 5;
    videos(1, 0) = 2, videos(1, 1) = 1;
    const Tensor<float, 2> s = z.scores(videos);
    CHECK(s(0, 0) == doctest::Approx(0.9 / n));
    CHECK(s(0, 1) == doctest::Approx(0));
    CHECK(s(1, 0) == doctest::Approx((2 * 0.3 + 0.9) / n / std::sqrt(5.0)));
    CHECK(s(1, 1) == doctest::Approx(2 / std::sqrt(5.0)));
    const ClassificationMetrics m = classification_metrics_from_scores<float>(s, std::vector<index_t>{0, 1});
    CHECK(m.accuracy == doctest::Approx(1));
}

TEST_CASE("zero-shot: refused inputs name the call") {
    const auto zeros = [](const std::vector<std::string>& prompts) { return Tensor<float, 2>({index_t(prompts.size()), 3}); };
    CHECK_THROWS_WITH_AS(ZeroShotClassifier::build({"a"}, {"{}"}, zeros), doctest::Contains("norm 0"), ValueError);
    const auto wrong = [](const std::vector<std::string>&) { return Tensor<float, 2>({1, 3}); };
    CHECK_THROWS_AS(ZeroShotClassifier::build({"a", "b"}, {"{}"}, wrong), ShapeError);
    CHECK_THROWS_AS(ZeroShotClassifier::build({}, {"{}"}, zeros), ValueError);
    // opposite prompts cancel out
    const auto opposite = [](const std::vector<std::string>& prompts) {
        Tensor<float, 2> out({index_t(prompts.size()), 1});
        out(0, 0) = 1, out(1, 0) = -1;
        return out;
    };
    CHECK_THROWS_WITH_AS(ZeroShotClassifier::build({"a"}, {"x {}", "y {}"}, opposite), doctest::Contains("cancel out"), ValueError);
}

}  // namespace
}  // namespace svilm::testing
