// svilm/data/action_recognition.hpp: UCF101 and HMDB51 splits in the datasets' own text files
// (docs/model.md §8 and §13). Plain C++, no libav. Both give, for one split, every clip's path
// relative to the videos root, its label and class name, and the class names in label order.
//
// UCF101 (ucfTrainTestlist/):
//   classInd.txt      `1 ApplyEyeMakeup`: 1-based class numbers, each once, 1..N without gaps
//   trainlist01.txt   `ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1`
//   testlist01.txt    `ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`
// Label = class number - 1. A line's folder names its class; a number, where the line has one,
// must be that class's. Only the folder is checked, not the file name, whose spelling differs
// from the class's in places (v_HandStandPushups_... under HandstandPushups/).
//
// HMDB51 (testTrainMulti_7030_splits/): one file per class and split, `<class>_test_split<k>.txt`,
// lines `<video>.avi <flag>` with flag 1 for train, 2 for test, 0 unused. The class names come
// from the file names; labels follow the names sorted in byte order (svilm's choice: the files
// carry no numbers). A clip's path is `<class>/<video>.avi`, the layout of the extracted archives.
//
// Lines may end in CRLF and carry trailing blanks; blank lines are skipped. A malformed line, an
// unknown class, a number that disagrees with the folder, a class number or name listed twice,
// and a clip listed twice are FormatErrors naming the file and the line; an unreadable file is an
// IoError.
#pragma once

#include <charconv>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"
#include "svilm/data/text_io.hpp"

namespace svilm::data {

struct ActionClip {
    std::filesystem::path path;  // relative to the videos root: "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    index_t label = 0;           // 0-based
    std::string class_name;
};

struct ActionSplit {
    std::vector<std::string> classes;  // by label
    std::vector<ActionClip> clips;     // in file order (HMDB51: class by class, in label order)
};

enum class HmdbSubset { train = 1, test = 2 };

namespace detail {

// A positive decimal integer, or nothing.
inline std::optional<std::size_t> positive_number(std::string_view text) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
    return value;
}

}  // namespace detail

// classInd.txt: the class names by label (number - 1).
inline std::vector<std::string> parse_ucf101_classes(std::string_view text, const std::string& source) {
    std::map<std::size_t, std::pair<std::string, std::size_t>> by_number;  // number -> (name, line)
    std::map<std::string, std::size_t, std::less<>> name_lines;
    for_each_line(text, [&](std::string_view line, std::size_t number) {
        const auto fields = whitespace_fields(line);
        if (fields.empty()) return;
        const std::string where = source + ": line " + std::to_string(number);
        const auto class_number = fields.size() == 2 ? detail::positive_number(fields[0]) : std::nullopt;
        if (!class_number) throw FormatError(where + ": expected 'number ClassName', found '" + std::string(trim(line)) + "'");
        const std::string name(fields[1]);
        const auto [it, added] = by_number.emplace(*class_number, std::pair{name, number});
        if (!added)
            throw FormatError(where + ": class number " + std::string(fields[0]) + " is listed twice (line " +
                              std::to_string(it->second.second) + ")");
        const auto [named, new_name] = name_lines.emplace(name, number);
        if (!new_name) throw FormatError(where + ": class " + name + " is listed twice (line " + std::to_string(named->second) + ")");
    });
    if (by_number.empty()) throw FormatError(source + ": no classes");
    std::vector<std::string> classes;
    for (const auto& [class_number, entry] : by_number) {
        if (class_number != classes.size() + 1)
            throw FormatError(source + ": line " + std::to_string(entry.second) + ": class number " + std::to_string(class_number) +
                              " leaves a gap (expected " + std::to_string(classes.size() + 1) + ")");
        classes.push_back(entry.first);
    }
    return classes;
}

inline std::vector<std::string> load_ucf101_classes(const std::filesystem::path& file) {
    return parse_ucf101_classes(read_text_file(file, "the class index"), file.string());
}

