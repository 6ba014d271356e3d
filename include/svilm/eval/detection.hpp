// svilm/eval/detection.hpp: temporal action localisation metrics (docs/model.md §8, §13): average
// precision per class and tIoU threshold, mAP per threshold and its average over the thresholds,
// by the rules of ActivityNet v1.3's official detection evaluation.
//
// Protocol, class by class, where the classes are the labels that have ground truth:
//   - tIoU of [s1, e1] and [s2, e2] = max(0, min(e1, e2) - max(s1, s2)) / ((e1 - s1) + (e2 - s2) -
//     intersection), in seconds. Two zero-length segments have no union; their tIoU is 0.
//   - The class's predictions, over all videos, are ranked by score, highest first. Equal scores
//     keep their input order (a stable sort): ActivityNet's numpy argsort leaves the order of
//     ties unspecified, so tied scores are the only place the two can differ.
//   - Walking down the ranking, at each threshold t a prediction is a true positive when its
//     video holds a ground-truth segment of its class, not yet matched at t, with tIoU >= t; it
//     takes the one with the highest tIoU (equal tIoU: the earliest in input order). Otherwise
//     (no ground truth of the class in its video, every candidate taken, every tIoU < t) it is
//     a false positive. So a second detection of one segment is a false positive, and a
//     prediction in a video without ground truth of its class is a false positive.
//   - After the k best predictions, precision = TP / k and recall = TP / G (G: the class's
//     ground-truth segments). AP is interpolated: each precision is replaced by the largest
//     precision at the same or a lower rank (0 beyond the last), then AP = sum over the ranks
//     where recall rises of (r_k - r_{k-1}) * p_k (Pascal VOC 2011's rule, as ActivityNet).
//   - mAP at t = the mean of AP over the classes with ground truth; such a class with no
//     prediction has AP 0. A prediction whose label has no ground truth belongs to no class and
//     is not scored: it is counted in `unscored_predictions` and in the protocol line
//     (ActivityNet's script stops with a KeyError on such a label).
//   - average mAP = the mean of mAP over the thresholds.
// The default thresholds are numpy.linspace(0.5, 0.95, 10) bit for bit, the official ones (its
// ninth value is 0.8999999999999999, not 0.9: a tIoU just under 0.9 matches there, as it does
// in ActivityNet). AP and mAP are fractions in [0, 1]; format_detection prints percent.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"

