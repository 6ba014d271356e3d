// The readers of the downstream datasets' own annotation formats (docs/model.md §13), on small
// hand-written files in tests/data/downstream/ (a folder per dataset). Every reader is also fed
// bad records, whose errors must name the file and the line, or the place in the JSON document.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "svilm/data.hpp"

namespace svilm::data {
namespace {

const std::string dir = std::string(SVILM_TEST_DATA_DIR) + "/downstream/";

// The message of the `Expected` that `f` throws, or "no error".
template <class Expected, class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Expected& e) {
        return e.what();
    }
    return "no error";
}

// A fresh empty folder under the system's temporary folder.
std::filesystem::path temp_folder(const std::string& name) {
    const auto folder = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(folder);
    std::filesystem::create_directories(folder);
    return folder;
}

TEST_CASE("MSR-VTT 1k-A test CSV: one pair per row, quotes, commas and line breaks in sentences") {
    const auto pairs = load_msrvtt_test_csv(dir + "msrvtt/test_1kA.csv");
    REQUIRE(pairs.size() == 4);
    CHECK(pairs[0].video_id == "video9770");
    CHECK(pairs[0].caption == "a person plugs a cable into a computer");
    CHECK(pairs[1].caption == "a little girl does gymnastics, then bows");
    CHECK(pairs[2].caption == "a man says \"hello\" to the camera");
    CHECK(pairs[3].video_id == "video8149");
    CHECK(pairs[3].caption == "a woman,\nsinging on stage");
    CHECK(pairs[3].line == 5);
    // Columns by name, other columns ignored, CRLF.
    const auto two = parse_msrvtt_test_csv(",sentence,video_id\r\n0,a dog barks,video1\r\n1,\"a, b\",video2\r\n", "t.csv");
    REQUIRE(two.size() == 2);
    CHECK(two[1].video_id == "video2");
    CHECK(two[1].caption == "a, b");
}

TEST_CASE("MSR-VTT test CSV errors name the file and line") {
    CHECK(error_of<FormatError>([] { load_msrvtt_test_csv(dir + "msrvtt/bad_test.csv"); }) ==
          dir + "msrvtt/bad_test.csv: line 3: 5 fields, the header has 4");
    auto error = [](const std::string& csv) { return error_of<FormatError>([&] { parse_msrvtt_test_csv(csv, "t.csv"); }); };
    CHECK(error("") == "t.csv: empty file (no header row)");
    CHECK(error("key,video,sentence\n") == "t.csv: line 1: the header needs the columns 'video_id' and 'sentence'");
    CHECK(error("video_id,sentence\nvideo1,a cat\n ,a dog\n") == "t.csv: line 3: empty video_id");
    CHECK(error("video_id,sentence\nvideo1,\n") == "t.csv: line 2: empty sentence");
    CHECK(error("video_id,sentence\nvideo1,\"open\n") == "t.csv: line 2: a quoted field is not closed");
    CHECK(error_of<IoError>([] { load_msrvtt_test_csv(dir + "msrvtt/none.csv"); }) ==
          dir + "msrvtt/none.csv: cannot open the MSR-VTT test CSV");
}

TEST_CASE("MSR-VTT train JSON: every video with its captions, restricted to a list of ids") {
    const auto videos = load_msrvtt_data_json(dir + "msrvtt/MSRVTT_data.json");
    REQUIRE(videos.size() == 3);
    CHECK(videos[0].video_id == "video0");
    CHECK(videos[0].captions == std::vector<std::string>{"a car is shown", "a red car drives on a road"});
    CHECK(videos[1].captions == std::vector<std::string>{"a man drives a red car", "someone is driving"});
    CHECK(videos[2].captions == std::vector<std::string>{"a cartoon, with \"quotes\""});

    const VideoIdList list = load_video_id_list(dir + "msrvtt/train_list.txt");
    CHECK(list.ids == std::vector<std::string>{"video2", "video0"});  // the header line and the blank one skipped
    CHECK(list.lines == std::vector<std::size_t>{2, 4});
    const auto train = restrict_videos(videos, list);
    REQUIRE(train.size() == 2);
    CHECK(train[0].video_id == "video2");
    CHECK(train[1].captions.size() == 2);
}

