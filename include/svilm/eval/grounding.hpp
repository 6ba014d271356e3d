// svilm/eval/grounding.hpp: how well group tokens ground noun phrases (docs/model.md §10, Figure 4), as pure
// functions on tensors (no model dependency).
//
// For a noun phrase of a caption: the group whose embedding is most similar to the noun's prompt
// embedding is chosen; its assignment map over the L = N_t * h * w video tokens (time-major,
// then row-major: docs/model.md §11) is reshaped to (N_t, h, w), upsampled bilinearly (PyTorch's
// align_corners=false) to the frame size, and each tubelet's map is used for that tubelet's
// frames. Against the object's ground-truth mask (T, H, W), over the frames where the object is
// visible:
//   - pointing: the share of the map's peak pixels (within 1e-5 relative of the frame's maximum)
//     inside the mask, averaged over frames. With a single peak this is the usual hit or miss;
//     with ties it is the expected hit of a peak picked at random, so a uniform map scores
//     exactly the mask's area fraction, not a lucky centre.
//   - IoU: the map thresholded at its per-frame mean (pixels >= mean, with the same tolerance,
//     so a constant map selects every pixel) against the mask, intersection and union summed
//     over the frames (one spatio-temporal IoU per noun).
// Baselines, computed on the same frames: a uniform map (pointing = area fraction, IoU =
// |mask| / |frames|) and a random group (the exact average over all M groups, no sampling).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm::eval {

// The video-token layout: N_t temporal positions of h x w patches.
struct TokenGrid {
    index_t temporal = 0, height = 0, width = 0;
    index_t tokens() const { return temporal * height * width; }
};

// argmax over m of <noun, groups[m]> for noun (D) and groups (M, D); ties go to the lowest m.
template <class T>
index_t most_similar_group(std::type_identity_t<TensorView<const T, 1>> noun,
                           std::type_identity_t<TensorView<const T, 2>> groups) {
    if (groups.extent(1) != noun.extent(0) || groups.extent(0) < 1)
        throw ShapeError("most_similar_group: noun " + to_string<1>(noun.shape()) + " vs groups " +
                         to_string<2>(groups.shape()));
    index_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (index_t m = 0; m < groups.extent(0); ++m) {
        double score = 0;
        for (index_t d = 0; d < noun.extent(0); ++d) score += double(noun(d)) * double(groups(m, d));
        if (score > best_score) best = m, best_score = score;
    }
    return best;
}

