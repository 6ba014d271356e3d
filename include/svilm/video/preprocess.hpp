// svilm/video/preprocess.hpp: decoded frames to the model's input, (3, S, S) float normalised
// per docs/model.md §2, and to plain RGB.
//
// One swscale pass per frame does colour conversion, crop and resize straight from the
// decoder's format (no full-size RGB copy):
//   - colours: the frame's own matrix (BT.601 when untagged, BT.709, BT.2020, ...) and range
//     (limited or full), full chroma interpolation, accurate rounding;
//   - resize: swscale's bilinear filter, which widens with the downscale factor (a triangle
//     filter, like PIL's bilinear), so downscaling is antialiased;
//   - crop: a box in source pixels; its left and top edges are rounded down to the chroma grid
//     (even for 4:2:0), so luma and chroma stay aligned.
// Then out[c][y][x] = (rgb / 255 - mean[c]) / std[c], mean (0.485, 0.456, 0.406), std
// (0.229, 0.224, 0.225), with x mirrored when the transform flips.
//
// Inference: center_crop = resize the shorter side to S and crop the center S x S (the centered
// min(W, H) square of the source, scaled to S). Training: random_resized_crop, torchvision's
// RandomResizedCrop (area 8-100 %, aspect 3/4-4/3) and a horizontal flip with probability 1/2;
// one transform per clip, so every frame of a clip gets the same crop.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstddef>
#include <string>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/video/libav.hpp"