TEST_CASE("MSR-VTT train JSON and id list errors name the place") {
    CHECK(error_of<FormatError>([] { load_msrvtt_data_json(dir + "msrvtt/bad_data.json"); }) ==
          dir + "msrvtt/bad_data.json: sentences[2]: video video7 is not in \"videos\"");
    CHECK(error_of<FormatError>([] {
              restrict_videos(load_msrvtt_data_json(dir + "msrvtt/MSRVTT_data.json"), load_video_id_list(dir + "msrvtt/bad_train_list.txt"));
          }) == dir + "msrvtt/bad_train_list.txt: line 2: video video5 has no captions in the annotations");
    auto error = [](const std::string& json) { return error_of<FormatError>([&] { parse_msrvtt_data_json(json, "d.json"); }); };
    CHECK(error("[]") == "d.json: expected a JSON object");
    CHECK(error("{\"videos\": []}") == "d.json: no \"sentences\"");
    CHECK(error("{\"videos\": {}, \"sentences\": []}") == "d.json: \"videos\" is not an array");
    CHECK(error("{\"videos\": [{\"video_id\": 3}], \"sentences\": []}") == "d.json: videos[0]: \"video_id\" is not a string");
    CHECK(error("{\"videos\": [{\"video_id\": \"v\"}, {\"video_id\": \"v\"}], \"sentences\": []}") ==
          "d.json: videos[1]: video v is listed twice (videos[0])");
    CHECK(error("{\"videos\": [{\"video_id\": \"v\"}, {\"video_id\": \"w\"}], \"sentences\": [{\"video_id\": \"v\", \"caption\": \"x\"}]}") ==
          "d.json: videos[1]: video w has no sentence");
    CHECK(error("{\"videos\": [{\"video_id\": \"v\"}], \"sentences\": [{\"video_id\": \"v\", \"caption\": [\"x\"]}]}") ==
          "d.json: sentences[0]: \"caption\" is not a string");
    CHECK(error("{\"videos\": [{\"video_id\": \"v\"}], \"sentences\": [\"v\"]}") == "d.json: sentences[0]: expected a JSON object");
    CHECK(error("{\"videos\": [") .find("d.json: invalid JSON: ") == 0);
    auto list_error = [](const std::string& text) { return error_of<FormatError>([&] { parse_video_id_list(text, "l.txt"); }); };
    CHECK(list_error("video1\nvideo2 video3\n") == "l.txt: line 2: expected one video id, found 'video2 video3'");
    CHECK(list_error("video1\r\n\r\nvideo1\r\n") == "l.txt: line 3: video video1 is listed twice (line 1)");
    CHECK(list_error("video_id\n\n") == "l.txt: no video ids");
}

TEST_CASE("resolve_video_files: ids to files under a folder, missing files skipped and reported") {
    const auto folder = temp_folder("svilm_downstream_videos");
    for (const char* name : {"video9770.mp4", "video9442.mp4", "video9442.webm"}) std::ofstream(folder / name) << "x";
    std::filesystem::create_directory(folder / "video7020.mp4");  // a folder is not a video

    const auto test = resolve_video_files(load_msrvtt_test_csv(dir + "msrvtt/test_1kA.csv"), folder);
    REQUIRE(test.items.size() == 2);
    CHECK(test.items[0].video_id == "video9770");
    CHECK(test.items[0].path == folder / "video9770.mp4");
    CHECK(test.items[1].path == folder / "video9442.mp4");
    REQUIRE(test.skipped.size() == 2);
    CHECK(test.skipped[0].video_id == "video7020");
    CHECK(test.skipped[1].path == folder / "video8149.mp4");

    const auto webm = resolve_video_files(load_msrvtt_test_csv(dir + "msrvtt/test_1kA.csv"), folder, ".webm");
    REQUIRE(webm.items.size() == 1);
    CHECK(webm.items[0].path == folder / "video9442.webm");
    CHECK(webm.skipped.size() == 3);
    CHECK(error_of<ValueError>([&] { resolve_video_files(test.items, folder, "mp4"); }) ==
          "resolve_video_files: extension 'mp4' does not start with '.'");

    // Items of any reader that names videos by id: several questions about one video.
    std::vector<QaItem> questions(3);
    questions[0].video_id = questions[1].video_id = "video9770";
    questions[2].video_id = "video1";
    const auto qa = resolve_video_files(questions, folder);
    REQUIRE(qa.items.size() == 2);
    CHECK(qa.items[1].path == folder / "video9770.mp4");
    REQUIRE(qa.skipped.size() == 1);
    CHECK(qa.skipped[0].video_id == "video1");
    std::filesystem::remove_all(folder);
}

