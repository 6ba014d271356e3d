// svilm/data/activitynet.hpp: ActivityNet v1.3 temporal action localisation in the dataset's own
// JSON (docs/model.md §8 and §13): the ground truth read, the predictions written and read back.
// Plain C++, no libav.
//
// Ground truth:
//
//   {"version": "VERSION 1.3", "taxonomy": [...],
//    "database": {"v_abc": {"duration": 82.7, "subset": "training", "url": "https://...",
//                           "annotations": [{"segment": [3.1, 19.6], "label": "Long jump"}]}}}
//
// "database" is required; "version" and "taxonomy" are not read. A video needs "duration" (a
// positive number of seconds), "subset" (training, validation or testing) and "annotations" (a
// list, empty for the testing videos); "url" is optional. Videos come in the order of their ids
// (byte order). Labels are the names used by the annotations, sorted in byte order (svilm's
// choice: deterministic, and independent of the taxonomy's tree of parent nodes); a segment's
// label is its index there. A segment needs start < end; it is clipped to [0, duration] and the
// clipped ones are counted; one that lies wholly outside the video is an error.
//
// Predictions (the challenge's submission format):
//
//   {"version": "VERSION 1.3",
//    "results": {"v_abc": [{"label": "Long jump", "score": 0.91, "segment": [2.9, 20.1]}]},
//    "external_data": {"used": false, "details": ""}}
//
// Reading checks every prediction: a non-empty label, a numeric score, a segment [start, end]
// with start <= end; "version" and "external_data" may be absent. Errors name the file, the video id and the
// field: `gt.json: database.v_abc.annotations[1]: "label" is not a string`. An unreadable file is
// an IoError.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"
#include "svilm/data/text_io.hpp"
#include "svilm/io/mapped_file.hpp"

namespace svilm::data {

enum class ActivityNetSubset { training, validation, testing };

inline const char* subset_name(ActivityNetSubset subset) {
    switch (subset) {
        case ActivityNetSubset::training: return "training";
        case ActivityNetSubset::validation: return "validation";
        case ActivityNetSubset::testing: return "testing";
    }
    return "?";
}

struct ActivityNetSegment {
    double start = 0, end = 0;  // seconds, 0 <= start < end <= duration
    index_t label = 0;          // index into ActivityNetGroundTruth::labels
};

struct ActivityNetVideo {
    std::string id;
    double duration = 0;  // seconds
    ActivityNetSubset subset = ActivityNetSubset::training;
    std::string url;      // empty when the file has none
    std::vector<ActivityNetSegment> segments;
};

struct ActivityNetGroundTruth {
    std::vector<std::string> labels;       // sorted
    std::vector<ActivityNetVideo> videos;  // sorted by id
    std::size_t clipped_segments = 0;      // segments that reached outside [0, duration]

    // The label's index, or -1 for a name no annotation uses.
    index_t label(std::string_view name) const {
        const auto it = std::lower_bound(labels.begin(), labels.end(), name);
        return it != labels.end() && *it == name ? index_t(it - labels.begin()) : -1;
    }
};

struct ActivityNetPrediction {
    std::string label;
    double score = 0;
    double start = 0, end = 0;  // seconds
};

struct ActivityNetResults {
    std::string version = "VERSION 1.3";
    std::map<std::string, std::vector<ActivityNetPrediction>> results;  // by video id
    bool external_data_used = false;
    std::string external_data_details;
};

namespace detail {

// The shortest text that reads back as `x`: "82.7", not "82.700000".
inline std::string number_text(double x) {
    char buffer[32];  // the longest shortest form of a double has 24 characters
    return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, x).ptr);
}

// [start, end], two numbers; start <= end, or start < end when `strict`.
inline std::pair<double, double> json_segment(const nlohmann::json& object, const std::string& where, bool strict) {
    const nlohmann::json& segment = json_member(object, "segment", where);
    if (!segment.is_array() || segment.size() != 2 || !segment[0].is_number() || !segment[1].is_number())
        throw FormatError(where + ": \"segment\" is not [start, end] in seconds");
    const double start = segment[0].get<double>(), end = segment[1].get<double>();
    if (strict ? !(start < end) : !(start <= end))
        throw FormatError(where + ": \"segment\" [" + number_text(start) + ", " + number_text(end) + "] " +
                          (strict ? "does not end after it starts" : "ends before it starts"));
    return {start, end};
}

}  // namespace detail

