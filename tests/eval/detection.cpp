// Temporal action localisation metrics (svilm/eval/detection.hpp) on hand-made cases whose AP is
// worked out in the comments: perfect predictions, a false positive ranked first, duplicates,
// greedy matching by score, two classes, tIoU exactly at a threshold, a class without
// predictions, predictions in a video without ground truth, ties, and refused inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "svilm/eval.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::eval;

// AP of every threshold equal to `expected`.
void check_all_thresholds(const ClassAveragePrecision& c, double expected) {
    for (double ap : c.average_precision) CHECK(ap == doctest::Approx(expected));
}

TEST_CASE("detection: tIoU in seconds") {
    CHECK(temporal_iou(0, 10, 5, 15) == doctest::Approx(5.0 / 15));  // overlap 5, union 15
    CHECK(temporal_iou(2, 4, 0, 10) == doctest::Approx(0.2));        // contained: 2 / 10
    CHECK(temporal_iou(0, 10, 0, 10) == 1);
    CHECK(temporal_iou(0, 5, 5, 10) == 0);    // touching
    CHECK(temporal_iou(0, 5, 7, 10) == 0);    // disjoint
    CHECK(temporal_iou(3, 3, 3, 3) == 0);     // two zero-length segments: no union
    CHECK(temporal_iou(0, 10, 3, 3) == 0);    // a zero-length one inside a segment
}

TEST_CASE("detection: interpolated AP of a ranking") {
    // hits 1, 0, 1, 0 over G = 3: precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3.
    // Envelope from the right: 1, 2/3, 2/3, 1/2. Recall rises at ranks 1 and 3:
    // AP = 1/3 * 1 + 1/3 * 2/3 = 5/9 (the third segment, never found, adds nothing).
    const std::vector<double> precision = {1, 0.5, 2.0 / 3, 0.5}, recall = {1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3};
    CHECK(interpolated_average_precision(precision, recall) == doctest::Approx(5.0 / 9));
    CHECK(interpolated_average_precision({}, {}) == 0);
    CHECK_THROWS_AS(interpolated_average_precision(precision, std::vector<double>{1}), ShapeError);
}

TEST_CASE("detection: predictions equal to the ground truth score 1 at every threshold") {
    const std::vector<GroundTruthSegment> truth = {
        {"v1", "jump", 0, 10}, {"v1", "run", 20, 30}, {"v2", "jump", 5, 8}, {"v2", "run", 1, 2.5}};
    const std::vector<PredictedSegment> predictions = {
        {"v2", "run", 0.2, 1, 2.5}, {"v1", "jump", 0.9, 0, 10}, {"v2", "jump", 0.4, 5, 8}, {"v1", "run", 0.7, 20, 30}};
    const DetectionMetrics m = detection_metrics(truth, predictions);
    REQUIRE(m.tiou_thresholds.size() == 10);
    CHECK(m.tiou_thresholds[0] == 0.5);
    CHECK(m.tiou_thresholds[9] == 0.95);
    REQUIRE(m.classes.size() == 2);
    CHECK(m.classes[0].label == "jump");  // sorted by label
    CHECK(m.classes[0].ground_truth == 2);
    CHECK(m.classes[0].predictions == 2);
    for (const ClassAveragePrecision& c : m.classes) check_all_thresholds(c, 1);
    for (double map : m.mean_average_precision) CHECK(map == doctest::Approx(1));
    CHECK(m.average_mean_average_precision == doctest::Approx(1));
    CHECK(m.unscored_predictions == 0);
    CHECK(m.protocol.find("2 classes with ground truth (4 segments in 2 videos), 4 predictions") != std::string::npos);
    CHECK(m.protocol.find("tIoU 0.50:0.05:0.95") != std::string::npos);
    const std::string table = format_detection(m, true);
    CHECK(table.find("detection: ActivityNet v1.3") != std::string::npos);
    CHECK(table.find("  0.95") != std::string::npos);
    CHECK(table.find("  100.0") != std::string::npos);
    CHECK(table.find("\njump ") != std::string::npos);
    CHECK(format_detection(m).find("\njump ") == std::string::npos);  // per-class rows only on request
}

