// svilm/data/video_files.hpp: a dataset's video ids resolved to files under a videos folder
// (docs/model.md §13). The annotations name videos by id (MSR-VTT's "video7010", MSVD's
// "-4wsuPCjDBc_5_15"); the file is folder / (id + extension). A missing file is not an error:
// its items are skipped and reported, as batch jobs do with bad items (docs/conventions.md §3.7).
//
//   auto test = resolve_video_files(load_msrvtt_test_csv("MSRVTT_JSFUSION_test.csv"), "videos/all");
//   for (const SkippedVideo& s : test.skipped) std::printf("skipped %s\n", s.path.c_str());
#pragma once

#include <concepts>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "svilm/core/error.hpp"

namespace svilm::data {

// An annotation item that names its video by `video_id` and receives the file in `path`.
template <class Item>
concept VideoItem = requires(Item& item) {
    { item.video_id } -> std::convertible_to<std::string>;
    item.path = std::filesystem::path();
};

struct SkippedVideo {
    std::string video_id;
    std::filesystem::path path;  // the file looked for
};

template <VideoItem Item>
struct ResolvedVideos {
    std::vector<Item> items;            // the input's items whose file exists, in order, path set
    std::vector<SkippedVideo> skipped;  // one per item left out, in order
};

// `extension` is appended to the id as written (".mp4", ".avi", ".webm"; empty when the ids
// already end with one); anything else is a ValueError. A file counts when it is a regular file
// or a link to one.
template <VideoItem Item>
ResolvedVideos<Item> resolve_video_files(std::vector<Item> items, const std::filesystem::path& folder,
                                         const std::string& extension = ".mp4") {
    if (!extension.empty() && extension.front() != '.')
        throw ValueError("resolve_video_files: extension '" + extension + "' does not start with '.'");
    std::map<std::string, bool> exists;  // each id is looked up once, however many items name it
    ResolvedVideos<Item> out;
    for (Item& item : items) {
        std::filesystem::path path = folder / (std::string(item.video_id) + extension);
        auto found = exists.find(item.video_id);
        if (found == exists.end()) {
            std::error_code ec;
            found = exists.emplace(item.video_id, std::filesystem::is_regular_file(path, ec)).first;
        }
        if (found->second) {
            item.path = std::move(path);
            out.items.push_back(std::move(item));
        } else {
            out.skipped.push_back({item.video_id, std::move(path)});
        }
    }
    return out;
}

}  // namespace svilm::data
