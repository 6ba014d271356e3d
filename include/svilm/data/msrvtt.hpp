// svilm/data/msrvtt.hpp: MSR-VTT text-video retrieval annotations in the dataset's own formats
// (docs/model.md §8 and §13). Plain C++, no libav.
//
// The 1k-A test CSV: a header row naming the columns `video_id` and `sentence` (required; other
// columns, such as `key` and `vid_key`, are ignored), one caption per row, RFC 4180 quoting
// (csv.hpp):
//
//   key,vid_key,video_id,sentence
//   ret0,msr9770,video9770,"a person is connecting something to system, then ""testing"" it"
//
// The train JSON (MSRVTT_data.json):
//
//   {"videos": [{"video_id": "video0", "category": 9, ...}, ...],
//    "sentences": [{"video_id": "video0", "caption": "a car is shown", "sen_id": 0}, ...]}
//
// read as one entry per video of "videos", in that order, with its captions in the order of
// "sentences". Every sentence must name a listed video and every video have a caption; other
// members are ignored. The 9k and 7k training splits are lists of video ids, one per line
// (read_video_id_list); restrict_videos picks them. resolve_video_files (video_files.hpp) then
// finds each id's file, skipping the missing ones.
//
// A malformed file is a FormatError naming the file and the line (CSV, id lists) or the place in
// the JSON document ("sentences[3]"); an unreadable one an IoError.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/data/csv.hpp"
#include "svilm/data/text_io.hpp"

