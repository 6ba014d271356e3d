// svilm/data/synthetic_render.hpp: rasterises a scene script (synthetic_scene.hpp) into sRGB
// frames and a label map.
//
// No anti-aliasing: a pixel belongs to an object when its centre lies inside the shape, so every
// object pixel holds the object's exact sRGB colour and the label map is the exact ground truth
// of what is drawn. Objects are drawn in caption order, a later one over an earlier one where
// their paths cross (they never overlap at the start of their scene).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <vector>

#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/data/synthetic_scene.hpp"

namespace svilm::data {

namespace detail {

struct Point2 {
    float x, y;
};

// Even-odd crossing test of a closed polygon.
template <std::size_t N>
bool polygon_contains(const std::array<Point2, N>& poly, float u, float v) {
    bool inside = false;
    for (std::size_t i = 0, j = N - 1; i < N; j = i++) {
        const Point2 a = poly[i], b = poly[j];
        if ((a.y > v) != (b.y > v) && u < (b.x - a.x) * (v - a.y) / (b.y - a.y) + a.x) inside = !inside;
    }
    return inside;
}

// Unit-radius outlines, pointing up (v grows downwards).
inline const std::array<Point2, 3>& triangle_outline() {
    static const std::array<Point2, 3> outline = {{{0.0f, -1.0f}, {0.8660254f, 0.5f}, {-0.8660254f, 0.5f}}};
    return outline;
}

inline const std::array<Point2, 10>& star_outline() {
    static const std::array<Point2, 10> outline = [] {
        std::array<Point2, 10> p{};
        for (int k = 0; k < 10; ++k) {
            const double angle = -std::numbers::pi / 2 + k * std::numbers::pi / 5;
            const double radius = k % 2 == 0 ? 1.0 : 0.5;  // a fat star keeps its centre solid at 10 px
            p[std::size_t(k)] = {float(radius * std::cos(angle)), float(radius * std::sin(angle))};
        }
        return p;
    }();
    return outline;
}

}  // namespace detail

// Whether a shape of `radius` px (half its size) covers the point (dx, dy) px from its centre.
// Each shape fits in the circle of that radius: square side 1.6 r, cross arms 0.6 r wide,
// ring width max(r / 4, 1.5 px) so that a small ring stays closed, star inner radius r / 2,
// hexagon and triangle regular with circumradius r, diamond with half-diagonals r.
inline bool shape_covers(Shape shape, float dx, float dy, float radius) {
    const float u = dx / radius, v = dy / radius;
    const float au = std::abs(u), av = std::abs(v);
    switch (shape) {
        case Shape::circle: return u * u + v * v <= 1.0f;
        case Shape::square: return au <= 0.8f && av <= 0.8f;
        case Shape::triangle: return detail::polygon_contains(detail::triangle_outline(), u, v);
        case Shape::star: return detail::polygon_contains(detail::star_outline(), u, v);
        case Shape::cross: return (au <= 0.3f && av <= 1.0f) || (av <= 0.3f && au <= 1.0f);
        case Shape::ring: {
            const float inner = 1.0f - std::max(0.25f, 1.5f / radius);
            const float rr = u * u + v * v;
            return rr <= 1.0f && rr >= inner * inner;
        }
        case Shape::diamond: return au + av <= 1.0f;
        case Shape::hexagon: return au <= 0.8660254f && 0.5f * au + 0.8660254f * av <= 0.8660254f;
    }
    return false;
}

// Fills frame (H, W, 3) with the scene's background: plain (40, 40, 40), or a grey texture
// around it: a lattice of U(-10, 10) offsets every 8 px (scaled with the frame), interpolated
// bilinearly, plus U(-3, 3) per pixel; the same in R, G and B, so it never looks like an
// object colour.
inline void draw_background(const Background& background, TensorView<std::uint8_t, 3> frame) {
    const index_t H = frame.extent(0), W = frame.extent(1);
    expect_shape("draw_background", "frame", frame, {H, W, 3});
    expect_contiguous("draw_background", "frame", frame);
    std::uint8_t* out = frame.data();
    if (!background.textured) {
        for (index_t p = 0; p < H * W; ++p) {
            out[3 * p] = background_grey.r;
            out[3 * p + 1] = background_grey.g;
            out[3 * p + 2] = background_grey.b;
        }
        return;
    }
    Generator g(background.texture_seed);
    const float cell = 8.0f * float(std::min(H, W)) / 64.0f;
    const index_t lattice_h = index_t(std::ceil(float(H) / cell)) + 1, lattice_w = index_t(std::ceil(float(W) / cell)) + 1;
    Tensor<float, 2> lattice({lattice_h, lattice_w}, uninitialized), grain({H, W}, uninitialized);
    g.uniform<float, 2>(lattice, -10.0f, 10.0f);
    g.uniform<float, 2>(grain, -3.0f, 3.0f);
    for (index_t i = 0; i < H; ++i) {
        const float fy = float(i) / cell;
        const index_t y0 = index_t(fy);
        const float wy = fy - float(y0);
        for (index_t j = 0; j < W; ++j) {
            const float fx = float(j) / cell;
            const index_t x0 = index_t(fx);
            const float wx = fx - float(x0);
            const float smooth = (1 - wy) * ((1 - wx) * lattice(y0, x0) + wx * lattice(y0, x0 + 1)) +
                                 wy * ((1 - wx) * lattice(y0 + 1, x0) + wx * lattice(y0 + 1, x0 + 1));
            const float level = std::clamp(std::round(float(background_grey.r) + smooth + grain(i, j)), 0.0f, 255.0f);
            std::memset(out + 3 * (i * W + j), int(level), 3);
        }
    }
}

// Draws object `label` - 1 at `pose` into frame (H, W, 3) and labels (H, W).
inline void draw_object(const SceneObject& object, const ObjectPose& pose, std::uint8_t label,
                        TensorView<std::uint8_t, 3> frame, TensorView<std::uint8_t, 2> labels) {
    const index_t H = frame.extent(0), W = frame.extent(1);
    const float radius = pose.size / 2.0f;
    const Rgb colour = srgb(object.colour);
    const index_t i0 = std::max<index_t>(0, index_t(std::floor(pose.y - radius)));
    const index_t i1 = std::min<index_t>(H, index_t(std::ceil(pose.y + radius)) + 1);
    const index_t j0 = std::max<index_t>(0, index_t(std::floor(pose.x - radius)));
    const index_t j1 = std::min<index_t>(W, index_t(std::ceil(pose.x + radius)) + 1);
    for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j) {
            if (!shape_covers(object.shape, float(j) + 0.5f - pose.x, float(i) + 0.5f - pose.y, radius)) continue;
            frame(i, j, 0) = colour.r;
            frame(i, j, 1) = colour.g;
            frame(i, j, 2) = colour.b;
            labels(i, j) = label;
        }
}