namespace svilm::video {

struct Normalization {
    std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
    std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

struct CropBox {
    int x = 0, y = 0, width = 0, height = 0;  // in source pixels
};

// Applied in this order: turn the decoded frame upright (`rotation` clockwise degrees: 0, 90,
// 180 or 270, VideoInfo::rotation), crop `crop` (in upright pixels), resize, mirror.
struct FrameTransform {
    CropBox crop;
    int out_width = 0, out_height = 0;
    bool flip = false;  // mirror left-right
    int rotation = 0;
};

// Resize the shorter side to `size`, center crop size x size.
inline FrameTransform center_crop(int width, int height, int size) {
    if (width <= 0 || height <= 0 || size <= 0)
        throw ValueError("center_crop: frame " + std::to_string(width) + "x" + std::to_string(height) + ", size " +
                         std::to_string(size));
    const int side = std::min(width, height);
    return {{(width - side) / 2, (height - side) / 2, side, side}, size, size, false};
}

struct RandomCropOptions {
    double min_area = 0.08, max_area = 1.0;          // of the frame
    double min_aspect = 3.0 / 4.0, max_aspect = 4.0 / 3.0;  // width / height
    bool flip = true;                                 // mirror with probability 1/2
};

namespace detail {

inline double draw_uniform(Generator& rng, double low, double high) {
    double u = 0;
    rng.uniform<double, 1>(TensorView<double, 1>(&u, {1}), low, high);
    return u;
}

}  // namespace detail

// torchvision's RandomResizedCrop.get_params, then a flip. Draws, in order: for each of up to
// 10 attempts an area fraction and a log-aspect (uniform doubles); for the accepted box its top
// then its left offset (uniform_int); then the flip (uniform_int(2), when options.flip). When
// no attempt fits, the center crop clamped to the aspect range is used.
inline FrameTransform random_resized_crop(int width, int height, int size, Generator& rng,
                                          const RandomCropOptions& options = {}) {
    if (width <= 0 || height <= 0 || size <= 0)
        throw ValueError("random_resized_crop: frame " + std::to_string(width) + "x" + std::to_string(height) +
                         ", size " + std::to_string(size));
    if (!(options.min_area > 0 && options.min_area <= options.max_area && options.max_area <= 1 &&
          options.min_aspect > 0 && options.min_aspect <= options.max_aspect))
        throw ValueError("random_resized_crop: invalid area or aspect range");
    const double area = double(width) * height;
    const double log_lo = std::log(options.min_aspect), log_hi = std::log(options.max_aspect);
    FrameTransform t{{}, size, size, false};
    bool found = false;
    for (int attempt = 0; attempt < 10 && !found; ++attempt) {
        const double target = area * detail::draw_uniform(rng, options.min_area, options.max_area);
        const double aspect = std::exp(detail::draw_uniform(rng, log_lo, log_hi));
        const int w = int(std::lround(std::sqrt(target * aspect))), h = int(std::lround(std::sqrt(target / aspect)));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            const int top = int(rng.uniform_int(std::uint64_t(height - h + 1)));
            const int left = int(rng.uniform_int(std::uint64_t(width - w + 1)));
            t.crop = {left, top, w, h};
            found = true;
        }
    }
    if (!found) {
        const double ratio = double(width) / height;
        int w = width, h = height;
        if (ratio < options.min_aspect) h = int(std::lround(w / options.min_aspect));
        else if (ratio > options.max_aspect) w = int(std::lround(h * options.max_aspect));
        t.crop = {(width - w) / 2, (height - h) / 2, w, h};
    }
    if (options.flip) t.flip = rng.uniform_int(2) == 1;
    return t;
}

namespace detail {

// Where the pixels of an upright (w x h) image, mirrored left-right when `flip`, lie in a packed
// buffer of the source-oriented frame (sw x sh pixels, turned `rotation` degrees clockwise to be
// upright): pixel (x, y) is at start + x * step_x + y * step_y, in pixels. Turns and mirrors are
// affine, so one walk serves every case without a branch per pixel.
struct PixelWalk {
    std::ptrdiff_t start, step_x, step_y;
};

inline PixelWalk upright_walk(int rotation, int sw, int sh, bool flip, int w) {
    const std::ptrdiff_t row = sw;
    PixelWalk p{0, 1, row};
    switch (rotation) {
        case 90: p = {(sh - 1) * row, -row, 1}; break;      // (x, y) <- (y, sh - 1 - x)
        case 180: p = {(sh - 1) * row + sw - 1, -1, -row}; break;  // <- (sw - 1 - x, sh - 1 - y)
        case 270: p = {sw - 1, row, -1}; break;             // <- (sw - 1 - y, x)
        default: break;
    }
    if (flip) {
        p.start += std::ptrdiff_t(w - 1) * p.step_x;
        p.step_x = -p.step_x;
    }
    return p;
}

// A box in the upright image as a box in the source-oriented (sw x sh) frame.
inline CropBox unrotate(const CropBox& b, int rotation, int sw, int sh) {
    switch (rotation) {
        case 90: return {b.y, sh - b.x - b.width, b.height, b.width};
        case 180: return {sw - b.x - b.width, sh - b.y - b.height, b.width, b.height};
        case 270: return {sw - b.y - b.height, b.x, b.height, b.width};
        default: return b;
    }
}

}  // namespace detail

// Converts decoded frames; keeps its swscale context while the input and output stay the same.
class FrameConverter {
public:
    // frame -> out (3, out_height, out_width), normalised. `what` names the video in errors.
    template <class T>
    void to_tensor(const AVFrame& frame, const FrameTransform& t, TensorView<T, 3> out, const std::string& what,
                   const Normalization& norm = {}) {
        expect_shape("FrameConverter::to_tensor", "out", out, {3, t.out_height, t.out_width});
        expect_contiguous("FrameConverter::to_tensor", "out", out);
        detail::check_rotation(t.rotation, what);
        const int w = t.out_width, h = t.out_height;
        // swscale works in the frame's own orientation: (sw, sh) is the output before turning.
        const bool quarter = t.rotation % 180 != 0;
        const int sw = quarter ? h : w, sh = quarter ? w : h;
        rgb_.resize(std::size_t(w) * h * 3);
        scale(frame, detail::unrotate(t.crop, t.rotation, frame.width, frame.height), sw, sh, rgb_.data(), 3 * sw, what);
        std::array<std::array<T, 256>, 3> lut;
        for (int c = 0; c < 3; ++c)
            for (int v = 0; v < 256; ++v) lut[c][v] = T((float(v) / 255.0f - norm.mean[c]) / norm.std[c]);
        T* planes[3] = {out.data(), out.data() + std::size_t(w) * h, out.data() + 2 * std::size_t(w) * h};
        const detail::PixelWalk walk = detail::upright_walk(t.rotation, sw, sh, t.flip, w);
        for (int y = 0; y < h; ++y) {
            const std::size_t base = std::size_t(y) * w;
            const std::uint8_t* row = rgb_.data() + 3 * (walk.start + y * walk.step_y);
            for (int x = 0; x < w; ++x) {
                const std::uint8_t* px = row + 3 * x * walk.step_x;
                planes[0][base + std::size_t(x)] = lut[0][px[0]];
                planes[1][base + std::size_t(x)] = lut[1][px[1]];
                planes[2][base + std::size_t(x)] = lut[2][px[2]];
            }
        }
    }