TEST_CASE("MSRVTT-QA: numeric video ids, question types, the answer vocabulary with its tie-break") {
    const auto train = load_video_qa(dir + "video_qa/msrvtt_qa_train.json");
    REQUIRE(train.size() == 7);
    CHECK(train[0].video_id == "video0");
    CHECK(train[6].video_id == "video3");
    CHECK(train[2].id == 2);
    CHECK(train[2].category_id == 1);
    CHECK(train[2].index == 2);
    CHECK(train[0].type == "who");
    CHECK(train[1].type == "what");
    CHECK(train[4].type == "how");  // "How many": lower-cased
    CHECK(train[5].type == "where");

    // man 2, car 2, two 1, road 1, dog 1: the tie of 2s and that of 1s in first-appearance order.
    const auto vocabulary = AnswerVocabulary::most_frequent(train, 3);
    CHECK(vocabulary.answers() == std::vector<std::string>{"man", "car", "two"});
    CHECK(vocabulary.label("car") == 1);
    CHECK(vocabulary.label("road") == -1);
    CHECK(AnswerVocabulary::most_frequent(train, 100).answers() == std::vector<std::string>{"man", "car", "two", "road", "dog"});
    CHECK(error_of<ValueError>([&] { AnswerVocabulary::most_frequent(train, 0); }) ==
          "AnswerVocabulary::most_frequent: k must be positive");

    CHECK(question_type("Where's the dog?") == "where");
    CHECK(question_type("  when does it stop") == "when");
    CHECK(question_type("whose hat is red?") == "other");
    CHECK(question_type("") == "other");
}

TEST_CASE("Video QA evaluation: answers outside the vocabulary stay and count as wrong") {
    const auto vocabulary = AnswerVocabulary::most_frequent(load_video_qa(dir + "video_qa/msrvtt_qa_train.json"), 3);
    const auto test = load_video_qa(dir + "video_qa/msrvtt_qa_test.json");
    REQUIRE(test.size() == 4);
    CHECK(test[0].video_id == "video7010");  // "video"
    CHECK(test[2].video_id == "video7011");  // a string "video_id"
    CHECK(test[3].video_id == "video7012");  // a number
    CHECK(test[2].type == "where");          // "type" wins over the first word
    CHECK_FALSE(test[0].category_id);

    const QaLabels truth = vocabulary.labels(test);
    CHECK(truth.labels == std::vector<index_t>{1, -1, -1, 2});
    CHECK(truth.out_of_vocabulary == 2);
    // Right on 0 and 3; question 2's prediction cannot be right, whatever it is.
    const std::vector<index_t> predicted{1, 0, -1, 2};
    const QaAccuracy accuracy = qa_accuracy(test, truth, predicted);
    CHECK(accuracy.all.correct == 2);
    CHECK(accuracy.all.total == 4);
    CHECK(accuracy.all.percent() == 50.0);
    CHECK(accuracy.out_of_vocabulary == 2);
    CHECK(accuracy.by_type.at("what").correct == 1);
    CHECK(accuracy.by_type.at("who").correct == 0);
    CHECK(accuracy.by_type.at("where").total == 1);
    CHECK(accuracy.by_type.at("when").correct == 1);
    CHECK(error_of<ShapeError>([&] { qa_accuracy(test, truth, std::vector<index_t>{1}); }) ==
          "qa_accuracy: 4 questions, 4 labels, 1 predictions");
}

