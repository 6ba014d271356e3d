// The baseline localiser's decoding: runs of windows to segments, scored by the run's mean
// probability, background runs dropped, then temporal NMS; every case worked by hand, and one
// decoded video scored with the ActivityNet metric.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "svilm/eval.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::eval;

Tensor<float, 2> rows(const std::vector<std::vector<float>>& r) {
    Tensor<float, 2> t({index_t(r.size()), index_t(r[0].size())});
    for (std::size_t i = 0; i < r.size(); ++i)
        for (std::size_t j = 0; j < r[i].size(); ++j) t(index_t(i), index_t(j)) = r[i][j];
    return t;
}

TEST_CASE("localisation: runs of windows become segments scored by their mean probability") {
    // classes: 0 background, 1 jump, 2 run; windows of 2 s every 2 s
    const std::vector<double> starts = {0, 2, 4, 6, 8, 10}, ends = {2, 4, 6, 8, 10, 12};
    const Tensor<float, 2> p = rows({{0.8f, 0.1f, 0.1f},
                                     {0.2f, 0.7f, 0.1f},
                                     {0.1f, 0.5f, 0.4f},
                                     {0.6f, 0.3f, 0.1f},
                                     {0.1f, 0.2f, 0.7f},
                                     {0.2f, 0.1f, 0.7f}});
    const std::vector<PredictedSegment> s = segments_from_windows("v", starts, ends, p, {"none", "jump", "run"}, 0);
    REQUIRE(s.size() == 2);
    CHECK(s[0].label == "jump");
    CHECK(s[0].start == 2);
    CHECK(s[0].end == 6);
    CHECK(s[0].score == doctest::Approx(0.6));  // (0.7 + 0.5) / 2
    CHECK(s[1].label == "run");
    CHECK(s[1].start == 8);
    CHECK(s[1].end == 12);
    CHECK(s[1].score == doctest::Approx(0.7));
    // scored against the truth jump [2, 6] and run [8, 11]: tIoU 1 and 3/4, so mAP 1 up to 0.75
    const std::vector<GroundTruthSegment> truth = {{"v", "jump", 2, 6}, {"v", "run", 8, 11}};
    const DetectionMetrics m = detection_metrics(truth, s);
    CHECK(m.mean_average_precision[0] == doctest::Approx(1));  // 0.50
    CHECK(m.mean_average_precision[5] == doctest::Approx(1));  // 0.75
    CHECK(m.mean_average_precision[6] == doctest::Approx(0.5));  // 0.80: run misses
    // without a background class every run is an action
    CHECK(segments_from_windows("v", starts, ends, p, {"none", "jump", "run"}, -1).size() == 4);
}

TEST_CASE("localisation: temporal NMS keeps the best of overlapping segments of one class and video") {
    const std::vector<PredictedSegment> in = {{"v", "jump", 0.5, 0, 10},  {"v", "jump", 0.9, 1, 10},
                                              {"v", "run", 0.4, 0, 10},   {"w", "jump", 0.3, 0, 10},
                                              {"v", "jump", 0.8, 20, 30}, {"v", "jump", 0.7, 5, 15}};
    // jump in v: 0.9 [1,10] kept; 0.8 [20,30] kept (no overlap); 0.7 [5,15] vs [1,10]: tIoU 5/14 <= 0.5
    // kept; 0.5 [0,10] vs [1,10]: 9/10 > 0.5 dropped. Other class and video untouched.
    const std::vector<PredictedSegment> kept = temporal_nms(in, 0.5);
    REQUIRE(kept.size() == 5);
    CHECK(kept[0].score == 0.9);
    CHECK(kept[1].score == 0.8);
    CHECK(kept[2].score == 0.7);
    CHECK(kept[3].label == "run");
    CHECK(kept[4].video_id == "w");
    CHECK(temporal_nms(in, 0.3).size() == 4);  // 5/14 = 0.357 > 0.3: [5,15] dropped too
}

TEST_CASE("localisation: refused windows name the video") {
    const Tensor<float, 2> p = rows({{0.5f, 0.5f}, {0.5f, 0.5f}});
    const std::vector<double> starts = {0, 2}, bad_ends = {2, 1};
    CHECK_THROWS_WITH_AS(segments_from_windows("clip7", starts, bad_ends, p, {"a", "b"}, 0), doctest::Contains("clip7"),
                         ValueError);
    const std::vector<double> ends = {2, 4};
    CHECK_THROWS_AS(segments_from_windows("clip7", starts, ends, p, {"a"}, 0), ShapeError);
    CHECK_THROWS_AS(segments_from_windows("clip7", starts, ends, p, {"a", "b"}, 2), ValueError);
}

}  // namespace
}  // namespace svilm::testing