    // frame -> (height, width, 3) 8-bit RGB at full size, turned `rotation` degrees clockwise
    // (then (width, height, 3) for quarter turns).
    Tensor<std::uint8_t, 3> to_rgb(const AVFrame& frame, const std::string& what, int rotation = 0) {
        detail::check_rotation(rotation, what);
        Tensor<std::uint8_t, 3> source({frame.height, frame.width, 3}, uninitialized);
        scale(frame, {0, 0, frame.width, frame.height}, frame.width, frame.height, source.data(), 3 * frame.width, what);
        if (rotation == 0) return source;
        const bool quarter = rotation % 180 != 0;
        const int w = quarter ? frame.height : frame.width, h = quarter ? frame.width : frame.height;
        Tensor<std::uint8_t, 3> out({h, w, 3}, uninitialized);
        const detail::PixelWalk walk = detail::upright_walk(rotation, frame.width, frame.height, false, w);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const std::uint8_t* px = source.data() + 3 * (walk.start + x * walk.step_x + y * walk.step_y);
                for (int c = 0; c < 3; ++c) out(y, x, c) = px[c];
            }
        return out;
    }

private:
    // Crops, converts and resizes `frame` into packed RGB24 at dst (w x h, `stride` bytes a row).
    void scale(const AVFrame& frame, CropBox box, int w, int h, std::uint8_t* dst, int stride, const std::string& what) {
        const auto format = AVPixelFormat(frame.format);
        const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
        if (!desc || !sws_isSupportedInput(format))
            throw VideoError(what + ": unsupported pixel format " + (desc ? desc->name : std::to_string(frame.format)));
        if (box.width <= 0 || box.height <= 0 || box.x < 0 || box.y < 0 || box.x + box.width > frame.width ||
            box.y + box.height > frame.height)
            throw ValueError(what + ": crop " + std::to_string(box.width) + "x" + std::to_string(box.height) + "+" +
                             std::to_string(box.x) + "+" + std::to_string(box.y) + " is outside the " +
                             std::to_string(frame.width) + "x" + std::to_string(frame.height) + " frame");
        const AVFrame* source = &frame;
        if (desc->flags & AV_PIX_FMT_FLAG_BITSTREAM) {
            // Several pixels share a byte (monob, bgr4): crop after converting to 8 bits a channel.
            source = widen(frame, what);
            desc = av_pix_fmt_desc_get(AVPixelFormat(source->format));
        }
        // Align the box to the chroma grid, then point at its first pixel in each plane.
        const int align_x = 1 << desc->log2_chroma_w, align_y = 1 << desc->log2_chroma_h;
        box.width += box.x % align_x;
        box.x -= box.x % align_x;
        box.height += box.y % align_y;
        box.y -= box.y % align_y;
        const std::uint8_t* planes[4] = {};
        int strides[4] = {};
        for (int p = 0; p < 4 && source->data[p]; ++p) {
            // Bytes from one pixel to the next: the first component of the plane steps by a pixel
            // (YUYV's Y steps 2 bytes where its U steps 4, every 2 pixels).
            int step = 1;
            for (int c = 0; c < desc->nb_components; ++c)
                if (desc->comp[c].plane == p) {
                    step = desc->comp[c].step;
                    break;
                }
            const bool chroma = (p == 1 || p == 2) && !(desc->flags & AV_PIX_FMT_FLAG_RGB);
            const int x = chroma ? box.x >> desc->log2_chroma_w : box.x;
            const int y = chroma ? box.y >> desc->log2_chroma_h : box.y;
            // A palette (plane 1 of PAL8) is not an image plane.
            const bool palette = (desc->flags & AV_PIX_FMT_FLAG_PAL) && p == 1;
            planes[p] = palette ? source->data[p] : source->data[p] + std::ptrdiff_t(y) * source->linesize[p] + std::ptrdiff_t(x) * step;
            strides[p] = source->linesize[p];
        }
        SwsContext* ctx = sws_getCachedContext(context_.release(), box.width, box.height, AVPixelFormat(source->format), w, h,
                                               AV_PIX_FMT_RGB24, SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                               nullptr, nullptr, nullptr);
        if (!ctx) throw VideoError(what + ": cannot convert " + desc->name + " to RGB");
        context_.reset(ctx);
        if (!(desc->flags & AV_PIX_FMT_FLAG_RGB)) {
            const bool full_range = source->color_range == AVCOL_RANGE_JPEG || format == AV_PIX_FMT_YUVJ420P ||
                                    format == AV_PIX_FMT_YUVJ422P || format == AV_PIX_FMT_YUVJ444P;
            sws_setColorspaceDetails(ctx, sws_getCoefficients(source->colorspace), full_range,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
        }
        std::uint8_t* dst_planes[4] = {dst, nullptr, nullptr, nullptr};
        int dst_strides[4] = {stride, 0, 0, 0};
        if (sws_scale(ctx, planes, strides, 0, box.height, dst_planes, dst_strides) != h)
            throw VideoError(what + ": swscale did not produce the frame");
    }

    const AVFrame* widen(const AVFrame& frame, const std::string& what) {
        if (!wide_ || wide_->width != frame.width || wide_->height != frame.height) {
            wide_ = make_frame();
            wide_->format = AV_PIX_FMT_RGB24;
            wide_->width = frame.width;
            wide_->height = frame.height;
            if (av_frame_get_buffer(wide_.get(), 0) < 0) throw std::bad_alloc();
        }
        SwsContext* ctx = sws_getCachedContext(widen_context_.release(), frame.width, frame.height, AVPixelFormat(frame.format),
                                               frame.width, frame.height, AV_PIX_FMT_RGB24, SWS_POINT, nullptr, nullptr, nullptr);
        if (!ctx) throw VideoError(what + ": cannot convert " + av_get_pix_fmt_name(AVPixelFormat(frame.format)) + " to RGB");
        widen_context_.reset(ctx);
        sws_scale(ctx, frame.data, frame.linesize, 0, frame.height, wide_->data, wide_->linesize);
        return wide_.get();
    }

    ScaleContext context_, widen_context_;
    FramePtr wide_;
    std::vector<std::uint8_t> rgb_;
};

}  // namespace svilm::video
