// Annotation files for `svilm evaluate --annotations` (docs/annotations.md): a good file read
// back field by field, and each kind of bad field refused with the file and its JSON path.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "svilm/data/annotations.hpp"

namespace svilm::data {
namespace {

TEST_CASE("annotations: boxes, masks and scene changes, paths against the file's folder") {
    const std::string json = R"({
      "videos": [
        {"video": "clips/a.mp4",
         "objects": [
           {"noun": "red circle",
            "boxes": [{"frame": 0, "box": [10, 20, 30.5, 40]}, {"frame": 8, "box": [12, 20, 32, 40]}],
            "masks": [{"frame": 4, "file": "masks/a_red_4.png"}]},
           {"noun": "blue square", "masks": [{"frame": 2, "file": "/abs/m.png"}]}],
         "scene_changes": [12, 20]},
        {"video": "/abs/b.mp4", "scene_changes": [5]},
        {"video": "c.mp4", "objects": [], "extra": "ignored"}
      ]})";
    const Annotations a = Annotations::parse(json, "ann.json", "/data");
    REQUIRE(a.videos().size() == 3);
    CHECK(a.object_count() == 2);
    const VideoAnnotation& v = a.videos()[0];
    CHECK(v.video == "clips/a.mp4");
    CHECK(v.path == std::filesystem::path("/data/clips/a.mp4"));
    CHECK(v.scene_changes == std::vector<index_t>{12, 20});
    REQUIRE(v.objects.size() == 2);
    const AnnotatedObject& red = v.objects[0];
    CHECK(red.noun == "red circle");
    CHECK(red.where == "videos[0].objects[0]");
    REQUIRE(red.boxes.size() == 2);
    CHECK(red.boxes[0].frame == 0);
    CHECK(red.boxes[0].box.x1 == 30.5);
    CHECK(red.boxes[1].box.x0 == 12);
    REQUIRE(red.masks.size() == 1);
    CHECK(red.masks[0].path == std::filesystem::path("/data/masks/a_red_4.png"));
    CHECK(v.objects[1].masks[0].path == std::filesystem::path("/abs/m.png"));
    CHECK(a.videos()[1].path == std::filesystem::path("/abs/b.mp4"));
    CHECK(a.videos()[1].objects.empty());
    CHECK(a.videos()[2].scene_changes.empty());

    // pixel centres inside [x0, x1) x [y0, y1)
    CHECK(red.boxes[0].box.contains(20, 10));
    CHECK(red.boxes[0].box.contains(39, 29));
    CHECK_FALSE(red.boxes[0].box.contains(39, 30));  // column 30's centre 30.5 is not before x1 30.5
    CHECK_FALSE(red.boxes[0].box.contains(40, 15));
    CHECK_FALSE(red.boxes[0].box.contains(25, 9));

    // nearest annotated frame (boxes and masks together), ties to the earlier one
    CHECK(red.nearest_frame(1, 1) == 0);
    CHECK(red.nearest_frame(2, 2) == 0);  // 0 and 4 are both 2 away
    CHECK(red.nearest_frame(3, 2) == 4);
    CHECK_FALSE(red.nearest_frame(6, 1));
    CHECK(red.nearest_frame(6, 2) == 4);
    CHECK(red.box_at(8) == &red.boxes[1]);
    CHECK(red.mask_at(4) == &red.masks[0]);
    CHECK(red.box_at(4) == nullptr);

    // lookup by the manifest's resolved path
    CHECK(a.find("/data/clips/../clips/a.mp4") == &a.videos()[0]);
    CHECK(a.find("/data/c.mp4") == &a.videos()[2]);
    CHECK(a.find("/data/d.mp4") == nullptr);
}