namespace svilm::eval {

// One annotated action instance of a video, in seconds.
struct GroundTruthSegment {
    std::string video_id;
    std::string label;
    double start = 0, end = 0;
};

// One detection: a scored, labelled segment of a video, in seconds.
struct PredictedSegment {
    std::string video_id;
    std::string label;
    double score = 0;
    double start = 0, end = 0;
};

// tIoU 0.50:0.05:0.95 as numpy.linspace(0.5, 0.95, 10) computes it (see the top of the file).
inline constexpr std::array<double, 10> activitynet_tiou_thresholds = {
    0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95};

// AP of one class at each threshold, in the order of DetectionMetrics::tiou_thresholds.
struct ClassAveragePrecision {
    std::string label;
    index_t ground_truth = 0;  // its segments
    index_t predictions = 0;   // its predictions
    std::vector<double> average_precision;
};

struct DetectionMetrics {
    std::vector<double> tiou_thresholds;
    std::vector<double> mean_average_precision;  // mAP per threshold
    double average_mean_average_precision = 0;   // the mean over the thresholds
    std::vector<ClassAveragePrecision> classes;  // the classes with ground truth, sorted by label
    index_t unscored_predictions = 0;            // predictions of labels without ground truth
    std::string protocol;
};

// tIoU of [start_a, end_a] and [start_b, end_b] (seconds); 0 when the union is empty.
inline double temporal_iou(double start_a, double end_a, double start_b, double end_b) {
    const double intersection = std::max(0.0, std::min(end_a, end_b) - std::max(start_a, start_b));
    const double united = (end_a - start_a) + (end_b - start_b) - intersection;
    return united > 0 ? intersection / united : 0.0;
}

// Interpolated AP of a ranking from its cumulative precision (K) and recall (K), as at the top.
// requires: equal sizes; recall non-decreasing (as cumulative counts make it).
inline double interpolated_average_precision(std::span<const double> precision, std::span<const double> recall) {
    if (precision.size() != recall.size())
        throw ShapeError("interpolated_average_precision: " + std::to_string(precision.size()) + " precisions vs " +
                         std::to_string(recall.size()) + " recalls");
    std::vector<double> envelope(precision.size());
    double best_below = 0;  // the appended point at recall 1 has precision 0
    for (std::size_t k = precision.size(); k-- > 0;) envelope[k] = best_below = std::max(best_below, precision[k]);
    double ap = 0, previous_recall = 0;
    for (std::size_t k = 0; k < precision.size(); ++k) {
        if (recall[k] != previous_recall) ap += (recall[k] - previous_recall) * envelope[k];
        previous_recall = recall[k];
    }
    return ap;
}

namespace detail {

inline std::string describe_segment(double start, double end) {
    char text[96];
    std::snprintf(text, sizeof text, "[%g, %g]", start, end);
    return text;
}

// Throws ValueError naming the video for an empty id or label, a non-finite bound or end < start.
inline void expect_valid_segment(const char* op, const char* kind, std::size_t index, const std::string& video_id,
                                 const std::string& label, double start, double end) {
    const std::string where = std::string(op) + ": " + kind + " " + std::to_string(index) + " (video \"" + video_id + "\")";
    if (video_id.empty()) throw ValueError(where + " has an empty video id");
    if (label.empty()) throw ValueError(where + " has an empty label");
    if (!std::isfinite(start) || !std::isfinite(end))
        throw ValueError(where + " has a non-finite segment " + describe_segment(start, end));
    if (end < start) throw ValueError(where + " ends before it starts: " + describe_segment(start, end));
}

// True positive flags hits[t][k] of one class's ranked predictions at each threshold t, by the
// matching rule at the top. ground_truth and ranked hold the class's segments only.
inline std::vector<std::vector<bool>> match_ranked_predictions(const std::vector<const GroundTruthSegment*>& ground_truth,
                                                               const std::vector<const PredictedSegment*>& ranked,
                                                               std::span<const double> thresholds) {
    std::map<std::string, std::vector<std::size_t>> segments_of_video;  // indices into ground_truth, input order
    for (std::size_t g = 0; g < ground_truth.size(); ++g) segments_of_video[ground_truth[g]->video_id].push_back(g);
    std::vector<std::vector<bool>> hits(thresholds.size(), std::vector<bool>(ranked.size()));
    std::vector<std::vector<bool>> taken(thresholds.size(), std::vector<bool>(ground_truth.size()));
    std::vector<double> tiou;
    for (std::size_t k = 0; k < ranked.size(); ++k) {
        const PredictedSegment& p = *ranked[k];
        const auto video = segments_of_video.find(p.video_id);
        if (video == segments_of_video.end()) continue;  // a false positive at every threshold
        const std::vector<std::size_t>& candidates = video->second;
        tiou.resize(candidates.size());
        for (std::size_t c = 0; c < candidates.size(); ++c) {
            const GroundTruthSegment& g = *ground_truth[candidates[c]];
            tiou[c] = temporal_iou(p.start, p.end, g.start, g.end);
        }
        for (std::size_t t = 0; t < thresholds.size(); ++t) {
            std::size_t best = candidates.size();
            for (std::size_t c = 0; c < candidates.size(); ++c)
                if (!taken[t][candidates[c]] && tiou[c] >= thresholds[t] && (best == candidates.size() || tiou[c] > tiou[best]))
                    best = c;
            if (best == candidates.size()) continue;
            taken[t][candidates[best]] = true;
            hits[t][k] = true;
        }
    }
    return hits;
}

inline std::string describe_thresholds(std::span<const double> thresholds) {
    if (std::equal(thresholds.begin(), thresholds.end(), activitynet_tiou_thresholds.begin(),
                   activitynet_tiou_thresholds.end()))
        return "tIoU 0.50:0.05:0.95";
    std::string text = "tIoU {";
    char value[32];
    for (std::size_t t = 0; t < thresholds.size(); ++t) {
        std::snprintf(value, sizeof value, "%s%.2f", t ? ", " : "", thresholds[t]);
        text += value;
    }
    return text + "}";
}

}  // namespace detail

// Per-class AP, mAP per threshold and their average for ground_truth (G segments) and
// predictions (P segments) over any number of videos, by the protocol at the top.
// requires: at least one ground-truth segment (mAP is a mean over its classes); thresholds not
// empty, each in (0, 1]; every segment with a video id, a label, finite bounds and end >= start;
// every score not NaN.
// ensures: classes sorted by label; every AP in [0, 1]; predictions equal to the ground truth
// (one per segment) give AP 1 at every threshold.
inline DetectionMetrics detection_metrics(std::span<const GroundTruthSegment> ground_truth,
                                          std::span<const PredictedSegment> predictions,
                                          std::span<const double> tiou_thresholds = activitynet_tiou_thresholds) {
    const char* op = "detection_metrics";
    if (ground_truth.empty()) throw ValueError(std::string(op) + ": no ground-truth segments, mAP is undefined");
    if (tiou_thresholds.empty()) throw ValueError(std::string(op) + ": no tIoU thresholds");
    for (double t : tiou_thresholds)
        if (!(t > 0 && t <= 1)) throw ValueError(std::string(op) + ": tIoU threshold " + std::to_string(t) + " outside (0, 1]");

    struct ClassSegments {
        std::vector<const GroundTruthSegment*> ground_truth;
        std::vector<const PredictedSegment*> predictions;
    };
    std::map<std::string, ClassSegments> by_label;
    std::set<std::string> videos_with_ground_truth;
    for (std::size_t i = 0; i < ground_truth.size(); ++i) {
        const GroundTruthSegment& g = ground_truth[i];
        detail::expect_valid_segment(op, "ground-truth segment", i, g.video_id, g.label, g.start, g.end);
        by_label[g.label].ground_truth.push_back(&g);
        videos_with_ground_truth.insert(g.video_id);
    }
    DetectionMetrics m;
    for (std::size_t i = 0; i < predictions.size(); ++i) {
        const PredictedSegment& p = predictions[i];
        detail::expect_valid_segment(op, "prediction", i, p.video_id, p.label, p.start, p.end);
        if (std::isnan(p.score))
            throw ValueError(std::string(op) + ": prediction " + std::to_string(i) + " (video \"" + p.video_id +
                             "\") has a NaN score");
        const auto found = by_label.find(p.label);
        if (found == by_label.end())
            ++m.unscored_predictions;
        else
            found->second.predictions.push_back(&p);
    }

    const std::size_t T = tiou_thresholds.size();
    m.tiou_thresholds.assign(tiou_thresholds.begin(), tiou_thresholds.end());
    m.mean_average_precision.assign(T, 0.0);
    for (auto& [label, segments] : by_label) {
        std::vector<const PredictedSegment*>& ranked = segments.predictions;
        std::stable_sort(ranked.begin(), ranked.end(),
                         [](const PredictedSegment* a, const PredictedSegment* b) { return a->score > b->score; });
        const std::vector<std::vector<bool>> hits = detail::match_ranked_predictions(segments.ground_truth, ranked, tiou_thresholds);
        ClassAveragePrecision c{label, index_t(segments.ground_truth.size()), index_t(ranked.size()), std::vector<double>(T)};
        std::vector<double> precision(ranked.size()), recall(ranked.size());
        for (std::size_t t = 0; t < T; ++t) {
            double true_positives = 0;
            for (std::size_t k = 0; k < ranked.size(); ++k) {
                true_positives += hits[t][k];
                precision[k] = true_positives / double(k + 1);
                recall[k] = true_positives / double(segments.ground_truth.size());
            }
            c.average_precision[t] = interpolated_average_precision(precision, recall);
            m.mean_average_precision[t] += c.average_precision[t] / double(by_label.size());
        }
        m.classes.push_back(std::move(c));
    }
    for (double map : m.mean_average_precision) m.average_mean_average_precision += map / double(T);

    m.protocol = "ActivityNet v1.3 rules, " + std::to_string(by_label.size()) + " classes with ground truth (" +
                 std::to_string(ground_truth.size()) + " segments in " + std::to_string(videos_with_ground_truth.size()) +
                 " videos), " + std::to_string(predictions.size()) + " predictions (" +
                 std::to_string(m.unscored_predictions) + " of labels without ground truth, not scored); " +
                 detail::describe_thresholds(tiou_thresholds) +
                 "; per class, predictions ranked by score (ties in input order), each matched to the unmatched "
                 "ground truth of its video with the highest tIoU >= threshold, else a false positive; interpolated "
                 "AP; mAP = mean over the classes with ground truth (no predictions: AP 0)";
    return m;
}

// The protocol line, then mAP in percent at each threshold and averaged, e.g.
//   detection: ActivityNet v1.3 rules, 200 classes with ground truth (...) ...
//   tIoU        0.50   0.55 ...   0.95    avg
//   mAP         51.7   48.9 ...    9.7   34.2
// With per_class, one more row per class (its AP) under the mAP row.
inline std::string format_detection(const DetectionMetrics& m, bool per_class = false) {
    std::string out = "detection: " + m.protocol + "\n";
    int label_width = 4;
    if (per_class)
        for (const ClassAveragePrecision& c : m.classes) label_width = std::max(label_width, int(c.label.size()));
    char cell[64];
    auto row = [&](const std::string& label, std::span<const double> values, double average, bool percent) {
        std::snprintf(cell, sizeof cell, "%-*s", label_width, label.c_str());
        out += cell;
        for (double v : values) {
            std::snprintf(cell, sizeof cell, percent ? " %6.1f" : " %6.2f", percent ? 100 * v : v);
            out += cell;
        }
        if (percent)
            std::snprintf(cell, sizeof cell, " %6.1f\n", 100 * average);
        else
            std::snprintf(cell, sizeof cell, " %6s\n", "avg");
        out += cell;
    };
    row("tIoU", m.tiou_thresholds, 0, false);
    row("mAP", m.mean_average_precision, m.average_mean_average_precision, true);
    if (per_class)
        for (const ClassAveragePrecision& c : m.classes) {
            double average = 0;
            for (double ap : c.average_precision) average += ap / double(c.average_precision.size());
            row(c.label, c.average_precision, average, true);
        }
    return out;
}

}  // namespace svilm::eval
