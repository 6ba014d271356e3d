// tests/video/media.hpp: videos whose every frame shows its own index, made with libav's
// encoders, a temporary folder, and the real files of Debian's opencv-doc.
//
// The index pattern: 12 bits as a 4 x 3 grid of blocks (row-major, bit 0 top left), white for 1
// and black for 0. Blocks are at least 16 x 16 pixels, so lossy codecs at a good quality keep
// each block's mean far from the middle gray, and read_index recovers the index exactly.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <unistd.h>

#include "svilm/video.hpp"

namespace svilm::testing {

class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "svilm-video-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline constexpr int pattern_bits = 12;

inline Tensor<std::uint8_t, 3> index_frame(index_t index, int width, int height) {
    Tensor<std::uint8_t, 3> rgb({height, width, 3});
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const int bit = (y * 3 / height) * 4 + x * 4 / width;
            const std::uint8_t v = (index >> bit) & 1 ? 255 : 0;
            for (int c = 0; c < 3; ++c) rgb(y, x, c) = v;
        }
    return rgb;
}

// The index a frame shows, or -1 when a block is neither clearly white nor clearly black.
inline index_t read_index(const TensorView<const std::uint8_t, 3>& rgb) {
    const index_t height = rgb.extent(0), width = rgb.extent(1);
    index_t index = 0;
    for (int bit = 0; bit < pattern_bits; ++bit) {
        const index_t bx = bit % 4, by = bit / 4;
        const index_t x0 = bx * width / 4 + width / 16, x1 = (bx + 1) * width / 4 - width / 16;
        const index_t y0 = by * height / 3 + height / 12, y1 = (by + 1) * height / 3 - height / 12;
        double sum = 0;
        for (index_t y = y0; y < y1; ++y)
            for (index_t x = x0; x < x1; ++x) sum += double(rgb(y, x, 0)) + rgb(y, x, 1) + rgb(y, x, 2);
        const double mean = sum / double(3 * (y1 - y0) * (x1 - x0));
        if (mean > 64 && mean < 192) return -1;
        if (mean >= 192) index |= index_t(1) << bit;
    }
    return index;
}

inline index_t read_index(const AVFrame& frame) {
    video::FrameConverter converter;
    const Tensor<std::uint8_t, 3> rgb = converter.to_rgb(frame, "test frame");
    return read_index(rgb.view());
}

// FNV-1a (over 8-byte words) of the visible bytes of every plane: equal hashes, equal decoded frames.
inline std::uint64_t frame_hash(const AVFrame& frame) {
    std::uint64_t h = 1469598103934665603ull;
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(AVPixelFormat(frame.format));
    for (int p = 0; p < 4 && frame.data[p]; ++p) {
        const bool chroma = (p == 1 || p == 2) && !(desc->flags & AV_PIX_FMT_FLAG_RGB);
        const int rows = chroma ? AV_CEIL_RSHIFT(frame.height, desc->log2_chroma_h) : frame.height;
        const int bytes = av_image_get_linesize(AVPixelFormat(frame.format), frame.width, p);
        if ((desc->flags & AV_PIX_FMT_FLAG_PAL) && p == 1) continue;
        for (int y = 0; y < rows; ++y) {
            const std::uint8_t* row = frame.data[p] + std::ptrdiff_t(y) * frame.linesize[p];
            int x = 0;
            for (; x + 8 <= bytes; x += 8) {  // a word at a time: full decodes of long files stay quick
                std::uint64_t word;
                std::memcpy(&word, row + x, 8);
                h = (h ^ word) * 1099511628211ull;
            }
            for (; x < bytes; ++x) h = (h ^ row[x]) * 1099511628211ull;
        }
    }
    return h;
}

// Writer options for index videos: 128 x 96 at 25 fps, `codec` with its options `extra`.
inline video::WriterOptions index_video_options(const char* codec, int gop, int b_frames,
                                                std::vector<std::pair<std::string, std::string>> extra = {}) {
    video::WriterOptions o;
    o.codec = codec;
    o.width = 128;
    o.height = 96;
    o.fps = {25, 1};
    o.gop = gop;
    o.max_b_frames = b_frames;
    o.codec_options = std::move(extra);
    return o;
}

// Writes `frames` frames showing their index.
inline void write_index_video(const std::filesystem::path& path, video::WriterOptions options, index_t frames) {
    video::VideoWriter writer(path, options);
    for (index_t i = 0; i < frames; ++i) writer.write(index_frame(i, options.width, options.height).view());
    writer.finish();
}

// A real file of Debian's opencv-doc, if scripts/fetch_test_media.sh has fetched it.
inline std::optional<std::filesystem::path> media_file(const std::string& name) {
    const char* env = std::getenv("SVILM_MEDIA_DIR");
    const std::filesystem::path path = std::filesystem::path(env && *env ? env : SVILM_MEDIA_DIR) / name;
    if (std::filesystem::is_regular_file(path)) return path;
    MESSAGE("SKIPPED: " << path.string() << " is missing; run scripts/fetch_test_media.sh (or set SVILM_MEDIA_DIR)");
    return std::nullopt;
}

inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    REQUIRE(out.good());
}

// libav's warnings about the broken files these tests make on purpose would drown the report.
struct QuietLibav {
    QuietLibav() { video::set_libav_log_level(AV_LOG_FATAL); }
};
inline const QuietLibav quiet_libav;

}  // namespace svilm::testing
