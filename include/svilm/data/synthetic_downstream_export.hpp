// svilm/data/synthetic_downstream_export.hpp: the synthetic downstream tasks
// (synthetic_downstream.hpp, docs/model.md §13) written as video files plus the real datasets'
// annotation files, in their layouts, so that a pipeline reads them with the readers it uses on
// the real data (video_qa.hpp, action_recognition.hpp, activitynet.hpp) and decodes them with
// svilm::video. Needs the svilm::video target (libav).
//
// Every export writes items [0, n) of each split, n from DownstreamSplitCounts, at the config's
// size, frame count and fps (config.split and config.count are set split by split). Videos are
// H.264 as in synthetic_export.hpp (libx264 crf 12, a keyframe every 8 frames; mpeg4 when libx264
// is missing). An empty split still gets its (empty) annotation file, so the layout is the same
// for any counts.
//
// Retrieval, as MSR-VTT (the pre-training clips and captions of synthetic.hpp, SyntheticConfig;
// one caption per video):
//   dir/videos/video0.mp4 ...           ids numbered across the splits in the order train, val,
//                                       test, test_unseen; 8 fps, as synthetic_export.hpp
//   dir/MSRVTT_data.json                train, as the release's train JSON (msrvtt.hpp):
//       {"videos": [{"video_id": "video0", "split": "train"}, ...],
//        "sentences": [{"video_id": "video0", "caption": "...", "sen_id": 0}, ...]}
//   dir/MSRVTT_val_data.json            val, in the same format (the reader takes any such file)
//   dir/MSRVTT_JSFUSION_test.csv        test, as the 1k-A test CSV: key,vid_key,video_id,sentence
//                                       (`ret<n>,msr<n>,video<n>,"caption"`)
//   dir/MSRVTT_JSFUSION_test_unseen.csv test_unseen, in the same format
// QA, as MSRVTT-QA:
//   dir/videos/video0.mp4 ...           ids numbered across the splits in the order train, val,
//                                       test, test_unseen (as MSR-VTT numbers its videos)
//   dir/train_qa.json, val_qa.json, test_qa.json, test_unseen_qa.json
//       [{"answer": "blue", "id": 0, "question": "what colour is the star?", "type": "colour",
//         "video_id": "video0"}, ...]   ("id": the question's number, here the video's)
// Actions, as UCF101 (class names: the §12 phrases in CamelCase, "moves left" -> MovesLeft):
//   dir/ucfTrainTestlist/classInd.txt         `1 MovesLeft` ... `7 Shrinks`
//   dir/ucfTrainTestlist/trainlist01.txt      `MovesLeft/v_MovesLeft_g01_c000000.mp4 1`
//   dir/ucfTrainTestlist/vallist01.txt        as trainlist01.txt (UCF101 has no val split)
//   dir/ucfTrainTestlist/testlist01.txt       `Grows/v_Grows_g03_c000000.mp4`: no numbers, as UCF101
//   dir/ucfTrainTestlist/test_unseenlist01.txt  as testlist01.txt
//   dir/UCF-101/<Class>/v_<Class>_gGG_cCCCCCC.mp4   GG: the split's group, 01 train, 02 val,
//                                            03 test, 04 test_unseen (UCF101's groups never
//                                            straddle its splits either); CCCCCC: the index in it
// Localisation, as ActivityNet v1.3 (which has three subsets):
//   dir/activity_net.v1-3.min.json          train, val, test as training, validation, testing;
//                                           the testing videos keep their annotations (the real
//                                           release withholds them)
//   dir/activity_net_unseen.v1-3.min.json   test_unseen, as testing
//       {"version": "VERSION 1.3", "database": {"v_train_000000": {"duration": 8, "subset":
//        "training", "annotations": [{"label": "moves left", "segment": [1.5, 4.25]}]}}}
//   dir/videos/v_<split>_NNNNNN.mp4         the id plus ".mp4"
//
// An existing folder that holds anything is refused (IoError) unless options.overwrite; with it,
// files of the same names are replaced and others left alone. The annotation files are written
// last and atomically; a failing video is a VideoError / IoError naming it.
#pragma once

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/data/synthetic_downstream.hpp"
#include "svilm/data/synthetic_export.hpp"
#include "svilm/io/mapped_file.hpp"

namespace svilm::data {

// Items written per split: [0, n) of each.
struct DownstreamSplitCounts {
    index_t train = 0, val = 0, test = 0, test_unseen = 0;

