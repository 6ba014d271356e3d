// Exact frames on videos made here, whose every frame shows its index: for each codec and
// container, the full decode shows 0, 1, 2, ... and every frame decoded by index after seeks,
// in any order, shows that index.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "video/media.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::video;

struct Variant {
    const char* name;
    const char* file;
    WriterOptions options;
    TimestampSource timestamps;
};

constexpr int width = 128, height = 96;
constexpr index_t frame_count = 60;

std::vector<Variant> variants() {
    const std::vector<std::pair<std::string, std::string>> x264 = {{"preset", "veryfast"}, {"crf", "12"}, {"x264-params", "scenecut=0"}};
    std::vector<Variant> v = {
        {"mpeg4 in AVI with B-frames (no pts)", "mpeg4_b.avi", index_video_options("mpeg4", 10, 2, {{"b", "4M"}}), TimestampSource::decode},
        {"mpeg4 in AVI without B-frames", "mpeg4.avi", index_video_options("mpeg4", 10, 0, {{"b", "4M"}}), TimestampSource::presentation},
        {"mpeg2video in MPEG-TS (1.4 s start offset)", "mpeg2.ts", index_video_options("mpeg2video", 9, 2, {{"b", "4M"}}),
         TimestampSource::presentation},
        {"mjpeg in AVI (every frame a keyframe)", "mjpeg.avi", index_video_options("mjpeg", 1, 0, {{"b", "8M"}}), TimestampSource::presentation},
        {"ffv1 in Matroska (lossless)", "ffv1.mkv", index_video_options("ffv1", 8, 0), TimestampSource::presentation},
    };
    if (has_encoder("libx264")) {
        v.push_back({"H.264 in MP4 with B-frames", "h264.mp4", index_video_options("libx264", 12, 2, x264), TimestampSource::presentation});
        v.push_back({"H.264 in Matroska with B-frames", "h264.mkv", index_video_options("libx264", 12, 2, x264), TimestampSource::presentation});
        auto open_gop = x264;
        open_gop.back().second += ":open-gop=1";
        v.push_back({"H.264 open GOP in Matroska", "h264_open.mkv", index_video_options("libx264", 12, 3, open_gop), TimestampSource::presentation});
        v.push_back({"H.264 in AVI with B-frames (no pts)", "h264_b.avi", index_video_options("libx264", 12, 2, x264), TimestampSource::decode});
        v.push_back({"raw H.264 stream (no container timestamps)", "raw.h264", index_video_options("libx264", 12, 2, x264), TimestampSource::none});
    } else {
        MESSAGE("SKIPPED: this libav has no libx264 encoder; H.264 variants not tested");
    }
    return v;
}

std::vector<index_t> shuffled(index_t n, std::uint64_t seed) {
    std::vector<index_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), index_t(0));
    Generator rng(seed);
    for (index_t k = n - 1; k >= 1; --k) std::swap(order[std::size_t(k)], order[std::size_t(rng.uniform_int(std::uint64_t(k + 1)))]);
    return order;
}

