// svilm/video/sampling.hpp: which frames a clip takes from a video. Pure functions of the
// video's frame table (no libav), so the index semantics are tested on their own.
//
// Frames. Frame i is the i-th frame in presentation order, counted from 0, exactly as a decoder
// outputs them when it decodes the whole stream from its start. Its time t_i is its
// presentation time in seconds minus frame 0's, so frame 0 is at t = 0 whatever the container's
// start offset. VideoReader builds the table by demuxing (not decoding) the stream when it opens.
//
// Time ranges. A range [start, end) in seconds selects the frames with start <= t_i < end: the
// candidate frames [a, b), n = b - a. Times are compared in the stream's own time base, a
// boundary rounded up to the next tick (a frame exactly at `end` is out). The default range is
// the whole video. An empty range is a VideoError naming the video.
//
// Uniform (inference; TSN's test-time sampling). The candidates are cut into `count` equal
// segments [a + k n / count, a + (k + 1) n / count), k = 0 .. count - 1, and sample k takes the
// frame at the segment's midpoint: a + floor((2k + 1) n / (2 count)). With fewer frames than
// samples (n < count) frames repeat, in order.
//
// Random segment (training; TSN's training sampling). Segment k is the integer range
// [a + floor(k n / count), a + floor((k + 1) n / count)); sample k is uniform inside it, one
// Generator::uniform_int per segment, k ascending (so a call consumes exactly `count` draws). An
// empty segment (n < count) takes its first frame, still consuming its draw.
//
// Fixed rate. Sample j is at time s_j = start + j / fps, j = 0, 1, ... while s_j < end and s_j is
// before the end of the video (its duration), at most max_count samples; it takes the frame on
// screen at s_j: the last frame with t_i <= s_j.
//
// Every sample also has a window [lo, hi), the frames it stands for (its segment; for a fixed
// rate, the frames shown until the next sample; at least the frame itself). The fast seek mode
// may take a keyframe inside the window instead of the frame: choose_frames.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/shape.hpp"

namespace svilm::video {

struct Rational {
    std::int64_t num = 0;
    std::int64_t den = 1;
    double value() const { return den ? double(num) / double(den) : 0.0; }
};

// Seconds from frame 0's presentation; [start, end).
struct TimeRange {
    double start = 0.0;
    double end = std::numeric_limits<double>::infinity();
};

struct FrameTable {
    std::string source;               // the video (a path), named by errors
    std::vector<std::int64_t> times;  // presentation time of frame i in time_base units, strictly increasing
    Rational time_base{1, 1};
    std::vector<index_t> keyframes;   // frame indices where decoding can start, ascending
    double duration = 0.0;            // seconds from frame 0's presentation to the end of the last frame

    index_t size() const { return index_t(times.size()); }
    double seconds(index_t i) const { return double(times[std::size_t(i)] - times.front()) * time_base.value(); }

    // The first frame with t_i >= seconds (size() when none).
    index_t first_at_or_after(double seconds) const {
        if (times.empty() || seconds <= 0) return 0;
        if (!std::isfinite(seconds)) return size();
        const long double ticks = std::ceil((long double)seconds * time_base.den / time_base.num - 1e-6L);
        if (ticks > (long double)(std::numeric_limits<std::int64_t>::max() / 2)) return size();
        const std::int64_t target = times.front() + std::int64_t(ticks);
        return index_t(std::lower_bound(times.begin(), times.end(), target) - times.begin());
    }