    index_t of(SyntheticSplit split) const {
        switch (split) {
            case SyntheticSplit::train: return train;
            case SyntheticSplit::val: return val;
            case SyntheticSplit::test: return test;
            case SyntheticSplit::test_unseen: return test_unseen;
        }
        return 0;
    }
};

struct DownstreamExportOptions {
    std::string codec = "libx264";  // any libav encoder; mpeg4 when libx264 is missing
    int crf = 12;                   // libx264 quality (lower is closer to the rendered pixels)
    bool overwrite = false;         // write into a folder that already holds files
};

// What an export wrote; arrays are indexed by SyntheticSplit.
struct RetrievalExport {
    std::filesystem::path videos;                      // dir/videos: file = id + ".mp4"
    std::filesystem::path train, val;                  // MSR-VTT data JSON: MSRVTT_data.json, MSRVTT_val_data.json
    std::filesystem::path test, test_unseen;           // 1k-A test CSV: MSRVTT_JSFUSION_test[_unseen].csv
};

struct QaExport {
    std::filesystem::path videos;                    // dir/videos: file = id + ".mp4"
    std::array<std::filesystem::path, 4> questions;  // dir/<split>_qa.json
};

struct ActionsExport {
    std::filesystem::path videos;               // dir/UCF-101: the lists' paths are relative to it
    std::filesystem::path class_index;          // dir/ucfTrainTestlist/classInd.txt
    std::array<std::filesystem::path, 4> lists;  // dir/ucfTrainTestlist/<split>list01.txt
};

struct LocalisationExport {
    std::filesystem::path videos;               // dir/videos: file = id + ".mp4"
    std::filesystem::path ground_truth;         // train, val and test
    std::filesystem::path unseen_ground_truth;  // test_unseen
};

// "moves left" -> "MovesLeft": a UCF101-style class name (no blanks, as its lists need).
inline std::string ucf101_class_name(std::string_view phrase) {
    std::string out;
    bool start = true;
    for (const char ch : phrase) {
        if (ch == ' ') {
            start = true;
            continue;
        }
        out.push_back(start ? char(std::toupper(static_cast<unsigned char>(ch))) : ch);
        start = false;
    }
    return out;
}

namespace detail {

inline constexpr std::array<SyntheticSplit, 4> all_splits = {SyntheticSplit::train, SyntheticSplit::val, SyntheticSplit::test,
                                                             SyntheticSplit::test_unseen};

inline void create_folder(const char* op, const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw IoError(std::string(op) + ": cannot create " + dir.string() + ": " + ec.message());
}

// Creates `dir`, refusing one that holds anything unless `overwrite`.
inline void prepare_export_folder(const char* op, const std::filesystem::path& dir, bool overwrite) {
    std::error_code ec;
    const std::filesystem::file_status status = std::filesystem::status(dir, ec);
    if (ec && status.type() != std::filesystem::file_type::not_found)
        throw IoError(std::string(op) + ": " + dir.string() + ": " + ec.message());
    if (std::filesystem::exists(status)) {
        if (!std::filesystem::is_directory(status)) throw IoError(std::string(op) + ": " + dir.string() + " is a file, not a folder");
        const bool empty = std::filesystem::is_empty(dir, ec);
        if (ec) throw IoError(std::string(op) + ": " + dir.string() + ": " + ec.message());
        if (!empty && !overwrite)
            throw IoError(std::string(op) + ": " + dir.string() + " is not empty (set overwrite to write into it)");
    }
    create_folder(op, dir);
}

inline void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
    io::write_file_atomically(path, [&](const auto& append) { append(text.data(), text.size()); });
}

// "%06lld" of n.
inline std::string six_digits(index_t n) {
    char text[24];
    std::snprintf(text, sizeof text, "%06lld", static_cast<long long>(n));
    return text;
}

// One dataset per split, all built (so validated) before anything is written.
template <class Dataset, class Config>
std::vector<Dataset> split_datasets(const char* op, Config config, const DownstreamSplitCounts& counts) {
    std::vector<Dataset> out;
    for (const SyntheticSplit split : all_splits) {
        if (counts.of(split) < 0)
            throw ValueError(std::string(op) + ": negative count " + std::to_string(counts.of(split)) + " for split " +
                             std::string(name(split)));
        config.split = split;
        config.count = counts.of(split);
        out.emplace_back(config);
    }
    return out;
}

}  // namespace detail