TEST_CASE("detection: a false positive ranked first") {
    // G = 2. Ranking: FP (score 0.9, nowhere near), TP, TP. Precision 0, 1/2, 2/3; recall 0, 1/2, 1.
    // Envelope: 2/3, 2/3, 2/3, so AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3 at every threshold.
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}, {"v2", "jump", 0, 10}};
    const std::vector<PredictedSegment> predictions = {
        {"v1", "jump", 0.9, 50, 60}, {"v1", "jump", 0.8, 0, 10}, {"v2", "jump", 0.7, 0, 10}};
    const DetectionMetrics m = detection_metrics(truth, predictions);
    check_all_thresholds(m.classes[0], 2.0 / 3);
    CHECK(m.average_mean_average_precision == doctest::Approx(2.0 / 3));
}

TEST_CASE("detection: a second detection of one segment is a false positive") {
    // G = 2 (v1 [0, 10] and [20, 30]). Ranking: [0, 10] (TP), the same [0, 10] again (its segment is
    // taken and [20, 30] does not overlap: FP), [20, 30] (TP). Precision 1, 1/2, 2/3; recall 1/2,
    // 1/2, 1. Envelope 1, 2/3, 2/3: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}, {"v1", "jump", 20, 30}};
    const std::vector<PredictedSegment> predictions = {
        {"v1", "jump", 0.9, 0, 10}, {"v1", "jump", 0.8, 0, 10}, {"v1", "jump", 0.7, 20, 30}};
    check_all_thresholds(detection_metrics(truth, predictions).classes[0], 5.0 / 6);
}

TEST_CASE("detection: matching is greedy in score order, not the best assignment") {
    // One segment [0, 10]. The higher-scored prediction [0, 6] has tIoU 0.6 exactly, the lower one
    // [0, 10] tIoU 1. At t = 0.50, 0.55, 0.60 the first takes the segment and the second is a
    // duplicate: precision 1, 1/2, recall 1, 1, AP 1. From t = 0.65 the first misses: precision 0,
    // 1/2, recall 0, 1, AP 1/2. Average over the ten thresholds (3 * 1 + 7 * 0.5) / 10 = 0.65.
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}};
    const std::vector<PredictedSegment> predictions = {{"v1", "jump", 0.9, 0, 6}, {"v1", "jump", 0.8, 0, 10}};
    const DetectionMetrics m = detection_metrics(truth, predictions);
    const std::vector<double> expected = {1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    for (std::size_t t = 0; t < expected.size(); ++t) CHECK(m.classes[0].average_precision[t] == doctest::Approx(expected[t]));
    CHECK(m.average_mean_average_precision == doctest::Approx(0.65));
}

TEST_CASE("detection: two classes with different APs average into mAP") {
    // "jump": perfect, AP 1. "run": G = 3 and the ranking TP, FP, TP, FP with one segment never
    // found: AP 5/9 (the ranking of the interpolated-AP case above). mAP = (1 + 5/9) / 2 = 7/9.
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}, {"v1", "run", 10, 20}, {"v2", "run", 0, 4},
                                                   {"v3", "run", 30, 40}};
    const std::vector<PredictedSegment> predictions = {
        {"v1", "jump", 0.5, 0, 10},
        {"v1", "run", 0.9, 10, 20},   // TP
        {"v2", "run", 0.8, 10, 14},   // FP: no overlap with v2's [0, 4]
        {"v2", "run", 0.7, 0, 4},     // TP
        {"v1", "run", 0.6, 0, 10},    // FP: touches v1's [10, 20] only at a point
    };
    const DetectionMetrics m = detection_metrics(truth, predictions);
    REQUIRE(m.classes.size() == 2);
    check_all_thresholds(m.classes[0], 1);
    check_all_thresholds(m.classes[1], 5.0 / 9);
    for (double map : m.mean_average_precision) CHECK(map == doctest::Approx(7.0 / 9));
    CHECK(m.average_mean_average_precision == doctest::Approx(7.0 / 9));
}