TEST_CASE("MSVD-QA: numeric ids mapped to YouTube names through youtube_mapping.txt") {
    const QaVideoNames names{"vid", load_video_name_mapping(dir + "video_qa/youtube_mapping.txt")};
    CHECK(names.mapping->names.size() == 3);
    const auto test = load_video_qa(dir + "video_qa/msvd_qa_test.json", names);
    REQUIRE(test.size() == 3);
    CHECK(test[0].video_id == "-q3NeWm2aTk_5_15");
    CHECK(test[1].video_id == "-q3NeWm2aTk_5_15");
    CHECK(test[2].video_id == "Zz_9xKpQ4eA_108_115");
    CHECK(error_of<FormatError>([&] { parse_video_qa("[{\"video_id\": 9, \"question\": \"what?\", \"answer\": \"x\"}]", "q.json", names); }) ==
          "q.json: [0]: video vid9 is not in " + dir + "video_qa/youtube_mapping.txt");
    CHECK(error_of<FormatError>([] { load_video_name_mapping(dir + "video_qa/bad_mapping.txt"); }) ==
          dir + "video_qa/bad_mapping.txt: line 2: expected 'name key', found '0fZbL8uYc1w_205_208\tvid2 extra'");
    CHECK(error_of<FormatError>([] { parse_video_name_mapping("a vid1\nb vid1\n", "m.txt"); }) == "m.txt: line 2: vid1 is listed twice (line 1)");
    CHECK(error_of<FormatError>([] { parse_video_name_mapping("\n", "m.txt"); }) == "m.txt: no video names");
}

TEST_CASE("Video QA errors name the file and the list index") {
    CHECK(error_of<FormatError>([] { load_video_qa(dir + "video_qa/bad_qa.json"); }) == dir + "video_qa/bad_qa.json: [2]: no \"answer\"");
    auto error = [](const std::string& json) { return error_of<FormatError>([&] { parse_video_qa(json, "q.json"); }); };
    CHECK(error("{}") == "q.json: expected a JSON list of questions");
    CHECK(error("[3]") == "q.json: [0]: expected a JSON object");
    CHECK(error("[{\"question\": \"what?\", \"answer\": \"x\"}]") == "q.json: [0]: no \"video_id\" or \"video\"");
    CHECK(error("[{\"video_id\": -1, \"question\": \"what?\", \"answer\": \"x\"}]") ==
          "q.json: [0]: \"video_id\" is neither a string nor a non-negative integer");
    CHECK(error("[{\"video\": 1.5, \"question\": \"what?\", \"answer\": \"x\"}]") ==
          "q.json: [0]: \"video\" is neither a string nor a non-negative integer");
    CHECK(error("[{\"video\": \" \", \"question\": \"what?\", \"answer\": \"x\"}]") == "q.json: [0]: empty \"video\"");
    CHECK(error("[{\"video\": \"v\", \"question\": \"what?\", \"answer\": 2}]") == "q.json: [0]: \"answer\" is not a string");
    CHECK(error("[{\"video\": \"v\", \"question\": \"\", \"answer\": \"x\"}]") == "q.json: [0]: empty \"question\"");
    CHECK(error("[{\"video\": \"v\", \"question\": \"what?\", \"answer\": \"x\", \"id\": \"7\"}]") == "q.json: [0]: \"id\" is not an integer");
    CHECK(error("[{\"video\": \"v\", \"question\": \"what?\", \"answer\": \"x\", \"category_id\": 1.5}]") ==
          "q.json: [0]: \"category_id\" is not an integer");
    CHECK(error("[{\"video\": \"v\", \"question\": \"what?\", \"answer\": \"x\", \"type\": 1}]") == "q.json: [0]: \"type\" is not a string");
}