// out (F, H, W): row `group` of assignment (M, L) reshaped to grid (N_t, h, w), upsampled
// bilinearly to (H, W) with align_corners=false (source coordinate (x + 0.5) * w / W - 0.5,
// clamped at the edges), temporal position n covering frames [n F / N_t, (n + 1) F / N_t).
// requires: L = grid.tokens(), 0 <= group < M, F a positive multiple of N_t.
template <class T>
void group_heat_map(TensorView<float, 3> out, std::type_identity_t<TensorView<const T, 2>> assignment, index_t group,
                    const TokenGrid& grid) {
    const char* op = "group_heat_map";
    const index_t F = out.extent(0), H = out.extent(1), W = out.extent(2);
    if (assignment.extent(1) != grid.tokens() || grid.temporal < 1)
        throw ShapeError(std::string(op) + ": assignment " + to_string<2>(assignment.shape()) + " vs grid (" +
                         std::to_string(grid.temporal) + ", " + std::to_string(grid.height) + ", " +
                         std::to_string(grid.width) + ")");
    if (group < 0 || group >= assignment.extent(0))
        throw ValueError(std::string(op) + ": group " + std::to_string(group) + " of " +
                         std::to_string(assignment.extent(0)));
    if (F < 1 || F % grid.temporal != 0)
        throw ShapeError(std::string(op) + ": " + std::to_string(F) + " frames are not a multiple of " +
                         std::to_string(grid.temporal) + " temporal positions");
    struct Tap {
        index_t lo, hi;
        float weight_hi;
    };
    auto taps = [](index_t in, index_t out_size) {
        std::vector<Tap> t(static_cast<std::size_t>(out_size));
        const double scale = double(in) / double(out_size);
        for (index_t o = 0; o < out_size; ++o) {
            const double src = std::max(0.0, (double(o) + 0.5) * scale - 0.5);
            const index_t lo = std::min(index_t(src), in - 1);
            t[std::size_t(o)] = {lo, std::min(lo + 1, in - 1), float(src - double(lo))};
        }
        return t;
    };
    const std::vector<Tap> rows = taps(grid.height, H), cols = taps(grid.width, W);
    const index_t frames_per_position = F / grid.temporal, spatial = grid.height * grid.width;
    for (index_t n = 0; n < grid.temporal; ++n) {
        auto at = [&](index_t r, index_t c) { return float(assignment(group, n * spatial + r * grid.width + c)); };
        const index_t first = n * frames_per_position;
        for (index_t i = 0; i < H; ++i) {
            const Tap& ty = rows[std::size_t(i)];
            for (index_t j = 0; j < W; ++j) {
                const Tap& tx = cols[std::size_t(j)];
                const float top = (1 - tx.weight_hi) * at(ty.lo, tx.lo) + tx.weight_hi * at(ty.lo, tx.hi);
                const float bottom = (1 - tx.weight_hi) * at(ty.hi, tx.lo) + tx.weight_hi * at(ty.hi, tx.hi);
                out(first, i, j) = (1 - ty.weight_hi) * top + ty.weight_hi * bottom;
            }
        }
        for (index_t f = first + 1; f < first + frames_per_position; ++f)
            for (index_t i = 0; i < H; ++i)
                for (index_t j = 0; j < W; ++j) out(f, i, j) = out(first, i, j);
    }
}

template <class T>
Tensor<float, 3> group_heat_map(std::type_identity_t<TensorView<const T, 2>> assignment, index_t group,
                                const TokenGrid& grid, index_t frames, index_t height, index_t width) {
    Tensor<float, 3> out({frames, height, width}, uninitialized);
    group_heat_map<T>(out, assignment, group, grid);
    return out;
}

// Pointing and IoU of one map against one object; frames = the frames where the object is
// visible (0: nothing was scored, pointing and iou are 0 and a tally skips it).
struct GroundingScore {
    double pointing = 0, iou = 0;
    index_t frames = 0;
};

// Scores heat (T, H, W) against mask (T, H, W) (non-zero = object) by the rules at the top.
// requires: equal shapes, heat finite.
inline GroundingScore score_heat_map(TensorView<const float, 3> heat, TensorView<const std::uint8_t, 3> mask) {
    const char* op = "score_heat_map";
    if (heat.shape() != mask.shape())
        throw ShapeError(std::string(op) + ": heat " + to_string<3>(heat.shape()) + " vs mask " +
                         to_string<3>(mask.shape()));
    const index_t T = heat.extent(0), H = heat.extent(1), W = heat.extent(2);
    GroundingScore s;
    double intersection = 0, united = 0;
    for (index_t t = 0; t < T; ++t) {
        double hi = -std::numeric_limits<double>::infinity(), lo = -hi, sum = 0;
        index_t visible = 0;
        for (index_t i = 0; i < H; ++i)
            for (index_t j = 0; j < W; ++j) {
                const double v = heat(t, i, j);
                if (!std::isfinite(v))
                    throw ValueError(std::string(op) + ": heat[" + std::to_string(t) + ", " + std::to_string(i) +
                                     ", " + std::to_string(j) + "] is not finite");
                hi = std::max(hi, v);
                lo = std::min(lo, v);
                sum += v;
                visible += mask(t, i, j) != 0;
            }
        if (visible == 0) continue;
        const double tolerance = 1e-5 * std::max(std::abs(hi), std::abs(lo));
        const double peak_level = hi - tolerance, mean_level = sum / double(H * W) - tolerance;
        index_t peaks = 0, peaks_inside = 0;
        for (index_t i = 0; i < H; ++i)
            for (index_t j = 0; j < W; ++j) {
                const double v = heat(t, i, j);
                const bool inside = mask(t, i, j) != 0, selected = v >= mean_level;
                if (v >= peak_level) peaks += 1, peaks_inside += inside;
                intersection += selected && inside;
                united += selected || inside;
            }
        s.pointing += double(peaks_inside) / double(peaks);
        s.frames += 1;
    }
    if (s.frames > 0) {
        s.pointing /= double(s.frames);
        s.iou = intersection / united;
    }
    return s;
}

