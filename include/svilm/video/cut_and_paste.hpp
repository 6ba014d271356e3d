// svilm/video/cut_and_paste.hpp: docs/model.md §4's temporal scene change for a batch, at pixel level.
// Plain tensor code (no libav): the model and the trainer use it without the video component.
//
// For clip i, a background clip j = background[i] != i (a derangement of the batch), a
// foreground of d_i tubelet positions starting at s_i: positions s_i .. e_i = s_i + d_i - 1
// (inclusive) come from clip i, every other position from clip j, at tubelet granularity
// (frames [t * s_i, t * (e_i + 1)) with t frames a tubelet). mask[i][p] = 1 for s_i <= p <= e_i.
//
// Draws (docs/model.md §11's order): the derangement, then for i = 0 .. B-1: d_i, s_i.
//   derangement: Fisher-Yates over 0 .. B-1 (for k = B-1 down to 1: swap p[k] and
//     p[uniform_int(k + 1)]), repeated until no p[i] == i (about e = 2.72 shuffles on average);
//   d_i = ceil(N_t / 4) + uniform_int(min(ceil(3 N_t / 4), N_t - 1) - ceil(N_t / 4) + 1);
//   s_i = uniform_int(N_t - d_i + 1).
// Requires B >= 2 and N_t = T / t >= 2 (so the background is never empty).
#pragma once

#include <algorithm>
#include <cstring>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm::video {

struct CutAndPastePlan {
    std::vector<index_t> background;  // (B) clip j whose frames surround clip i's segment
    std::vector<index_t> start;       // (B) s_i, first foreground tubelet position
    std::vector<index_t> end;         // (B) e_i, last foreground position (inclusive)
};

template <class T>
struct CutAndPaste {
    Tensor<T, 5> video;  // (B, T, 3, H, W) blended clips
    Tensor<T, 2> mask;   // (B, N_t) 1 on the foreground positions
    CutAndPastePlan plan;
};

namespace detail {

inline index_t tubelet_positions(index_t frames, index_t tubelet, const char* op) {
    if (tubelet <= 0 || frames % tubelet != 0)
        throw ShapeError(std::string(op) + ": " + std::to_string(frames) + " frames do not split into tubelets of " +
                         std::to_string(tubelet));
    return frames / tubelet;
}

}  // namespace detail

// Draws a plan for `batch` clips of `positions` tubelet positions (N_t).
inline CutAndPastePlan draw_cut_and_paste(index_t batch, index_t positions, Generator& rng) {
    if (batch < 2) throw ValueError("cut_and_paste: a batch of " + std::to_string(batch) + " has no other clip for a background");
    if (positions < 2)
        throw ValueError("cut_and_paste: " + std::to_string(positions) + " tubelet position leaves no room for a background");
    CutAndPastePlan plan;
    auto& p = plan.background;
    p.resize(std::size_t(batch));
    for (;;) {
        std::iota(p.begin(), p.end(), index_t(0));
        for (index_t k = batch - 1; k >= 1; --k) std::swap(p[std::size_t(k)], p[std::size_t(rng.uniform_int(std::uint64_t(k + 1)))]);
        bool fixed_point = false;
        for (index_t i = 0; i < batch; ++i) fixed_point = fixed_point || p[std::size_t(i)] == i;
        if (!fixed_point) break;
    }
    const index_t lo = (positions + 3) / 4, hi = std::min((3 * positions + 3) / 4, positions - 1);
    for (index_t i = 0; i < batch; ++i) {
        const index_t d = lo + index_t(rng.uniform_int(std::uint64_t(hi - lo + 1)));
        const index_t s = index_t(rng.uniform_int(std::uint64_t(positions - d + 1)));
        plan.start.push_back(s);
        plan.end.push_back(s + d - 1);
    }
    return plan;
}

// One blended clip: frames of tubelet positions start .. end from `foreground`, the others from
// `background` (each `frames` frames of `frame_elements` values), and the clip's mask row (N_t).
template <class T>
void blend_clip(T* out, T* mask, const T* foreground, const T* background, index_t frames, index_t tubelet,
                std::size_t frame_elements, index_t start, index_t end) {
    for (index_t f = 0; f < frames; ++f) {
        const index_t position = f / tubelet;
        const T* source = position >= start && position <= end ? foreground : background;
        std::memcpy(out + std::size_t(f) * frame_elements, source + std::size_t(f) * frame_elements, frame_elements * sizeof(T));
    }
    for (index_t p = 0; p < frames / tubelet; ++p) mask[p] = p >= start && p <= end ? T(1) : T(0);
}

// The apply step for a given plan: out (B, T, 3, H, W) and mask (B, N_t) from video (B, T, 3, H, W).
// out must not overlap video (clip j is read while clip i is written). Requires background[i]
// in [0, B) and 0 <= start[i] <= end[i] < N_t; background[i] == i is allowed here (no change).
template <class T>
void cut_and_paste_apply(TensorView<T, 5> out, TensorView<T, 2> mask, TensorView<const T, 5> video, index_t tubelet,
                         const CutAndPastePlan& plan) {
    const char* op = "cut_and_paste_apply";
    const index_t batch = video.extent(0), frames = video.extent(1);
    const index_t positions = detail::tubelet_positions(frames, tubelet, op);
    expect_shape(op, "out", out, video.shape());
    expect_shape(op, "mask", mask, {batch, positions});
    expect_contiguous(op, "video", video);
    expect_contiguous(op, "out", out);
    expect_contiguous(op, "mask", mask);
    if (index_t(plan.background.size()) != batch || index_t(plan.start.size()) != batch || index_t(plan.end.size()) != batch)
        throw ShapeError(std::string(op) + ": the plan has " + std::to_string(plan.background.size()) + " entries for a batch of " +
                         std::to_string(batch));
    const std::size_t frame_elements = std::size_t(video.size() / std::max<index_t>(batch * frames, 1));
    const T* in_end = video.data() + video.size();
    if (out.data() < in_end && video.data() < out.data() + out.size())
        throw ValueError(std::string(op) + ": out overlaps video");
    for (index_t i = 0; i < batch; ++i) {
        const index_t j = plan.background[std::size_t(i)], s = plan.start[std::size_t(i)], e = plan.end[std::size_t(i)];
        if (j < 0 || j >= batch || s < 0 || e < s || e >= positions)
            throw ValueError(std::string(op) + ": clip " + std::to_string(i) + ": background " + std::to_string(j) +
                             ", positions " + std::to_string(s) + ".." + std::to_string(e) + " outside a batch of " +
                             std::to_string(batch) + " and " + std::to_string(positions) + " positions");
        const std::size_t clip = std::size_t(frames) * frame_elements;
        blend_clip(out.data() + std::size_t(i) * clip, &mask(i, 0), video.data() + std::size_t(i) * clip,
                   video.data() + std::size_t(j) * clip, frames, tubelet, frame_elements, s, e);
    }
}

// Draws a plan (docs/model.md §11's order) and applies it.
template <class T>
CutAndPaste<T> cut_and_paste(TensorView<const T, 5> video, index_t tubelet, Generator& rng) {
    const index_t positions = detail::tubelet_positions(video.extent(1), tubelet, "cut_and_paste");
    CutAndPaste<T> result{Tensor<T, 5>(video.shape(), uninitialized), Tensor<T, 2>({video.extent(0), positions}, uninitialized),
                          draw_cut_and_paste(video.extent(0), positions, rng)};
    cut_and_paste_apply<T>(result.video, result.mask, video, tubelet, result.plan);
    return result;
}

}  // namespace svilm::video