TEST_CASE("UCF101: classInd, a train list with numbers checked against folders, a test list labelled by folder") {
    const auto classes = load_ucf101_classes(dir + "ucf101/classInd.txt");
    CHECK(classes == std::vector<std::string>{"ApplyEyeMakeup", "ApplyLipstick", "Archery", "HandstandPushups"});

    const ActionSplit train = load_ucf101_split(dir + "ucf101/classInd.txt", dir + "ucf101/trainlist01.txt");
    CHECK(train.classes == classes);
    REQUIRE(train.clips.size() == 4);
    CHECK(train.clips[0].path == std::filesystem::path("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"));
    CHECK(train.clips[0].label == 0);
    CHECK(train.clips[1].label == 2);
    CHECK(train.clips[1].class_name == "Archery");
    CHECK(train.clips[2].label == 3);  // the file name's spelling (HandStand) is not the class's
    CHECK(train.clips[3].label == 1);  // after a blank line, with a trailing blank

    const ActionSplit test = load_ucf101_split(dir + "ucf101/classInd.txt", dir + "ucf101/testlist01.txt");
    REQUIRE(test.clips.size() == 3);
    CHECK(test.clips[0].label == 1);
    CHECK(test.clips[2].class_name == "HandstandPushups");
    CHECK(test.clips[2].path == std::filesystem::path("HandstandPushups/v_HandStandPushups_g01_c01.avi"));
}

TEST_CASE("UCF101 errors name the file and line") {
    const std::string ucf = dir + "ucf101/";
    CHECK(error_of<FormatError>([&] { load_ucf101_classes(ucf + "bad_classInd.txt"); }) ==
          ucf + "bad_classInd.txt: line 3: class number 2 is listed twice (line 2)");
    CHECK(error_of<FormatError>([&] { load_ucf101_split(ucf + "classInd.txt", ucf + "bad_trainlist.txt"); }) ==
          ucf + "bad_trainlist.txt: line 2: class number 2 is ApplyLipstick, the folder says Archery");
    CHECK(error_of<FormatError>([&] { load_ucf101_split(ucf + "classInd.txt", ucf + "bad_testlist.txt"); }) ==
          ucf + "bad_testlist.txt: line 2: unknown class Bowling");
    CHECK(error_of<IoError>([&] { load_ucf101_split(ucf + "none.txt", ucf + "testlist01.txt"); }) ==
          ucf + "none.txt: cannot open the class index");

    auto classes_error = [](const std::string& text) { return error_of<FormatError>([&] { parse_ucf101_classes(text, "c.txt"); }); };
    CHECK(classes_error("1 A\nB\n") == "c.txt: line 2: expected 'number ClassName', found 'B'");
    CHECK(classes_error("0 A\n") == "c.txt: line 1: expected 'number ClassName', found '0 A'");
    CHECK(classes_error("1 A\n2 A\n") == "c.txt: line 2: class A is listed twice (line 1)");
    CHECK(classes_error("1 A\n3 C\n") == "c.txt: line 2: class number 3 leaves a gap (expected 2)");
    CHECK(classes_error("\r\n") == "c.txt: no classes");

    const std::vector<std::string> classes{"A", "B"};
    auto split_error = [&](const std::string& text) { return error_of<FormatError>([&] { parse_ucf101_split(text, "s.txt", classes); }); };
    CHECK(split_error("A/v_A_g01_c01.avi 3\n") == "s.txt: line 1: unknown class number 3 (2 classes)");
    CHECK(split_error("A/v_A_g01_c01.avi one\n") == "s.txt: line 1: class number 'one' is not a positive integer");
    CHECK(split_error("A/v_A_g01_c01.avi 1 x\n") == "s.txt: line 1: expected 'Class/video.avi [number]', found 'A/v_A_g01_c01.avi 1 x'");
    CHECK(split_error("v_A_g01_c01.avi 1\n") == "s.txt: line 1: expected 'Class/video.avi', found 'v_A_g01_c01.avi'");
    CHECK(split_error("A/x/v.avi\n") == "s.txt: line 1: expected 'Class/video.avi', found 'A/x/v.avi'");
    CHECK(split_error("B/v_B_g01_c01.avi\nA/a.avi\nB/v_B_g01_c01.avi 2\n") == "s.txt: line 3: B/v_B_g01_c01.avi is listed twice (line 1)");
}

