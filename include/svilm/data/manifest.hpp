// svilm/data/manifest.hpp: a dataset of (video, caption[, start, end]) read from CSV or JSON
// Lines. Plain C++ (no libav): the loader in video_loader.hpp decodes the videos.
//
// CSV (RFC 4180): a header row names the columns `video`, `caption` (required) and `start`,
// `end` (optional, seconds; an empty cell means none); other columns are ignored. Fields are
// separated by commas and may be quoted with ", a quote inside doubled (""), commas and line
// breaks inside quotes kept. LF or CRLF line ends, an optional UTF-8 byte order mark.
//
//   video,caption,start,end
//   clips/a.mp4,"a man slices a tomato, then eats it",2.5,7
//
// JSON Lines: one object per line, {"video": "clips/a.mp4", "caption": "...", "start": 2.5,
// "end": 7}, start and end optional (or null); blank lines are skipped.
//
// The column (CSV) and key (JSON Lines) names are the defaults above unless a ManifestColumns
// names others (svilm's --video-column, --caption-column, --start-column, --end-column). A
// missing required column is a FormatError that lists the columns the file has.
//
// A relative video path is relative to the manifest's folder. A malformed manifest is a
// FormatError naming the file and line; an unreadable one an IoError. Whether the videos exist
// is the loader's business (a missing video is a bad item, skipped and reported).
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/data/csv.hpp"
#include "svilm/data/text_io.hpp"

namespace svilm::data {

// The names of the manifest's columns (CSV header) or keys (JSON Lines). start and end are
// optional columns: a file without them has no times.
struct ManifestColumns {
    std::string video = "video", caption = "caption", start = "start", end = "end";
};

struct ManifestEntry {
    std::string video;            // as written in the manifest
    std::filesystem::path path;   // resolved against the manifest's folder
    std::string caption;
    std::optional<double> start;  // seconds from the video's first frame
    std::optional<double> end;
    std::size_t line = 0;         // where the entry starts in the manifest (1-based)
};

class Manifest {
public:
    Manifest() = default;
    Manifest(std::vector<ManifestEntry> entries, std::string source) : entries_(std::move(entries)), source_(std::move(source)) {}

    // Reads a .csv, or a .jsonl / .ndjson file.
    static Manifest load(const std::filesystem::path& file, const ManifestColumns& columns = {}) {
        const std::string text = read_text_file(file, "the manifest");
        const std::string ext = file.extension().string();
        const std::filesystem::path base = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
        if (ext == ".csv") return parse_csv(text, file.string(), base, columns);
        if (ext == ".jsonl" || ext == ".ndjson") return parse_jsonl(text, file.string(), base, columns);
        throw FormatError(file.string() + ": unknown manifest type '" + ext + "' (expected .csv or .jsonl)");
    }

    static Manifest parse_csv(std::string_view text, const std::string& source, const std::filesystem::path& base,
                              const ManifestColumns& columns = {}) {
        CsvReader reader(without_byte_order_mark(text), source);
        std::vector<std::string> header;
        std::size_t header_line = 0;
        if (!reader.next(header, header_line)) throw FormatError(source + ": empty manifest (no header row)");
        auto column = [&](const std::string& name) -> std::optional<std::size_t> {
            for (std::size_t c = 0; c < header.size(); ++c)
                if (trim(header[c]) == name) return c;
            return std::nullopt;
        };
        auto required = [&](const std::string& name, const char* option) {
            const std::optional<std::size_t> c = column(name);
            if (c) return *c;
            std::string names;
            for (const std::string& h : header) names += (names.empty() ? "" : ", ") + std::string(trim(h));
            throw FormatError(source + ": line " + std::to_string(header_line) + ": no column '" + name +
                              "' (the header has: " + names + "); name yours with " + option);
        };
        const std::size_t video = required(columns.video, "--video-column"),
                          caption = required(columns.caption, "--caption-column");
        const auto start = column(columns.start), end = column(columns.end);
        std::vector<ManifestEntry> entries;
        std::vector<std::string> row;
        std::size_t line = 0;
        while (reader.next(row, line)) {
            if (row.size() == 1 && row[0].empty()) continue;  // a blank line
            const std::string where = source + ": line " + std::to_string(line);
            if (row.size() != header.size())
                throw FormatError(where + ": " + std::to_string(row.size()) + " fields, the header has " +
                                  std::to_string(header.size()));
            ManifestEntry e;
            e.video = row[video];
            e.caption = row[caption];
            if (start) e.start = seconds(row[*start], where, columns.start);
            if (end) e.end = seconds(row[*end], where, columns.end);
            e.line = line;
            entries.push_back(finish(std::move(e), where, base));
        }
        return Manifest(std::move(entries), source);
    }