TEST_CASE("detection: a tIoU exactly at a threshold matches there and not above") {
    // tIoU 5/10 = 0.5: AP 1 at 0.50 only, average 0.1. tIoU 3/4 = 0.75: AP 1 at 0.50-0.75 (six
    // thresholds), average 0.6. tIoU 0.8999999999999999 (segment [0, 0.8999999999999999] in [0, 1]):
    // matches at the ninth threshold, numpy's 0.8999999999999999, as in ActivityNet (a literal 0.9
    // would refuse it): AP 1 at nine thresholds, average 0.9.
    struct Case {
        double truth_end, predicted_end;
        int thresholds_matched;
    };
    for (const Case& c : {Case{10, 5, 1}, Case{4, 3, 6}, Case{1, 0.8999999999999999, 9}}) {
        const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, c.truth_end}};
        const std::vector<PredictedSegment> predictions = {{"v1", "jump", 0.5, 0, c.predicted_end}};
        const DetectionMetrics m = detection_metrics(truth, predictions);
        for (int t = 0; t < 10; ++t) CHECK(m.classes[0].average_precision[std::size_t(t)] == (t < c.thresholds_matched ? 1 : 0));
        CHECK(m.average_mean_average_precision == doctest::Approx(c.thresholds_matched / 10.0));
    }
}

TEST_CASE("detection: a class with ground truth and no predictions has AP 0") {
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}, {"v1", "run", 20, 30}};
    const std::vector<PredictedSegment> predictions = {{"v1", "jump", 0.5, 0, 10}};
    const DetectionMetrics m = detection_metrics(truth, predictions);
    REQUIRE(m.classes.size() == 2);
    CHECK(m.classes[1].label == "run");
    CHECK(m.classes[1].predictions == 0);
    check_all_thresholds(m.classes[1], 0);
    CHECK(m.average_mean_average_precision == doctest::Approx(0.5));  // (1 + 0) / 2
    // no predictions at all: every AP 0
    CHECK(detection_metrics(truth, std::vector<PredictedSegment>{}).average_mean_average_precision == 0);
}

TEST_CASE("detection: predictions in a video without ground truth of their class are false positives") {
    // "jump" has one segment, in v1. Its best-scored prediction is in v2, exactly on v2's "run"
    // segment, which does not count: ranking FP, TP, precision 0, 1/2, recall 0, 1, AP 1/2. "run"
    // is perfect (AP 1), so mAP = 3/4. A "swim" prediction has no class to be scored in: counted,
    // mAP unchanged.
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}, {"v2", "run", 0, 10}};
    const std::vector<PredictedSegment> predictions = {
        {"v2", "jump", 0.9, 0, 10}, {"v1", "jump", 0.5, 0, 10}, {"v2", "run", 0.7, 0, 10}, {"v3", "swim", 1.0, 0, 10}};
    const DetectionMetrics m = detection_metrics(truth, predictions);
    REQUIRE(m.classes.size() == 2);
    check_all_thresholds(m.classes[0], 0.5);
    check_all_thresholds(m.classes[1], 1);
    CHECK(m.average_mean_average_precision == doctest::Approx(0.75));
    CHECK(m.unscored_predictions == 1);
    CHECK(m.protocol.find("4 predictions (1 of labels without ground truth, not scored)") != std::string::npos);
}

