// svilm/video/reader.hpp: a video file (or bytes in memory) opened with libav: metadata, the
// frame table, and decoding of chosen frames by index with seeking.
//
// Opening demuxes the whole video stream once without decoding it (packet headers only, so a
// 10 s clip takes about a millisecond) to count the frames exactly and find the keyframes: a
// container's own frame count can be wrong (tree.avi claims 444 frames and has 68).
//
// Frame i is the i-th frame the decoder outputs when decoding from the start (sampling.hpp). How
// a frame decoded after a seek is recognised depends on the timestamps the container gives:
//   presentation  every packet has a distinct pts (MP4, MKV, WebM, ...): frame i is the frame
//                 with the i-th smallest pts, recognised by its pts;
//   decode        some packets lack a pts but every one has an increasing dts (AVI with
//                 B-frames): a frame comes out of the decoder's reorder buffer (D frames deep,
//                 AVCodecContext::has_b_frames) when the packet D positions after it in the
//                 stream goes in, so frame i is the frame whose triggering packet (pkt_dts) is
//                 packet i + D. That holds after a seek too, where the B-frames that need the
//                 previous GOP are dropped, and the D last frames (no triggering packet) are
//                 counted on. A keyframe's index in the table is its stream position, which is
//                 below its true index when B-frames are coded after it;
//   none          neither: frames are counted from the start of the stream (no seeking).
// Decoding frame i seeks to the last keyframe at or before i (when it lies beyond the frame
// being decoded, otherwise decoding just goes on), then decodes forward to frame i, keeping one
// frame in memory. If a seek lands after the keyframe, the previous keyframe is tried, then the
// start. So each requested frame is exactly the one a full decode gives at that position, for
// any sequence of calls on one reader:
//   - frames before the one being decoded to are skipped when nobody references them
//     (AVDISCARD_NONREF), but never frames after it: the decoder runs a few packets ahead of its
//     output, and a later call that goes on from here needs those frames whole;
//   - a container's keyframe flags are not trusted blindly: an AVI without its index flags every
//     packet as a keyframe. After a seek, the first frame out at or after the keyframe's
//     position must be one the decoder calls a keyframe; otherwise that keyframe is forgotten
//     and the previous one is tried (finally the start), and once a container has lied, going
//     on decoding is preferred to seeking to a keyframe nobody has verified;
//   - a last packet cut short by a truncated file is not a frame (it cannot decode whole).
//
// Errors are VideoError naming the path (or the name given for memory input) and the reason.
// Damaged data: with CorruptFrames::reject (the default) a frame the decoder reports as damaged,
// or one decoded after a decode error since the last intact keyframe, is a VideoError; with
// CorruptFrames::conceal it is returned as libav's error concealment made it. Damage is found
// by libav's error resilience, which the H.264 decoder runs only in a single decoding thread
// (with frame or slice threads a damaged MP4 came out concealed without any flag, in some runs
// or all): so rejecting decodes in one thread, and the verdict never depends on timing.
//
// Rotation: phones store portrait video as landscape frames plus a display matrix.
// VideoInfo::rotation reports it; load_clip (clip.hpp) turns the frames upright.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"
#include "svilm/video/libav.hpp"
#include "svilm/video/sampling.hpp"

namespace svilm::video {

enum class TimestampSource { presentation, decode, none };
enum class CorruptFrames { reject, conceal };

struct ReaderOptions {
    // Codec threads (frame and slice threading), 0 = one per core. Used with
    // CorruptFrames::conceal only: rejecting damaged frames decodes in one thread (see above).
    int threads = 0;
    CorruptFrames corrupt_frames = CorruptFrames::reject;
};

struct VideoInfo {
    std::string path;
    std::string container;     // libav's demuxer name: "avi", "mov,mp4,m4a,3gp,3g2,mj2", ...
    std::string codec;         // "h264", "mpeg4", "msmpeg4v3", ...
    std::string pixel_format;  // the decoder's output format: "yuv420p", "rgb24", ...
    int width = 0;
    int height = 0;
    double fps = 0.0;                          // the stream's average frame rate
    double duration = 0.0;                     // seconds, frame 0's presentation to the end of the last frame
    index_t frame_count = 0;                   // exact: the frames of the stream, found by demuxing it
    std::optional<index_t> header_frame_count; // what the container's header claims, when it says
    std::vector<index_t> keyframes;            // frame indices, ascending (the container's claim
                                               // until a seek proves one wrong: then it is removed)
    TimestampSource timestamps = TimestampSource::presentation;
    int rotation = 0;  // clockwise degrees (0, 90, 180, 270) that turn a decoded frame upright
};

class VideoReader {
public:
    // (request, frame, index): the decoded frame for request `request`, whose frame index is
    // `index`. The frame is valid only during the call.
    using FrameSink = std::function<void(std::size_t request, const AVFrame& frame, index_t index)>;

