// tests/support/temp_dir.hpp: a fresh folder under the system's temporary directory, removed
// with everything in it when the test ends (unique per process and per object), and a file's
// bytes read back whole.
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
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

// The whole file as bytes ("" when it cannot be read).
inline std::string read_file_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace svilm::testing