namespace detail {

// A CSV field in RFC 4180 quotes, as csv.hpp reads it back.
inline std::string quoted_csv_field(const std::string& text) {
    std::string out = "\"";
    for (const char ch : text) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
}

}  // namespace detail

// `config` is pre-training's (its split and count are set split by split); the videos play at
// ExportOptions{}.fps, as export_synthetic writes them.
inline RetrievalExport export_synthetic_retrieval(const SyntheticConfig& config, const DownstreamSplitCounts& counts,
                                                  const std::filesystem::path& dir,
                                                  const DownstreamExportOptions& options = {}) {
    const char* op = "export_synthetic_retrieval";
    const std::vector<SyntheticDataset> splits = detail::split_datasets<SyntheticDataset>(op, config, counts);
    detail::prepare_export_folder(op, dir, options.overwrite);
    RetrievalExport out{dir / "videos", dir / "MSRVTT_data.json", dir / "MSRVTT_val_data.json",
                        dir / "MSRVTT_JSFUSION_test.csv", dir / "MSRVTT_JSFUSION_test_unseen.csv"};
    detail::create_folder(op, out.videos);
    const video::WriterOptions writer =
        detail::synthetic_writer_options(options.codec, options.crf, config.width, config.height, ExportOptions{}.fps);
    // train and val as data JSON (videos, sentences), test and test_unseen as the 1k-A CSV
    std::array<nlohmann::json, 2> json;
    for (nlohmann::json& j : json) j = {{"videos", nlohmann::json::array()}, {"sentences", nlohmann::json::array()}};
    std::array<std::string, 2> csv = {"key,vid_key,video_id,sentence\n", "key,vid_key,video_id,sentence\n"};
    index_t number = 0;
    for (const SyntheticDataset& data : splits) {
        const SyntheticSplit split = data.config().split;
        for (index_t i = 0; i < data.size(); ++i, ++number) {
            const SyntheticVideo v = data.item(i);
            const std::string id = "video" + std::to_string(number), n = std::to_string(number);
            detail::write_synthetic_video(out.videos / (id + ".mp4"), v.frames, writer);
            if (split == SyntheticSplit::train || split == SyntheticSplit::val) {
                nlohmann::json& j = json[split == SyntheticSplit::val];
                j["videos"].push_back({{"video_id", id}, {"split", std::string(name(split))}});
                j["sentences"].push_back({{"video_id", id}, {"caption", v.caption}, {"sen_id", number}});
            } else {
                csv[split == SyntheticSplit::test_unseen] += "ret" + n + ",msr" + n + "," + id + "," +
                                                              detail::quoted_csv_field(v.caption) + "\n";
            }
        }
    }
    detail::write_text_atomically(out.train, json[0].dump() + "\n");
    detail::write_text_atomically(out.val, json[1].dump() + "\n");
    detail::write_text_atomically(out.test, csv[0]);
    detail::write_text_atomically(out.test_unseen, csv[1]);
    return out;
}

inline QaExport export_synthetic_qa(const DownstreamConfig& config, const DownstreamSplitCounts& counts,
                                    const std::filesystem::path& dir, const DownstreamExportOptions& options = {}) {
    const char* op = "export_synthetic_qa";
    const std::vector<SyntheticQA> splits = detail::split_datasets<SyntheticQA>(op, config, counts);
    detail::prepare_export_folder(op, dir, options.overwrite);
    QaExport out{dir / "videos", {}};
    detail::create_folder(op, out.videos);
    const video::WriterOptions writer =
        detail::synthetic_writer_options(options.codec, options.crf, config.width, config.height, config.fps);
    std::array<nlohmann::json, 4> questions;
    index_t number = 0;
    for (const SyntheticQA& data : splits) {
        nlohmann::json& list = questions[std::size_t(data.config().split)] = nlohmann::json::array();
        for (index_t i = 0; i < data.size(); ++i, ++number) {
            const SyntheticQaItem q = data.item(i);
            const std::string id = "video" + std::to_string(number);
            detail::write_synthetic_video(out.videos / (id + ".mp4"), q.video.frames, writer);
            list.push_back({{"id", number}, {"video_id", id}, {"question", q.question}, {"answer", q.answer}, {"type", std::string(name(q.type))}});
        }
    }
    for (const SyntheticSplit split : detail::all_splits) {
        out.questions[std::size_t(split)] = dir / (std::string(name(split)) + "_qa.json");
        detail::write_text_atomically(out.questions[std::size_t(split)], questions[std::size_t(split)].dump() + "\n");
    }
    return out;
}

