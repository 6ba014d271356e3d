// svilm/data/synthetic_export.hpp: a synthetic split written as real video files plus a
// manifest, so training and evaluation can go through the decode path (svilm::video) exactly
// as with downloaded data. Needs the svilm::video target (libav).
//
//   dir/000000.mp4 ... dir/NNNNNN.mp4   H.264 (libx264, crf 12, a keyframe every 8 frames) at
//                                        the dataset's size, 8 fps
//   dir/manifest.csv                    video,caption,nouns   (nouns joined by "; ")
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "svilm/data/synthetic.hpp"
#include "svilm/io/mapped_file.hpp"
#include "svilm/video/writer.hpp"

namespace svilm::data {

namespace detail {

// The writer of synthetic videos: `codec` (mpeg4 when this libav lacks it; libx264 at `crf`,
// mpeg4 at qscale 2), a keyframe every 8 frames.
inline video::WriterOptions synthetic_writer_options(const std::string& codec, int crf, index_t width, index_t height, int fps) {
    video::WriterOptions writer;
    writer.codec = video::has_encoder(codec) ? codec : "mpeg4";
    writer.width = int(width);
    writer.height = int(height);
    writer.fps = {fps, 1};
    writer.gop = 8;
    if (writer.codec == "libx264") writer.codec_options = {{"crf", std::to_string(crf)}, {"preset", "veryfast"}};
    if (writer.codec == "mpeg4") writer.codec_options = {{"qscale", "2"}};
    return writer;
}

// Writes frames (T, H, W, 3) sRGB as the video file `path`.
inline void write_synthetic_video(const std::filesystem::path& path, TensorView<const std::uint8_t, 4> frames,
                                  const video::WriterOptions& writer) {
    video::VideoWriter out(path, writer);
    for (index_t f = 0; f < frames.extent(0); ++f) out.write(frames.select(0, f));
    out.finish();
}

}  // namespace detail

struct ExportOptions {
    std::string codec = "libx264";  // any libav encoder; mpeg4 when libx264 is missing
    int crf = 12;                   // libx264 quality (lower is closer to the rendered pixels)
    int fps = 8;
};

// Writes items [0, count) of `dataset` and returns the manifest's path. A failing file is a
// VideoError / IoError naming it; the manifest is written last and atomically.
inline std::filesystem::path export_synthetic(const SyntheticDataset& dataset, index_t count, const std::filesystem::path& dir,
                                              const ExportOptions& options = {}) {
    if (count < 0 || count > dataset.size())
        throw ValueError("export_synthetic: count " + std::to_string(count) + " outside [0, " + std::to_string(dataset.size()) + "]");
    std::filesystem::create_directories(dir);
    const SyntheticConfig& c = dataset.config();
    const video::WriterOptions writer = detail::synthetic_writer_options(options.codec, options.crf, c.width, c.height, options.fps);
    std::string csv = "video,caption,nouns\n";
    auto quoted = [](const std::string& text) {
        std::string out = "\"";
        for (const char ch : text) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        return out + "\"";
    };
    for (index_t i = 0; i < count; ++i) {
        const SyntheticVideo v = dataset.item(i);
        char name[32];
        std::snprintf(name, sizeof name, "%06lld.mp4", (long long)i);
        detail::write_synthetic_video(dir / name, v.frames, writer);
        std::string nouns;
        for (std::size_t k = 0; k < v.nouns.size(); ++k) nouns += (k ? "; " : "") + v.nouns[k];
        csv += std::string(name) + "," + quoted(v.caption) + "," + quoted(nouns) + "\n";
    }
    const std::filesystem::path manifest = dir / "manifest.csv";
    io::write_file_atomically(manifest, [&](const auto& append) { append(csv.data(), csv.size()); });
    return manifest;
}

}  // namespace svilm::data
