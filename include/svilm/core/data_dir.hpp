// svilm/core/data_dir.hpp: where svilm's data files are (the WordPiece vocabulary,
// vocab/bert-base-uncased-vocab.txt), for programs in a source build and installed ones alike
// (docs/install.md).
//
// data_directory() takes the first of:
//   1. the folder the caller names (a program's --data-dir),
//   2. the environment variable SVILM_DATA_DIR,
//   3. <the running program's folder>/../share/svilm (an installed program, found through
//      /proc/self/exe, so that a copied or moved prefix still works),
//   4. the folder compiled in as the macro SVILM_DATA_DIR: the svilm::text CMake target gives
//      the source tree's data/ to a build that uses svilm from its source, and
//      <prefix>/share/svilm to one that uses the installed package.
// 1 and 2 are the user's choice: a folder named there that lacks the vocabulary is an error, not
// a reason to look elsewhere (another folder would be used without the user knowing). 3 and 4
// count only when they hold the vocabulary. Nothing found: an IoError naming every place looked
// at and how to give one.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "svilm/core/error.hpp"

namespace svilm {

// The vocabulary inside a data directory.
inline std::filesystem::path vocabulary_path(const std::filesystem::path& data_dir) {
    return data_dir / "vocab" / "bert-base-uncased-vocab.txt";
}

// One place data_directory() looks at, in its order, with where it came from.
struct DataDirectoryCandidate {
    std::filesystem::path path;
    std::string origin;     // "--data-dir", "SVILM_DATA_DIR (environment)", ...
    bool chosen = false;    // named by the user: used or refused, never skipped
};

// The places of data_directory()'s search that apply to this process, in order.
inline std::vector<DataDirectoryCandidate> data_directory_candidates(const std::filesystem::path& explicit_dir = {}) {
    std::vector<DataDirectoryCandidate> candidates;
    if (!explicit_dir.empty()) candidates.push_back({explicit_dir, "the folder given (--data-dir)", true});
    if (const char* env = std::getenv("SVILM_DATA_DIR"); env && *env)
        candidates.push_back({env, "the environment variable SVILM_DATA_DIR", true});
    std::error_code error;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error && exe.has_parent_path())
        candidates.push_back({(exe.parent_path().parent_path() / "share" / "svilm").lexically_normal(),
                              "beside the program (" + exe.string() + ")"});
#if defined(SVILM_DATA_DIR)
    candidates.push_back({SVILM_DATA_DIR, "compiled in (SVILM_DATA_DIR from svilm's CMake package)"});
#endif
    return candidates;
}

// The first candidate holding the vocabulary. Throws IoError when a folder the user chose lacks
// it, or when none holds it.
inline std::filesystem::path find_data_directory(const std::vector<DataDirectoryCandidate>& candidates) {
    std::string looked;
    for (const DataDirectoryCandidate& c : candidates) {
        std::error_code error;
        if (std::filesystem::is_regular_file(vocabulary_path(c.path), error)) return c.path;
        if (c.chosen)
            throw IoError("data directory " + c.path.string() + " (" + c.origin + ") does not hold " +
                          vocabulary_path(c.path).string() + ": give the folder svilm installed as <prefix>/share/svilm");
        looked += (looked.empty() ? "" : "; ") + c.path.string() + " (" + c.origin + ")";
    }
    // one line: programs print an error as one line
    throw IoError("no svilm data directory holding vocab/bert-base-uncased-vocab.txt: looked in " +
                  (looked.empty() ? std::string("no place") : looked) +
                  "; give one with --data-dir DIR or the environment variable SVILM_DATA_DIR (the folder svilm installs "
                  "as <prefix>/share/svilm, or data/ of its source)");
}

// The data directory: see the top of this file for the order.
inline std::filesystem::path data_directory(const std::filesystem::path& explicit_dir = {}) {
    return find_data_directory(data_directory_candidates(explicit_dir));
}

}  // namespace svilm
