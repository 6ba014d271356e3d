// Manifests in CSV (RFC 4180 quoting) and JSON Lines, and their errors naming file and line.
#include <doctest/doctest.h>

#include "svilm/data/manifest.hpp"

namespace svilm::data {
namespace {

TEST_CASE("CSV: header columns in any order, quotes, commas and line breaks in captions, optional times") {
    const std::string csv =
        "\xEF\xBB\xBF" "caption,extra,video,start,end\r\n"
        "\"a man slices a tomato, then eats it\",x,clips/a.mp4,2.5,7\r\n"
        "\"she said \"\"hi\"\"\",,/abs/b.avi,,\n"
        "\n"
        "\"two\nlines\",,c.mkv,1,\n"
        "plain,,d.mp4,,3\n";
    const Manifest m = Manifest::parse_csv(csv, "train.csv", "/data");
    REQUIRE(m.size() == 4);
    CHECK(m[0].caption == "a man slices a tomato, then eats it");
    CHECK(m[0].video == "clips/a.mp4");
    CHECK(m[0].path == std::filesystem::path("/data/clips/a.mp4"));
    CHECK(m[0].start == 2.5);
    CHECK(m[0].end == 7.0);
    CHECK(m[0].line == 2);
    CHECK(m[1].caption == "she said \"hi\"");
    CHECK(m[1].path == std::filesystem::path("/abs/b.avi"));
    CHECK_FALSE(m[1].start);
    CHECK_FALSE(m[1].end);
    CHECK(m[2].caption == "two\nlines");
    CHECK(m[2].line == 5);
    CHECK(m[2].start == 1.0);
    CHECK(m[3].line == 7);
    CHECK(m[3].end == 3.0);
    // Only the two required columns.
    CHECK(Manifest::parse_csv("video,caption\nv.mp4,a dog\n", "m.csv", ".").size() == 1);
}

TEST_CASE("CSV errors name the file and line") {
    auto error = [](const std::string& csv) {
        try {
            Manifest::parse_csv(csv, "m.csv", ".");
        } catch (const FormatError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error("") == "m.csv: empty manifest (no header row)");
    CHECK(error("path,text\n") ==
          "m.csv: line 1: no column 'video' (the header has: path, text); name yours with --video-column");
    CHECK(error("video, text\n") ==
          "m.csv: line 1: no column 'caption' (the header has: video, text); name yours with --caption-column");
    CHECK(error("video,caption\na.mp4\n") == "m.csv: line 2: 1 fields, the header has 2");
    CHECK(error("video,caption,start\na.mp4,x,soon\n") == "m.csv: line 2: start 'soon' is not a number");
    CHECK(error("video,caption,start,end\na.mp4,x,5,2\n").find("m.csv: line 2: start 5") == 0);
    CHECK(error("video,caption,start\na.mp4,x,-1\n").find("m.csv: line 2: start -1") == 0);
    CHECK(error("video,caption\n,x\n") == "m.csv: line 2: empty video path");
    CHECK(error("video,caption\na.mp4,\"open\n\n") == "m.csv: line 2: a quoted field is not closed");
    CHECK(error("video,caption\na.mp4,x\"y\n") == "m.csv: line 2: a quote inside an unquoted field");
    CHECK(error("video,caption\na.mp4,\"x\"y\n") == "m.csv: line 2: text after a closing quote");
}

TEST_CASE("JSON Lines: objects per line, optional times, errors with the line") {
    const std::string jsonl =
        "{\"video\": \"a.mp4\", \"caption\": \"a dog runs\", \"start\": 1, \"end\": 2.5}\n"
        "\n"
        "{\"caption\": \"\\u00e9t\\u00e9\", \"video\": \"b.mp4\", \"start\": null, \"other\": [1, 2]}\n";
    const Manifest m = Manifest::parse_jsonl(jsonl, "m.jsonl", "base");
    REQUIRE(m.size() == 2);
    CHECK(m[0].end == 2.5);
    CHECK(m[1].caption == "\xC3\xA9t\xC3\xA9");
    CHECK(m[1].line == 3);
    CHECK(m[1].path == std::filesystem::path("base/b.mp4"));
    CHECK_THROWS_WITH_AS(Manifest::parse_jsonl("{\"video\": \"a\"}\n", "m.jsonl", "."), "m.jsonl: line 1: no key 'caption' (the object has: video); name yours with --caption-column",
                         FormatError);
    CHECK_THROWS_WITH_AS(Manifest::parse_jsonl("\n{\"video\": 3, \"caption\": \"x\"}", "m.jsonl", "."),
                         "m.jsonl: line 2: \"video\" is not a string", FormatError);
    CHECK_THROWS_WITH_AS(Manifest::parse_jsonl("{\"video\": \"a\", \"caption\": \"x\", \"end\": \"3\"}", "m.jsonl", "."),
                         "m.jsonl: line 1: \"end\" is not a number", FormatError);
    CHECK_THROWS_WITH_AS(Manifest::parse_jsonl("[1]", "m.jsonl", "."), "m.jsonl: line 1: expected a JSON object", FormatError);
    CHECK_THROWS_WITH_AS(Manifest::parse_jsonl("{oops", "m.jsonl", "."), doctest::Contains("m.jsonl: line 1: invalid JSON"), FormatError);
}

TEST_CASE("columns named by the caller, in CSV and JSON Lines") {
    const ManifestColumns columns{.video = "path", .caption = "text", .start = "from", .end = "to"};
    const Manifest csv = Manifest::parse_csv("text,path,from,to,start\na cat,c.mp4,1,2,x\n", "m.csv", "/d", columns);
    REQUIRE(csv.size() == 1);
    CHECK(csv[0].video == "c.mp4");
    CHECK(csv[0].path == std::filesystem::path("/d/c.mp4"));
    CHECK(csv[0].caption == "a cat");
    CHECK(csv[0].start == 1.0);  // "from", not the default "start" column (which holds x)
    CHECK(csv[0].end == 2.0);
    const Manifest jsonl = Manifest::parse_jsonl("{\"path\": \"d.mp4\", \"text\": \"a dog\", \"to\": 4}\n", "m.jsonl", ".", columns);
    REQUIRE(jsonl.size() == 1);
    CHECK(jsonl[0].video == "d.mp4");
    CHECK(jsonl[0].caption == "a dog");
    CHECK_FALSE(jsonl[0].start);
    CHECK(jsonl[0].end == 4.0);
    // the defaults are now missing columns, named with the file's own
    CHECK_THROWS_WITH_AS(Manifest::parse_csv("video,caption\na.mp4,x\n", "m.csv", ".", columns),
                         "m.csv: line 1: no column 'path' (the header has: video, caption); name yours with --video-column",
                         FormatError);
    CHECK_THROWS_WITH_AS(Manifest::parse_jsonl("{\"path\": \"a\", \"caption\": \"x\"}", "m.jsonl", ".", columns),
                         "m.jsonl: line 1: no key 'text' (the object has: caption, path); name yours with --caption-column",
                         FormatError);
}

TEST_CASE("load picks the format by extension, resolves paths against the manifest's folder") {
    CHECK_THROWS_WITH_AS(Manifest::load("/nonexistent/m.csv"), "/nonexistent/m.csv: cannot open the manifest", IoError);
    const auto dir = std::filesystem::temp_directory_path();
    const auto file = dir / "svilm_manifest_test.tsv";
    { std::ofstream(file) << "video\tcaption\n"; }
    CHECK_THROWS_WITH_AS(Manifest::load(file), doctest::Contains("unknown manifest type '.tsv'"), FormatError);
    const auto csv = dir / "svilm_manifest_test.csv";
    { std::ofstream(csv) << "video,caption\nclip.mp4,a cat\n"; }
    const Manifest m = Manifest::load(csv);
    CHECK(m[0].path == dir / "clip.mp4");
    CHECK(m.source() == csv.string());
    std::filesystem::remove(file);
    std::filesystem::remove(csv);
}

}  // namespace
}  // namespace svilm::data
