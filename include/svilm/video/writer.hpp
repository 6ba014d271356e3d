// svilm/video/writer.hpp: encodes RGB frames into a video file with any libav encoder (tests
// make their videos with it; programs write visualisations and synthetic data with it).
// The container follows the file name's extension (.mp4, .mkv, .avi, .nut, ...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/video/libav.hpp"
#include "svilm/video/sampling.hpp"

namespace svilm::video {

struct WriterOptions {
    std::string codec = "libx264";  // an encoder: libx264, mpeg4, ffv1, mjpeg, rawvideo, ...
    int width = 0;
    int height = 0;
    Rational fps{25, 1};
    int gop = 12;           // frames between keyframes
    int max_b_frames = 0;
    std::string pixel_format;  // empty: the encoder's first supported format
    int threads = 1;           // encoder threads (1 keeps the output byte-identical run to run)
    int rotation = 0;          // clockwise degrees a player turns the frames (display matrix, as phones write)
    std::vector<std::pair<std::string, std::string>> codec_options;   // {"crf", "18"}, {"preset", "veryfast"}
    std::vector<std::pair<std::string, std::string>> format_options;  // {"movflags", "+faststart"}
};

// True when this libav build has the encoder (Debian's has libx264, mpeg4, ffv1, mjpeg, ...).
inline bool has_encoder(const std::string& name) { return avcodec_find_encoder_by_name(name.c_str()) != nullptr; }

class VideoWriter {
public:
    // Creates `path` and writes the container header.
    VideoWriter(const std::filesystem::path& path, WriterOptions options) : name_(path.string()), options_(std::move(options)) {
        if (options_.width <= 0 || options_.height <= 0 || options_.fps.num <= 0 || options_.fps.den <= 0)
            throw ValueError(name_ + ": frame size and rate must be positive");
        const AVCodec* encoder = avcodec_find_encoder_by_name(options_.codec.c_str());
        if (!encoder) throw VideoError(name_ + ": this libav has no encoder '" + options_.codec + "'");
        AVFormatContext* raw = nullptr;
        int r = avformat_alloc_output_context2(&raw, nullptr, nullptr, name_.c_str());
        if (r < 0 || !raw) throw VideoError(name_ + ": no container for this file name: " + av_error_text(r));
        output_.reset(raw);
        AVStream* stream = detail::not_null(avformat_new_stream(raw, nullptr));

        codec_.reset(detail::not_null(avcodec_alloc_context3(encoder)));
        AVCodecContext* c = codec_.get();
        c->width = options_.width;
        c->height = options_.height;
        c->time_base = {int(options_.fps.den), int(options_.fps.num)};
        c->framerate = {int(options_.fps.num), int(options_.fps.den)};
        c->gop_size = options_.gop;
        c->max_b_frames = options_.max_b_frames;
        c->thread_count = options_.threads;
        c->pix_fmt = pick_format(*encoder);
        if (!sws_isSupportedOutput(c->pix_fmt))
            throw VideoError(name_ + ": cannot convert RGB to pixel format " + av_get_pix_fmt_name(c->pix_fmt));
        if (raw->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        Dictionary codec_options;
        for (const auto& [key, value] : options_.codec_options) codec_options.set(key, value);
        if ((r = avcodec_open2(c, encoder, codec_options.address())) < 0)
            throw VideoError(name_ + ": cannot open the " + options_.codec + " encoder: " + av_error_text(r));
        if (const std::string unused = codec_options.first_unused(); !unused.empty())
            throw ValueError(name_ + ": the " + options_.codec + " encoder has no option '" + unused + "'");
        if ((r = avcodec_parameters_from_context(stream->codecpar, c)) < 0)
            throw VideoError(name_ + ": " + av_error_text(r));
        stream->time_base = c->time_base;
        stream->avg_frame_rate = c->framerate;
        if (options_.rotation != 0) {
            detail::check_rotation(options_.rotation, name_);
            auto* matrix = reinterpret_cast<std::int32_t*>(
                detail::not_null(av_stream_new_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(std::int32_t))));
            av_display_rotation_set(matrix, double(options_.rotation));  // clockwise here; the getter's angle is counter-clockwise
        }

        if (!(raw->oformat->flags & AVFMT_NOFILE) && (r = avio_open(&raw->pb, name_.c_str(), AVIO_FLAG_WRITE)) < 0)
            throw VideoError(name_ + ": cannot create: " + av_error_text(r));
        Dictionary format_options;
        for (const auto& [key, value] : options_.format_options) format_options.set(key, value);
        if ((r = avformat_write_header(raw, format_options.address())) < 0)
            throw VideoError(name_ + ": cannot write the header: " + av_error_text(r));
        frame_ = make_frame();
        frame_->format = c->pix_fmt;
        frame_->width = c->width;
        frame_->height = c->height;
        if ((r = av_frame_get_buffer(frame_.get(), 0)) < 0) throw VideoError(name_ + ": " + av_error_text(r));
        packet_ = make_packet();
    }