// A train or test list against the classes of classInd.txt.
inline ActionSplit parse_ucf101_split(std::string_view text, const std::string& source, const std::vector<std::string>& classes) {
    std::map<std::string_view, index_t> labels;
    for (std::size_t c = 0; c < classes.size(); ++c) labels.emplace(classes[c], index_t(c));
    ActionSplit split;
    split.classes = classes;
    std::map<std::string, std::size_t, std::less<>> clip_lines;
    for_each_line(text, [&](std::string_view line, std::size_t number) {
        const auto fields = whitespace_fields(line);
        if (fields.empty()) return;
        const std::string where = source + ": line " + std::to_string(number);
        if (fields.size() > 2) throw FormatError(where + ": expected 'Class/video.avi [number]', found '" + std::string(trim(line)) + "'");
        const std::string_view path = fields[0];
        const std::size_t slash = path.find('/');
        if (slash == 0 || slash == std::string_view::npos || slash + 1 == path.size() || path.find('/', slash + 1) != std::string_view::npos)
            throw FormatError(where + ": expected 'Class/video.avi', found '" + std::string(path) + "'");
        const std::string_view folder = path.substr(0, slash);
        const auto label = labels.find(folder);
        if (label == labels.end()) throw FormatError(where + ": unknown class " + std::string(folder));
        if (fields.size() == 2) {
            const auto class_number = detail::positive_number(fields[1]);
            if (!class_number) throw FormatError(where + ": class number '" + std::string(fields[1]) + "' is not a positive integer");
            if (*class_number > classes.size())
                throw FormatError(where + ": unknown class number " + std::string(fields[1]) + " (" + std::to_string(classes.size()) +
                                  " classes)");
            if (index_t(*class_number - 1) != label->second)
                throw FormatError(where + ": class number " + std::string(fields[1]) + " is " + classes[*class_number - 1] +
                                  ", the folder says " + std::string(folder));
        }
        const auto [it, added] = clip_lines.emplace(std::string(path), number);
        if (!added) throw FormatError(where + ": " + std::string(path) + " is listed twice (line " + std::to_string(it->second) + ")");
        split.clips.push_back({std::filesystem::path(path), label->second, std::string(folder)});
    });
    return split;
}

inline ActionSplit load_ucf101_split(const std::filesystem::path& class_index, const std::filesystem::path& split_list) {
    return parse_ucf101_split(read_text_file(split_list, "the split list"), split_list.string(), load_ucf101_classes(class_index));
}

// One HMDB51 split file: the clips of `class_name` in `subset`, label still unset (0).
inline std::vector<ActionClip> parse_hmdb51_split_file(std::string_view text, const std::string& source,
                                                       const std::string& class_name, HmdbSubset subset) {
    std::vector<ActionClip> clips;
    std::map<std::string, std::size_t, std::less<>> video_lines;
    for_each_line(text, [&](std::string_view line, std::size_t number) {
        const auto fields = whitespace_fields(line);
        if (fields.empty()) return;
        const std::string where = source + ": line " + std::to_string(number);
        if (fields.size() != 2 || (fields[1] != "0" && fields[1] != "1" && fields[1] != "2"))
            throw FormatError(where + ": expected 'video.avi 0|1|2', found '" + std::string(trim(line)) + "'");
        if (fields[0].find('/') != std::string_view::npos)
            throw FormatError(where + ": expected a file name, found the path '" + std::string(fields[0]) + "'");
        const auto [it, added] = video_lines.emplace(std::string(fields[0]), number);
        if (!added) throw FormatError(where + ": " + std::string(fields[0]) + " is listed twice (line " + std::to_string(it->second) + ")");
        if (fields[1][0] - '0' == int(subset))
            clips.push_back({std::filesystem::path(class_name) / std::string(fields[0]), 0, class_name});
    });
    return clips;
}

// Split `split` (1, 2 or 3 in the release) of the files in `folder`.
inline ActionSplit load_hmdb51_split(const std::filesystem::path& folder, int split, HmdbSubset subset) {
    if (split < 1) throw ValueError("load_hmdb51_split: split " + std::to_string(split) + " (splits count from 1)");
    const std::string suffix = "_test_split" + std::to_string(split) + ".txt";
    std::map<std::string, std::filesystem::path> files;  // class -> file, sorted by class name
    std::error_code ec;
    for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() > suffix.size() && name.ends_with(suffix)) files.emplace(name.substr(0, name.size() - suffix.size()), it->path());
    }
    if (ec) throw IoError(folder.string() + ": cannot list the split files: " + ec.message());
    if (files.empty()) throw FormatError(folder.string() + ": no files named <class>" + suffix);
    ActionSplit out;
    for (const auto& [class_name, file] : files) {
        const index_t label = index_t(out.classes.size());
        out.classes.push_back(class_name);
        for (ActionClip& clip : parse_hmdb51_split_file(read_text_file(file, "the split file"), file.string(), class_name, subset)) {
            clip.label = label;
            out.clips.push_back(std::move(clip));
        }
    }
    return out;
}

}  // namespace svilm::data