    explicit VideoReader(const std::filesystem::path& path, ReaderOptions options = {})
        : name_(path.string()), options_(options) {
        std::error_code ec;
        const auto status = std::filesystem::status(path, ec);
        if (ec || !std::filesystem::exists(status)) throw VideoError(name_ + ": does not exist");
        if (std::filesystem::is_directory(status)) throw VideoError(name_ + ": is a directory, not a video file");
        // A FIFO or device would block or never end; videos are regular files.
        if (!std::filesystem::is_regular_file(status)) throw VideoError(name_ + ": is not a regular file");
        if (std::filesystem::file_size(path, ec) == 0 && !ec) throw VideoError(name_ + ": empty file");
        open();
    }

    // Reads a video held in memory; `bytes` must outlive the reader. `name` stands for the path
    // in errors.
    VideoReader(std::span<const std::byte> bytes, std::string name, ReaderOptions options = {})
        : name_(std::move(name)), options_(options), memory_(std::make_unique<MemoryInput>(bytes)) {
        if (bytes.empty()) throw VideoError(name_ + ": empty file");
        open();
    }

    VideoReader(VideoReader&&) noexcept = default;
    VideoReader& operator=(VideoReader&&) noexcept = default;

    const VideoInfo& info() const { return info_; }
    const FrameTable& frames() const { return table_; }
    const std::string& name() const { return name_; }

    // Decodes frames `indices` (any order, repeats allowed) and gives each to `sink`, in
    // ascending frame order. Requires every index in [0, frame_count).
    void decode(std::span<const index_t> indices, const FrameSink& sink) {
        std::vector<std::size_t> order(indices.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        for (const index_t i : indices)
            if (i < 0 || i >= table_.size())
                throw ValueError(name_ + ": frame " + std::to_string(i) + " is outside the video's " +
                                 std::to_string(table_.size()) + " frames");
        std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return indices[x] < indices[y]; });
        for (std::size_t g = 0; g < order.size();) {
            const index_t target = indices[order[g]];
            std::size_t end = g;
            while (end < order.size() && indices[order[end]] == target) ++end;
            const AVFrame& frame = decode_frame(target);
            for (std::size_t k = g; k < end; ++k) sink(order[k], frame, target);
            g = end;
        }
    }

    // Decodes frames first, first + 1, ..., last and gives each to `sink`: a window of a long
    // video, continuing from where the previous call stopped when that is cheaper than a seek.
    void decode_range(index_t first, index_t last, const std::function<void(const AVFrame& frame, index_t index)>& sink) {
        if (first < 0 || last < first || last >= table_.size())
            throw ValueError(name_ + ": frames " + std::to_string(first) + " to " + std::to_string(last) +
                             " are not a range inside the video's " + std::to_string(table_.size()) + " frames");
        for (index_t i = first; i <= last; ++i) sink(decode_frame(i), i);
    }

    // Every frame from the start, in order, counted as the decoder outputs them: the ground
    // truth that decode() must match. One frame in memory at a time.
    void decode_all(const std::function<void(const AVFrame& frame, index_t index)>& sink) {
        rewind();
        skip_before_pts_.reset();
        for (index_t count = 0; count < table_.size(); ++count) {
            if (!receive()) break;
            if (options_.corrupt_frames == CorruptFrames::reject && !damage_.empty())
                throw VideoError(name_ + ": frame " + std::to_string(count) + " is damaged: " + damage_);
            sink(*frame_, count);
        }
        positioned_ = false;
    }

private:
    struct Packet {
        std::int64_t pts, dts, duration;
        bool key;
    };

