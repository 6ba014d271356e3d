// svilm/eval/localisation.hpp: the baseline temporal action localiser's decoding (docs/model.md §8,
// §13): per-window class probabilities of a long video -> scored action segments, then temporal
// non-maximum suppression, in the form ActivityNet's results file and detection_metrics take.
//
//   // probabilities (W, C): window w covers [starts[w], ends[w]) seconds; class `background` is no action
//   auto segments = segments_from_windows("v1", starts, ends, probabilities, class_names, background);
//   segments = temporal_nms(std::move(segments), 0.5);
//
// Grouping: a run of consecutive windows whose most probable class is the same action c becomes
// one segment of class c, from the first window's start to the last window's end, scored by the
// mean probability of c over the run. G-TAD and other learned proposal heads stay out of scope:
// this is the simple baseline the features are checked with.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/eval/detection.hpp"

namespace svilm::eval {

// requires: starts, ends (W) with start < end, non-decreasing starts; probabilities (W, C) finite;
// class_names (C); background in [0, C), or -1 when every class is an action.
inline std::vector<PredictedSegment> segments_from_windows(const std::string& video_id, std::span<const double> starts,
                                                          std::span<const double> ends,
                                                          TensorView<const float, 2> probabilities,
                                                          const std::vector<std::string>& class_names,
                                                          index_t background) {
    const char* op = "segments_from_windows";
    const index_t W = probabilities.extent(0), C = probabilities.extent(1);
    if (index_t(starts.size()) != W || index_t(ends.size()) != W || index_t(class_names.size()) != C)
        throw ShapeError(std::string(op) + ": " + video_id + ": " + std::to_string(starts.size()) + " starts, " +
                         std::to_string(ends.size()) + " ends, " + std::to_string(class_names.size()) +
                         " class names for probabilities " + to_string<2>(probabilities.shape()));
    if (background < -1 || background >= C)
        throw ValueError(std::string(op) + ": background class " + std::to_string(background) + " outside [-1, " +
                         std::to_string(C) + ")");
    std::vector<index_t> best(static_cast<std::size_t>(W));
    for (index_t w = 0; w < W; ++w) {
        if (!(starts[std::size_t(w)] < ends[std::size_t(w)]) || (w > 0 && starts[std::size_t(w)] < starts[std::size_t(w - 1)]))
            throw ValueError(std::string(op) + ": " + video_id + ": window " + std::to_string(w) +
                             " is not after the one before it, or ends before it starts");
        index_t arg = 0;
        for (index_t c = 0; c < C; ++c) {
            if (!std::isfinite(probabilities(w, c)))
                throw ValueError(std::string(op) + ": " + video_id + ": window " + std::to_string(w) + " has a non-finite score");
            if (probabilities(w, c) > probabilities(w, arg)) arg = c;
        }
        best[std::size_t(w)] = arg;
    }
    std::vector<PredictedSegment> out;
    for (index_t w = 0; w < W;) {
        const index_t c = best[std::size_t(w)];
        index_t last = w;
        while (last + 1 < W && best[std::size_t(last + 1)] == c) ++last;
        if (c != background) {
            double score = 0;
            for (index_t k = w; k <= last; ++k) score += probabilities(k, c);
            out.push_back({video_id, class_names[std::size_t(c)], score / double(last - w + 1), starts[std::size_t(w)],
                           ends[std::size_t(last)]});
        }
        w = last + 1;
    }
    return out;
}

// Greedy temporal non-maximum suppression per (video, label): segments by score descending (ties in
// input order); a segment overlapping a kept one of its video and label by tIoU > threshold is
// dropped. Returns the kept segments in that order.
inline std::vector<PredictedSegment> temporal_nms(std::vector<PredictedSegment> segments, double threshold) {
    std::stable_sort(segments.begin(), segments.end(),
                     [](const PredictedSegment& a, const PredictedSegment& b) { return a.score > b.score; });
    std::vector<PredictedSegment> kept;
    for (PredictedSegment& s : segments) {
        bool suppressed = false;
        for (const PredictedSegment& k : kept)
            if (k.video_id == s.video_id && k.label == s.label && temporal_iou(k.start, k.end, s.start, s.end) > threshold) {
                suppressed = true;
                break;
            }
        if (!suppressed) kept.push_back(std::move(s));
    }
    return kept;
}

}  // namespace svilm::eval
