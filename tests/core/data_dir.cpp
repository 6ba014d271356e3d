#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

#include "svilm/core/data_dir.hpp"

namespace svilm {
namespace {

namespace fs = std::filesystem;

// A fresh folder for one test case, removed at its end.
struct TempFolder {
    inline static int made = 0;
    fs::path path = fs::temp_directory_path() /
                    ("svilm_data_dir_test_" + std::to_string(::getpid()) + "_" + std::to_string(made++));
    TempFolder() {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempFolder() { fs::remove_all(path); }
    // a data directory holding a (one-token) vocabulary file
    fs::path data_dir(const std::string& name) const {
        const fs::path dir = path / name;
        fs::create_directories(dir / "vocab");
        std::ofstream(vocabulary_path(dir)) << "[PAD]\n";
        return dir;
    }
};

// SVILM_DATA_DIR set (or unset) for the scope, the previous value restored after.
struct ScopedEnv {
    std::optional<std::string> previous;
    explicit ScopedEnv(const std::optional<std::string>& value) {
        if (const char* p = std::getenv("SVILM_DATA_DIR")) previous = p;
        if (value)
            ::setenv("SVILM_DATA_DIR", value->c_str(), 1);
        else
            ::unsetenv("SVILM_DATA_DIR");
    }
    ~ScopedEnv() {
        if (previous)
            ::setenv("SVILM_DATA_DIR", previous->c_str(), 1);
        else
            ::unsetenv("SVILM_DATA_DIR");
    }
};

std::string error_of(const fs::path& explicit_dir) {
    try {
        data_directory(explicit_dir);
    } catch (const IoError& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("data_directory: the vocabulary's path inside a data directory") {
    CHECK(vocabulary_path("/opt/svilm/share/svilm") == fs::path("/opt/svilm/share/svilm/vocab/bert-base-uncased-vocab.txt"));
}

TEST_CASE("data_directory: the places in order: explicit, environment, beside the program, compiled in") {
    const ScopedEnv env(std::string("/from/env"));
    const auto candidates = data_directory_candidates("/from/option");
    REQUIRE(candidates.size() == 4);  // the tests are compiled with SVILM_DATA_DIR (the source's data/)
    CHECK(candidates[0].path == fs::path("/from/option"));
    CHECK(candidates[0].chosen);
    CHECK(candidates[1].path == fs::path("/from/env"));
    CHECK(candidates[1].chosen);
    CHECK(candidates[1].origin.find("SVILM_DATA_DIR") != std::string::npos);
    // <this test program's folder>/../share/svilm
    const fs::path exe = fs::read_symlink("/proc/self/exe");
    CHECK(candidates[2].path == (exe.parent_path().parent_path() / "share" / "svilm").lexically_normal());
    CHECK_FALSE(candidates[2].chosen);
    CHECK(candidates[3].path == fs::path(SVILM_DATA_DIR));
    CHECK_FALSE(candidates[3].chosen);
}

TEST_CASE("data_directory: without an explicit folder or the environment, the compiled-in one") {
    const ScopedEnv env(std::nullopt);
    const auto candidates = data_directory_candidates();
    REQUIRE(candidates.size() == 2);
    CHECK(candidates[0].origin.find("beside the program") == 0);
    // the test program lives in the build tree, where no share/svilm is: the source's data/
    CHECK(data_directory() == fs::path(SVILM_DATA_DIR));
    CHECK(fs::is_regular_file(vocabulary_path(data_directory())));
}

TEST_CASE("data_directory: an explicit folder wins over the environment, which wins over the rest") {
    const TempFolder tmp;
    const fs::path a = tmp.data_dir("a"), b = tmp.data_dir("b");
    const ScopedEnv env(b.string());
    CHECK(data_directory(a) == a);
    CHECK(data_directory() == b);
}

TEST_CASE("data_directory: a folder the user names without the vocabulary is refused, not skipped") {
    const TempFolder tmp;
    const fs::path good = tmp.data_dir("good"), empty = tmp.path / "empty";
    fs::create_directories(empty);
    {
        const ScopedEnv env(good.string());
        const std::string error = error_of(empty);
        CHECK(error.find("data directory " + empty.string() + " (the folder given (--data-dir)) does not hold " +
                         vocabulary_path(empty).string()) == 0);
    }
    {
        const ScopedEnv env(empty.string());
        const std::string error = error_of({});
        CHECK(error.find("data directory " + empty.string() + " (the environment variable SVILM_DATA_DIR)") == 0);
        CHECK(error.find(vocabulary_path(empty).string()) != std::string::npos);
    }
}

TEST_CASE("data_directory: no place holds the vocabulary: every place looked at, and how to give one") {
    const TempFolder tmp;
    const fs::path beside = tmp.path / "prefix" / "share" / "svilm", built = tmp.path / "source" / "data";
    const std::vector<DataDirectoryCandidate> candidates{{beside, "beside the program (x)"}, {built, "compiled in"}};
    try {
        find_data_directory(candidates);
        FAIL("no error");
    } catch (const IoError& e) {
        const std::string m = e.what();
        CHECK(m.find("no svilm data directory holding vocab/bert-base-uncased-vocab.txt: looked in " + beside.string() +
                     " (beside the program (x)); " + built.string() + " (compiled in); ") == 0);
        CHECK(m.find("--data-dir DIR") != std::string::npos);
        CHECK(m.find("SVILM_DATA_DIR") != std::string::npos);
        CHECK(m.find('\n') == std::string::npos);
    }
    // a data directory further down the list is found past the empty ones
    const TempFolder other;
    const fs::path found = other.data_dir("found");
    CHECK(find_data_directory({{beside, "x"}, {found, "y"}}) == found);
}

}  // namespace
}  // namespace svilm