TEST_CASE("HMDB51: per-class split files, classes from the file names in sorted order") {
    const ActionSplit train = load_hmdb51_split(dir + "hmdb51/splits", 1, HmdbSubset::train);
    CHECK(train.classes == std::vector<std::string>{"brush_hair", "cartwheel", "catch"});
    REQUIRE(train.clips.size() == 3);
    CHECK(train.clips[0].path == std::filesystem::path("brush_hair/Park_day_brush_hair_u_nm_np1_ba_goo_0.avi"));
    CHECK(train.clips[0].label == 0);
    CHECK(train.clips[1].path == std::filesystem::path("cartwheel/(Gym)_wheel_day!_cartwheel_f_cm_np1_le_med_0.avi"));
    CHECK(train.clips[1].label == 1);
    CHECK(train.clips[2].class_name == "catch");
    CHECK(train.clips[2].label == 2);

    const ActionSplit test = load_hmdb51_split(dir + "hmdb51/splits", 1, HmdbSubset::test);
    REQUIRE(test.clips.size() == 3);  // the flag-0 clip is in neither subset
    CHECK(test.clips[0].path == std::filesystem::path("brush_hair/Park_day_brush_hair_u_nm_np1_ba_goo_1.avi"));
    CHECK(test.clips[2].path == std::filesystem::path("catch/Keeper_drill_1_catch_f_cm_np1_le_bad_0.avi"));

    const ActionSplit second = load_hmdb51_split(dir + "hmdb51/splits", 2, HmdbSubset::test);
    CHECK(second.classes == std::vector<std::string>{"brush_hair"});
    REQUIRE(second.clips.size() == 1);
    CHECK(second.clips[0].path.filename() == "Park_day_brush_hair_u_nm_np1_ba_goo_0.avi");
}

TEST_CASE("HMDB51 errors name the file and line, or the folder") {
    CHECK(error_of<FormatError>([] { load_hmdb51_split(dir + "hmdb51/bad_splits", 1, HmdbSubset::train); }) ==
          dir + "hmdb51/bad_splits/catch_test_split1.txt: line 2: expected 'video.avi 0|1|2', found 'b_catch_f_cm_np1_le_bad_0.avi 3'");
    CHECK(error_of<FormatError>([] { load_hmdb51_split(dir + "hmdb51/splits", 3, HmdbSubset::train); }) ==
          dir + "hmdb51/splits: no files named <class>_test_split3.txt");
    CHECK(error_of<IoError>([] { load_hmdb51_split(dir + "hmdb51/none", 1, HmdbSubset::train); }).find(dir + "hmdb51/none: cannot list") == 0);
    CHECK(error_of<ValueError>([] { load_hmdb51_split(dir + "hmdb51/splits", 0, HmdbSubset::train); }) ==
          "load_hmdb51_split: split 0 (splits count from 1)");
    auto error = [](const std::string& text) {
        return error_of<FormatError>([&] { parse_hmdb51_split_file(text, "c.txt", "c", HmdbSubset::test); });
    };
    CHECK(error("a.avi 1\na.avi 2\n") == "c.txt: line 2: a.avi is listed twice (line 1)");
    CHECK(error("a.avi\n") == "c.txt: line 1: expected 'video.avi 0|1|2', found 'a.avi'");
    CHECK(error("c/a.avi 1\n") == "c.txt: line 1: expected a file name, found the path 'c/a.avi'");
}

