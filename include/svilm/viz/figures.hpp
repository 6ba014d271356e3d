// svilm/viz/figures.hpp: the paper's figures as images (docs/model.md §10), drawn without text: a heat map
// of a matrix (Figure 2 left: the N_t x N_t similarity of z_t), a heat map over a strip of frames
// (Figure 4: a noun's group assignment map), a strip of frames with a bar per frame (Figure 5:
// p_t), and loss curves. Each returns an Image (H, W, 3); write it with write_png (png.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/viz/colormap.hpp"
#include "svilm/viz/png.hpp"

namespace svilm::viz {

// The values mapped onto the colour map's ends; a NaN end is taken from the data (its finite
// minimum or maximum). Values outside are clamped.
struct ValueRange {
    double low = std::numeric_limits<double>::quiet_NaN();
    double high = std::numeric_limits<double>::quiet_NaN();
};

inline constexpr Rgb8 white = {255, 255, 255};
inline constexpr Rgb8 black = {0, 0, 0};

namespace detail {

inline void fill_rect(TensorView<std::uint8_t, 3> image, index_t i0, index_t j0, index_t i1, index_t j1, Rgb8 c) {
    i0 = std::max<index_t>(i0, 0), j0 = std::max<index_t>(j0, 0);
    i1 = std::min(i1, image.extent(0)), j1 = std::min(j1, image.extent(1));
    for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j)
            for (index_t k = 0; k < 3; ++k) image(i, j, k) = c[std::size_t(k)];
}

inline Image blank(index_t height, index_t width, Rgb8 c = white) {
    Image image({height, width, 3}, uninitialized);
    fill_rect(image, 0, 0, height, width, c);
    return image;
}

// A line from (x0, y0) to (x1, y1) (x = column, y = row) drawn with square thickness x thickness
// pens at every step of the longer axis.
inline void draw_line(TensorView<std::uint8_t, 3> image, double x0, double y0, double x1, double y1, Rgb8 c,
                      index_t thickness) {
    const double steps = std::max({std::abs(x1 - x0), std::abs(y1 - y0), 1.0});
    for (index_t s = 0; s <= index_t(std::ceil(steps)); ++s) {
        const double f = double(s) / std::ceil(steps);
        const index_t x = index_t(std::lround(x0 + f * (x1 - x0))) - thickness / 2;
        const index_t y = index_t(std::lround(y0 + f * (y1 - y0))) - thickness / 2;
        fill_rect(image, y, x, y + thickness, x + thickness, c);
    }
}

// The range of the finite values that for_each(visit) visits, with range's non-NaN ends
// overriding ([0, 1] when no value is finite).
template <class ForEach>
std::pair<double, double> resolve_range(ForEach for_each, ValueRange range) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for_each([&](double v) {
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    });
    if (!std::isnan(range.low)) lo = range.low;
    if (!std::isnan(range.high)) hi = range.high;
    if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
    return {lo, hi};
}

// Position of v in [lo, hi] as 0..1 (0.5 when the range is a single value; NaN stays NaN).
inline double unit(double v, double lo, double hi) {
    if (std::isnan(v)) return v;
    return hi > lo ? std::clamp((v - lo) / (hi - lo), 0.0, 1.0) : 0.5;
}

inline void expect_frames(const char* op, const TensorView<const std::uint8_t, 4>& frames) {
    if (frames.extent(3) != 3 || frames.extent(0) < 1 || frames.extent(1) < 1 || frames.extent(2) < 1)
        throw ShapeError(std::string(op) + ": frames " + to_string<4>(frames.shape()) + " expected (T, H, W, 3)");
}

}  // namespace detail

// Heat map of matrix (R, C): entry (r, c) becomes a cell x cell block of viridis, row 0 at the
// top; NaN entries are grey.
// requires: R, C, cell >= 1.
template <class T>
Image heat_map(std::type_identity_t<TensorView<const T, 2>> matrix, index_t cell = 1, ValueRange range = {}) {
    const index_t R = matrix.extent(0), C = matrix.extent(1);
    if (R < 1 || C < 1 || cell < 1)
        throw ShapeError("heat_map: matrix " + to_string<2>(matrix.shape()) + " with cells of " + std::to_string(cell) + " px");
    const auto [lo, hi] = detail::resolve_range(
        [&](auto visit) {
            for (index_t r = 0; r < R; ++r)
                for (index_t c = 0; c < C; ++c) visit(double(matrix(r, c)));
        },
        range);
    Image image({R * cell, C * cell, 3}, uninitialized);
    for (index_t r = 0; r < R; ++r)
        for (index_t c = 0; c < C; ++c)
            detail::fill_rect(image, r * cell, c * cell, (r + 1) * cell, (c + 1) * cell,
                              viridis(detail::unit(double(matrix(r, c)), lo, hi)));
    return image;
}

