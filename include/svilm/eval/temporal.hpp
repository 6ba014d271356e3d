// svilm/eval/temporal.hpp: how well per-time-step features separate a scene change (docs/model.md §4-5,
// Figures 2 left and 5): foreground accuracy of p_t, and the block structure of the N_t x N_t
// cosine-similarity matrix of z_t.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm::eval {

// Counts that add up over batches (operator+=); accuracy() = correct / positions.
struct ForegroundAccuracy {
    index_t correct = 0;    // positions where (p > 0.5) equals the mask
    index_t positions = 0;  // time steps scored
    index_t clips = 0;      // clips scored (with a scene change)
    index_t skipped = 0;    // clips without one (mask all 0 or all 1), as the temporal loss skips them

    double accuracy() const {
        return positions ? double(correct) / double(positions) : std::numeric_limits<double>::quiet_NaN();
    }
    ForegroundAccuracy& operator+=(const ForegroundAccuracy& o) {
        correct += o.correct, positions += o.positions, clips += o.clips, skipped += o.skipped;
        return *this;
    }
};

// Foreground accuracy of p (B, N_t) against mask (B, N_t) of 0 and 1: a step is called
// foreground when p > 0.5 (p = 0.5 counts as background).
// requires: equal shapes; mask values 0 or 1.
template <class T>
ForegroundAccuracy foreground_accuracy(std::type_identity_t<TensorView<const T, 2>> p,
                                       std::type_identity_t<TensorView<const T, 2>> mask) {
    const char* op = "foreground_accuracy";
    if (p.shape() != mask.shape())
        throw ShapeError(std::string(op) + ": p " + to_string<2>(p.shape()) + " vs mask " + to_string<2>(mask.shape()));
    ForegroundAccuracy a;
    const index_t B = p.extent(0), Nt = p.extent(1);
    for (index_t i = 0; i < B; ++i) {
        index_t foreground = 0;
        for (index_t t = 0; t < Nt; ++t) {
            if (mask(i, t) != T(0) && mask(i, t) != T(1))
                throw ValueError(std::string(op) + ": mask[" + std::to_string(i) + ", " + std::to_string(t) +
                                 "] is neither 0 nor 1");
            foreground += mask(i, t) == T(1);
        }
        if (foreground == 0 || foreground == Nt) {
            ++a.skipped;
            continue;
        }
        ++a.clips;
        for (index_t t = 0; t < Nt; ++t) a.correct += (p(i, t) > T(0.5)) == (mask(i, t) == T(1));
        a.positions += Nt;
    }
    return a;
}

// (N, N) cosine similarities of the rows of z (N, D): a.b / (max(|a|, 1e-8) max(|b|, 1e-8)),
// the epsilon of the temporal loss (docs/model.md §11).
template <class T>
Tensor<T, 2> cosine_similarity_matrix(std::type_identity_t<TensorView<const T, 2>> z) {
    const index_t N = z.extent(0), D = z.extent(1);
    std::vector<double> norms(static_cast<std::size_t>(N));
    for (index_t a = 0; a < N; ++a) {
        double s = 0;
        for (index_t d = 0; d < D; ++d) s += double(z(a, d)) * double(z(a, d));
        norms[std::size_t(a)] = std::max(std::sqrt(s), 1e-8);
    }
    Tensor<T, 2> out({N, N}, uninitialized);
    for (index_t a = 0; a < N; ++a)
        for (index_t b = 0; b < N; ++b) {
            double s = 0;
            for (index_t d = 0; d < D; ++d) s += double(z(a, d)) * double(z(b, d));
            out(a, b) = T(s / (norms[std::size_t(a)] * norms[std::size_t(b)]));
        }
    return out;
}

// Mean similarity of pairs (a != b) in the same segment minus the mean of pairs in different
// segments, for similarity (N, N) and segment[a] the segment of step a (e.g. the cut-and-paste
// mask: the two background stretches around a pasted segment are one clip, one segment). The
// diagonal is left out: it is 1 whatever the features. About 0 for features blind to the cut,
// up to 2 for a perfect block matrix of +1 and -1.
// requires: similarity square with N = segment.size(); at least one pair within a segment and
// one across segments.
template <class T>
double block_structure_score(std::type_identity_t<TensorView<const T, 2>> similarity, std::span<const int> segment) {
    const char* op = "block_structure_score";
    const index_t N = similarity.extent(0);
    if (similarity.extent(1) != N || index_t(segment.size()) != N)
        throw ShapeError(std::string(op) + ": similarity " + to_string<2>(similarity.shape()) + " vs " +
                         std::to_string(segment.size()) + " segment labels");
    double within = 0, across = 0;
    index_t within_pairs = 0, across_pairs = 0;
    for (index_t a = 0; a < N; ++a)
        for (index_t b = 0; b < N; ++b) {
            if (a == b) continue;
            if (segment[std::size_t(a)] == segment[std::size_t(b)])
                within += double(similarity(a, b)), ++within_pairs;
            else
                across += double(similarity(a, b)), ++across_pairs;
        }
    if (within_pairs == 0 || across_pairs == 0)
        throw ValueError(std::string(op) + ": the segments leave no pair " +
                         (within_pairs == 0 ? "within a segment" : "across segments"));
    return within / double(within_pairs) - across / double(across_pairs);
}

// The same for one cut: steps [0, cut) and [cut, N) are the two segments.
// requires: 1 <= cut <= N - 1 and N >= 3 (so one segment holds a pair).
template <class T>
double block_structure_score(std::type_identity_t<TensorView<const T, 2>> similarity, index_t cut) {
    const index_t N = similarity.extent(0);
    if (cut < 1 || cut >= N)
        throw ValueError("block_structure_score: cut " + std::to_string(cut) + " outside [1, " + std::to_string(N - 1) + "]");
    std::vector<int> segment(static_cast<std::size_t>(N));
    for (index_t a = 0; a < N; ++a) segment[std::size_t(a)] = a >= cut;
    return block_structure_score<T>(similarity, segment);
}

}  // namespace svilm::eval