    static Manifest parse_jsonl(std::string_view text, const std::string& source, const std::filesystem::path& base,
                                const ManifestColumns& columns = {}) {
        std::vector<ManifestEntry> entries;
        std::size_t line = 0;
        while (!text.empty()) {
            ++line;
            const std::size_t newline = text.find('\n');
            std::string_view row = text.substr(0, newline);
            text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
            if (trim(row).empty()) continue;
            const std::string where = source + ": line " + std::to_string(line);
            nlohmann::json object;
            try {
                object = nlohmann::json::parse(row);
            } catch (const nlohmann::json::parse_error& e) {
                throw FormatError(where + ": invalid JSON: " + e.what());
            }
            if (!object.is_object()) throw FormatError(where + ": expected a JSON object");
            ManifestEntry e;
            e.video = string_field(object, columns.video, where, "--video-column");
            e.caption = string_field(object, columns.caption, where, "--caption-column");
            e.start = number_field(object, columns.start, where);
            e.end = number_field(object, columns.end, where);
            e.line = line;
            entries.push_back(finish(std::move(e), where, base));
        }
        return Manifest(std::move(entries), source);
    }

    const std::vector<ManifestEntry>& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }
    const ManifestEntry& operator[](std::size_t i) const { return entries_[i]; }
    const std::string& source() const { return source_; }

private:
    static std::optional<double> seconds(const std::string& cell, const std::string& where, const std::string& name) {
        const std::string_view v = trim(cell);
        if (v.empty()) return std::nullopt;
        double x = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (ec != std::errc() || end != v.data() + v.size())
            throw FormatError(where + ": " + name + " '" + std::string(v) + "' is not a number");
        return x;
    }

    static std::string string_field(const nlohmann::json& object, const std::string& key, const std::string& where,
                                    const char* option) {
        const auto it = object.find(key);
        if (it == object.end()) {
            std::string names;
            for (const auto& item : object.items()) names += (names.empty() ? "" : ", ") + item.key();
            throw FormatError(where + ": no key '" + key + "' (the object has: " + names + "); name yours with " + option);
        }
        if (!it->is_string()) throw FormatError(where + ": \"" + key + "\" is not a string");
        return it->get<std::string>();
    }

    static std::optional<double> number_field(const nlohmann::json& object, const std::string& key, const std::string& where) {
        const auto it = object.find(key);
        if (it == object.end() || it->is_null()) return std::nullopt;
        if (!it->is_number()) throw FormatError(where + ": \"" + key + "\" is not a number");
        return it->get<double>();
    }

    static ManifestEntry finish(ManifestEntry e, const std::string& where, const std::filesystem::path& base) {
        if (trim(e.video).empty()) throw FormatError(where + ": empty video path");
        for (const auto& [value, name] : {std::pair{e.start, "start"}, std::pair{e.end, "end"}})
            if (value && !(std::isfinite(*value) && *value >= 0))
                throw FormatError(where + ": " + name + " " + std::to_string(*value) + " is not a time in seconds");
        if (e.start && e.end && !(*e.start < *e.end))
            throw FormatError(where + ": start " + std::to_string(*e.start) + " is not before end " + std::to_string(*e.end));
        const std::filesystem::path p(e.video);
        e.path = p.is_absolute() ? p : base / p;
        return e;
    }

    std::vector<ManifestEntry> entries_;
    std::string source_;
};

}  // namespace svilm::data