TEST_CASE("detection: ties keep input order, and custom thresholds") {
    // Equal scores: the prediction given first ranks first. FP then TP: AP 1/2; TP then FP: AP 1.
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}};
    const PredictedSegment miss{"v1", "jump", 0.5, 50, 60}, hit{"v1", "jump", 0.5, 0, 10};
    check_all_thresholds(detection_metrics(truth, std::vector<PredictedSegment>{miss, hit}).classes[0], 0.5);
    check_all_thresholds(detection_metrics(truth, std::vector<PredictedSegment>{hit, miss}).classes[0], 1);

    // Equal tIoU: the earlier segment is taken. [5, 15] overlaps [0, 10] and [10, 20] by 1/3 each and
    // takes [0, 10]; then [10, 20] matches its own segment: two TPs, AP 1 at t = 0.3. (Taking
    // [10, 20] first would have left the second prediction a FP: AP 1/2.)
    const std::vector<GroundTruthSegment> two = {{"v1", "jump", 0, 10}, {"v1", "jump", 10, 20}};
    const std::vector<PredictedSegment> predictions = {{"v1", "jump", 0.9, 5, 15}, {"v1", "jump", 0.8, 10, 20}};
    const std::vector<double> thresholds = {0.3};
    const DetectionMetrics m = detection_metrics(two, predictions, thresholds);
    REQUIRE(m.mean_average_precision.size() == 1);
    CHECK(m.mean_average_precision[0] == doctest::Approx(1));
    CHECK(m.protocol.find("tIoU {0.30}") != std::string::npos);
    // at 0.5 the first prediction (tIoU 1/3) misses: FP, TP, AP 1/2 * 1/2 = 1/4
    const std::vector<double> half = {0.5};
    CHECK(detection_metrics(two, predictions, half).mean_average_precision[0] == doctest::Approx(0.25));
}

TEST_CASE("detection: refused inputs name the video") {
    const std::vector<GroundTruthSegment> truth = {{"v1", "jump", 0, 10}};
    const std::vector<PredictedSegment> none;
    auto message_of = [](auto&& call) {
        try {
            call();
        } catch (const ValueError& e) {
            return std::string(e.what());
        }
        return std::string("no ValueError");
    };
    const std::string backwards = message_of([&] {
        detection_metrics(std::vector<GroundTruthSegment>{{"v_abc", "jump", 5, 3}}, none);
    });
    CHECK(backwards.find("detection_metrics") != std::string::npos);
    CHECK(backwards.find("v_abc") != std::string::npos);
    CHECK(backwards.find("ends before it starts") != std::string::npos);
    const std::string nan_score = message_of([&] {
        detection_metrics(truth, std::vector<PredictedSegment>{{"v_nan", "jump", std::nan(""), 0, 1}});
    });
    CHECK(nan_score.find("v_nan") != std::string::npos);
    CHECK(nan_score.find("NaN score") != std::string::npos);
    const std::string no_label = message_of([&] {
        detection_metrics(truth, std::vector<PredictedSegment>{{"v_empty", "", 0.5, 0, 1}});
    });
    CHECK(no_label.find("v_empty") != std::string::npos);
    CHECK(no_label.find("empty label") != std::string::npos);
    CHECK_THROWS_AS(detection_metrics(std::vector<GroundTruthSegment>{{"v1", "jump", 0, std::nan("")}}, none), ValueError);
    CHECK_THROWS_AS(detection_metrics(truth, std::vector<PredictedSegment>{{"v1", "jump", 0.5, 4, 2}}), ValueError);
    CHECK_THROWS_AS(detection_metrics(std::vector<GroundTruthSegment>{}, none), ValueError);
    CHECK_THROWS_AS(detection_metrics(truth, none, std::vector<double>{}), ValueError);
    CHECK_THROWS_AS(detection_metrics(truth, none, std::vector<double>{0}), ValueError);
    CHECK_THROWS_AS(detection_metrics(truth, none, std::vector<double>{1.5}), ValueError);
}

}  // namespace
}  // namespace svilm::testing