struct NounGrounding {
    index_t group = -1;           // the chosen group
    GroundingScore chosen;        // its map
    GroundingScore uniform;       // a constant map
    GroundingScore random_group;  // the average over all groups
};

// Grounds one noun phrase: noun (D) prompt embedding, groups (M, D) group embeddings, assignment
// (M, L) the last grouping block's map, mask (T, H, W) the object's ground truth.
// requires: the shapes of most_similar_group and group_heat_map, T a multiple of grid.temporal.
template <class T>
NounGrounding ground_noun(std::type_identity_t<TensorView<const T, 1>> noun,
                          std::type_identity_t<TensorView<const T, 2>> groups,
                          std::type_identity_t<TensorView<const T, 2>> assignment, const TokenGrid& grid,
                          TensorView<const std::uint8_t, 3> mask) {
    if (assignment.extent(0) != groups.extent(0))
        throw ShapeError("ground_noun: assignment " + to_string<2>(assignment.shape()) + " vs groups " +
                         to_string<2>(groups.shape()));
    NounGrounding g;
    g.group = most_similar_group<T>(noun, groups);
    Tensor<float, 3> heat(mask.shape(), uninitialized);
    group_heat_map<T>(heat, assignment, g.group, grid);
    g.chosen = score_heat_map(heat, mask);
    g.uniform = score_heat_map(Tensor<float, 3>::full(mask.shape(), 1.0f), mask);
    const index_t M = groups.extent(0);
    for (index_t m = 0; m < M; ++m) {
        group_heat_map<T>(heat, assignment, m, grid);
        const GroundingScore s = score_heat_map(heat, mask);
        g.random_group.pointing += s.pointing / double(M);
        g.random_group.iou += s.iou / double(M);
        g.random_group.frames = s.frames;
    }
    return g;
}

// Means over the nouns added (those with at least one visible frame); a mean's `frames` is 0.
class GroundingTally {
public:
    void add(const NounGrounding& g) {
        if (g.chosen.frames == 0) return;
        ++nouns_;
        chosen_.pointing += g.chosen.pointing, chosen_.iou += g.chosen.iou;
        uniform_.pointing += g.uniform.pointing, uniform_.iou += g.uniform.iou;
        random_.pointing += g.random_group.pointing, random_.iou += g.random_group.iou;
    }
    index_t nouns() const { return nouns_; }
    GroundingScore chosen() const { return mean(chosen_); }
    GroundingScore uniform() const { return mean(uniform_); }
    GroundingScore random_group() const { return mean(random_); }

    // The protocol line and a table of pointing and IoU in percent.
    std::string report() const {
        std::string out = "grounding: " + std::to_string(nouns_) +
                          " nouns; pointing = share of the map's peak pixels inside the mask, per visible frame; "
                          "IoU = map >= its per-frame mean vs mask, over the visible frames\n";
        char line[128];
        std::snprintf(line, sizeof line, "%-14s %9s %7s\n", "", "pointing", "IoU");
        out += line;
        const std::pair<const char*, GroundingScore> rows[] = {
            {"chosen group", chosen()}, {"random group", random_group()}, {"uniform map", uniform()}};
        for (const auto& [label, s] : rows) {
            std::snprintf(line, sizeof line, "%-14s %9.1f %7.1f\n", label, 100 * s.pointing, 100 * s.iou);
            out += line;
        }
        return out;
    }

private:
    GroundingScore mean(GroundingScore sum) const {
        if (nouns_ == 0) return {};
        return {sum.pointing / double(nouns_), sum.iou / double(nouns_), 0};
    }
    index_t nouns_ = 0;
    GroundingScore chosen_, uniform_, random_;
};

}  // namespace svilm::eval
