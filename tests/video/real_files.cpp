// Exact frames on the real files of Debian's opencv-doc (scripts/fetch_test_media.sh): every
// frame decoded by index after seeks equals the frame at that position of a full decode. Each
// test says SKIPPED when its file is missing.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "video/media.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::video;

struct RealFile {
    const char* name;
    int width, height;
    index_t frames;
    std::optional<index_t> header_frames;
    TimestampSource timestamps;
};

const RealFile real_files[] = {
    {"vtest.avi", 768, 576, 795, 795, TimestampSource::presentation},
    {"Megamind.avi", 720, 528, 270, 270, TimestampSource::decode},
    {"Megamind_bugy.avi", 720, 528, 270, 270, TimestampSource::decode},
    {"tree.avi", 320, 240, 68, 444, TimestampSource::presentation},
};

// Hashes of every frame of a full decode, computed once per file.
const std::vector<std::uint64_t>& ground_truth(const std::filesystem::path& path) {
    static std::map<std::filesystem::path, std::vector<std::uint64_t>> cache;
    auto [it, inserted] = cache.try_emplace(path);
    if (inserted) {
        VideoReader reader(path);
        reader.decode_all([&](const AVFrame& frame, index_t) { it->second.push_back(frame_hash(frame)); });
    }
    return it->second;
}

// Boundaries, every keyframe and its neighbours, and some random frames.
std::vector<index_t> probe_indices(const VideoInfo& info, std::uint64_t seed) {
    std::vector<index_t> out = {0, 1, info.frame_count - 2, info.frame_count - 1};
    for (const index_t k : info.keyframes)
        for (const index_t d : {-2, -1, 0, 1, 2})
            if (k + d >= 0 && k + d < info.frame_count) out.push_back(k + d);
    Generator rng(seed);
    for (int i = 0; i < 24; ++i) out.push_back(index_t(rng.uniform_int(std::uint64_t(info.frame_count))));
    return out;
}

TEST_CASE("real files: metadata, the true frame count, and exact frames after seeks") {
    for (const RealFile& f : real_files) {
        INFO(f.name);
        const auto path = media_file(f.name);
        if (!path) continue;
        const std::vector<std::uint64_t>& truth = ground_truth(*path);
        CHECK(index_t(truth.size()) == f.frames);

        // Frame threading delays output: with decode timestamps the index must not shift.
        const std::vector<int> thread_counts = f.timestamps == TimestampSource::decode ? std::vector<int>{1, 3} : std::vector<int>{0};
        for (const int threads : thread_counts) {
            INFO("decoder threads " << threads);
            VideoReader reader(*path, {threads});
            const VideoInfo& info = reader.info();
            CHECK(info.width == f.width);
            CHECK(info.height == f.height);
            CHECK(info.frame_count == f.frames);
            CHECK(info.header_frame_count == f.header_frames);
            CHECK(info.timestamps == f.timestamps);
            CHECK(info.container == "avi");

            // One call: sorted internally, one forward pass with seeks over long GOPs.
            const std::vector<index_t> probes = probe_indices(info, 11);
            std::vector<std::uint64_t> got(probes.size());
            reader.decode(probes, [&](std::size_t k, const AVFrame& frame, index_t index) {
                CHECK(index == probes[k]);
                got[k] = frame_hash(frame);
            });
            for (std::size_t k = 0; k < probes.size(); ++k)
                CHECK_MESSAGE(got[k] == truth[std::size_t(probes[k])], "frame " << probes[k]);

            // Separate calls going backwards: each one seeks.
            for (const index_t i : {probes.back(), index_t(3), f.frames - 1, f.frames / 2, index_t(0)}) {
                const std::vector<index_t> one = {i};
                std::uint64_t h = 0;
                reader.decode(one, [&](std::size_t, const AVFrame& frame, index_t) { h = frame_hash(frame); });
                CHECK_MESSAGE(h == truth[std::size_t(i)], "frame " << i);
            }
        }
    }
}

TEST_CASE("vtest.avi: 4 keyframes, 10 fps, fast mode decodes keyframes where segments hold one") {
    const auto path = media_file("vtest.avi");
    if (!path) return;
    VideoReader reader(*path);
    const VideoInfo& info = reader.info();
    CHECK(info.keyframes == std::vector<index_t>{0, 250, 500, 750});
    CHECK(info.fps == doctest::Approx(10.0));
    CHECK(info.duration == doctest::Approx(79.5));
    CHECK(info.codec == "msmpeg4");
    const auto samples = uniform_samples(reader.frames(), 8);
    std::vector<index_t> midpoints;
    for (const auto& s : samples) midpoints.push_back(s.frame);
    CHECK(midpoints == std::vector<index_t>{49, 149, 248, 347, 447, 546, 645, 745});
    const auto fast = choose_frames(reader.frames(), samples, SeekMode::fast);
    // Windows [0, 99) [99, 198) [198, 298) [298, 397) [397, 496) [496, 596) [596, 695) [695, 795).
    CHECK(fast == std::vector<index_t>{0, 149, 250, 347, 447, 500, 645, 750});
    const std::vector<std::uint64_t>& truth = ground_truth(*path);
    reader.decode(fast, [&](std::size_t k, const AVFrame& frame, index_t) {
        CHECK_MESSAGE(frame_hash(frame) == truth[std::size_t(fast[k])], "frame " << fast[k]);
    });
}

TEST_CASE("tree.avi: the header's 444 frames are 68, at irregular times") {
    const auto path = media_file("tree.avi");
    if (!path) return;
    VideoReader reader(*path);
    CHECK(reader.info().header_frame_count == 444);
    CHECK(reader.info().frame_count == 68);
    CHECK(reader.info().pixel_format == "rgb24");
    CHECK(reader.frames().seconds(1) == doctest::Approx(11 * 0.066667).epsilon(1e-4));
    // Frames 0 and 1 are 0.73 s apart: a 2 fps sampling shows frame 0 twice.
    const auto samples = fixed_rate_samples(reader.frames(), 2.0, {0.0, 1.0});
    REQUIRE(samples.size() == 2);
    CHECK(samples[0].frame == 0);
    CHECK(samples[1].frame == 0);
    // 1 fps over the whole video (29.6 s): 30 samples, the last at 29 s shows frame 65 (28.67 s;
    // frame 66 starts at 29.13 s).
    const auto all = fixed_rate_samples(reader.frames(), 1.0);
    CHECK(all.size() == 30);
    CHECK(all.back().frame == 65);
}

TEST_CASE("Megamind.avi: a uniform clip crosses its shot cuts with distinct frames") {
    const auto path = media_file("Megamind.avi");
    if (!path) return;
    VideoReader reader(*path);
    ClipOptions options;
    options.size = 64;
    const Clip clip = load_clip(reader, options);
    CHECK(clip.frames == std::vector<index_t>{16, 50, 84, 118, 151, 185, 219, 253});
    const index_t frame_elements = 3 * 64 * 64;
    for (index_t t = 1; t < 8; ++t) {
        double difference = 0;
        for (index_t e = 0; e < frame_elements; ++e)
            difference += std::abs(clip.pixels.data()[t * frame_elements + e] - clip.pixels.data()[(t - 1) * frame_elements + e]);
        CHECK(difference / double(frame_elements) > 0.05);
    }
}

}  // namespace
}  // namespace svilm::testing
