// svilm/data/video_qa.hpp: MSRVTT-QA and MSVD-QA annotations in the datasets' own JSON, the
// answer vocabulary and the accuracy protocol (docs/model.md §8 and §13). Plain C++, no libav.
//
// A split file is a JSON list of questions:
//
//   [{"answer": "man", "category_id": 0, "id": 0, "question": "who is talking?", "video_id": 7010},
//    {"video": "video7011", "question": "what is a cat doing?", "answer": "play", "type": "what"}]
//
// "question" and "answer" are required (non-empty strings, kept as written); "id" and
// "category_id" are optional integers, kept as they are; "type" an optional string. The video:
// "video_id" (preferred when both are present) or "video". A string is the video's key as
// written; a non-negative integer N becomes numeric_prefix + N: "video" for MSRVTT-QA (7010 ->
// video7010), "vid" for MSVD-QA (1 -> vid1). With a name mapping (MSVD's youtube_mapping.txt,
// lines `-4wsuPCjDBc_5_15 vid1`) every key is then replaced by its name, and a key the mapping
// lacks is an error.
//
// Question type: "type" when present; otherwise the question's first word, lower-cased, when it
// is what, who, how, when or where, and "other" for any other first word. "category_id" is not
// read as a type: its meaning is not the same in every release.
//
// Answer vocabulary (svilm's reading of "the most frequent answers", §8): the K most frequent
// answers of the train split, compared as written; ties are broken by first appearance in the
// train file, so the vocabulary is a function of the file alone. A question whose answer is
// outside the vocabulary keeps label -1: it stays in the evaluation and counts as wrong whatever
// the prediction, as the standard protocol does, and the number of such questions is reported.
//
//   const auto train = load_video_qa("msrvtt_qa/train_qa.json");
//   const auto vocabulary = AnswerVocabulary::most_frequent(train, 1000);
//   const auto test = load_video_qa("msrvtt_qa/test_qa.json");
//   const QaLabels truth = vocabulary.labels(test);     // truth.out_of_vocabulary questions at -1
//   ... predicted[i] = the head's argmax for test[i] ...
//   const QaAccuracy acc = qa_accuracy(test, truth, predicted);   // acc.all.percent(), acc.by_type
//
// A malformed file is a FormatError naming the file and the list index ("[3]") or, for the
// mapping, the line; an unreadable one an IoError.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"
#include "svilm/data/text_io.hpp"

