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
    video::WriterOptions writer;
    writer.codec = video::has_encoder(options.codec) ? options.codec : "mpeg4";
    writer.width = int(c.width);
    writer.height = int(c.height);
    writer.fps = {options.fps, 1};
    writer.gop = 8;
    if (writer.codec == "libx264") writer.codec_options = {{"crf", std::to_string(options.crf)}, {"preset", "veryfast"}};
    if (writer.codec == "mpeg4") writer.codec_options = {{"qscale", "2"}};
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
        video::VideoWriter out(dir / name, writer);
        for (index_t f = 0; f < v.frames.extent(0); ++f) out.write(v.frames.view().select(0, f));
        out.finish();
        std::string nouns;
        for (std::size_t k = 0; k < v.nouns.size(); ++k) nouns += (k ? "; " : "") + v.nouns[k];
        csv += std::string(name) + "," + quoted(v.caption) + "," + quoted(nouns) + "\n";
    }
    const std::filesystem::path manifest = dir / "manifest.csv";
    io::write_file_atomically(manifest, [&](const auto& append) { append(csv.data(), csv.size()); });
    return manifest;
}

}  // namespace svilm::data
