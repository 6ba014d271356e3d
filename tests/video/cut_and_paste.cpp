// Cut-and-paste (docs/model.md §4, draw order of docs/model.md §11): the plan's ranges and derangement, the blended
// frames and the mask, the apply step with the model fixture's explicit plan.
#include <doctest/doctest.h>

#include <numeric>
#include <set>
#include <vector>

#include "svilm/video/cut_and_paste.hpp"

namespace svilm::video {
namespace {

// Clip b, frame f: every element is 100 b + f, so a frame says where it came from.
Tensor<float, 5> labelled(index_t batch, index_t frames, index_t side = 2) {
    Tensor<float, 5> v({batch, frames, 3, side, side});
    const index_t per_frame = 3 * side * side;
    for (index_t i = 0; i < v.size(); ++i) v.data()[i] = float(100 * (i / (frames * per_frame)) + (i / per_frame) % frames);
    return v;
}

float source_of(const Tensor<float, 5>& v, index_t b, index_t f) { return v(b, f, 0, 0, 0); }

TEST_CASE("the plan: a derangement, then d and s per clip in docs/model.md §4's ranges") {
    Generator rng(17);
    std::set<index_t> durations;
    for (int trial = 0; trial < 300; ++trial) {
        const CutAndPastePlan p = draw_cut_and_paste(5, 8, rng);
        std::set<index_t> used;
        for (index_t i = 0; i < 5; ++i) {
            const auto k = std::size_t(i);
            CHECK(p.background[k] != i);
            used.insert(p.background[k]);
            const index_t d = p.end[k] - p.start[k] + 1;
            CHECK(d >= 2);  // ceil(8 / 4)
            CHECK(d <= 6);  // min(ceil(24 / 4), 7)
            CHECK(p.start[k] >= 0);
            CHECK(p.end[k] <= 7);
            durations.insert(d);
        }
        CHECK(used.size() == 5);  // a permutation
    }
    CHECK(durations == std::set<index_t>{2, 3, 4, 5, 6});
    // N_t = 2: d is 1 (ceil(2/4) = 1, min(ceil(6/4), 1) = 1), the other position is background.
    const CutAndPastePlan two = draw_cut_and_paste(2, 2, rng);
    CHECK(two.background == std::vector<index_t>{1, 0});
    CHECK(two.end[0] == two.start[0]);
    CHECK_THROWS_AS(draw_cut_and_paste(1, 8, rng), ValueError);
    CHECK_THROWS_AS(draw_cut_and_paste(4, 1, rng), ValueError);
}

TEST_CASE("the draw order: shuffles until a derangement, then d_i, s_i for each clip") {
    Generator rng(2024);
    const CutAndPastePlan plan = draw_cut_and_paste(4, 4, rng);
    // Replay the documented order on a second generator.
    Generator replay(2024);
    std::vector<index_t> p(4);
    for (;;) {
        std::iota(p.begin(), p.end(), index_t(0));
        for (index_t k = 3; k >= 1; --k) std::swap(p[std::size_t(k)], p[std::size_t(replay.uniform_int(std::uint64_t(k + 1)))]);
        if (p[0] != 0 && p[1] != 1 && p[2] != 2 && p[3] != 3) break;
    }
    CHECK(plan.background == p);
    for (std::size_t i = 0; i < 4; ++i) {
        const index_t d = 1 + index_t(replay.uniform_int(3 - 1 + 1));  // ceil(4/4) .. min(ceil(12/4), 3)
        const index_t s = index_t(replay.uniform_int(std::uint64_t(4 - d + 1)));
        CHECK(plan.start[i] == s);
        CHECK(plan.end[i] == s + d - 1);
    }
    CHECK(rng.state() == replay.state());
}

TEST_CASE("blending takes tubelets s..e from clip i, the rest from its background, with the mask") {
    const Tensor<float, 5> video = labelled(3, 8);
    Generator rng(5);
    const CutAndPaste<float> r = cut_and_paste<float>(video, 2, rng);
    CHECK(r.mask.shape() == Extents<2>{3, 4});
    for (index_t i = 0; i < 3; ++i) {
        const auto k = std::size_t(i);
        for (index_t f = 0; f < 8; ++f) {
            const bool foreground = f / 2 >= r.plan.start[k] && f / 2 <= r.plan.end[k];
            CHECK(source_of(r.video, i, f) == source_of(video, foreground ? i : r.plan.background[k], f));
            CHECK(r.mask(i, f / 2) == (foreground ? 1.0f : 0.0f));
        }
    }
    Generator again(5);
    const CutAndPaste<float> r2 = cut_and_paste<float>(video, 2, again);
    CHECK(std::equal(r.video.data(), r.video.data() + r.video.size(), r2.video.data()));
}

TEST_CASE("the apply step with the model fixture's plan: background [1, 2, 0], starts [1, 0, 2], ends [2, 2, 2]") {
    const Tensor<float, 5> video = labelled(3, 8, 4);
    Tensor<float, 5> out(video.shape());
    Tensor<float, 2> mask({3, 4});
    const CutAndPastePlan plan{{1, 2, 0}, {1, 0, 2}, {2, 2, 2}};
    cut_and_paste_apply<float>(out, mask, video, 2, plan);
    // Clip 0: frames 2..5 its own, others from clip 1; clip 1: frames 0..5 own; clip 2: frames 4, 5 own.
    const index_t expected_source[3][8] = {{1, 1, 0, 0, 0, 0, 1, 1}, {1, 1, 1, 1, 1, 1, 2, 2}, {0, 0, 0, 0, 2, 2, 0, 0}};
    for (index_t i = 0; i < 3; ++i)
        for (index_t f = 0; f < 8; ++f) CHECK(source_of(out, i, f) == source_of(video, expected_source[i][f], f));
    const float expected_mask[3][4] = {{0, 1, 1, 0}, {1, 1, 1, 0}, {0, 0, 1, 0}};
    for (index_t i = 0; i < 3; ++i)
        for (index_t p = 0; p < 4; ++p) CHECK(mask(i, p) == expected_mask[i][p]);
    // Every element of a frame is copied, not only the first.
    CHECK(out(0, 0, 2, 3, 3) == video(1, 0, 2, 3, 3));

    CHECK_THROWS_AS(cut_and_paste_apply<float>(out, mask, video, 3, plan), ShapeError);         // 8 frames, tubelet 3
    CHECK_THROWS_AS(cut_and_paste_apply<float>(out, mask, video, 2, {{1, 2}, {0, 0}, {1, 1}}), ShapeError);
    CHECK_THROWS_AS(cut_and_paste_apply<float>(out, mask, video, 2, {{1, 2, 3}, {0, 0, 0}, {1, 1, 1}}), ValueError);
    CHECK_THROWS_AS(cut_and_paste_apply<float>(out, mask, video, 2, {{1, 2, 0}, {2, 0, 0}, {1, 1, 4}}), ValueError);
    CHECK_THROWS_AS(cut_and_paste_apply<float>(out, mask, out, 2, plan), ValueError);  // in place
}

TEST_CASE("cut-and-paste works in double: every frame and mask entry follows the plan") {
    const index_t B = 3, T = 6;
    Tensor<double, 5> video({B, T, 3, 1, 1});
    for (index_t i = 0; i < video.size(); ++i) video.data()[i] = double(i) + 0.25;
    Generator rng(0);
    const CutAndPaste<double> r = cut_and_paste<double>(video, 1, rng);
    for (index_t i = 0; i < B; ++i) {
        const index_t j = r.plan.background[std::size_t(i)];
        CHECK(j != i);
        for (index_t t = 0; t < T; ++t) {
            const bool own = t >= r.plan.start[std::size_t(i)] && t <= r.plan.end[std::size_t(i)];
            CHECK(r.mask(i, t) == (own ? 1.0 : 0.0));
            for (index_t c = 0; c < 3; ++c) CHECK(r.video(i, t, c, 0, 0) == video(own ? i : j, t, c, 0, 0));
        }
    }
}

}  // namespace
}  // namespace svilm::video
