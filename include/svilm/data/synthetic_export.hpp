// svilm/data/synthetic_export.hpp: a synthetic split written as real video files plus a
// manifest, so training and evaluation can go through the decode path (svilm::video) exactly
// as with downloaded data. Needs the svilm::video target (libav).
//
//   dir/000000.mp4 ... dir/NNNNNN.mp4   H.264 (libx264, crf 12, a keyframe every 8 frames) at
//                                        the dataset's size, 8 fps
//   dir/manifest.csv                    video,caption,nouns   (nouns joined by "; ")
//   dir/annotations.json                every object's box per frame under its noun, and the scene
//                                        change frame (docs/annotations.md), for svilm evaluate
//
// With ExportOptions::composites = N, N cut-and-paste videos follow the dataset's (named
// composite_NNNNNN.mp4): the frames of one written video with a stretch of another's pasted in,
// as the temporal grouping loss's composites (docs/model.md §4), their caption "<background's>,
// then <pasted one's>", their objects the two videos' on the frames each shows, and their scene
// changes the first pasted frame and the first frame after the paste.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "svilm/core/rng.hpp"
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
    index_t composites = 0;  // cut-and-paste videos written after the dataset's (needs count >= 2)
};

namespace detail {

// The annotation of one object: its noun and its box on every frame in `frames` where it is visible.
inline nlohmann::json object_annotation(const std::string& noun, const std::vector<Box>& boxes, index_t first, index_t last) {
    nlohmann::json list = nlohmann::json::array();
    for (index_t t = first; t < last; ++t) {
        const Box& b = boxes[std::size_t(t)];
        if (!b.empty()) list.push_back({{"frame", t}, {"box", {b.x0, b.y0, b.x1, b.y1}}});
    }
    return {{"noun", noun}, {"boxes", list}};
}

}  // namespace detail

// Writes items [0, count) of `dataset` and returns the manifest's path. A failing file is a
// VideoError / IoError naming it; the manifest is written last and atomically.
inline std::filesystem::path export_synthetic(const SyntheticDataset& dataset, index_t count, const std::filesystem::path& dir,
                                              const ExportOptions& options = {}) {
    if (count < 0 || count > dataset.size())
        throw ValueError("export_synthetic: count " + std::to_string(count) + " outside [0, " + std::to_string(dataset.size()) + "]");
    if (options.composites < 0 || (options.composites > 0 && count < 2))
        throw ValueError("export_synthetic: " + std::to_string(options.composites) + " composites need at least 2 videos (count " +
                         std::to_string(count) + ")");
    std::filesystem::create_directories(dir);
    const SyntheticConfig& c = dataset.config();
    const video::WriterOptions writer = detail::synthetic_writer_options(options.codec, options.crf, c.width, c.height, options.fps);
    std::string csv = "video,caption,nouns\n";
    auto quoted = [](const std::string& text) {
        std::string out = "\"";
        for (const char ch : text) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        return out + "\"";
    };
    nlohmann::json videos = nlohmann::json::array();
    auto annotate = [&](const std::string& name, nlohmann::json objects, std::vector<index_t> changes) {
        nlohmann::json entry = {{"video", name}, {"objects", std::move(objects)}};
        if (!changes.empty()) entry["scene_changes"] = changes;
        videos.push_back(std::move(entry));
    };
    for (index_t i = 0; i < count; ++i) {
        const SyntheticVideo v = dataset.item(i);
        char name[32];
        std::snprintf(name, sizeof name, "%06lld.mp4", (long long)i);
        detail::write_synthetic_video(dir / name, v.frames, writer);
        std::string nouns;
        for (std::size_t k = 0; k < v.nouns.size(); ++k) nouns += (k ? "; " : "") + v.nouns[k];
        csv += std::string(name) + "," + quoted(v.caption) + "," + quoted(nouns) + "\n";
        nlohmann::json objects = nlohmann::json::array();
        for (std::size_t k = 0; k < v.nouns.size(); ++k)
            objects.push_back(detail::object_annotation(v.nouns[k], v.boxes[k], 0, v.frames.extent(0)));
        annotate(name, std::move(objects), v.change_frame > 0 ? std::vector<index_t>{v.change_frame} : std::vector<index_t>{});
    }
    // Composite c: video `background` with frames [begin, end) of video `pasted`; the pair and the
    // stretch (a quarter to a half of the frames, inside the clip) are drawn from the dataset's seed.
    Generator rng(c.seed ^ 0x636f6d706f736974ULL);
    for (index_t k = 0; k < options.composites; ++k) {
        const index_t background = index_t(rng.uniform_int(std::uint64_t(count)));
        const index_t pasted = (background + 1 + index_t(rng.uniform_int(std::uint64_t(count - 1)))) % count;
        const SyntheticVideo a = dataset.item(background), b = dataset.item(pasted);
        const index_t T = a.frames.extent(0);
        const index_t length = std::max<index_t>(1, T / 4 + index_t(rng.uniform_int(std::uint64_t(T / 4 + 1))));
        const index_t begin = 1 + index_t(rng.uniform_int(std::uint64_t(std::max<index_t>(1, T - length - 1)))),
                      end = std::min(T, begin + length);
        Tensor<std::uint8_t, 4> frames(a.frames.shape(), uninitialized);  // (T, H, W, 3), frames contiguous
        std::copy(a.frames.data(), a.frames.data() + a.frames.size(), frames.data());
        const index_t frame_size = frames.size() / T;
        std::copy(b.frames.data() + begin * frame_size, b.frames.data() + end * frame_size, frames.data() + begin * frame_size);
        char name[40];
        std::snprintf(name, sizeof name, "composite_%06lld.mp4", (long long)k);
        detail::write_synthetic_video(dir / name, frames, writer);
        std::string nouns;
        for (const std::string& noun : a.nouns) nouns += (nouns.empty() ? "" : "; ") + noun;
        for (const std::string& noun : b.nouns) nouns += (nouns.empty() ? "" : "; ") + noun;
        csv += std::string(name) + "," + quoted(a.caption + ", then " + b.caption) + "," + quoted(nouns) + "\n";
        nlohmann::json objects = nlohmann::json::array();
        for (std::size_t o = 0; o < a.nouns.size(); ++o) {
            // the background's objects outside the pasted stretch
            std::vector<Box> outside = a.boxes[o];
            for (index_t f = begin; f < end; ++f) outside[std::size_t(f)] = Box{};
            nlohmann::json object = detail::object_annotation(a.nouns[o], outside, 0, T);
            if (!object["boxes"].empty()) objects.push_back(std::move(object));
        }
        for (std::size_t o = 0; o < b.nouns.size(); ++o) {
            nlohmann::json object = detail::object_annotation(b.nouns[o], b.boxes[o], begin, end);
            if (!object["boxes"].empty()) objects.push_back(std::move(object));
        }
        std::vector<index_t> changes{begin};
        if (end < T) changes.push_back(end);
        annotate(name, std::move(objects), changes);
    }
    const std::string annotations = nlohmann::json{{"videos", videos}}.dump(1) + "\n";
    io::write_file_atomically(dir / "annotations.json",
                              [&](const auto& append) { append(annotations.data(), annotations.size()); });
    const std::filesystem::path manifest = dir / "manifest.csv";
    io::write_file_atomically(manifest, [&](const auto& append) { append(csv.data(), csv.size()); });
    return manifest;
}

}  // namespace svilm::data