TEST_CASE("generated videos: metadata, full decode and every frame by index in any order") {
    TempDir dir;
    for (const Variant& v : variants())
    for (const int threads : {1, 3}) {  // frame threading delays output; indices must not shift
        INFO(std::string(v.name) << ", " << threads << " decoder threads");
        const auto path = dir / v.file;
        if (threads == 1) write_index_video(path, v.options, frame_count);
        VideoReader reader(path, {threads});
        const VideoInfo& info = reader.info();
        CHECK(info.width == width);
        CHECK(info.height == height);
        CHECK(info.frame_count == frame_count);
        CHECK(info.timestamps == v.timestamps);
        CHECK(info.fps == doctest::Approx(25.0));
        CHECK(info.duration == doctest::Approx(frame_count / 25.0).epsilon(0.01));
        REQUIRE_FALSE(info.keyframes.empty());
        CHECK(info.keyframes.front() == 0);
        if (v.options.gop == 1) CHECK(index_t(info.keyframes.size()) == frame_count);
        if (std::string(v.options.codec) == "libx264" && v.timestamps != TimestampSource::none)
            CHECK(info.keyframes == std::vector<index_t>{0, 12, 24, 36, 48});
        for (index_t k = 0; k < frame_count; ++k) CHECK(reader.frames().seconds(k) == doctest::Approx(k / 25.0));

        std::vector<index_t> sequential;
        reader.decode_all([&](const AVFrame& frame, index_t i) {
            CHECK(i == index_t(sequential.size()));
            sequential.push_back(read_index(frame));
        });
        std::vector<index_t> expected(static_cast<std::size_t>(frame_count));
        std::iota(expected.begin(), expected.end(), index_t(0));
        CHECK(sequential == expected);

        // Every frame, in a random order (backward and forward seeks), then repeats and a reverse scan.
        std::vector<index_t> requests = shuffled(frame_count, 7);
        requests.insert(requests.end(), {5, 5, 59, 0, 0});
        for (std::size_t k = 0; k < requests.size(); ++k) {
            const index_t want = requests[k];
            std::vector<index_t> one = {want};
            index_t got = -2;
            reader.decode(one, [&](std::size_t, const AVFrame& frame, index_t index) {
                CHECK(index == want);
                got = read_index(frame);
            });
            CHECK_MESSAGE(got == want, "requested frame " << want);
        }
        // A batch of requests in any order comes back per request.
        const std::vector<index_t> batch = {59, 3, 30, 3, 17, 0};
        std::vector<index_t> shown(batch.size(), -2);
        reader.decode(batch, [&](std::size_t k, const AVFrame& frame, index_t) { shown[k] = read_index(frame); });
        CHECK(shown == batch);
    }
}

TEST_CASE("generated videos: fast mode takes a keyframe inside each window, and the frame it names") {
    TempDir dir;
    for (const Variant& v : variants()) {
        INFO(std::string(v.name));
        const auto path = dir / v.file;
        write_index_video(path, v.options, frame_count);
        VideoReader reader(path, {1});
        const auto samples = uniform_samples(reader.frames(), 5);
        const auto fast = choose_frames(reader.frames(), samples, SeekMode::fast);
        const auto& keys = reader.info().keyframes;
        for (std::size_t k = 0; k < samples.size(); ++k) {
            const bool window_has_key = std::any_of(keys.begin(), keys.end(), [&](index_t key) {
                return key >= samples[k].window_lo && key < samples[k].window_hi;
            });
            if (window_has_key)
                CHECK(std::binary_search(keys.begin(), keys.end(), fast[k]));
            else
                CHECK(fast[k] == samples[k].frame);
            CHECK(fast[k] >= samples[k].window_lo);
            CHECK(fast[k] < samples[k].window_hi);
        }
        std::vector<index_t> shown(fast.size(), -2);
        reader.decode(fast, [&](std::size_t k, const AVFrame& frame, index_t) { shown[k] = read_index(frame); });
        CHECK(shown == fast);
    }
}

TEST_CASE("a reader reads the same video from memory as from its file") {
    TempDir dir;
    const auto path = dir / "memory.mkv";
    write_index_video(path, index_video_options("ffv1", 4, 0), 20);
    const std::string bytes = read_bytes(path);
    VideoReader reader(std::as_bytes(std::span(bytes.data(), bytes.size())), "in-memory ffv1");
    CHECK(reader.info().frame_count == 20);
    CHECK(reader.info().path == "in-memory ffv1");
    const std::vector<index_t> want = {19, 2, 11};
    std::vector<index_t> shown(3, -2);
    reader.decode(want, [&](std::size_t k, const AVFrame& frame, index_t) { shown[k] = read_index(frame); });
    CHECK(shown == want);
}

TEST_CASE("the writer names what it cannot do") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(VideoWriter(dir / "x.mp4", index_video_options("no-such-encoder", 1, 0)), doctest::Contains("no encoder 'no-such-encoder'"), VideoError);
    CHECK_THROWS_WITH_AS(VideoWriter(dir / "x.unknown-extension", index_video_options("mpeg4", 1, 0)), doctest::Contains("x.unknown-extension"), VideoError);
    CHECK_THROWS_AS(VideoWriter(dir / "x.avi", index_video_options("mpeg4", 1, 0, {{"no_such_option", "1"}})), ValueError);
    VideoWriter writer(dir / "x.avi", index_video_options("mpeg4", 1, 0));
    Tensor<std::uint8_t, 3> wrong({height, width + 1, 3});
    CHECK_THROWS_AS(writer.write(wrong.view()), ShapeError);
}

}  // namespace
}  // namespace svilm::testing