    VideoWriter(const VideoWriter&) = delete;
    VideoWriter& operator=(const VideoWriter&) = delete;
    // Finishes the file; errors are lost here, so call finish() to see them.
    ~VideoWriter() {
        try {
            finish();
        } catch (...) {
        }
    }

    // Appends one frame, rgb (height, width, 3), at the next tick of the frame rate.
    void write(TensorView<const std::uint8_t, 3> rgb) { write(rgb, next_pts_); }

    // Appends one frame at `pts`, in ticks of 1 / fps, above the previous frame's: gaps make a
    // variable-frame-rate video (fps {1000, 1} gives millisecond timestamps).
    void write(TensorView<const std::uint8_t, 3> rgb, std::int64_t pts) {
        expect_shape("VideoWriter::write", "rgb", rgb, {options_.height, options_.width, 3});
        expect_contiguous("VideoWriter::write", "rgb", rgb);
        if (finished_) throw ValueError(name_ + ": write after finish");
        if (pts < next_pts_)
            throw ValueError(name_ + ": frame time " + std::to_string(pts) + " is not after the previous frame's (" +
                             std::to_string(next_pts_ - 1) + ")");
        int r = av_frame_make_writable(frame_.get());
        if (r < 0) throw VideoError(name_ + ": " + av_error_text(r));
        scale_.reset(detail::not_null(sws_getCachedContext(scale_.release(), options_.width, options_.height, AV_PIX_FMT_RGB24,
                                                           options_.width, options_.height, codec_->pix_fmt,
                                                           SWS_BILINEAR | SWS_ACCURATE_RND, nullptr, nullptr, nullptr)));
        const std::uint8_t* src[1] = {rgb.data()};
        const int src_stride[1] = {3 * options_.width};
        sws_scale(scale_.get(), src, src_stride, 0, options_.height, frame_->data, frame_->linesize);
        frame_->pts = pts;
        next_pts_ = pts + 1;
        ++frames_;
        encode(frame_.get());
    }

    // Flushes the encoder and writes the trailer (once; later calls do nothing).
    void finish() {
        if (finished_) return;
        finished_ = true;
        encode(nullptr);
        const int r = av_write_trailer(output_.get());
        if (r < 0) throw VideoError(name_ + ": cannot write the trailer: " + av_error_text(r));
    }

    std::int64_t frames_written() const { return frames_; }

private:
    AVPixelFormat pick_format(const AVCodec& encoder) const {
        if (!options_.pixel_format.empty()) {
            const AVPixelFormat f = av_get_pix_fmt(options_.pixel_format.c_str());
            if (f == AV_PIX_FMT_NONE) throw ValueError(name_ + ": unknown pixel format '" + options_.pixel_format + "'");
            return f;
        }
        return encoder.pix_fmts ? encoder.pix_fmts[0] : AV_PIX_FMT_YUV420P;
    }

    void encode(const AVFrame* frame) {
        int r = avcodec_send_frame(codec_.get(), frame);
        if (r < 0) throw VideoError(name_ + ": encoding failed: " + av_error_text(r));
        AVStream* stream = output_->streams[0];
        while ((r = avcodec_receive_packet(codec_.get(), packet_.get())) >= 0) {
            av_packet_rescale_ts(packet_.get(), codec_->time_base, stream->time_base);
            packet_->stream_index = 0;
            r = av_interleaved_write_frame(output_.get(), packet_.get());  // takes the packet's data
            if (r < 0) throw VideoError(name_ + ": cannot write: " + av_error_text(r));
        }
        if (r != AVERROR(EAGAIN) && r != AVERROR_EOF) throw VideoError(name_ + ": encoding failed: " + av_error_text(r));
    }

    std::string name_;
    WriterOptions options_;
    OutputContext output_;
    CodecContext codec_;
    FramePtr frame_;
    PacketPtr packet_;
    ScaleContext scale_;
    std::int64_t frames_ = 0;
    std::int64_t next_pts_ = 0;  // the earliest time the next frame may have
    bool finished_ = false;
};

}  // namespace svilm::video
