// The synthetic downstream tasks exported in the real datasets' layouts (docs/model.md §13) and
// read back with the real-format readers: MSR-VTT data JSON and 1k-A test CSV, MSRVTT-QA questions, UCF101 class index and split
// lists, ActivityNet v1.3 ground truth; every video found by its id or path, decoded with the
// item's frame count, size and rate, and showing the rendered frames; occupied folders refused
// unless overwrite.
//
// TempDir is tests/video/media.hpp's: tests/support/temp_dir.hpp defines another class of that
// name in svilm::testing, and both in one executable would break the one-definition rule.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "svilm/data/action_recognition.hpp"
#include "svilm/data/annotations.hpp"
#include "svilm/data/manifest.hpp"
#include "svilm/data/synthetic_export.hpp"
#include "svilm/data/activitynet.hpp"
#include "svilm/data/msrvtt.hpp"
#include "svilm/data/synthetic_downstream_export.hpp"
#include "svilm/data/video_files.hpp"
#include "svilm/data/video_qa.hpp"
#include "video/media.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::data;

// The decoded video has the frames' count, size and rate, and shows them: each decoded frame
// differs from its rendered frame by a mean of under 5 levels of 255 (H.264 at crf 12 halves the
// chroma resolution, which blurs the saturated edges), and from no other rendered frame by less.
void check_video(const std::filesystem::path& path, const Tensor<std::uint8_t, 4>& frames, int fps) {
    INFO(path.string());
    const index_t T = frames.extent(0), H = frames.extent(1), W = frames.extent(2);
    video::VideoReader reader(path);
    CHECK(reader.info().frame_count == T);
    CHECK(reader.info().width == W);
    CHECK(reader.info().height == H);
    CHECK(reader.info().fps == doctest::Approx(fps));
    REQUIRE(H == W);  // the centre crop to S x S keeps the whole frame
    video::ClipOptions options;
    options.sampling.count = T;
    options.size = int(W);
    options.normalization = {{0, 0, 0}, {1, 1, 1}};
    const video::Clip clip = video::load_clip(reader, options);
    auto difference = [&](index_t k, index_t t) {
        double sum = 0;
        for (index_t c = 0; c < 3; ++c)
            for (index_t i = 0; i < H; ++i)
                for (index_t j = 0; j < W; ++j) sum += std::abs(255.0 * clip.pixels(k, c, i, j) - frames(t, i, j, c));
        return sum / double(3 * H * W);
    };
    for (index_t k = 0; k < T; ++k) {
        const index_t t = clip.frames[std::size_t(k)];
        const double own = difference(k, t);
        INFO("frame " << t);
        CHECK(own < 5.0);
        for (index_t other = 0; other < T; ++other) CHECK(own <= difference(k, other));
    }
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

TEST_CASE("synthetic export: annotations.json holds every object's boxes and the scene changes, composites included") {
    TempDir dir;
    SyntheticConfig config;
    config.seed = 9;
    config.count = 4;
    config.scene_change_probability = 0.5;
    const SyntheticDataset dataset(config);
    ExportOptions options;
    options.composites = 3;
    const auto manifest_path = export_synthetic(dataset, 4, dir / "s", options);
    const Manifest manifest = Manifest::load(manifest_path);
    const Annotations annotations = Annotations::load(dir / "s" / "annotations.json");
    REQUIRE(manifest.size() == 7);
    REQUIRE(annotations.videos().size() == 7);
    for (index_t i = 0; i < 4; ++i) {
        const SyntheticVideo v = dataset.item(i);
        const VideoAnnotation* a = annotations.find(manifest[std::size_t(i)].path);
        REQUIRE(a != nullptr);
        CHECK(a->scene_changes == (v.change_frame > 0 ? std::vector<index_t>{v.change_frame} : std::vector<index_t>{}));
        REQUIRE(a->objects.size() == v.nouns.size());
        for (std::size_t k = 0; k < v.nouns.size(); ++k) {
            CHECK(a->objects[k].noun == v.nouns[k]);
            std::size_t visible = 0;
            for (index_t t = 0; t < config.frames; ++t) {
                const Box& b = v.boxes[k][std::size_t(t)];
                const FrameBox* f = a->objects[k].box_at(t);
                CHECK((f != nullptr) == !b.empty());
                if (!f) continue;
                ++visible;
                CHECK(f->box.x0 == double(b.x0));
                CHECK(f->box.y1 == double(b.y1));
            }
            CHECK(visible == a->objects[k].boxes.size());
        }
    }
    // a composite: one video with a stretch of another pasted in, each part's objects on its frames
    for (std::size_t c = 4; c < 7; ++c) {
        const VideoAnnotation* a = annotations.find(manifest[c].path);
        REQUIRE(a != nullptr);
        CHECK(manifest[c].video.rfind("composite_", 0) == 0);
        CHECK(manifest[c].caption.find(", then ") != std::string::npos);
        REQUIRE(a->scene_changes.size() == 2);  // the paste starts after frame 0 and ends before the last
        const index_t begin = a->scene_changes[0], end = a->scene_changes[1];
        CHECK(end - begin >= config.frames / 4);
        CHECK(end - begin <= config.frames / 2);
        CHECK_FALSE(a->objects.empty());
        for (const AnnotatedObject& object : a->objects) {
            const bool pasted = object.boxes.front().frame >= begin && object.boxes.front().frame < end;
            for (const FrameBox& b : object.boxes) CHECK((b.frame >= begin && b.frame < end) == pasted);
        }
    }
}

TEST_CASE("synthetic downstream export: retrieval as MSR-VTT, read back with msrvtt.hpp") {
    TempDir dir;
    SyntheticConfig config;
    config.seed = 5;
    const DownstreamSplitCounts counts{3, 2, 2, 2};
    const RetrievalExport out = export_synthetic_retrieval(config, counts, dir / "msrvtt");
    CHECK(out.train == dir / "msrvtt" / "MSRVTT_data.json");
    CHECK(out.test_unseen == dir / "msrvtt" / "MSRVTT_JSFUSION_test_unseen.csv");
    CHECK(lines_of(out.test).at(0) == "key,vid_key,video_id,sentence");
    // the pre-training dataset of the same seed, split by split: one caption per video
    auto dataset = [&](SyntheticSplit split) {
        SyntheticConfig c = config;
        c.split = split;
        c.count = counts.of(split);
        return SyntheticDataset(c);
    };
    index_t number = 0;
    for (const auto& [split, file] : {std::pair{SyntheticSplit::train, out.train}, std::pair{SyntheticSplit::val, out.val}}) {
        INFO("split " << name(split));
        const SyntheticDataset data = dataset(split);
        const auto resolved = resolve_video_files(load_msrvtt_data_json(file), out.videos, ".mp4");
        CHECK(resolved.skipped.empty());
        REQUIRE(index_t(resolved.items.size()) == data.size());
        for (index_t i = 0; i < data.size(); ++i, ++number) {
            const MsrvttVideo& read = resolved.items[std::size_t(i)];
            const SyntheticVideo v = data.item(i);
            CHECK(read.video_id == "video" + std::to_string(number));
            CHECK(read.captions == std::vector<std::string>{v.caption});
            check_video(read.path, v.frames, 8);
        }
    }
    for (const auto& [split, file] : {std::pair{SyntheticSplit::test, out.test}, std::pair{SyntheticSplit::test_unseen, out.test_unseen}}) {
        INFO("split " << name(split));
        const SyntheticDataset data = dataset(split);
        const auto resolved = resolve_video_files(load_msrvtt_test_csv(file), out.videos, ".mp4");
        CHECK(resolved.skipped.empty());
        REQUIRE(index_t(resolved.items.size()) == data.size());
        for (index_t i = 0; i < data.size(); ++i, ++number) {
            const MsrvttPair& read = resolved.items[std::size_t(i)];
            const SyntheticVideo v = data.item(i);
            CHECK(read.video_id == "video" + std::to_string(number));
            CHECK(read.caption == v.caption);
            check_video(read.path, v.frames, 8);
        }
    }
    CHECK(number == 9);
    // empty splits still get their files, which read back as empty
    const RetrievalExport small = export_synthetic_retrieval(config, DownstreamSplitCounts{1, 0, 0, 0}, dir / "small");
    CHECK(load_msrvtt_data_json(small.train).size() == 1u);
    CHECK(load_msrvtt_data_json(small.val).empty());
    CHECK(load_msrvtt_test_csv(small.test).empty());
    CHECK(load_msrvtt_test_csv(small.test_unseen).empty());
}

TEST_CASE("synthetic downstream export: QA as MSRVTT-QA, read back with video_qa.hpp") {
    TempDir dir;
    DownstreamConfig config;
    config.seed = 7;
    const DownstreamSplitCounts counts{3, 1, 2, 2};
    const QaExport out = export_synthetic_qa(config, counts, dir / "qa");
    CHECK(out.questions[std::size_t(SyntheticSplit::test_unseen)] == dir / "qa" / "test_unseen_qa.json");
    index_t number = 0;
    for (const SyntheticSplit split : {SyntheticSplit::train, SyntheticSplit::val, SyntheticSplit::test, SyntheticSplit::test_unseen}) {
        INFO("split " << name(split));
        DownstreamConfig c = config;
        c.split = split;
        c.count = counts.of(split);
        const SyntheticQA data(c);
        const auto resolved = resolve_video_files(load_video_qa(out.questions[std::size_t(split)]), out.videos, ".mp4");
        CHECK(resolved.skipped.empty());
        REQUIRE(index_t(resolved.items.size()) == c.count);
        for (index_t i = 0; i < c.count; ++i, ++number) {
            const QaItem& read = resolved.items[std::size_t(i)];
            const SyntheticQaItem q = data.item(i);
            CHECK(read.video_id == "video" + std::to_string(number));
            CHECK(read.id == number);
            CHECK(read.question == q.question);
            CHECK(read.answer == q.answer);
            CHECK(read.type == name(q.type));
            check_video(read.path, q.video.frames, 8);
        }
    }
    // the train file's answers form a vocabulary inside the 26 answers
    const AnswerVocabulary vocabulary = AnswerVocabulary::most_frequent(load_video_qa(out.questions[0]), 26);
    std::set<std::string> known(qa_answer_vocabulary().begin(), qa_answer_vocabulary().end());
    for (const std::string& answer : vocabulary.answers()) CHECK(known.count(answer) == 1u);
}

TEST_CASE("synthetic downstream export: actions as UCF101, read back with action_recognition.hpp") {
    TempDir dir;
    DownstreamConfig config;
    config.frames = 6;
    config.fps = 6;
    const DownstreamSplitCounts counts{4, 1, 3, 2};
    const ActionsExport out = export_synthetic_actions(config, counts, dir / "ucf");
    const std::vector<std::string> classes = load_ucf101_classes(out.class_index);
    CHECK(classes == std::vector<std::string>{"MovesLeft", "MovesRight", "MovesUp", "MovesDown", "StaysStill", "Grows", "Shrinks"});
    for (std::size_t l = 0; l < classes.size(); ++l) CHECK(classes[l] == ucf101_class_name(action_class_names()[l]));
    for (const SyntheticSplit split : {SyntheticSplit::train, SyntheticSplit::val, SyntheticSplit::test, SyntheticSplit::test_unseen}) {
        INFO("split " << name(split));
        DownstreamConfig c = config;
        c.split = split;
        c.count = counts.of(split);
        const SyntheticActions data(c);
        const std::filesystem::path list = out.lists[std::size_t(split)];
        const ActionSplit read = load_ucf101_split(out.class_index, list);
        REQUIRE(index_t(read.clips.size()) == c.count);
        // train and val lists carry the class number, test lists only the path, as UCF101's
        const bool numbered = split == SyntheticSplit::train || split == SyntheticSplit::val;
        for (const std::string& line : lines_of(list)) CHECK((line.find(' ') != std::string::npos) == numbered);
        for (index_t i = 0; i < c.count; ++i) {
            const ActionClip& clip = read.clips[std::size_t(i)];
            const SyntheticActionItem a = data.item(i);
            CHECK(clip.label == a.label);
            CHECK(clip.class_name == classes[std::size_t(a.label)]);
            CHECK(clip.path.filename().string() ==
                  "v_" + clip.class_name + "_g0" + std::to_string(int(split) + 1) + "_c00000" + std::to_string(i) + ".mp4");
            check_video(out.videos / clip.path, a.video.frames, 6);
        }
    }
}

TEST_CASE("synthetic downstream export: localisation as ActivityNet v1.3, read back with activitynet.hpp") {
    TempDir dir;
    LocalisationConfig config;
    config.frames = 40;
    config.fps = 5;
    const DownstreamSplitCounts counts{2, 1, 1, 2};
    const LocalisationExport out = export_synthetic_localisation(config, counts, dir / "anet");
    const ActivityNetGroundTruth seen = load_activitynet_ground_truth(out.ground_truth);
    const ActivityNetGroundTruth unseen = load_activitynet_ground_truth(out.unseen_ground_truth);
    CHECK(seen.videos.size() == 4u);
    CHECK(unseen.videos.size() == 2u);
    CHECK(seen.clipped_segments == 0u);
    CHECK(unseen.clipped_segments == 0u);
    for (const SyntheticSplit split : {SyntheticSplit::train, SyntheticSplit::val, SyntheticSplit::test, SyntheticSplit::test_unseen}) {
        INFO("split " << name(split));
        LocalisationConfig c = config;
        c.split = split;
        c.count = counts.of(split);
        const SyntheticLocalisation data(c);
        const ActivityNetGroundTruth& gt = split == SyntheticSplit::test_unseen ? unseen : seen;
        const ActivityNetSubset subset = split == SyntheticSplit::train ? ActivityNetSubset::training
                                         : split == SyntheticSplit::val ? ActivityNetSubset::validation
                                                                        : ActivityNetSubset::testing;
        for (index_t i = 0; i < c.count; ++i) {
            const std::string id = "v_" + std::string(name(split)) + "_00000" + std::to_string(i);
            const auto found = std::find_if(gt.videos.begin(), gt.videos.end(), [&](const ActivityNetVideo& v) { return v.id == id; });
            REQUIRE(found != gt.videos.end());
            const SyntheticLocalisationItem v = data.item(i);
            CHECK(found->subset == subset);
            CHECK(found->duration == 8.0);  // 40 frames at 5 fps
            REQUIRE(found->segments.size() == v.segments.size());
            for (std::size_t s = 0; s < v.segments.size(); ++s) {
                const ActivityNetSegment& read = found->segments[s];
                CHECK(gt.labels[std::size_t(read.label)] == localisation_class_names()[std::size_t(v.segments[s].label)]);
                CHECK(read.start == double(v.segments[s].start_frame) / 5.0);
                CHECK(read.end == double(v.segments[s].end_frame) / 5.0);
            }
            check_video(out.videos / (id + ".mp4"), v.frames, 5);
        }
    }
}

TEST_CASE("synthetic downstream export: an occupied folder is refused unless overwrite; bad counts are refused") {
    TempDir dir;
    DownstreamConfig config;
    config.frames = 2;
    const DownstreamSplitCounts counts{1, 0, 0, 0};
    export_synthetic_actions(config, counts, dir / "ucf");
    CHECK_THROWS_AS(export_synthetic_actions(config, counts, dir / "ucf"), IoError);
    DownstreamExportOptions overwrite;
    overwrite.overwrite = true;
    const ActionsExport again = export_synthetic_actions(config, counts, dir / "ucf", overwrite);
    CHECK(load_ucf101_split(again.class_index, again.lists[0]).clips.size() == 1u);
    CHECK(load_ucf101_split(again.class_index, again.lists[2]).clips.empty());  // an empty split, an empty list
    std::ofstream(dir / "file") << "x";
    CHECK_THROWS_AS(export_synthetic_qa(config, counts, dir / "file", overwrite), IoError);
    CHECK_THROWS_AS(export_synthetic_qa(config, DownstreamSplitCounts{1, -1, 0, 0}, dir / "qa"), ValueError);
    CHECK_FALSE(std::filesystem::exists(dir / "qa"));  // refused before anything is written
    LocalisationConfig too_short;
    too_short.frames = 20;
    CHECK_THROWS_AS(export_synthetic_localisation(too_short, counts, dir / "anet"), ValueError);
}

}  // namespace
}  // namespace svilm::testing