inline ActivityNetGroundTruth parse_activitynet_ground_truth(std::string_view text, const std::string& source) {
    const nlohmann::json document = parse_json_text(text, source);
    const nlohmann::json& database = json_member(json_object(document, source), "database", source);
    json_object(database, source + ": database");
    struct Annotation {
        std::string label;
        double start, end;
    };
    std::vector<std::vector<Annotation>> annotations;  // per video, label names until all are known
    ActivityNetGroundTruth gt;
    for (const auto& [id, entry] : database.items()) {  // nlohmann's objects iterate in key order
        const std::string where = source + ": database." + id;
        json_object(entry, where);
        ActivityNetVideo video;
        video.id = id;
        video.duration = json_number(entry, "duration", where);
        if (!(video.duration > 0)) throw FormatError(where + ": \"duration\" " + detail::number_text(video.duration) + " is not positive");
        const std::string subset = json_string(entry, "subset", where);
        if (subset == "training") video.subset = ActivityNetSubset::training;
        else if (subset == "validation") video.subset = ActivityNetSubset::validation;
        else if (subset == "testing") video.subset = ActivityNetSubset::testing;
        else throw FormatError(where + ": \"subset\" '" + subset + "' is not training, validation or testing");
        video.url = json_optional_string(entry, "url", where).value_or("");
        const nlohmann::json& list = json_array(entry, "annotations", where);
        std::vector<Annotation>& mine = annotations.emplace_back();
        for (std::size_t a = 0; a < list.size(); ++a) {
            const std::string at = where + ".annotations[" + std::to_string(a) + "]";
            json_object(list[a], at);
            std::string label = json_string(list[a], "label", at);
            if (trim(label).empty()) throw FormatError(at + ": empty \"label\"");
            const auto [start, end] = detail::json_segment(list[a], at, true);
            if (end <= 0 || start >= video.duration)
                throw FormatError(at + ": \"segment\" [" + detail::number_text(start) + ", " + detail::number_text(end) +
                                  "] lies outside the video's [0, " + detail::number_text(video.duration) + "]");
            gt.clipped_segments += start < 0 || end > video.duration;
            mine.push_back({std::move(label), std::max(start, 0.0), std::min(end, video.duration)});
        }
        gt.videos.push_back(std::move(video));
    }
    for (const auto& mine : annotations)
        for (const Annotation& a : mine) gt.labels.push_back(a.label);
    std::sort(gt.labels.begin(), gt.labels.end());
    gt.labels.erase(std::unique(gt.labels.begin(), gt.labels.end()), gt.labels.end());
    for (std::size_t v = 0; v < gt.videos.size(); ++v)
        for (const Annotation& a : annotations[v]) gt.videos[v].segments.push_back({a.start, a.end, gt.label(a.label)});
    return gt;
}

inline ActivityNetGroundTruth load_activitynet_ground_truth(const std::filesystem::path& file) {
    return parse_activitynet_ground_truth(read_text_file(file, "the ActivityNet ground truth"), file.string());
}

// The submission JSON. A prediction that could not be read back (an empty label or video id, a
// score or time that is not finite, a segment ending before it starts) is a ValueError naming
// the video and the prediction's index.
inline std::string activitynet_results_json(const ActivityNetResults& results) {
    nlohmann::json by_video = nlohmann::json::object();
    for (const auto& [id, predictions] : results.results) {
        if (id.empty()) throw ValueError("activitynet_results_json: an empty video id");
        nlohmann::json list = nlohmann::json::array();
        for (std::size_t i = 0; i < predictions.size(); ++i) {
            const ActivityNetPrediction& p = predictions[i];
            const std::string where = "activitynet_results_json: results." + id + "[" + std::to_string(i) + "]";
            if (trim(p.label).empty()) throw ValueError(where + ": empty label");
            if (!std::isfinite(p.score) || !std::isfinite(p.start) || !std::isfinite(p.end))
                throw ValueError(where + ": score or segment is not finite");
            if (!(p.start <= p.end))
                throw ValueError(where + ": segment [" + detail::number_text(p.start) + ", " + detail::number_text(p.end) +
                                 "] ends before it starts");
            list.push_back({{"label", p.label}, {"score", p.score}, {"segment", {p.start, p.end}}});
        }
        by_video[id] = std::move(list);
    }
    const nlohmann::json document = {
        {"version", results.version},
        {"results", std::move(by_video)},
        {"external_data", {{"used", results.external_data_used}, {"details", results.external_data_details}}}};
    return document.dump() + "\n";
}

// Written atomically: a reader sees the old file or the whole new one.
inline void write_activitynet_results(const std::filesystem::path& file, const ActivityNetResults& results) {
    const std::string text = activitynet_results_json(results);
    io::write_file_atomically(file, [&](const auto& append) { append(text.data(), text.size()); });
}

inline ActivityNetResults parse_activitynet_results(std::string_view text, const std::string& source) {
    const nlohmann::json document = parse_json_text(text, source);
    json_object(document, source);
    ActivityNetResults out;
    out.version = json_optional_string(document, "version", source).value_or("");
    const nlohmann::json& by_video = json_member(document, "results", source);
    json_object(by_video, source + ": results");
    for (const auto& [id, list] : by_video.items()) {
        const std::string where = source + ": results." + id;
        if (id.empty()) throw FormatError(source + ": results: an empty video id");
        if (!list.is_array()) throw FormatError(where + ": expected a list of predictions");
        std::vector<ActivityNetPrediction>& predictions = out.results[id];
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string at = where + "[" + std::to_string(i) + "]";
            json_object(list[i], at);
            ActivityNetPrediction p;
            p.label = json_string(list[i], "label", at);
            if (trim(p.label).empty()) throw FormatError(at + ": empty \"label\"");
            p.score = json_number(list[i], "score", at);
            std::tie(p.start, p.end) = detail::json_segment(list[i], at, false);
            predictions.push_back(std::move(p));
        }
    }
    if (const nlohmann::json* external = json_optional(document, "external_data")) {
        const std::string where = source + ": external_data";
        json_object(*external, where);
        if (const nlohmann::json* used = json_optional(*external, "used")) {
            if (!used->is_boolean()) throw FormatError(where + ": \"used\" is not true or false");
            out.external_data_used = used->get<bool>();
        }
        out.external_data_details = json_optional_string(*external, "details", where).value_or("");
    }
    return out;
}

inline ActivityNetResults load_activitynet_results(const std::filesystem::path& file) {
    return parse_activitynet_results(read_text_file(file, "the ActivityNet results"), file.string());
}

}  // namespace svilm::data
