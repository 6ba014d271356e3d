// The frame sampling semantics of svilm/video/sampling.hpp, on frame tables made by hand.
#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "svilm/video/sampling.hpp"

namespace svilm::video {
namespace {

// n frames at `fps`, in a 90 kHz time base starting at `offset` ticks (as MPEG-TS has).
FrameTable constant_rate(index_t n, std::int64_t fps, std::int64_t offset = 0, std::vector<index_t> keyframes = {0}) {
    FrameTable t;
    t.source = "test.mp4";
    t.time_base = {1, 90000};
    for (index_t i = 0; i < n; ++i) t.times.push_back(offset + i * 90000 / fps);
    t.keyframes = std::move(keyframes);
    t.duration = double(n) / double(fps);
    return t;
}

std::vector<index_t> frames_of(const std::vector<FrameSample>& samples) {
    std::vector<index_t> out;
    for (const auto& s : samples) out.push_back(s.frame);
    return out;
}

TEST_CASE("uniform sampling takes segment midpoints, repeating frames when the video is short") {
    const FrameTable ten = constant_rate(10, 25);
    const auto s = uniform_samples(ten, 4);
    CHECK(frames_of(s) == std::vector<index_t>{1, 3, 6, 8});  // floor((2k + 1) 10 / 8)
    CHECK(s[0].window_lo == 0);
    CHECK(s[0].window_hi == 2);
    CHECK(s[3].window_lo == 7);
    CHECK(s[3].window_hi == 10);
    CHECK(frames_of(uniform_samples(constant_rate(3, 25), 8)) == std::vector<index_t>{0, 0, 0, 1, 1, 2, 2, 2});
    CHECK(frames_of(uniform_samples(ten, 1)) == std::vector<index_t>{5});
    CHECK(frames_of(uniform_samples(ten, 10)) == std::vector<index_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("time ranges select start <= t < end, from frame 0's time, whatever the stream's offset") {
    const FrameTable t = constant_rate(100, 25, 126000);  // starts at 1.4 s
    CHECK(t.seconds(0) == 0.0);
    CHECK(t.seconds(25) == doctest::Approx(1.0));
    // [1, 2) s: frames 25 .. 49; frame 50 at exactly 2 s is out.
    const auto s = uniform_samples(t, 25, {1.0, 2.0});
    CHECK(s.front().frame == 25);
    CHECK(s.back().frame == 49);
    CHECK(frames_of(uniform_samples(t, 2, {1.0, 2.0})) == std::vector<index_t>{31, 43});  // 25 + floor(25/4), 25 + floor(75/4)
    // A boundary between frames rounds up: [1.01, 1.05) holds only frame 26 (1.04 s).
    CHECK(frames_of(uniform_samples(t, 1, {1.01, 1.05})) == std::vector<index_t>{26});
    CHECK(frames_of(uniform_samples(t, 1, {3.9, 1e9})) == std::vector<index_t>{99});  // frames 98, 99: midpoint 98 + floor(2 / 2)
}

TEST_CASE("an empty range or a bad argument is an error naming the video") {
    const FrameTable t = constant_rate(100, 25);
    CHECK_THROWS_WITH_AS(uniform_samples(t, 8, {4.0, 5.0}), doctest::Contains("test.mp4: no frame in [4"), VideoError);
    CHECK_THROWS_WITH_AS(uniform_samples(t, 8, {1.0, 1.0}), doctest::Contains("test.mp4"), ValueError);
    CHECK_THROWS_AS(uniform_samples(t, 8, {-1.0, 1.0}), ValueError);
    CHECK_THROWS_AS(uniform_samples(t, 0), ValueError);
    CHECK_THROWS_AS(fixed_rate_samples(t, 0.0), ValueError);
    CHECK_THROWS_AS(sample_frames(t, {Sampling::random_segment, 8}, nullptr), ValueError);
    CHECK_THROWS_AS(uniform_samples(FrameTable{"empty.mp4"}, 8), VideoError);
}

TEST_CASE("random segment sampling draws once per segment, inside it, reproducibly") {
    const FrameTable t = constant_rate(100, 25);
    Generator rng(5);
    const auto s = random_segment_samples(t, 8, rng);
    CHECK(rng.state().offset == 8);
    for (std::size_t k = 0; k < s.size(); ++k) {
        CHECK(s[k].window_lo == index_t(k) * 100 / 8);
        CHECK(s[k].window_hi == index_t(k + 1) * 100 / 8);
        CHECK(s[k].frame >= s[k].window_lo);
        CHECK(s[k].frame < s[k].window_hi);
    }
    Generator again(5);
    CHECK(frames_of(random_segment_samples(t, 8, again)) == frames_of(s));
    // Every frame of a segment comes up.
    std::set<index_t> seen;
    for (int trial = 0; trial < 400; ++trial) seen.insert(random_segment_samples(t, 8, rng)[0].frame);
    CHECK(seen.size() == 12);
    // Empty segments (3 frames, 8 samples) take their first frame and still consume a draw.
    Generator short_rng(1);
    CHECK(frames_of(random_segment_samples(constant_rate(3, 25), 8, short_rng)) == std::vector<index_t>{0, 0, 0, 1, 1, 1, 2, 2});
    CHECK(short_rng.state().offset == 8);
}

TEST_CASE("fixed-rate sampling takes the frame on screen at start + j / fps") {
    const FrameTable t = constant_rate(100, 25);
    // 10 fps over [0, 1): s_j = 0.1 j, frame floor(2.5 j); 0.2 s is exactly frame 5.
    CHECK(frames_of(fixed_rate_samples(t, 10.0, {0.0, 1.0})) == std::vector<index_t>{0, 2, 5, 7, 10, 12, 15, 17, 20, 22});
    CHECK(fixed_rate_samples(t, 10.0, {0.0, 1.0})[1].window_hi == 5);  // frames 2, 3, 4 until the next sample
    // Up-sampling repeats frames; the video's duration (4 s) ends the samples.
    CHECK(fixed_rate_samples(t, 50.0).size() == 200);
    CHECK(fixed_rate_samples(t, 1.0).size() == 4);
    CHECK(fixed_rate_samples(t, 10.0, {}, 3).size() == 3);
    // NTSC rates: 29.97 fps at 30000/1001 sampled at its own rate gives every frame.
    FrameTable ntsc;
    ntsc.time_base = {1001, 30000};
    for (index_t i = 0; i < 300; ++i) ntsc.times.push_back(i);
    ntsc.duration = 300 * 1001.0 / 30000.0;
    const auto all = fixed_rate_samples(ntsc, 30000.0 / 1001.0);
    REQUIRE(all.size() == 300);
    for (index_t i = 0; i < 300; ++i) CHECK(all[std::size_t(i)].frame == i);
}

TEST_CASE("the fast mode takes the keyframe nearest the sample inside its window, else the sample") {
    const FrameTable t = constant_rate(40, 25, 0, {0, 10, 20, 30});
    const std::vector<FrameSample> samples = {{15, 10, 21}, {15, 11, 20}, {16, 13, 21}, {5, 0, 10}, {33, 30, 40}};
    CHECK(choose_frames(t, samples, SeekMode::fast) == std::vector<index_t>{10, 15, 20, 0, 30});  // a tie goes to the earlier
    CHECK(choose_frames(t, samples, SeekMode::accurate) == std::vector<index_t>{15, 15, 16, 5, 33});
}

}  // namespace
}  // namespace svilm::video
