// svilm/video/libav.hpp: RAII owners for FFmpeg's objects, error text, and reading a video from
// memory.
//
// Every libav object svilm creates is held by one of these unique_ptr types from the moment it
// exists, so an exception anywhere (a corrupt file, std::bad_alloc) frees it: no leak on any
// error path. Allocation failures of libav objects throw std::bad_alloc.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>

#include "svilm/core/error.hpp"

namespace svilm::video {

namespace detail {

struct InputDeleter {
    void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecDeleter {
    void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct FrameDeleter {
    void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct PacketDeleter {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct ScaleDeleter {
    void operator()(SwsContext* p) const { sws_freeContext(p); }
};
// A custom AVIOContext owns its buffer, which libav may have replaced by a larger one.
struct IoDeleter {
    void operator()(AVIOContext* p) const {
        av_freep(&p->buffer);
        avio_context_free(&p);
    }
};
// An output context owns the file it writes (pb), closed after the context is freed.
struct OutputDeleter {
    void operator()(AVFormatContext* p) const {
        if (!(p->oformat->flags & AVFMT_NOFILE)) avio_closep(&p->pb);
        avformat_free_context(p);
    }
};

template <class T>
T* not_null(T* p) {
    if (!p) throw std::bad_alloc();
    return p;
}

}  // namespace detail

using InputContext = std::unique_ptr<AVFormatContext, detail::InputDeleter>;
using OutputContext = std::unique_ptr<AVFormatContext, detail::OutputDeleter>;
using CodecContext = std::unique_ptr<AVCodecContext, detail::CodecDeleter>;
using FramePtr = std::unique_ptr<AVFrame, detail::FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, detail::PacketDeleter>;
using ScaleContext = std::unique_ptr<SwsContext, detail::ScaleDeleter>;
using IoContext = std::unique_ptr<AVIOContext, detail::IoDeleter>;

inline FramePtr make_frame() { return FramePtr(detail::not_null(av_frame_alloc())); }
inline PacketPtr make_packet() { return PacketPtr(detail::not_null(av_packet_alloc())); }

// "Invalid data found when processing input" for a libav error code.
inline std::string av_error_text(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return text;
}

// An AVDictionary of options that frees itself; libav consumes the entries it recognises.
class Dictionary {
public:
    Dictionary() = default;
    void set(const std::string& key, const std::string& value) {
        if (av_dict_set(&dict_, key.c_str(), value.c_str(), 0) < 0) throw std::bad_alloc();
    }
    AVDictionary** address() { return &dict_; }
    // The first entry libav did not consume ("" when all were used), for error messages.
    std::string first_unused() const {
        const AVDictionaryEntry* e = av_dict_get(dict_, "", nullptr, AV_DICT_IGNORE_SUFFIX);
        return e ? e->key : "";
    }
    ~Dictionary() { av_dict_free(&dict_); }
    Dictionary(const Dictionary&) = delete;
    Dictionary& operator=(const Dictionary&) = delete;

private:
    AVDictionary* dict_ = nullptr;
};

namespace detail {

// Display rotations svilm turns frames by: clockwise quarter turns.
inline void check_rotation(int rotation, const std::string& what) {
    if (rotation != 0 && rotation != 90 && rotation != 180 && rotation != 270)
        throw ValueError(what + ": rotation " + std::to_string(rotation) + " is not 0, 90, 180 or 270 degrees");
}

}  // namespace detail

// Reads a video held in memory through a custom AVIOContext (no file system: the fuzzer and
// in-memory datasets use it). `bytes` must outlive every context made from it.
class MemoryInput {
public:
    explicit MemoryInput(std::span<const std::byte> bytes) : bytes_(bytes) {}
    MemoryInput(const MemoryInput&) = delete;
    MemoryInput& operator=(const MemoryInput&) = delete;

    // A fresh context reading from the first byte.
    IoContext make_context() {
        position_ = 0;
        constexpr int buffer_size = 1 << 16;
        auto* buffer = static_cast<unsigned char*>(detail::not_null(av_malloc(buffer_size)));
        AVIOContext* io = avio_alloc_context(buffer, buffer_size, 0, this, &read, nullptr, &seek);
        if (!io) {
            av_free(buffer);
            throw std::bad_alloc();
        }
        return IoContext(io);
    }

private:
    static int read(void* opaque, std::uint8_t* out, int size) {
        auto* self = static_cast<MemoryInput*>(opaque);
        const std::size_t left = self->bytes_.size() - self->position_;
        const std::size_t n = std::min<std::size_t>(left, std::size_t(std::max(size, 0)));
        if (n == 0) return AVERROR_EOF;
        std::memcpy(out, self->bytes_.data() + self->position_, n);
        self->position_ += n;
        return int(n);
    }
    static std::int64_t seek(void* opaque, std::int64_t offset, int whence) {
        auto* self = static_cast<MemoryInput*>(opaque);
        const auto size = std::int64_t(self->bytes_.size());
        std::int64_t target;
        switch (whence & ~AVSEEK_FORCE) {
            case AVSEEK_SIZE: return size;
            case SEEK_SET: target = offset; break;
            case SEEK_CUR: target = std::int64_t(self->position_) + offset; break;
            case SEEK_END: target = size + offset; break;
            default: return AVERROR(EINVAL);
        }
        if (target < 0 || target > size) return AVERROR(EINVAL);
        self->position_ = std::size_t(target);
        return target;
    }

    std::span<const std::byte> bytes_;
    std::size_t position_ = 0;
};

// libav's own log level (AV_LOG_QUIET, AV_LOG_ERROR, ...): it is process-wide, so svilm never
// changes it by itself. Corrupt inputs make decoders print warnings; svilm reports its errors
// as exceptions either way.
inline void set_libav_log_level(int level) { av_log_set_level(level); }

}  // namespace svilm::video