// frames (T, H, W, 3) side by side with `gap` white columns between: (H, T W + (T - 1) gap, 3).
inline Image frame_strip(TensorView<const std::uint8_t, 4> frames, index_t gap = 2) {
    detail::expect_frames("frame_strip", frames);
    const index_t T = frames.extent(0), H = frames.extent(1), W = frames.extent(2);
    Image strip = detail::blank(H, T * W + (T - 1) * gap);
    for (index_t t = 0; t < T; ++t)
        for (index_t i = 0; i < H; ++i)
            for (index_t j = 0; j < W; ++j)
                for (index_t k = 0; k < 3; ++k) strip(i, t * (W + gap) + j, k) = frames(t, i, j, k);
    return strip;
}

// Figure 4: heat (T, H, W) blended over frames (T, H, W, 3) as a strip: pixel = (1 - alpha)
// frame + alpha viridis(heat), the heat normalised over the whole clip (or `range`).
template <class T>
Image overlay_strip(TensorView<const std::uint8_t, 4> frames, std::type_identity_t<TensorView<const T, 3>> heat,
                    double alpha = 0.5, ValueRange range = {}, index_t gap = 2) {
    detail::expect_frames("overlay_strip", frames);
    const index_t F = frames.extent(0), H = frames.extent(1), W = frames.extent(2);
    expect_shape("overlay_strip", "heat", heat, {F, H, W});
    if (!(alpha >= 0 && alpha <= 1)) throw ValueError("overlay_strip: alpha must lie in [0, 1]");
    const auto [lo, hi] = detail::resolve_range(
        [&](auto visit) {
            for (index_t t = 0; t < F; ++t)
                for (index_t i = 0; i < H; ++i)
                    for (index_t j = 0; j < W; ++j) visit(double(heat(t, i, j)));
        },
        range);
    Image strip = frame_strip(frames, gap);
    for (index_t t = 0; t < F; ++t)
        for (index_t i = 0; i < H; ++i)
            for (index_t j = 0; j < W; ++j) {
                const Rgb8 c = viridis(detail::unit(double(heat(t, i, j)), lo, hi));
                for (index_t k = 0; k < 3; ++k) {
                    std::uint8_t& px = strip(i, t * (W + gap) + j, k);
                    px = std::uint8_t(std::lround((1 - alpha) * px + alpha * c[std::size_t(k)]));
                }
            }
    return strip;
}

// Figure 5: frames (T, H, W, 3) as a strip with, under each frame, a bar of height value in
// [0, 1] (clamped) on a dark panel of max(8, H / 2) rows, with a grey line at 0.5. values holds
// one value per frame or per temporal position (T a multiple of its length: frame f shows value
// f * n / T). reference, when given (same length), is drawn as a white line across the panel
// (e.g. the ground-truth mask m_t).
template <class T>
Image value_strip(TensorView<const std::uint8_t, 4> frames, std::type_identity_t<std::span<const T>> values,
                  std::type_identity_t<std::span<const T>> reference = {}, index_t gap = 2) {
    detail::expect_frames("value_strip", frames);
    const index_t F = frames.extent(0), H = frames.extent(1), W = frames.extent(2);
    const index_t n = index_t(values.size());
    if (n < 1 || F % n != 0)
        throw ShapeError("value_strip: " + std::to_string(n) + " values for " + std::to_string(F) +
                         " frames (the frame count must be a multiple)");
    if (!reference.empty() && index_t(reference.size()) != n)
        throw ShapeError("value_strip: " + std::to_string(reference.size()) + " reference values for " +
                         std::to_string(n) + " values");
    const index_t panel = std::max<index_t>(8, H / 2);
    const Image top = frame_strip(frames, gap);
    Image strip = detail::blank(H + gap + panel, top.extent(1));
    std::memcpy(strip.data(), top.data(), top.bytes());
    const index_t base = H + gap;  // first panel row
    constexpr Rgb8 panel_colour = {32, 32, 32}, half_line = {110, 110, 110}, bar_colour = {255, 127, 14};
    auto level_row = [&](double v) { return base + panel - 1 - index_t(std::lround(std::clamp(v, 0.0, 1.0) * double(panel - 1))); };
    for (index_t f = 0; f < F; ++f) {
        const index_t x0 = f * (W + gap), x1 = x0 + W, k = f * n / F;
        detail::fill_rect(strip, base, x0, base + panel, x1, panel_colour);
        const double v = double(values[std::size_t(k)]);
        if (std::isfinite(v)) detail::fill_rect(strip, level_row(v), x0 + W / 4, base + panel, x1 - W / 4, bar_colour);
        detail::fill_rect(strip, level_row(0.5), x0, level_row(0.5) + 1, x1, half_line);
        if (!reference.empty()) {
            const index_t row = level_row(double(reference[std::size_t(k)]));
            detail::fill_rect(strip, row, x0, row + 1, x1, white);
        }
    }
    return strip;
}

