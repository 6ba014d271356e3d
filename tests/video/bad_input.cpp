// Broken and wrong inputs: each is a VideoError naming the path and the reason, never a crash,
// a hang or a leak (the sanitizer build of CI runs these too).
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <numeric>
#include <string>
#include <vector>

#include "video/media.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::video;

// Opens `path` and decodes every frame; the VideoError it must throw names the path and `reason`.
void expect_video_error(const std::filesystem::path& path, const std::string& reason) {
    INFO(path.string());
    try {
        VideoReader reader(path);
        std::vector<index_t> all(static_cast<std::size_t>(reader.info().frame_count));
        std::iota(all.begin(), all.end(), index_t(0));
        reader.decode(all, [](std::size_t, const AVFrame&, index_t) {});
        FAIL("no error for " << path.string());
    } catch (const VideoError& e) {
        const std::string message = e.what();
        CHECK_MESSAGE(message.find(path.string()) == 0, message);
        CHECK_MESSAGE(message.find(reason) != std::string::npos, message << "\n  expected the reason: " << reason);
    }
}

WriterOptions small(const char* codec = "mpeg4") {
    WriterOptions o;
    o.codec = codec;
    o.width = 64;
    o.height = 48;
    o.gop = 5;
    o.codec_options = {{"b", "2M"}};
    return o;
}

TEST_CASE("paths that are not video files") {
    TempDir dir;
    expect_video_error(dir / "missing.mp4", "does not exist");
    expect_video_error(dir.path(), "is a directory");
    write_bytes(dir / "empty.mp4", "");
    expect_video_error(dir / "empty.mp4", "empty file");
    write_bytes(dir / "notes.mp4", "These are my notes, not a video.\nSecond line of text.\n");
    expect_video_error(dir / "notes.mp4", "not a readable video");
    // A FIFO would block a reader waiting for a writer: refused before opening.
    REQUIRE(::mkfifo((dir / "pipe.mp4").c_str(), 0600) == 0);
    expect_video_error(dir / "pipe.mp4", "not a regular file");
}

TEST_CASE("a container without a video stream, or with no frames") {
    TempDir dir;
    // A WAV file: one second of 8 kHz mono silence.
    std::string wav = "RIFF";
    auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) wav.push_back(char((v >> (8 * i)) & 0xFF)); };
    auto u16 = [&](std::uint16_t v) { for (int i = 0; i < 2; ++i) wav.push_back(char((v >> (8 * i)) & 0xFF)); };
    u32(36 + 16000);
    wav += "WAVEfmt ";
    u32(16); u16(1); u16(1); u32(8000); u32(16000); u16(2); u16(16);
    wav += "data";
    u32(16000);
    wav += std::string(16000, '\0');
    write_bytes(dir / "sound.wav", wav);
    expect_video_error(dir / "sound.wav", "no video stream");

    // Zero duration: a valid AVI file whose video stream has no frame (an MP4 muxer drops such a
    // track, leaving no stream).
    VideoWriter(dir / "zero.avi", small()).finish();
    expect_video_error(dir / "zero.avi", "the video stream has no frames");
    VideoWriter(dir / "zero.mp4", small()).finish();
    expect_video_error(dir / "zero.mp4", "no video stream (no stream at all)");
}

TEST_CASE("a pixel format swscale cannot read") {
    TempDir dir;
    WriterOptions o = small("rawvideo");
    o.pixel_format = "bgr4";  // 4 bits a pixel: swscale writes it but cannot read it
    o.codec_options.clear();
    write_index_video(dir / "bgr4.nut", o, 3);
    expect_video_error(dir / "bgr4.nut", "unsupported pixel format bgr4");
}