namespace svilm::data {

// Video keys to names, from MSVD's youtube_mapping.txt.
struct VideoNameMapping {
    std::map<std::string, std::string, std::less<>> names;  // "vid1" -> "-4wsuPCjDBc_5_15"
    std::string source;
};

// How a question's video field becomes the video's name (see the header comment).
struct QaVideoNames {
    std::string numeric_prefix = "video";
    std::optional<VideoNameMapping> mapping;
};

struct QaItem {
    std::size_t index = 0;                    // position in the file's list
    std::optional<std::int64_t> id;           // "id"
    std::string video_id;                     // the video's name: "video7010", "-4wsuPCjDBc_5_15"
    std::string question;
    std::string answer;
    std::string type;                         // "what", "who", "how", "when", "where", "other", or "type"
    std::optional<std::int64_t> category_id;  // "category_id"
    std::filesystem::path path;               // set by resolve_video_files (video_files.hpp)
};

// Lines `name key`, separated by spaces or tabs; blank lines skipped. A line with another number
// of fields, or a key listed twice, is a FormatError.
inline VideoNameMapping parse_video_name_mapping(std::string_view text, const std::string& source) {
    VideoNameMapping mapping;
    mapping.source = source;
    std::map<std::string, std::size_t, std::less<>> lines;  // key -> line
    for_each_line(text, [&](std::string_view line, std::size_t number) {
        const auto fields = whitespace_fields(line);
        if (fields.empty()) return;
        const std::string where = source + ": line " + std::to_string(number);
        if (fields.size() != 2) throw FormatError(where + ": expected 'name key', found '" + std::string(trim(line)) + "'");
        const auto [it, added] = lines.emplace(std::string(fields[1]), number);
        if (!added) throw FormatError(where + ": " + std::string(fields[1]) + " is listed twice (line " + std::to_string(it->second) + ")");
        mapping.names.emplace(std::string(fields[1]), std::string(fields[0]));
    });
    if (mapping.names.empty()) throw FormatError(source + ": no video names");
    return mapping;
}

inline VideoNameMapping load_video_name_mapping(const std::filesystem::path& file) {
    return parse_video_name_mapping(read_text_file(file, "the video name mapping"), file.string());
}

// The question's first word when it is one of the five question words, else "other".
inline std::string question_type(std::string_view question) {
    std::string word;
    for (const char ch : trim(question)) {
        if (!std::isalpha(static_cast<unsigned char>(ch))) break;
        word.push_back(char(std::tolower(static_cast<unsigned char>(ch))));
    }
    for (const char* type : {"what", "who", "how", "when", "where"})
        if (word == type) return word;
    return "other";
}

inline std::vector<QaItem> parse_video_qa(std::string_view text, const std::string& source, const QaVideoNames& names = {}) {
    const nlohmann::json document = parse_json_text(text, source);
    if (!document.is_array()) throw FormatError(source + ": expected a JSON list of questions");
    std::vector<QaItem> items;
    items.reserve(document.size());
    for (std::size_t i = 0; i < document.size(); ++i) {
        const std::string where = source + ": [" + std::to_string(i) + "]";
        const nlohmann::json& object = json_object(document[i], where);
        QaItem item;
        item.index = i;
        const char* video_key = json_optional(object, "video_id") ? "video_id" : "video";
        if (!json_optional(object, video_key)) throw FormatError(where + ": no \"video_id\" or \"video\"");
        const nlohmann::json& video = object[video_key];
        if (video.is_string()) {
            item.video_id = std::string(trim(video.get<std::string>()));
            if (item.video_id.empty()) throw FormatError(where + ": empty \"" + video_key + "\"");
        } else if (video.is_number_unsigned()) {
            item.video_id = names.numeric_prefix + std::to_string(video.get<std::uint64_t>());
        } else {
            throw FormatError(where + ": \"" + video_key + "\" is neither a string nor a non-negative integer");
        }
        if (names.mapping) {
            const auto it = names.mapping->names.find(item.video_id);
            if (it == names.mapping->names.end())
                throw FormatError(where + ": video " + item.video_id + " is not in " + names.mapping->source);
            item.video_id = it->second;
        }
        item.question = json_string(object, "question", where);
        item.answer = json_string(object, "answer", where);
        if (trim(item.question).empty()) throw FormatError(where + ": empty \"question\"");
        if (trim(item.answer).empty()) throw FormatError(where + ": empty \"answer\"");
        item.id = json_optional_integer(object, "id", where);
        item.category_id = json_optional_integer(object, "category_id", where);
        item.type = json_optional_string(object, "type", where).value_or(question_type(item.question));
        items.push_back(std::move(item));
    }
    return items;
}

inline std::vector<QaItem> load_video_qa(const std::filesystem::path& file, const QaVideoNames& names = {}) {
    return parse_video_qa(read_text_file(file, "the QA annotations"), file.string(), names);
}

// Each question's label, -1 outside the vocabulary, and how many are outside.
struct QaLabels {
    std::vector<index_t> labels;
    std::size_t out_of_vocabulary = 0;
};

class AnswerVocabulary {
public:
    // The `k` most frequent answers of `train` (all of them when there are fewer), most frequent
    // first, ties in first-appearance order.
    static AnswerVocabulary most_frequent(const std::vector<QaItem>& train, std::size_t k) {
        if (k == 0) throw ValueError("AnswerVocabulary::most_frequent: k must be positive");
        struct Count {
            std::string answer;
            std::size_t count = 0;
        };
        std::vector<Count> counts;  // first-appearance order
        std::map<std::string_view, std::size_t> position;
        for (const QaItem& item : train) {
            const auto [it, added] = position.emplace(item.answer, counts.size());
            if (added) counts.push_back({item.answer, 0});
            ++counts[it->second].count;
        }
        std::stable_sort(counts.begin(), counts.end(), [](const Count& a, const Count& b) { return a.count > b.count; });
        AnswerVocabulary vocabulary;
        for (std::size_t i = 0; i < std::min(k, counts.size()); ++i) {
            vocabulary.index_.emplace(counts[i].answer, index_t(i));
            vocabulary.answers_.push_back(std::move(counts[i].answer));
        }
        return vocabulary;
    }

    // The answer's label, or -1 when it is outside the vocabulary.
    index_t label(std::string_view answer) const {
        const auto it = index_.find(answer);
        return it == index_.end() ? -1 : it->second;
    }

    QaLabels labels(const std::vector<QaItem>& items) const {
        QaLabels out;
        out.labels.reserve(items.size());
        for (const QaItem& item : items) {
            out.labels.push_back(label(item.answer));
            out.out_of_vocabulary += out.labels.back() < 0;
        }
        return out;
    }

    const std::vector<std::string>& answers() const { return answers_; }  // by label
    std::size_t size() const { return answers_.size(); }

private:
    std::vector<std::string> answers_;
    std::map<std::string, index_t, std::less<>> index_;
};

struct QaCounts {
    std::size_t correct = 0, total = 0;
    double percent() const { return total == 0 ? 0.0 : 100.0 * double(correct) / double(total); }
};

struct QaAccuracy {
    QaCounts all;
    std::map<std::string, QaCounts> by_type;  // by QaItem::type
    std::size_t out_of_vocabulary = 0;        // questions counted wrong because of their answer
};

// Top-1 accuracy of `predicted` (a label per item) over every item; an item at label -1 is wrong.
inline QaAccuracy qa_accuracy(const std::vector<QaItem>& items, const QaLabels& truth, std::span<const index_t> predicted) {
    if (truth.labels.size() != items.size() || predicted.size() != items.size())
        throw ShapeError("qa_accuracy: " + std::to_string(items.size()) + " questions, " + std::to_string(truth.labels.size()) +
                         " labels, " + std::to_string(predicted.size()) + " predictions");
    QaAccuracy out;
    out.out_of_vocabulary = truth.out_of_vocabulary;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const bool correct = truth.labels[i] >= 0 && predicted[i] == truth.labels[i];
        for (QaCounts* counts : {&out.all, &out.by_type[items[i].type]}) {
            counts->correct += correct;
            ++counts->total;
        }
    }
    return out;
}

}  // namespace svilm::data