struct PlotOptions {
    index_t width = 640, height = 400;
    bool log_y = false;  // logarithmic y axis; values <= 0 are then left out
};

// Curves (e.g. the three losses and their total over steps) on shared axes: series[s][i] is
// plotted at x = i; non-finite values break a curve. Axes at the left and bottom with 5 ticks
// and light grid lines; the y range spans the finite values plus 5%; series s is drawn in
// series_colour(s), and a legend of coloured boxes in the top-right corner lists the series in
// order, top to bottom.
// requires: width >= 64, height >= 48.
inline Image line_plot(std::span<const std::vector<double>> series, const PlotOptions& options = {}) {
    const index_t W = options.width, H = options.height;
    if (W < 64 || H < 48) throw ValueError("line_plot: the image must be at least 64 x 48 pixels");
    const index_t left = 40, right = W - 12, top = 12, bottom = H - 28;
    auto usable = [&](double v) { return std::isfinite(v) && (!options.log_y || v > 0); };
    auto y_of = [&](double v) { return options.log_y ? std::log10(v) : v; };
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    std::size_t longest = 0;
    for (const auto& s : series) {
        longest = std::max(longest, s.size());
        for (double v : s)
            if (usable(v)) lo = std::min(lo, y_of(v)), hi = std::max(hi, y_of(v));
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo <= 0) lo -= 0.5, hi += 0.5;
    const double pad = 0.05 * (hi - lo);
    lo -= pad, hi += pad;
    const double x_span = longest > 1 ? double(longest - 1) : 1.0;
    auto px = [&](double i) { return double(left) + i / x_span * double(right - left); };
    auto py = [&](double v) { return double(bottom) - (y_of(v) - lo) / (hi - lo) * double(bottom - top); };

    Image image = detail::blank(H, W);
    constexpr Rgb8 grid = {232, 232, 232};
    for (int k = 0; k <= 4; ++k) {
        const index_t x = left + k * (right - left) / 4, y = bottom - k * (bottom - top) / 4;
        detail::fill_rect(image, top, x, bottom, x + 1, grid);
        detail::fill_rect(image, y, left, y + 1, right, grid);
        detail::fill_rect(image, bottom, x, bottom + 5, x + 1, black);
        detail::fill_rect(image, y, left - 5, y + 1, left, black);
    }
    detail::fill_rect(image, top, left, bottom + 1, left + 1, black);
    detail::fill_rect(image, bottom, left, bottom + 1, right, black);
    for (std::size_t s = 0; s < series.size(); ++s) {
        const Rgb8 c = series_colour(s);
        const std::vector<double>& values = series[s];
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (!usable(values[i])) continue;
            if (i + 1 < values.size() && usable(values[i + 1]))
                detail::draw_line(image, px(double(i)), py(values[i]), px(double(i + 1)), py(values[i + 1]), c, 2);
            else if (i == 0 || !usable(values[i - 1]))  // an isolated point stays visible
                detail::draw_line(image, px(double(i)), py(values[i]), px(double(i)), py(values[i]), c, 3);
        }
        const index_t box_top = top + 6 + index_t(s) * 16, box_left = right - 6 - 12;
        detail::fill_rect(image, box_top - 1, box_left - 1, box_top + 13, box_left + 13, black);
        detail::fill_rect(image, box_top, box_left, box_top + 12, box_left + 12, c);
    }
    return image;
}

// Images one under the other, `gap` white rows between, left-aligned on a white canvas as wide
// as the widest (e.g. one frame strip per video for a preview).
inline Image stack_images(std::span<const Image> images, index_t gap = 2) {
    if (images.empty()) throw ValueError("stack_images: no images");
    index_t height = 0, width = 0;
    for (const Image& im : images) {
        if (im.extent(2) != 3) throw ShapeError("stack_images: image " + to_string<3>(im.shape()) + " is not RGB");
        height += im.extent(0);
        width = std::max(width, im.extent(1));
    }
    height += gap * index_t(images.size() - 1);
    Image out = detail::blank(height, width);
    index_t row = 0;
    for (const Image& im : images) {
        for (index_t i = 0; i < im.extent(0); ++i)
            std::memcpy(&out(row + i, 0, 0), &im(i, 0, 0), std::size_t(im.extent(1) * 3));
        row += im.extent(0) + gap;
    }
    return out;
}

}  // namespace svilm::viz
