// svilm/io/mapped_file.hpp: a read-only memory map of a whole file (RAII), and atomic writes.
// A mapped file must not be truncated by another process while mapped: reading the vanished
// pages raises SIGBUS, as for every mmap reader.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <functional>
#include <span>
#include <string>

#include "svilm/core/error.hpp"

namespace svilm::io {

inline std::string errno_text() { return std::strerror(errno); }

class MappedFile {
public:
    explicit MappedFile(const std::filesystem::path& path) : path_(path) {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected below.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) throw IoError(path.string() + ": cannot open: " + errno_text());
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const std::string reason = errno_text();
            ::close(fd);
            throw IoError(path.string() + ": cannot stat: " + reason);
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            throw IoError(path.string() + ": not a regular file");
        }
        size_ = std::size_t(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const std::string reason = errno_text();
                ::close(fd);
                throw IoError(path.string() + ": cannot map: " + reason);
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    }

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

// Writes `path` so that a reader sees the old file or the complete new one, never a torn one:
// write a temporary in the same folder, fsync it, rename over `path`, fsync the folder.
// `write` receives a function that appends bytes; on any failure the temporary is removed.
inline void write_file_atomically(const std::filesystem::path& path,
                                  const std::function<void(const std::function<void(const void*, std::size_t)>&)>& write) {
    const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    // mkostemp: a unique temporary, so concurrent writers of one path cannot share it.
    std::string temp_name = (folder / ("." + path.filename().string() + ".tmpXXXXXX")).string();
    const int fd = ::mkostemp(temp_name.data(), O_CLOEXEC);
    if (fd < 0) throw IoError(path.string() + ": cannot create a temporary in " + folder.string() + ": " + errno_text());
    ::fchmod(fd, 0644);
    const std::filesystem::path temp = temp_name;
    auto fail = [&](const std::string& what) { throw IoError(path.string() + ": " + what + ": " + errno_text()); };
    try {
        write([&](const void* data, std::size_t n) {
            const char* p = static_cast<const char*>(data);
            while (n > 0) {
                const ssize_t written = ::write(fd, p, n);
                if (written < 0) {
                    if (errno == EINTR) continue;
                    fail("write failed");
                }
                p += written;
                n -= std::size_t(written);
            }
        });
        if (::fsync(fd) != 0) fail("fsync failed");
    } catch (...) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
    if (::close(fd) != 0) {
        ::unlink(temp.c_str());
        throw IoError(path.string() + ": close failed: " + errno_text());
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string reason = errno_text();
        ::unlink(temp.c_str());
        throw IoError(path.string() + ": rename from " + temp.string() + " failed: " + reason);
    }
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);  // best effort: the rename is already visible
        ::close(dir);
    }
}

}  // namespace svilm::io
