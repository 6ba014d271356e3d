// svilm/data/annotations.hpp: object and scene-change annotations of videos, for scoring a model's
// grounding and temporal grouping on one's own videos (`svilm evaluate --annotations`). The
// format is described, with an example, in docs/annotations.md:
//
//   {"videos": [
//     {"video": "clips/a.mp4",
//      "objects": [{"noun": "red circle",
//                   "boxes": [{"frame": 0, "box": [x0, y0, x1, y1]}, ...],
//                   "masks": [{"frame": 4, "file": "masks/a_0_4.png"}, ...]}],
//      "scene_changes": [12]}]}
//
// A box is in pixels of the original frame, [x0, x1) x [y0, y1): pixel (row i, column j) is inside
// when its centre (j + 0.5, i + 0.5) is. A mask file is a PNG of the frame's size, non-zero =
// object (read with annotation_masks.hpp). A scene change is the index of the first frame of a
// new scene. Frames are 0-based indices of the decoded frames. Relative video and mask paths are
// relative to the annotation file's folder. Plain C++ (no libav, no image decoder).
//
// A malformed file is a FormatError naming the file and the JSON path of the bad field
// ("a.json: videos[2].objects[0].boxes[1].box: x1 3 is not greater than x0 5"); an unreadable
// one an IoError.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/data/text_io.hpp"

namespace svilm::data {

// A box in pixels of the original frame: [x0, x1) x [y0, y1).
struct PixelBox {
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    // Whether the centre of pixel (row i, column j) is inside.
    bool contains(index_t i, index_t j) const {
        const double x = double(j) + 0.5, y = double(i) + 0.5;
        return x >= x0 && x < x1 && y >= y0 && y < y1;
    }
};

struct FrameBox {
    index_t frame = 0;
    PixelBox box;
};

struct FrameMask {
    index_t frame = 0;
    std::string file;             // as written
    std::filesystem::path path;   // resolved against the annotation file's folder
};

struct AnnotatedObject {
    std::string noun;             // the noun phrase that names it ("red circle")
    std::vector<FrameBox> boxes;  // ascending frames, at most one per frame
    std::vector<FrameMask> masks; // ascending frames, at most one per frame
    std::string where;            // its JSON path, for messages ("videos[0].objects[1]")

    // The annotated frame nearest to `frame` within `tolerance` frames (a mask or a box; on a tie
    // the earlier frame), or none.
    std::optional<index_t> nearest_frame(index_t frame, index_t tolerance) const {
        std::optional<index_t> best;
        auto consider = [&](index_t f) {
            const index_t distance = f > frame ? f - frame : frame - f;
            if (distance > tolerance) return;
            const index_t best_distance = best ? (*best > frame ? *best - frame : frame - *best) : tolerance + 1;
            if (distance < best_distance || (distance == best_distance && f < *best)) best = f;
        };
        for (const FrameBox& b : boxes) consider(b.frame);
        for (const FrameMask& m : masks) consider(m.frame);
        return best;
    }
    const FrameBox* box_at(index_t frame) const {
        for (const FrameBox& b : boxes)
            if (b.frame == frame) return &b;
        return nullptr;
    }
    const FrameMask* mask_at(index_t frame) const {
        for (const FrameMask& m : masks)
            if (m.frame == frame) return &m;
        return nullptr;
    }
};

struct VideoAnnotation {
    std::string video;                  // as written
    std::filesystem::path path;         // resolved against the annotation file's folder
    std::vector<AnnotatedObject> objects;
    std::vector<index_t> scene_changes;  // ascending first frames of new scenes (each > 0)
    std::string where;                  // "videos[3]"
};

class Annotations {
public:
    Annotations() = default;
    Annotations(std::vector<VideoAnnotation> videos, std::string source) : videos_(std::move(videos)), source_(std::move(source)) {}

    static Annotations load(const std::filesystem::path& file) {
        const std::string text = read_text_file(file, "the annotations");
        const std::filesystem::path base = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
        return parse(text, file.string(), base);
    }

    static Annotations parse(std::string_view text, const std::string& source, const std::filesystem::path& base) {
        nlohmann::json root;
        try {
            root = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            throw FormatError(source + ": invalid JSON: " + e.what());
        }
        const Reader r{source};
        if (!root.is_object()) r.fail("", "is not a JSON object");
        const nlohmann::json& list = r.member(root, "", "videos", true);
        if (!list.is_array()) r.fail("videos", "is not an array");
        std::vector<VideoAnnotation> videos;
        for (std::size_t v = 0; v < list.size(); ++v) {
            const std::string at = "videos[" + std::to_string(v) + "]";
            const nlohmann::json& item = list[v];
            if (!item.is_object()) r.fail(at, "is not an object");
            VideoAnnotation video;
            video.where = at;
            video.video = r.text(r.member(item, at, "video", true), at + ".video");
            const std::filesystem::path p(video.video);
            video.path = p.is_absolute() ? p : base / p;
            for (const VideoAnnotation& earlier : videos)
                if (earlier.path.lexically_normal() == video.path.lexically_normal())
                    r.fail(at + ".video", "'" + video.video + "' is annotated twice (also " + earlier.where + ")");
            if (const nlohmann::json& objects = r.member(item, at, "objects", false); !objects.is_null()) {
                if (!objects.is_array()) r.fail(at + ".objects", "is not an array");
                for (std::size_t k = 0; k < objects.size(); ++k)
                    video.objects.push_back(parse_object(r, objects[k], at + ".objects[" + std::to_string(k) + "]", base));
            }
            if (const nlohmann::json& changes = r.member(item, at, "scene_changes", false); !changes.is_null()) {
                const std::string where = at + ".scene_changes";
                if (!changes.is_array()) r.fail(where, "is not an array");
                for (std::size_t c = 0; c < changes.size(); ++c) {
                    const std::string here = where + "[" + std::to_string(c) + "]";
                    const index_t frame = r.frame(changes[c], here);
                    if (frame == 0) r.fail(here, "is 0: a scene change is the first frame of a new scene, after frame 0");
                    if (!video.scene_changes.empty() && frame <= video.scene_changes.back())
                        r.fail(here, std::to_string(frame) + " does not follow " + std::to_string(video.scene_changes.back()) +
                                         " (scene changes are listed in increasing order)");
                    video.scene_changes.push_back(frame);
                }
            }
            videos.push_back(std::move(video));
        }
        return Annotations(std::move(videos), source);
    }