inline ActionsExport export_synthetic_actions(const DownstreamConfig& config, const DownstreamSplitCounts& counts,
                                              const std::filesystem::path& dir, const DownstreamExportOptions& options = {}) {
    const char* op = "export_synthetic_actions";
    const std::vector<SyntheticActions> splits = detail::split_datasets<SyntheticActions>(op, config, counts);
    detail::prepare_export_folder(op, dir, options.overwrite);
    const std::filesystem::path lists = dir / "ucfTrainTestlist";
    ActionsExport out{dir / "UCF-101", lists / "classInd.txt", {}};
    detail::create_folder(op, lists);
    std::vector<std::string> classes;
    std::string class_index;
    for (const std::string& phrase : action_class_names()) {
        classes.push_back(ucf101_class_name(phrase));
        class_index += std::to_string(classes.size()) + " " + classes.back() + "\n";
        detail::create_folder(op, out.videos / classes.back());
    }
    const video::WriterOptions writer =
        detail::synthetic_writer_options(options.codec, options.crf, config.width, config.height, config.fps);
    std::array<std::string, 4> list_text;
    for (const SyntheticActions& data : splits) {
        const SyntheticSplit split = data.config().split;
        const bool numbered = split == SyntheticSplit::train || split == SyntheticSplit::val;  // as trainlist01.txt
        const std::string group = "_g0" + std::to_string(int(split) + 1) + "_c";
        for (index_t i = 0; i < data.size(); ++i) {
            const SyntheticActionItem a = data.item(i);
            const std::string& class_name = classes[std::size_t(a.label)];
            const std::string clip = class_name + "/v_" + class_name + group + detail::six_digits(i) + ".mp4";
            detail::write_synthetic_video(out.videos / clip, a.video.frames, writer);
            list_text[std::size_t(split)] += clip + (numbered ? " " + std::to_string(a.label + 1) : "") + "\n";
        }
    }
    detail::write_text_atomically(out.class_index, class_index);
    for (const SyntheticSplit split : detail::all_splits) {
        out.lists[std::size_t(split)] = lists / (std::string(name(split)) + "list01.txt");
        detail::write_text_atomically(out.lists[std::size_t(split)], list_text[std::size_t(split)]);
    }
    return out;
}

inline LocalisationExport export_synthetic_localisation(const LocalisationConfig& config, const DownstreamSplitCounts& counts,
                                                        const std::filesystem::path& dir,
                                                        const DownstreamExportOptions& options = {}) {
    const char* op = "export_synthetic_localisation";
    const std::vector<SyntheticLocalisation> splits = detail::split_datasets<SyntheticLocalisation>(op, config, counts);
    detail::prepare_export_folder(op, dir, options.overwrite);
    LocalisationExport out{dir / "videos", dir / "activity_net.v1-3.min.json", dir / "activity_net_unseen.v1-3.min.json"};
    detail::create_folder(op, out.videos);
    const video::WriterOptions writer =
        detail::synthetic_writer_options(options.codec, options.crf, config.width, config.height, config.fps);
    nlohmann::json seen = nlohmann::json::object(), unseen = nlohmann::json::object();
    for (const SyntheticLocalisation& data : splits) {
        const SyntheticSplit split = data.config().split;
        const char* subset = split == SyntheticSplit::train ? "training" : split == SyntheticSplit::val ? "validation" : "testing";
        nlohmann::json& database = split == SyntheticSplit::test_unseen ? unseen : seen;
        for (index_t i = 0; i < data.size(); ++i) {
            const SyntheticLocalisationItem v = data.item(i);
            const std::string id = "v_" + std::string(name(split)) + "_" + detail::six_digits(i);
            detail::write_synthetic_video(out.videos / (id + ".mp4"), v.frames, writer);
            nlohmann::json annotations = nlohmann::json::array();
            for (const ActionSegment& s : v.segments)
                annotations.push_back({{"segment", {s.start_seconds, s.end_seconds}},
                                       {"label", localisation_class_names()[std::size_t(s.label)]}});
            database[id] = {{"duration", v.duration}, {"subset", subset}, {"annotations", std::move(annotations)}};
        }
    }
    detail::write_text_atomically(out.ground_truth, nlohmann::json({{"version", "VERSION 1.3"}, {"database", seen}}).dump() + "\n");
    detail::write_text_atomically(out.unseen_ground_truth,
                                  nlohmann::json({{"version", "VERSION 1.3"}, {"database", unseen}}).dump() + "\n");
    return out;
}

}  // namespace svilm::data