TEST_CASE("annotations: each kind of bad field is named with the file and its JSON path") {
    auto error = [](const std::string& json) {
        try {
            Annotations::parse(json, "a.json", ".");
        } catch (const FormatError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    auto video = [](const std::string& fields) { return R"({"videos": [{"video": "v.mp4", )" + fields + "}]}"; };
    auto object = [&](const std::string& fields) { return video(R"("objects": [{"noun": "cat", )" + fields + "}]"); };
    CHECK(error("{oops").find("a.json: invalid JSON") == 0);
    CHECK(error("[]") == "a.json: is not a JSON object");
    CHECK(error("{}") == "a.json: no \"videos\"");
    CHECK(error(R"({"videos": {}})") == "a.json: videos: is not an array");
    CHECK(error(R"({"videos": [3]})") == "a.json: videos[0]: is not an object");
    CHECK(error(R"({"videos": [{"objects": []}]})") == "a.json: videos[0]: no \"video\"");
    CHECK(error(R"({"videos": [{"video": 7}]})") == "a.json: videos[0].video: is not a string");
    CHECK(error(R"({"videos": [{"video": " "}]})") == "a.json: videos[0].video: is empty");
    CHECK(error(R"({"videos": [{"video": "v.mp4"}, {"video": "./v.mp4"}]})") ==
          "a.json: videos[1].video: './v.mp4' is annotated twice (also videos[0])");
    CHECK(error(video(R"("objects": {})")) == "a.json: videos[0].objects: is not an array");
    CHECK(error(video(R"("objects": [{"boxes": []}])")) == "a.json: videos[0].objects[0]: no \"noun\"");
    CHECK(error(video(R"("objects": [{"noun": ""}])")) == "a.json: videos[0].objects[0].noun: is empty");
    CHECK(error(video(R"("objects": [{"noun": "cat"}])")) == "a.json: videos[0].objects[0]: has neither \"boxes\" nor \"masks\"");
    CHECK(error(object(R"("boxes": 1)")) == "a.json: videos[0].objects[0].boxes: is not an array");
    CHECK(error(object(R"("boxes": [[0, 0, 1, 1]])")) == "a.json: videos[0].objects[0].boxes[0]: is not an object");
    CHECK(error(object(R"("boxes": [{"box": [0, 0, 1, 1]}])")) == "a.json: videos[0].objects[0].boxes[0]: no \"frame\"");
    CHECK(error(object(R"("boxes": [{"frame": -1, "box": [0, 0, 1, 1]}])")) ==
          "a.json: videos[0].objects[0].boxes[0].frame: -1 is not a frame index (a whole number from 0)");
    CHECK(error(object(R"("boxes": [{"frame": 1.5, "box": [0, 0, 1, 1]}])")) ==
          "a.json: videos[0].objects[0].boxes[0].frame: 1.5 is not a frame index (a whole number from 0)");
    CHECK(error(object(R"("boxes": [{"frame": 3, "box": [0, 0, 1, 1]}, {"frame": 3, "box": [0, 0, 1, 1]}])")) ==
          "a.json: videos[0].objects[0].boxes[1].frame: 3 does not follow 3 (one entry per frame, in increasing order)");
    CHECK(error(object(R"("boxes": [{"frame": 0}])")) == "a.json: videos[0].objects[0].boxes[0]: no \"box\"");
    CHECK(error(object(R"("boxes": [{"frame": 0, "box": [0, 0, 1]}])")) ==
          "a.json: videos[0].objects[0].boxes[0].box: is not [x0, y0, x1, y1]");
    CHECK(error(object(R"("boxes": [{"frame": 0, "box": [0, "0", 1, 1]}])")) ==
          "a.json: videos[0].objects[0].boxes[0].box: \"0\" is not a number");
    CHECK(error(object(R"("boxes": [{"frame": 0, "box": [-2, 0, 1, 1]}])")) ==
          "a.json: videos[0].objects[0].boxes[0].box: coordinate -2 is negative (pixels of the frame)");
    CHECK(error(object(R"("boxes": [{"frame": 0, "box": [5, 0, 3, 1]}])")) ==
          "a.json: videos[0].objects[0].boxes[0].box: x1 3 is not greater than x0 5");
    CHECK(error(object(R"("boxes": [{"frame": 0, "box": [0, 4, 3, 4]}])")) ==
          "a.json: videos[0].objects[0].boxes[0].box: y1 4 is not greater than y0 4");
    CHECK(error(object(R"("masks": [{"frame": 0}])")) == "a.json: videos[0].objects[0].masks[0]: no \"file\"");
    CHECK(error(object(R"("masks": [{"frame": 0, "file": 5}])")) == "a.json: videos[0].objects[0].masks[0].file: is not a string");
    CHECK(error(video(R"("scene_changes": 4)")) == "a.json: videos[0].scene_changes: is not an array");
    CHECK(error(video(R"("scene_changes": [0])")) ==
          "a.json: videos[0].scene_changes[0]: is 0: a scene change is the first frame of a new scene, after frame 0");
    CHECK(error(video(R"("scene_changes": [8, 4])")) ==
          "a.json: videos[0].scene_changes[1]: 4 does not follow 8 (scene changes are listed in increasing order)");
    CHECK(error(video(R"("scene_changes": ["x"])")) ==
          "a.json: videos[0].scene_changes[0]: \"x\" is not a frame index (a whole number from 0)");
}

TEST_CASE("annotations: load reads the file and resolves against its folder; a missing file is an IoError") {
    CHECK_THROWS_WITH_AS(Annotations::load("/nonexistent/a.json"), "/nonexistent/a.json: cannot open the annotations", IoError);
    const auto dir = std::filesystem::temp_directory_path() / "svilm_annotations_test";
    std::filesystem::create_directories(dir);
    const auto file = dir / "a.json";
    { std::ofstream(file) << R"({"videos": [{"video": "v.mp4", "scene_changes": [3]}]})"; }
    const Annotations a = Annotations::load(file);
    CHECK(a.source() == file.string());
    CHECK(a.find(dir / "v.mp4") == &a.videos()[0]);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace svilm::data