TEST_CASE("truncated MP4 files, with the index at the end and at the front") {
    TempDir dir;
    for (const bool faststart : {false, true}) {
        WriterOptions o = small();
        o.width = 128;
        o.height = 96;
        if (faststart) o.format_options = {{"movflags", "+faststart"}};
        const auto whole = dir / "whole.mp4";
        write_index_video(whole, o, 60);
        const std::string bytes = read_bytes(whole);
        const std::size_t index_at = bytes.find("moov");
        REQUIRE(index_at != std::string::npos);
        // Cut points: inside the index (faststart: before the frames) and across the frames.
        std::vector<std::size_t> cuts = {index_at + 40, bytes.size() / 10, bytes.size() / 2, bytes.size() * 9 / 10};
        if (faststart) cuts.push_back(bytes.size() - 100);
        for (const std::size_t at : cuts) {
            const auto cut = dir / ("cut_" + std::to_string(faststart) + "_" + std::to_string(at) + ".mp4");
            write_bytes(cut, bytes.substr(0, at));
            // Without the index nothing is readable. With it, the frames past the cut are not
            // counted, and every frame counted is exact or a VideoError.
            const auto byte = [&](std::size_t i) { return std::size_t(std::uint8_t(bytes[i])); };
            const std::size_t index_end = index_at - 4 + (byte(index_at - 4) << 24 | byte(index_at - 3) << 16 | byte(index_at - 2) << 8 | byte(index_at - 1));
            const bool index_whole = faststart && at >= index_end;
            if (!index_whole) {
                expect_video_error(cut, ": ");
                continue;
            }
            INFO(cut.string());
            VideoReader reader(cut);
            CHECK(reader.info().frame_count < 60);
            try {
                reader.decode_all([](const AVFrame& frame, index_t i) { CHECK(read_index(frame) == i); });
            } catch (const VideoError& e) {
                CHECK(std::string(e.what()).find(": frame ") != std::string::npos);
            }
        }
    }
}

TEST_CASE("flipped bytes in the middle of the frames are reported as damage") {
    TempDir dir;
    for (const char* codec : {"mpeg4", "libx264"}) {
        if (!has_encoder(codec)) continue;
        INFO(codec);
        WriterOptions o = small(codec);
        o.width = 128;
        o.height = 96;
        if (std::string(codec) == "libx264") o.codec_options = {{"crf", "20"}};
        const auto whole = dir / "whole.mkv";
        write_index_video(whole, o, 30);
        std::string bytes = read_bytes(whole);
        for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 64; ++i) bytes[i] = char(~bytes[i]);
        write_bytes(dir / "flipped.mkv", bytes);
        expect_video_error(dir / "flipped.mkv", "damaged");
        // Concealment instead: every frame decodes, some of them wrong.
        VideoReader lenient(dir / "flipped.mkv", {0, CorruptFrames::conceal});
        std::vector<index_t> all(static_cast<std::size_t>(lenient.info().frame_count));
        std::iota(all.begin(), all.end(), index_t(0));
        std::size_t decoded = 0;
        lenient.decode(all, [&](std::size_t, const AVFrame&, index_t) { ++decoded; });
        CHECK(decoded == all.size());
    }
}

TEST_CASE("bad bytes in memory name the given name") {
    const std::string text = "definitely not a video";
    CHECK_THROWS_WITH_AS(VideoReader(std::as_bytes(std::span(text.data(), text.size())), "item 7"),
                         doctest::Contains("item 7: not a readable video"), VideoError);
    CHECK_THROWS_WITH_AS(VideoReader(std::span<const std::byte>(), "item 8"), "item 8: empty file", VideoError);
}

TEST_CASE("frame indices outside the video are a ValueError") {
    TempDir dir;
    write_index_video(dir / "ten.avi", small(), 10);
    VideoReader reader(dir / "ten.avi");
    const std::vector<index_t> bad = {3, 10};
    CHECK_THROWS_WITH_AS(reader.decode(bad, [](std::size_t, const AVFrame&, index_t) {}),
                         doctest::Contains("frame 10 is outside the video's 10 frames"), ValueError);
    const std::vector<index_t> negative = {-1};
    CHECK_THROWS_AS(reader.decode(negative, [](std::size_t, const AVFrame&, index_t) {}), ValueError);
}

}  // namespace
}  // namespace svilm::testing
