// svilm/data/text_io.hpp: what the annotation readers share (docs/model.md §13): a whole file
// read into memory, its lines with their 1-based numbers, whitespace-separated fields, and JSON
// parsed with the file's name in the error. Plain C++, no libav.
//
// Errors follow docs/conventions.md §3.7: a file that cannot be read is an IoError naming it;
// malformed content is a FormatError naming the file and the line (text) or the place in the
// document (JSON, whose parser reports the line and column of a syntax error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"

namespace svilm::data {

// The bytes of `file`; `what` names it in the error ("the manifest", "the class index").
inline std::string read_text_file(const std::filesystem::path& file, const std::string& what) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw IoError(file.string() + ": cannot open " + what);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw IoError(file.string() + ": read error");
    return text.str();
}

// Without leading and trailing spaces, tabs and carriage returns.
inline std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

inline std::string_view without_byte_order_mark(std::string_view text) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    return text;
}

// Calls visit(line, number) for every line of `text` (LF or CRLF ends, the CR removed), numbers
// 1-based; a UTF-8 byte order mark at the start is dropped.
template <class Visit>
void for_each_line(std::string_view text, Visit&& visit) {
    text = without_byte_order_mark(text);
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        const std::size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        visit(line, number);
    }
}

// The fields of a line separated by runs of spaces or tabs.
inline std::vector<std::string_view> whitespace_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t pos = 0;
    while (true) {
        const std::size_t b = line.find_first_not_of(" \t\r", pos);
        if (b == std::string_view::npos) return fields;
        const std::size_t e = line.find_first_of(" \t\r", b);
        fields.push_back(line.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
        if (e == std::string_view::npos) return fields;
        pos = e;
    }
}

// The JSON document in `text` (nlohmann's parser skips a byte order mark itself); a syntax error
// is a FormatError naming `source`.
inline nlohmann::json parse_json_text(std::string_view text, const std::string& source) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw FormatError(source + ": invalid JSON: " + e.what());
    }
}

// Members of JSON objects, checked. `where` names the object in errors as the file and its place
// in the document ("MSRVTT_data.json: sentences[3]"), and the messages read like the manifest's:
// `<where>: no "caption"`, `<where>: "caption" is not a string`.
inline const nlohmann::json& json_object(const nlohmann::json& value, const std::string& where) {
    if (!value.is_object()) throw FormatError(where + ": expected a JSON object");
    return value;
}

// The member, or nullptr when it is absent or null.
inline const nlohmann::json* json_optional(const nlohmann::json& object, const std::string& key) {
    const auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

inline const nlohmann::json& json_member(const nlohmann::json& object, const std::string& key, const std::string& where) {
    const nlohmann::json* value = json_optional(object, key);
    if (!value) throw FormatError(where + ": no \"" + key + "\"");
    return *value;
}

inline std::string json_string(const nlohmann::json& object, const std::string& key, const std::string& where) {
    const nlohmann::json& value = json_member(object, key, where);
    if (!value.is_string()) throw FormatError(where + ": \"" + key + "\" is not a string");
    return value.get<std::string>();
}

inline std::optional<std::string> json_optional_string(const nlohmann::json& object, const std::string& key,
                                                       const std::string& where) {
    if (!json_optional(object, key)) return std::nullopt;
    return json_string(object, key, where);
}

// nlohmann keeps numbers finite (JSON has no NaN or infinity).
inline double json_number(const nlohmann::json& object, const std::string& key, const std::string& where) {
    const nlohmann::json& value = json_member(object, key, where);
    if (!value.is_number()) throw FormatError(where + ": \"" + key + "\" is not a number");
    return value.get<double>();
}

// Integers written without a fraction or exponent (3, not 3.0).
inline std::optional<std::int64_t> json_optional_integer(const nlohmann::json& object, const std::string& key,
                                                         const std::string& where) {
    const nlohmann::json* value = json_optional(object, key);
    if (!value) return std::nullopt;
    if (value->is_number_unsigned() && value->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        throw FormatError(where + ": \"" + key + "\" is too large");
    if (!value->is_number_integer()) throw FormatError(where + ": \"" + key + "\" is not an integer");
    return value->get<std::int64_t>();
}

inline const nlohmann::json& json_array(const nlohmann::json& object, const std::string& key, const std::string& where) {
    const nlohmann::json& value = json_member(object, key, where);
    if (!value.is_array()) throw FormatError(where + ": \"" + key + "\" is not an array");
    return value;
}

}  // namespace svilm::data