    // The last frame with t_i <= seconds (0 when seconds < 0).
    index_t on_screen_at(double seconds) const {
        if (times.empty() || seconds <= 0) return 0;
        const long double ticks = std::floor((long double)seconds * time_base.den / time_base.num + 1e-6L);
        if (!std::isfinite(double(ticks)) || ticks > (long double)(std::numeric_limits<std::int64_t>::max() / 2))
            return size() - 1;
        const std::int64_t target = times.front() + std::int64_t(ticks);
        const auto it = std::upper_bound(times.begin(), times.end(), target);
        return index_t(it - times.begin()) - 1;
    }
};

struct FrameSample {
    index_t frame;      // the frame the semantics above pick
    index_t window_lo;  // [window_lo, window_hi): the frames it stands for, frame included
    index_t window_hi;
};

enum class Sampling { uniform, random_segment, fixed_rate };

struct SamplingOptions {
    Sampling method = Sampling::uniform;
    index_t count = 8;                                          // samples (uniform, random_segment), or the cap for fixed_rate
    double fps = 0.0;                                           // fixed_rate only
    TimeRange range{};
};

namespace detail {

struct CandidateRange {
    index_t a, n;
};

inline CandidateRange candidates(const FrameTable& table, const TimeRange& range) {
    if (!(range.start >= 0) || !(range.end > range.start))
        throw ValueError(table.source + ": time range [" + std::to_string(range.start) + ", " +
                         std::to_string(range.end) + ") is empty or negative");
    const index_t a = table.first_at_or_after(range.start), b = table.first_at_or_after(range.end);
    if (b <= a)
        throw VideoError(table.source + ": no frame in [" + std::to_string(range.start) + ", " +
                         std::to_string(range.end) + ") s (the video has " + std::to_string(table.size()) +
                         " frames, " + std::to_string(table.duration) + " s)");
    return {a, b - a};
}

inline void expect_count(const FrameTable& table, index_t count) {
    if (count <= 0) throw ValueError(table.source + ": sample count " + std::to_string(count) + " is not positive");
}

}  // namespace detail

inline std::vector<FrameSample> uniform_samples(const FrameTable& table, index_t count, TimeRange range = {}) {
    detail::expect_count(table, count);
    const auto [a, n] = detail::candidates(table, range);
    std::vector<FrameSample> out;
    out.reserve(std::size_t(count));
    for (index_t k = 0; k < count; ++k) {
        const index_t frame = a + (2 * k + 1) * n / (2 * count);
        const index_t lo = a + k * n / count, hi = a + (k + 1) * n / count;
        out.push_back({frame, std::min(lo, frame), std::max(hi, frame + 1)});
    }
    return out;
}

inline std::vector<FrameSample> random_segment_samples(const FrameTable& table, index_t count, Generator& rng,
                                                       TimeRange range = {}) {
    detail::expect_count(table, count);
    const auto [a, n] = detail::candidates(table, range);
    std::vector<FrameSample> out;
    out.reserve(std::size_t(count));
    for (index_t k = 0; k < count; ++k) {
        const index_t lo = a + k * n / count, width = std::max<index_t>(a + (k + 1) * n / count - lo, 1);
        const index_t frame = lo + index_t(rng.uniform_int(std::uint64_t(width)));
        out.push_back({frame, lo, lo + width});
    }
    return out;
}

inline std::vector<FrameSample> fixed_rate_samples(const FrameTable& table, double fps, TimeRange range = {},
                                                   index_t max_count = std::numeric_limits<index_t>::max()) {
    if (!(fps > 0) || !std::isfinite(fps))
        throw ValueError(table.source + ": sampling rate " + std::to_string(fps) + " fps is not positive");
    detail::expect_count(table, max_count);
    detail::candidates(table, range);  // the same error as the other methods for an empty range
    const double end = std::min(range.end, table.duration);
    std::vector<FrameSample> out;
    for (index_t j = 0; index_t(out.size()) < max_count; ++j) {
        const double s = range.start + double(j) / fps;
        if (!(s < end)) break;
        const index_t frame = table.on_screen_at(s);
        const double next = range.start + double(j + 1) / fps;
        const index_t hi = std::min(table.first_at_or_after(next), table.size());
        out.push_back({frame, frame, std::max(hi, frame + 1)});
    }
    return out;
}

// The samples of `options`; random_segment draws from `rng` (required for it, unused otherwise).
inline std::vector<FrameSample> sample_frames(const FrameTable& table, const SamplingOptions& options,
                                              Generator* rng = nullptr) {
    switch (options.method) {
        case Sampling::uniform: return uniform_samples(table, options.count, options.range);
        case Sampling::random_segment:
            if (!rng) throw ValueError(table.source + ": random segment sampling needs a Generator");
            return random_segment_samples(table, options.count, *rng, options.range);
        case Sampling::fixed_rate: return fixed_rate_samples(table, options.fps, options.range, options.count);
    }
    throw ValueError(table.source + ": unknown sampling method");
}

// accurate: decode exactly the sampled frame (from the keyframe before it).
// fast: when the sample's window holds a keyframe, take the keyframe nearest the sampled frame
// (the earlier one on a tie), which decodes in one step after a seek; otherwise the frame itself.
enum class SeekMode { accurate, fast };

inline std::vector<index_t> choose_frames(const FrameTable& table, const std::vector<FrameSample>& samples,
                                          SeekMode mode) {
    std::vector<index_t> frames;
    frames.reserve(samples.size());
    for (const FrameSample& s : samples) {
        index_t pick = s.frame;
        if (mode == SeekMode::fast) {
            const auto& keys = table.keyframes;
            auto it = std::lower_bound(keys.begin(), keys.end(), s.window_lo);
            index_t best_distance = std::numeric_limits<index_t>::max();
            for (; it != keys.end() && *it < s.window_hi; ++it) {
                const index_t distance = *it > s.frame ? *it - s.frame : s.frame - *it;
                if (distance < best_distance) {
                    best_distance = distance;
                    pick = *it;
                }
            }
        }
        frames.push_back(pick);
    }
    return frames;
}

}  // namespace svilm::video