namespace svilm::data {

// One test caption and its video.
struct MsrvttPair {
    std::string video_id;        // "video9770"
    std::string caption;
    std::size_t line = 0;        // where the row starts in the CSV (1-based)
    std::filesystem::path path;  // set by resolve_video_files
};

// A training video and all its captions.
struct MsrvttVideo {
    std::string video_id;
    std::vector<std::string> captions;
    std::filesystem::path path;  // set by resolve_video_files
};

// Video ids in file order, with the line each came from.
struct VideoIdList {
    std::vector<std::string> ids;
    std::vector<std::size_t> lines;
    std::string source;
};

inline std::vector<MsrvttPair> parse_msrvtt_test_csv(std::string_view text, const std::string& source) {
    CsvReader reader(without_byte_order_mark(text), source);
    std::vector<std::string> header;
    std::size_t line = 0;
    if (!reader.next(header, line)) throw FormatError(source + ": empty file (no header row)");
    std::optional<std::size_t> video, sentence;
    for (std::size_t c = 0; c < header.size(); ++c) {
        if (trim(header[c]) == "video_id") video = c;
        if (trim(header[c]) == "sentence") sentence = c;
    }
    if (!video || !sentence) throw FormatError(source + ": line 1: the header needs the columns 'video_id' and 'sentence'");
    std::vector<MsrvttPair> pairs;
    std::vector<std::string> row;
    while (reader.next(row, line)) {
        if (row.size() == 1 && row[0].empty()) continue;  // a blank line
        const std::string where = source + ": line " + std::to_string(line);
        if (row.size() != header.size())
            throw FormatError(where + ": " + std::to_string(row.size()) + " fields, the header has " + std::to_string(header.size()));
        MsrvttPair pair{std::string(trim(row[*video])), row[*sentence], line, {}};
        if (pair.video_id.empty()) throw FormatError(where + ": empty video_id");
        if (trim(pair.caption).empty()) throw FormatError(where + ": empty sentence");
        pairs.push_back(std::move(pair));
    }
    return pairs;
}

inline std::vector<MsrvttPair> load_msrvtt_test_csv(const std::filesystem::path& file) {
    return parse_msrvtt_test_csv(read_text_file(file, "the MSR-VTT test CSV"), file.string());
}

inline std::vector<MsrvttVideo> parse_msrvtt_data_json(std::string_view text, const std::string& source) {
    const nlohmann::json document = parse_json_text(text, source);
    json_object(document, source);
    const nlohmann::json& videos = json_array(document, "videos", source);
    const nlohmann::json& sentences = json_array(document, "sentences", source);
    std::vector<MsrvttVideo> out;
    std::map<std::string, std::size_t, std::less<>> index;  // video id -> position in `out`
    for (std::size_t i = 0; i < videos.size(); ++i) {
        const std::string where = source + ": videos[" + std::to_string(i) + "]";
        std::string id = json_string(json_object(videos[i], where), "video_id", where);
        if (trim(id).empty()) throw FormatError(where + ": empty \"video_id\"");
        const auto [it, added] = index.emplace(id, out.size());
        if (!added) throw FormatError(where + ": video " + id + " is listed twice (videos[" + std::to_string(it->second) + "])");
        out.push_back({std::move(id), {}, {}});
    }
    for (std::size_t i = 0; i < sentences.size(); ++i) {
        const std::string where = source + ": sentences[" + std::to_string(i) + "]";
        json_object(sentences[i], where);
        const std::string id = json_string(sentences[i], "video_id", where);
        std::string caption = json_string(sentences[i], "caption", where);
        const auto it = index.find(id);
        if (it == index.end()) throw FormatError(where + ": video " + id + " is not in \"videos\"");
        if (trim(caption).empty()) throw FormatError(where + ": empty \"caption\"");
        out[it->second].captions.push_back(std::move(caption));
    }
    for (std::size_t i = 0; i < out.size(); ++i)
        if (out[i].captions.empty())
            throw FormatError(source + ": videos[" + std::to_string(i) + "]: video " + out[i].video_id + " has no sentence");
    return out;
}

inline std::vector<MsrvttVideo> load_msrvtt_data_json(const std::filesystem::path& file) {
    return parse_msrvtt_data_json(read_text_file(file, "the MSR-VTT data JSON"), file.string());
}

// One id per line, surrounding blanks ignored, blank lines skipped. A first line `video_id` is a
// header and skipped (the split lists distributed as one-column CSV files have it). A line with
// more than one word, or an id listed twice, is a FormatError.
inline VideoIdList parse_video_id_list(std::string_view text, const std::string& source) {
    VideoIdList list;
    list.source = source;
    std::map<std::string, std::size_t, std::less<>> seen;  // id -> line
    for_each_line(text, [&](std::string_view line, std::size_t number) {
        const std::string_view id = trim(line);
        if (id.empty() || (number == 1 && id == "video_id")) return;
        const std::string where = source + ": line " + std::to_string(number);
        if (whitespace_fields(id).size() != 1) throw FormatError(where + ": expected one video id, found '" + std::string(id) + "'");
        const auto [it, added] = seen.emplace(std::string(id), number);
        if (!added) throw FormatError(where + ": video " + std::string(id) + " is listed twice (line " + std::to_string(it->second) + ")");
        list.ids.emplace_back(id);
        list.lines.push_back(number);
    });
    if (list.ids.empty()) throw FormatError(source + ": no video ids");
    return list;
}

inline VideoIdList load_video_id_list(const std::filesystem::path& file) {
    return parse_video_id_list(read_text_file(file, "the video id list"), file.string());
}

// The videos named by `list`, in the list's order; an id without annotations is a FormatError
// naming the list's line.
inline std::vector<MsrvttVideo> restrict_videos(const std::vector<MsrvttVideo>& videos, const VideoIdList& list) {
    std::map<std::string_view, const MsrvttVideo*> by_id;
    for (const MsrvttVideo& v : videos) by_id.emplace(v.video_id, &v);
    std::vector<MsrvttVideo> out;
    out.reserve(list.ids.size());
    for (std::size_t i = 0; i < list.ids.size(); ++i) {
        const auto it = by_id.find(list.ids[i]);
        if (it == by_id.end())
            throw FormatError(list.source + ": line " + std::to_string(list.lines[i]) + ": video " + list.ids[i] +
                              " has no captions in the annotations");
        out.push_back(*it->second);
    }
    return out;
}

}  // namespace svilm::data