TEST_CASE("ActivityNet ground truth: videos by id, sorted labels, segments clipped to the video and counted") {
    const auto gt = load_activitynet_ground_truth(dir + "activitynet/ground_truth.json");
    CHECK(gt.labels == std::vector<std::string>{"Discus throw", "Long jump", "Triple jump"});
    CHECK(gt.label("Triple jump") == 2);
    CHECK(gt.label("Pole vault") == -1);
    REQUIRE(gt.videos.size() == 3);
    CHECK(gt.clipped_segments == 2);

    const ActivityNetVideo& a = gt.videos[0];
    CHECK(a.id == "v_Lj4kPq0XbWs");
    CHECK(a.duration == 82.73);
    CHECK(a.subset == ActivityNetSubset::validation);
    CHECK(a.url == "https://www.youtube.com/watch?v=Lj4kPq0XbWs");
    REQUIRE(a.segments.size() == 2);
    CHECK(a.segments[0].start == 0.01);
    CHECK(a.segments[0].end == 79.3);
    CHECK(a.segments[0].label == 1);
    CHECK(a.segments[1].start == 70.5);
    CHECK(a.segments[1].end == 82.73);  // was 90
    CHECK(a.segments[1].label == 2);

    const ActivityNetVideo& b = gt.videos[1];
    CHECK(b.id == "v_Rm7tYc2HvNe");
    CHECK(b.subset == ActivityNetSubset::training);
    CHECK(b.segments[0].start == 0.0);  // was -0.5
    CHECK(b.segments[1].label == 0);

    const ActivityNetVideo& c = gt.videos[2];
    CHECK(std::string(subset_name(c.subset)) == "testing");
    CHECK(c.url.empty());
    CHECK(c.segments.empty());
}

TEST_CASE("ActivityNet ground truth errors name the file, the video id and the field") {
    CHECK(error_of<FormatError>([] { load_activitynet_ground_truth(dir + "activitynet/bad_ground_truth.json"); }) ==
          dir + "activitynet/bad_ground_truth.json: database.v_bad.annotations[1]: \"segment\" [5, 3] does not end after it starts");
    auto error = [](const std::string& video) {
        return error_of<FormatError>([&] { parse_activitynet_ground_truth("{\"database\": {\"v_x\": " + video + "}}", "gt.json"); });
    };
    CHECK(error_of<FormatError>([] { parse_activitynet_ground_truth("{\"version\": 1}", "gt.json"); }) == "gt.json: no \"database\"");
    CHECK(error_of<FormatError>([] { parse_activitynet_ground_truth("{\"database\": []}", "gt.json"); }) ==
          "gt.json: database: expected a JSON object");
    CHECK(error("[]") == "gt.json: database.v_x: expected a JSON object");
    CHECK(error("{\"duration\": \"10\", \"subset\": \"training\", \"annotations\": []}") == "gt.json: database.v_x: \"duration\" is not a number");
    CHECK(error("{\"duration\": 0, \"subset\": \"training\", \"annotations\": []}") == "gt.json: database.v_x: \"duration\" 0 is not positive");
    CHECK(error("{\"duration\": 10, \"subset\": \"train\", \"annotations\": []}") ==
          "gt.json: database.v_x: \"subset\" 'train' is not training, validation or testing");
    CHECK(error("{\"duration\": 10, \"subset\": \"training\"}") == "gt.json: database.v_x: no \"annotations\"");
    CHECK(error("{\"duration\": 10, \"subset\": \"training\", \"url\": 5, \"annotations\": []}") == "gt.json: database.v_x: \"url\" is not a string");
    const std::string head = "{\"duration\": 10.5, \"subset\": \"training\", \"annotations\": [";
    CHECK(error(head + "{\"segment\": [11, 12], \"label\": \"a\"}]}") ==
          "gt.json: database.v_x.annotations[0]: \"segment\" [11, 12] lies outside the video's [0, 10.5]");
    CHECK(error(head + "{\"segment\": [1, 2, 3], \"label\": \"a\"}]}") ==
          "gt.json: database.v_x.annotations[0]: \"segment\" is not [start, end] in seconds");
    CHECK(error(head + "{\"segment\": [1, 2], \"label\": 7}]}") == "gt.json: database.v_x.annotations[0]: \"label\" is not a string");
    CHECK(error(head + "{\"segment\": [1, 2], \"label\": \"a\"}, {\"label\": \"a\"}]}") ==
          "gt.json: database.v_x.annotations[1]: no \"segment\"");
}