    // Clockwise degrees that turn a frame upright, from the stream's display matrix: libav's
    // angle is counter-clockwise, and only quarter turns are supported (others count as 0).
    static int display_rotation(const AVStream& st) {
        const auto* matrix = reinterpret_cast<const std::int32_t*>(av_stream_get_side_data(&st, AV_PKT_DATA_DISPLAYMATRIX, nullptr));
        if (!matrix) return 0;
        const double angle = -av_display_rotation_get(matrix);
        if (std::isnan(angle)) return 0;
        const int quarter = int(std::lround(angle / 90.0));
        if (std::abs(angle - 90.0 * quarter) > 1.0) return 0;
        return ((quarter % 4) + 4) % 4 * 90;
    }

    void open() {
        open_input(true);
        AVFormatContext* in = input_.get();
        const AVCodec* decoder = nullptr;
        stream_ = -1;
        for (unsigned s = 0; s < in->nb_streams; ++s) {
            const AVStream* st = in->streams[s];
            // Cover art in an audio file is a "video" stream of one picture: not a video.
            if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
                stream_ = int(s);
                break;
            }
        }
        if (stream_ < 0) {
            std::string kinds;
            for (unsigned s = 0; s < in->nb_streams; ++s) {
                const AVStream* other = in->streams[s];
                const char* kind = av_get_media_type_string(other->codecpar->codec_type);
                kinds += std::string(s ? ", " : "") +
                         (other->disposition & AV_DISPOSITION_ATTACHED_PIC ? "cover art picture" : kind ? kind : "unknown");
            }
            throw VideoError(name_ + ": no video stream" + (kinds.empty() ? " (no stream at all)" : " (streams: " + kinds + ")"));
        }
        AVStream* st = in->streams[stream_];
        for (unsigned s = 0; s < in->nb_streams; ++s)
            if (int(s) != stream_) in->streams[s]->discard = AVDISCARD_ALL;
        const AVCodecParameters* par = st->codecpar;
        decoder = avcodec_find_decoder(par->codec_id);
        if (!decoder) throw VideoError(name_ + ": no decoder for codec '" + avcodec_get_name(par->codec_id) + "'");
        if (par->width <= 0 || par->height <= 0)
            throw VideoError(name_ + ": invalid frame size " + std::to_string(par->width) + "x" + std::to_string(par->height));

        codec_.reset(detail::not_null(avcodec_alloc_context3(decoder)));
        int r = avcodec_parameters_to_context(codec_.get(), par);
        if (r < 0) throw VideoError(name_ + ": bad codec parameters: " + av_error_text(r));
        codec_->pkt_timebase = st->time_base;
        const bool reject = options_.corrupt_frames == CorruptFrames::reject;
        codec_->thread_count = reject ? 1 : options_.threads;
        codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
        if (reject) codec_->err_recognition |= AV_EF_CRCCHECK | AV_EF_BITSTREAM;
        if ((r = avcodec_open2(codec_.get(), decoder, nullptr)) < 0)
            throw VideoError(name_ + ": cannot open the " + decoder->name + " decoder: " + av_error_text(r));
        const AVPixelFormat format = codec_->pix_fmt;
        if (format != AV_PIX_FMT_NONE && !sws_isSupportedInput(format))
            throw VideoError(name_ + ": unsupported pixel format " + pixel_format_name(format));
        frame_ = make_frame();
        packet_ = make_packet();