    const std::vector<VideoAnnotation>& videos() const { return videos_; }
    const std::string& source() const { return source_; }

    // The annotation of the video at `path` (a path resolved as a manifest's), or null: paths are
    // compared after normalising, and as the same file when both exist.
    const VideoAnnotation* find(const std::filesystem::path& path) const {
        const std::filesystem::path normal = path.lexically_normal();
        for (const VideoAnnotation& v : videos_)
            if (v.path.lexically_normal() == normal) return &v;
        std::error_code error;
        for (const VideoAnnotation& v : videos_)
            if (std::filesystem::equivalent(v.path, path, error)) return &v;
        return nullptr;
    }

    index_t object_count() const {
        index_t n = 0;
        for (const VideoAnnotation& v : videos_) n += index_t(v.objects.size());
        return n;
    }

private:
    // Field access whose errors name the file and the JSON path.
    struct Reader {
        const std::string& source;

        [[noreturn]] void fail(const std::string& where, const std::string& what) const {
            throw FormatError(source + ": " + (where.empty() ? std::string() : where + ": ") + what);
        }
        const nlohmann::json& member(const nlohmann::json& object, const std::string& at, const char* key, bool required) const {
            static const nlohmann::json null;
            const auto it = object.find(key);
            if (it != object.end()) return *it;
            if (required) fail(at, std::string("no \"") + key + "\"");
            return null;
        }
        std::string text(const nlohmann::json& value, const std::string& where) const {
            if (!value.is_string()) fail(where, "is not a string");
            std::string s = value.get<std::string>();
            if (s.find_first_not_of(" \t\r\n") == std::string::npos) fail(where, "is empty");
            return s;
        }
        index_t frame(const nlohmann::json& value, const std::string& where) const {
            if (value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
                const auto f = value.get<std::uint64_t>();
                if (f > std::uint64_t(std::numeric_limits<std::int32_t>::max())) fail(where, "frame " + value.dump() + " is too large");
                return index_t(f);
            }
            fail(where, value.dump() + " is not a frame index (a whole number from 0)");
        }
    };

    static AnnotatedObject parse_object(const Reader& r, const nlohmann::json& item, const std::string& at,
                                        const std::filesystem::path& base) {
        if (!item.is_object()) r.fail(at, "is not an object");
        AnnotatedObject object;
        object.where = at;
        object.noun = r.text(r.member(item, at, "noun", true), at + ".noun");
        auto entries = [&](const char* key, auto&& parse_one) {
            const nlohmann::json& list = r.member(item, at, key, false);
            if (list.is_null()) return;
            const std::string where = at + "." + key;
            if (!list.is_array()) r.fail(where, "is not an array");
            std::optional<index_t> last;
            for (std::size_t k = 0; k < list.size(); ++k) {
                const std::string here = where + "[" + std::to_string(k) + "]";
                if (!list[k].is_object()) r.fail(here, "is not an object");
                const index_t frame = r.frame(r.member(list[k], here, "frame", true), here + ".frame");
                if (last && frame <= *last)
                    r.fail(here + ".frame", std::to_string(frame) + " does not follow " + std::to_string(*last) +
                                                " (one entry per frame, in increasing order)");
                last = frame;
                parse_one(list[k], here, frame);
            }
        };
        entries("boxes", [&](const nlohmann::json& entry, const std::string& here, index_t frame) {
            const nlohmann::json& box = r.member(entry, here, "box", true);
            const std::string where = here + ".box";
            if (!box.is_array() || box.size() != 4) r.fail(where, "is not [x0, y0, x1, y1]");
            double c[4];
            for (std::size_t k = 0; k < 4; ++k) {
                if (!box[k].is_number() || !std::isfinite(box[k].get<double>()))
                    r.fail(where, box[k].dump() + " is not a number");
                c[k] = box[k].get<double>();
                if (c[k] < 0) r.fail(where, "coordinate " + box[k].dump() + " is negative (pixels of the frame)");
            }
            if (!(c[2] > c[0])) r.fail(where, "x1 " + box[2].dump() + " is not greater than x0 " + box[0].dump());
            if (!(c[3] > c[1])) r.fail(where, "y1 " + box[3].dump() + " is not greater than y0 " + box[1].dump());
            object.boxes.push_back({frame, {c[0], c[1], c[2], c[3]}});
        });
        entries("masks", [&](const nlohmann::json& entry, const std::string& here, index_t frame) {
            FrameMask m;
            m.frame = frame;
            m.file = r.text(r.member(entry, here, "file", true), here + ".file");
            const std::filesystem::path p(m.file);
            m.path = p.is_absolute() ? p : base / p;
            object.masks.push_back(std::move(m));
        });
        if (object.boxes.empty() && object.masks.empty()) r.fail(at, "has neither \"boxes\" nor \"masks\"");
        return object;
    }

    std::vector<VideoAnnotation> videos_;
    std::string source_;
};

}  // namespace svilm::data