TEST_CASE("ActivityNet predictions: read, written atomically and read back unchanged") {
    const ActivityNetResults read = load_activitynet_results(dir + "activitynet/results.json");
    CHECK(read.version == "VERSION 1.3");
    REQUIRE(read.results.size() == 2);
    const auto& predictions = read.results.at("v_Lj4kPq0XbWs");
    REQUIRE(predictions.size() == 2);
    CHECK(predictions[0].label == "Long jump");
    CHECK(predictions[0].score == 0.91);
    CHECK(predictions[1].start == 70.0);
    CHECK(predictions[1].end == 82.0);
    CHECK(read.results.at("v_test0000001").empty());
    CHECK(read.external_data_used);
    CHECK(read.external_data_details == "features pre-trained on VideoCC");

    ActivityNetResults written;
    written.results["v_b"] = {{"Long jump", 0.1 + 0.2, 1.0 / 3.0, 2.5}, {"Triple jump", -1e-300, 0, 0}};
    written.results["v_a"] = {};
    const auto folder = temp_folder("svilm_downstream_results");
    write_activitynet_results(folder / "results.json", written);
    const ActivityNetResults back = load_activitynet_results(folder / "results.json");
    CHECK(back.version == "VERSION 1.3");
    CHECK_FALSE(back.external_data_used);
    REQUIRE(back.results.size() == 2);
    CHECK(back.results.at("v_a").empty());
    const auto& b = back.results.at("v_b");
    REQUIRE(b.size() == 2);
    CHECK(b[0].label == "Long jump");
    CHECK(b[0].score == 0.1 + 0.2);  // bit for bit
    CHECK(b[0].start == 1.0 / 3.0);
    CHECK(b[1].score == -1e-300);
    CHECK(b[1].end == 0.0);
    std::filesystem::remove_all(folder);
}

TEST_CASE("ActivityNet predictions errors: the writer refuses what could not be read back, the reader names video and field") {
    ActivityNetResults bad;
    bad.results["v_a"] = {{"Long jump", std::numeric_limits<double>::quiet_NaN(), 0, 1}};
    CHECK(error_of<ValueError>([&] { activitynet_results_json(bad); }) == "activitynet_results_json: results.v_a[0]: score or segment is not finite");
    bad.results["v_a"] = {{"Long jump", 0.5, 0, 1}, {"Long jump", 0.5, 3, 2}};
    CHECK(error_of<ValueError>([&] { activitynet_results_json(bad); }) ==
          "activitynet_results_json: results.v_a[1]: segment [3, 2] ends before it starts");
    bad.results["v_a"] = {{" ", 0.5, 0, 1}};
    CHECK(error_of<ValueError>([&] { activitynet_results_json(bad); }) == "activitynet_results_json: results.v_a[0]: empty label");

    CHECK(error_of<FormatError>([] { load_activitynet_results(dir + "activitynet/bad_results.json"); }) ==
          dir + "activitynet/bad_results.json: results.v_Lj4kPq0XbWs[1]: \"score\" is not a number");
    auto error = [](const std::string& json) { return error_of<FormatError>([&] { parse_activitynet_results(json, "r.json"); }); };
    CHECK(error("{\"version\": \"VERSION 1.3\"}") == "r.json: no \"results\"");
    CHECK(error("{\"results\": []}") == "r.json: results: expected a JSON object");
    CHECK(error("{\"results\": {\"v_a\": {}}}") == "r.json: results.v_a: expected a list of predictions");
    CHECK(error("{\"results\": {\"v_a\": [{\"label\": \"x\", \"score\": 1, \"segment\": [2, 1]}]}}") ==
          "r.json: results.v_a[0]: \"segment\" [2, 1] ends before it starts");
    CHECK(error("{\"results\": {\"v_a\": [{\"score\": 1, \"segment\": [1, 2]}]}}") == "r.json: results.v_a[0]: no \"label\"");
    CHECK(error("{\"results\": {}, \"external_data\": {\"used\": \"yes\"}}") == "r.json: external_data: \"used\" is not true or false");
    CHECK(error("{\"results\": {}, \"version\": 1.3}") == "r.json: \"version\" is not a string");
}

}  // namespace
}  // namespace svilm::data