// Renders a script into frames (T, H, W, 3) sRGB and labels (T, H, W): 0 for background,
// k + 1 where object k (caption order) is visible; object k stands at pose_of(k, t) in frame t
// of its scene (ObjectPose pose_of(std::size_t k, index_t t)). The downstream localisation task
// (docs/model.md §13) poses its object frame by frame; the overload below follows the script.
// requires: extents equal to the script's (T, H, W), both contiguous, at most 255 objects.
template <class PoseOf>
void render_script(const SceneScript& script, PoseOf&& pose_of, TensorView<std::uint8_t, 4> frames,
                   TensorView<std::uint8_t, 3> labels) {
    const char* op = "render_script";
    const index_t T = script.frames, H = script.height, W = script.width;
    expect_shape(op, "frames", frames, {T, H, W, 3});
    expect_shape(op, "labels", labels, {T, H, W});
    expect_contiguous(op, "frames", frames);
    expect_contiguous(op, "labels", labels);
    if (script.objects.size() > 255) throw ValueError("render_script: more than 255 objects");
    std::vector<Tensor<std::uint8_t, 3>> backgrounds;
    for (const Background& b : script.backgrounds) {
        backgrounds.emplace_back(Extents<3>{H, W, 3}, uninitialized);
        draw_background(b, backgrounds.back());
    }
    for (index_t t = 0; t < T; ++t) {
        const int scene = script.scene_at(t);
        TensorView<std::uint8_t, 3> frame = frames.select(0, t);
        TensorView<std::uint8_t, 2> label_map = labels.select(0, t);
        std::memcpy(frame.data(), backgrounds[std::size_t(scene)].data(), std::size_t(H * W * 3));
        std::memset(label_map.data(), 0, std::size_t(H * W));
        for (std::size_t k = 0; k < script.objects.size(); ++k) {
            const SceneObject& o = script.objects[k];
            if (o.scene == scene) draw_object(o, pose_of(k, t), std::uint8_t(k + 1), frame, label_map);
        }
    }
}

// Each object at its motion's pose (pose_at) for the frame's progress through its scene.
inline void render_script(const SceneScript& script, TensorView<std::uint8_t, 4> frames, TensorView<std::uint8_t, 3> labels) {
    render_script(
        script, [&](std::size_t k, index_t t) { return pose_at(script.objects[k], script.progress(t)); }, frames, labels);
}

}  // namespace svilm::data
