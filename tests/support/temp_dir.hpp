// tests/support/temp_dir.hpp: a fresh folder under the system's temporary directory, removed
// with everything in it when the test ends. Unique per process and per object.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace svilm::testing {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> count{0};
        path = std::filesystem::temp_directory_path() /
               ("svilm-test-" + std::to_string(::getpid()) + "-" + std::to_string(count++));
        std::filesystem::create_directories(path);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

}  // namespace svilm::testing