        scan();
        fill_info(*st, *decoder);
    }

    static std::string pixel_format_name(int format) {
        const char* n = av_get_pix_fmt_name(AVPixelFormat(format));
        return n ? n : "unknown (" + std::to_string(format) + ")";
    }

    // (Re)opens the container. The first open also reads the stream information.
    void open_input(bool first) {
        positioned_ = false;  // until a seek or rewind succeeds; a failed reopen leaves no input
        input_.reset();
        io_.reset();
        AVFormatContext* raw = detail::not_null(avformat_alloc_context());
        std::string url;
        if (memory_) {
            io_ = memory_->make_context();
            raw->pb = io_.get();
            raw->flags |= AVFMT_FLAG_CUSTOM_IO;
        } else {
            // "file:" so that a ':' in the path is not taken for a protocol; only files are read.
            url = "file:" + name_;
        }
        Dictionary options;
        options.set("protocol_whitelist", "file");
        const int r = avformat_open_input(&raw, url.c_str(), nullptr, options.address());  // frees raw on failure
        if (r < 0) throw VideoError(name_ + ": not a readable video: " + av_error_text(r));
        input_.reset(raw);
        if (first) {
            const int s = avformat_find_stream_info(raw, nullptr);
            if (s < 0) throw VideoError(name_ + ": cannot read the stream information: " + av_error_text(s));
        } else {
            for (unsigned s = 0; s < raw->nb_streams; ++s)
                if (int(s) != stream_) raw->streams[s]->discard = AVDISCARD_ALL;
        }
    }

    // Demuxes every packet of the stream (no decoding) into the frame table.
    void scan() {
        std::string read_error;
        std::optional<std::int64_t> last_corrupt;  // position of the last packet, if libav flagged it
        for (;;) {
            const int r = av_read_frame(input_.get(), packet_.get());
            if (r == AVERROR_EOF) break;
            if (r < 0) {
                read_error = av_error_text(r);
                break;
            }
            // Packets flagged discard (an edit list's pre-roll) are decoded but never shown.
            if (packet_->stream_index == stream_ && !(packet_->flags & AV_PKT_FLAG_DISCARD)) {
                packets_.push_back({packet_->pts, packet_->dts, packet_->duration, bool(packet_->flags & AV_PKT_FLAG_KEY)});
                last_corrupt = packet_->flags & AV_PKT_FLAG_CORRUPT ? std::optional(packet_->pos) : std::nullopt;
            }
            av_packet_unref(packet_.get());
        }
        // A file cut short ends in a packet the demuxer could read only in part (flagged
        // corrupt): no frame decodes from it, so it is not counted, and it is never decoded.
        if (last_corrupt && *last_corrupt >= 0 && packets_.size() > 1) {
            packets_.pop_back();
            truncated_packet_pos_ = *last_corrupt;
        }
        cut_short_ = last_corrupt || !read_error.empty() || riff_cut_short();
        if (packets_.empty())
            throw VideoError(name_ + ": the video stream has no frames" + (read_error.empty() ? "" : ": " + read_error));
        positioned_ = false;  // the demuxer is at the end
    }

    // An AVI's RIFF header gives the size its writer finished with: a smaller file was cut short.
    bool riff_cut_short() {
        if (std::string_view(input_->iformat->name) != "avi") return false;
        AVIOContext* pb = input_->pb;
        const std::int64_t size = avio_size(pb);
        std::uint8_t header[8];
        if (size < 12 || avio_seek(pb, 0, SEEK_SET) < 0 || avio_read(pb, header, 8) != 8 || std::memcmp(header, "RIFF", 4) != 0)
            return false;
        const std::int64_t declared = std::int64_t(header[4]) | std::int64_t(header[5]) << 8 | std::int64_t(header[6]) << 16 |
                                      std::int64_t(header[7]) << 24;
        return declared + 8 > size;
    }

    // The frames still in the decoder's reorder buffer when a cut-short stream ends are not to
    // be trusted: frames that were cut off would have come out between them (a B-frame after
    // its P-frame), so their indices shift, and in decode mode their count is a guess (a DivX
    // packed B-frame waits for a placeholder packet that is gone). So the `depth` frames that
    // are last in presentation order (by pts), or last in the stream (decode mode), are not in
    // the table. `depth` is the decoder's reorder depth, or the depth the packets show.
    void drop_reordered_tail(bool by_pts) {
        std::size_t depth = std::size_t(std::max(codec_->has_b_frames, 0));
        if (by_pts)
            for (std::size_t i = 0; i < packets_.size(); ++i) {
                std::size_t later_shown = 0;  // frames decoded before this one that are shown after it
                for (std::size_t j = i >= 16 ? i - 16 : 0; j < i; ++j) later_shown += packets_[j].pts > packets_[i].pts;
                depth = std::max(depth, later_shown);
            }
        if (depth == 0 || packets_.size() <= depth) return;
        if (!by_pts) return packets_.resize(packets_.size() - depth);
        std::vector<std::int64_t> pts;
        for (const Packet& p : packets_) pts.push_back(p.pts);
        std::nth_element(pts.begin(), pts.end() - std::ptrdiff_t(depth), pts.end());
        const std::int64_t first_dropped = pts[pts.size() - depth];
        std::erase_if(packets_, [&](const Packet& p) { return p.pts >= first_dropped; });
    }

    void fill_info(const AVStream& st, const AVCodec& decoder) {
        table_.source = name_;
        table_.time_base = {st.time_base.num, st.time_base.den};
        const bool timed = table_.time_base.num > 0;
        bool all_pts = true, all_dts = true;
        const auto scan_timestamps = [&] {
            all_pts = all_dts = true;
            for (const Packet& p : packets_) {
                all_pts = all_pts && p.pts != AV_NOPTS_VALUE;
                all_dts = all_dts && p.dts != AV_NOPTS_VALUE;
            }
            if (all_pts) {
                std::vector<std::int64_t> sorted;
                for (const Packet& p : packets_) sorted.push_back(p.pts);
                std::sort(sorted.begin(), sorted.end());
                all_pts = std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
            }
            if (all_dts)
                for (std::size_t i = 1; i < packets_.size() && all_dts; ++i) all_dts = packets_[i].dts > packets_[i - 1].dts;
        };
        scan_timestamps();
        if (cut_short_ && ((all_pts && timed) || (all_dts && timed))) {
            drop_reordered_tail(all_pts);
            scan_timestamps();
        }
        std::vector<std::int64_t> pts;
        if (all_pts)
            for (const Packet& p : packets_) pts.push_back(p.pts);
        std::sort(pts.begin(), pts.end());
        const auto n = packets_.size();
        AVRational rate = st.avg_frame_rate.num > 0 && st.avg_frame_rate.den > 0 ? st.avg_frame_rate : st.r_frame_rate;
        if (rate.num <= 0 || rate.den <= 0) rate = {25, 1};

        if (all_pts && timed) {
            mode_ = TimestampSource::presentation;
            table_.times = std::move(pts);
        } else if (all_dts && timed) {
            mode_ = TimestampSource::decode;
            for (const Packet& p : packets_) table_.times.push_back(p.dts);
        } else {
            mode_ = TimestampSource::none;
            table_.time_base = {rate.den, rate.num};
            for (std::size_t i = 0; i < n; ++i) table_.times.push_back(std::int64_t(i));
        }
        for (std::size_t p = 0; p < n; ++p) {
            if (!packets_[p].key) continue;
            const index_t index = mode_ == TimestampSource::presentation ? index_of_pts(packets_[p].pts) : index_t(p);
            // Seek by pts where every packet has one: demuxers index by presentation time (an
            // MP4's keyframe dts lies before its pts, and BACKWARD from it lands a GOP early).
            const bool by_pts = mode_ == TimestampSource::presentation || packets_[p].dts == AV_NOPTS_VALUE;
            anchors_.push_back({index, by_pts ? packets_[p].pts : packets_[p].dts, index == 0});
        }
        std::sort(anchors_.begin(), anchors_.end(), [](const Anchor& a, const Anchor& b) { return a.index < b.index; });
        for (const Anchor& a : anchors_) table_.keyframes.push_back(a.index);

        // The last frame lasts its packet's duration, else the average frame interval, else 1/rate.
        const auto& times = table_.times;
        std::int64_t last = packets_.back().duration;
        if (mode_ == TimestampSource::none) last = 1;
        else if (last <= 0 && n > 1) last = std::max<std::int64_t>((times.back() - times.front()) / std::int64_t(n - 1), 1);
        const double tail = last > 0 ? double(last) * table_.time_base.value() : av_q2d(av_inv_q(rate));
        table_.duration = double(times.back() - times.front()) * table_.time_base.value() + tail;

        info_.path = name_;
        info_.container = input_->iformat->name;
        info_.codec = decoder.name;
        info_.pixel_format = pixel_format_name(codec_->pix_fmt);
        info_.width = codec_->width;
        info_.height = codec_->height;
        info_.fps = av_q2d(rate);
        info_.duration = table_.duration;
        info_.frame_count = index_t(n);
        if (st.nb_frames > 0) info_.header_frame_count = st.nb_frames;
        info_.keyframes = table_.keyframes;
        info_.timestamps = mode_;
        info_.rotation = display_rotation(st);
    }

    index_t index_of_pts(std::int64_t pts) const {
        const auto& t = table_.times;
        const auto it = std::lower_bound(t.begin(), t.end(), pts);
        return it != t.end() && *it == pts ? index_t(it - t.begin()) : -1;
    }

    // Returns the decoded frame `target`, seeking when that is cheaper than decoding on.
    const AVFrame& decode_frame(index_t target) {
        const bool reject = options_.corrupt_frames == CorruptFrames::reject;
        // Frames before the target that nothing references need not be decoded. Only for
        // decoders that carry each picture's pts through their own reordering (H.264, HEVC):
        // others (MPEG-2) pair output frames with input packets, and a skipped picture shifts
        // the pairing.
        skip_before_pts_.reset();
        if (carries_pts()) skip_before_pts_ = table_.times[std::size_t(target)];
        index_t anchor = seek_anchor(target);
        bool continuing = false;
        if (positioned_ && last_index_ >= 0 && last_index_ < target) {
            // Once the container has lied about a keyframe, only a verified one is worth a seek.
            index_t worth_a_seek = anchor;
            if (key_flags_lied_)
                while (worth_a_seek >= 0 && !anchors_[std::size_t(worth_a_seek)].verified) --worth_a_seek;
            continuing = worth_a_seek < 0 || anchors_[std::size_t(worth_a_seek)].index <= last_index_ + 1;
        }
        if (!continuing) seek(anchor);
        for (;;) {
            const bool received = receive();
            if (lied_anchor_ >= 0) {
                anchor = lied_anchor_;
                forget_anchor(std::size_t(anchor));
                seek(--anchor);
                continue;
            }
            if (unplaced_) {
                // Decode mode: the first frame after the seek had no triggering packet (the
                // stream ended first), so its index is unknown: start from an earlier keyframe.
                seek(--anchor);
                continue;
            }
            if (!received && after_seek_ && anchor >= 0) {
                // The stream ended before the target after a seek: the seek went past the last
                // keyframe, or the last frames of an open GOP need pictures from before it.
                // Start from an earlier keyframe (finally the start).
                seek(--anchor);
                continue;
            }
            if (!received)
                throw VideoError(name_ + ": frame " + std::to_string(target) + " could not be decoded: " +
                                 (!read_error_.empty() ? read_error_
                                  : !damage_.empty()   ? damage_
                                  : last_index_ < 0    ? std::string("the decoder produced no frame")
                                                       : "the stream ended after frame " + std::to_string(last_index_)));
            if (last_index_ < target) continue;
            if (last_index_ > target) {
                // The seek went past the keyframe, or the decoder dropped the target for lack of
                // a picture from before it: start from an earlier keyframe (finally the start).
                if (after_seek_ && anchor >= 0) {
                    seek(--anchor);
                    continue;
                }
                throw VideoError(name_ + ": frame " + std::to_string(target) + " was not produced by the decoder (it went on to frame " +
                                 std::to_string(last_index_) + ")");
            }
            if (reject && !damage_.empty())
                throw VideoError(name_ + ": frame " + std::to_string(target) + " is damaged: " + damage_);
            return *frame_;
        }
    }

    bool carries_pts() const {
        return mode_ == TimestampSource::presentation && (codec_->codec_id == AV_CODEC_ID_H264 || codec_->codec_id == AV_CODEC_ID_HEVC);
    }

    // Position in anchors_ of the last keyframe at or before `target`; -1 means the start.
    index_t seek_anchor(index_t target) const {
        if (mode_ == TimestampSource::none) return -1;
        const auto it = std::upper_bound(anchors_.begin(), anchors_.end(), target,
                                         [](index_t t, const Anchor& a) { return t < a.index; });
        return index_t(it - anchors_.begin()) - 1;
    }

    // Positions demuxer and decoder at anchor `anchor` (-1: the start of the stream).
    void seek(index_t anchor) {
        if (anchor < 0 || anchors_[std::size_t(anchor)].index == 0 || !input_) return rewind();
        const int r = av_seek_frame(input_.get(), stream_, anchors_[std::size_t(anchor)].seek_ts, AVSEEK_FLAG_BACKWARD);
        if (r < 0) return rewind();
        reset_run(true);
        checking_anchor_ = anchor;
        after_seek_ = true;
    }

    // A keyframe the decoder did not confirm: gone from the anchors and from the keyframe lists.
    void forget_anchor(std::size_t anchor) {
        const index_t index = anchors_[anchor].index;
        anchors_.erase(anchors_.begin() + std::ptrdiff_t(anchor));
        for (std::vector<index_t>* keys : {&table_.keyframes, &info_.keyframes}) {
            const auto it = std::lower_bound(keys->begin(), keys->end(), index);
            if (it != keys->end() && *it == index) keys->erase(it);
        }
        key_flags_lied_ = true;
    }

    // The start of the stream. Without timestamps the container is opened again, so that
    // counting from 0 is exact.
    void rewind() {
        const Packet& first = packets_.front();
        if (mode_ == TimestampSource::none || !input_ ||
            av_seek_frame(input_.get(), stream_, first.dts != AV_NOPTS_VALUE ? first.dts : first.pts, AVSEEK_FLAG_BACKWARD) < 0)
            open_input(false);
        reset_run(false);
        next_index_ = 0;
    }

    void reset_run(bool wait_for_keyframe) {
        avcodec_flush_buffers(codec_.get());
        positioned_ = true;
        draining_ = false;
        wait_for_key_ = wait_for_keyframe;
        last_index_ = -1;
        run_frames_ = 0;
        checking_anchor_ = -1;
        lied_anchor_ = -1;
        after_seek_ = false;
        unplaced_ = false;
        damage_.clear();
        read_error_.clear();
    }

    // The next frame out of the decoder into frame_, its index into last_index_; false at the end.
    bool receive() {
        for (;;) {
            const int r = avcodec_receive_frame(codec_.get(), frame_.get());
            if (r == 0) {
                identify();
                return true;
            }
            if (r == AVERROR_EOF) return false;
            if (r != AVERROR(EAGAIN)) note_damage("decode error: " + av_error_text(r));
            if (draining_) return false;
            send_next_packet();
        }
    }

    void identify() {
        ++run_frames_;
        const AVFrame& f = *frame_;
        if (mode_ == TimestampSource::presentation) {
            const std::int64_t pts = f.pts != AV_NOPTS_VALUE ? f.pts : f.best_effort_timestamp;
            const index_t index = index_of_pts(pts);
            last_index_ = index >= 0 ? index : last_index_ + 1;
        } else if (mode_ == TimestampSource::decode) {
            const auto& t = table_.times;
            const auto it = std::lower_bound(t.begin(), t.end(), f.pkt_dts);
            const index_t index = f.pkt_dts != AV_NOPTS_VALUE && it != t.end() && *it == f.pkt_dts
                                      ? index_t(it - t.begin()) - codec_->has_b_frames
                                      : -1;
            // Counting on is exact from the start of the stream, not from a seek point.
            if (index < 0 && last_index_ < 0 && after_seek_) {
                unplaced_ = true;
                return;
            }
            last_index_ = index >= 0 ? index : last_index_ + 1;
        } else {
            last_index_ = next_index_++;
        }
        check_anchor(f);
        if ((f.flags & AV_FRAME_FLAG_CORRUPT) || f.decode_error_flags)
            note_damage("the decoder flagged frame " + std::to_string(last_index_) + " as corrupt");
        else if (f.key_frame)
            damage_.clear();  // an intact keyframe: nothing before it matters any more
    }

    // After a seek to a keyframe, the first frame out at or after its position (leading
    // pictures of an open GOP come before it) must be that keyframe, as the decoder sees it.
    // A keyframe's table index is its packet's position in decode mode, at most its frame
    // index; only decoders that carry each picture's pts through their reordering (H.264,
    // HEVC) name the frame exactly (MPEG-2's output pts is its triggering packet's).
    void check_anchor(const AVFrame& f) {
        if (checking_anchor_ < 0) return;
        Anchor& a = anchors_[std::size_t(checking_anchor_)];
        if (last_index_ < a.index) return;
        const bool same_frame = !carries_pts() || last_index_ == a.index;
        if (f.key_frame && same_frame) a.verified = true;
        else lied_anchor_ = checking_anchor_;
        checking_anchor_ = -1;
    }

    void note_damage(const std::string& what) {
        if (damage_.empty()) damage_ = what;
    }

    // Sends the stream's next packet to the decoder, or the drain signal at its end.
    void send_next_packet() {
        for (;;) {
            const int r = av_read_frame(input_.get(), packet_.get());
            if (r < 0) {
                if (r != AVERROR_EOF) read_error_ = "read error: " + av_error_text(r);
                avcodec_send_packet(codec_.get(), nullptr);
                draining_ = true;
                return;
            }
            if (packet_->stream_index != stream_ || (truncated_packet_pos_ && packet_->pos == *truncated_packet_pos_)) {
                av_packet_unref(packet_.get());
                continue;
            }
            if (wait_for_key_) {
                // After a seek, decoding starts at a keyframe.
                if (!(packet_->flags & AV_PKT_FLAG_KEY)) {
                    av_packet_unref(packet_.get());
                    continue;
                }
                wait_for_key_ = false;
            }
            const bool skip = skip_before_pts_ && packet_->pts != AV_NOPTS_VALUE && packet_->pts < *skip_before_pts_;
            codec_->skip_frame = skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
            const int s = avcodec_send_packet(codec_.get(), packet_.get());
            av_packet_unref(packet_.get());
            if (s < 0 && s != AVERROR(EAGAIN)) note_damage("decode error: " + av_error_text(s));
            return;
        }
    }

    struct Anchor {
        index_t index;         // the keyframe's frame index
        std::int64_t seek_ts;  // what av_seek_frame looks up in the container's index
        bool verified;         // a seek to it gave a frame the decoder calls a keyframe
    };

    std::string name_;
    ReaderOptions options_;
    std::unique_ptr<MemoryInput> memory_;
    IoContext io_;
    InputContext input_;
    CodecContext codec_;
    FramePtr frame_;
    PacketPtr packet_;
    int stream_ = -1;
    std::vector<Packet> packets_;
    std::vector<Anchor> anchors_;
    FrameTable table_;
    VideoInfo info_;
    TimestampSource mode_ = TimestampSource::presentation;

    bool positioned_ = false;   // demuxer and decoder continue a run from a known point
    bool draining_ = false;     // the end of the stream was sent to the decoder
    bool wait_for_key_ = false; // skip packets up to a keyframe (after a seek)
    index_t last_index_ = -1;   // index of the last frame out in this run
    index_t next_index_ = 0;    // no timestamps: index of the next frame out, counted from the start
    index_t run_frames_ = 0;    // frames out since the last seek
    std::string damage_;        // first decode error since the last intact keyframe
    std::string read_error_;    // why the demuxer stopped early, if it did
    std::optional<std::int64_t> skip_before_pts_;      // frames before this pts may go undecoded
    std::optional<std::int64_t> truncated_packet_pos_; // the cut-short last packet, never decoded
    bool cut_short_ = false;  // the file ends before its container says it does
    index_t checking_anchor_ = -1;  // the anchor of the last seek, until its keyframe is checked
    index_t lied_anchor_ = -1;      // the anchor of the last seek, found not to be a keyframe
    bool after_seek_ = false;       // this run started at a keyframe, not at the start
    bool unplaced_ = false;         // ... and its first frame could not be given an index
    bool key_flags_lied_ = false;   // some keyframe of the container was not one
};

}  // namespace svilm::video
