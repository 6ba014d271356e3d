// svilm/data/synthetic_scene.hpp: what a synthetic structured video shows (docs/model.md §12), before any
// pixel is drawn: the vocabulary (8 shapes, 8 colours, 7 motions), the caption grammar, the
// held-out colour-shape pairs of the "unseen combinations" split, and the seeded sampling of a
// scene script.
//
// A script is a pure function of (config.seed, config.split, index): the generator for item i
// is keyed by a hash of the three, so any item can be drawn alone, in any order, on any thread.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/shape.hpp"

namespace svilm::data {

enum class Shape : std::uint8_t { circle, square, triangle, star, cross, ring, diamond, hexagon };
enum class Colour : std::uint8_t { red, green, blue, yellow, purple, orange, white, pink };
enum class Motion : std::uint8_t { moves_left, moves_right, moves_up, moves_down, stays_still, grows, shrinks };

inline constexpr int shape_count = 8;
inline constexpr int colour_count = 8;
inline constexpr int motion_count = 7;

struct Rgb {
    std::uint8_t r = 0, g = 0, b = 0;
    friend bool operator==(const Rgb&, const Rgb&) = default;
};

inline constexpr std::array<std::string_view, shape_count> shape_names = {
    "circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon"};
inline constexpr std::array<std::string_view, colour_count> colour_names = {
    "red", "green", "blue", "yellow", "purple", "orange", "white", "pink"};
inline constexpr std::array<Rgb, colour_count> colour_values = {{{230, 40, 40},
                                                                 {40, 180, 60},
                                                                 {40, 80, 230},
                                                                 {240, 220, 40},
                                                                 {150, 60, 200},
                                                                 {250, 140, 30},
                                                                 {245, 245, 245},
                                                                 {250, 120, 180}}};
inline constexpr std::array<std::string_view, motion_count> motion_phrases = {
    "moves left", "moves right", "moves up", "moves down", "stays still", "grows", "shrinks"};

// The plain background, and the level a textured background varies around.
inline constexpr Rgb background_grey = {40, 40, 40};

// "grows" and "shrinks" change the size by this factor over the scene.
inline constexpr float size_change_factor = 1.6f;

inline std::string_view name(Shape s) { return shape_names[std::size_t(s)]; }
inline std::string_view name(Colour c) { return colour_names[std::size_t(c)]; }
inline std::string_view phrase(Motion m) { return motion_phrases[std::size_t(m)]; }
inline Rgb srgb(Colour c) { return colour_values[std::size_t(c)]; }

// Held-out pairs of the "test_unseen" split: colour c with shape (3c + 1) mod 8. As 3 is coprime
// to 8 this is a Latin-square pattern: 8 of the 64 pairs, one per colour and one per shape, so
// every colour and every shape still appears in training (with 7 partners each):
//   red square, green cross, blue hexagon, yellow triangle, purple ring, orange circle,
//   white star, pink diamond.
constexpr Shape held_out_shape(Colour c) { return Shape((3 * int(c) + 1) % shape_count); }
constexpr bool is_held_out(Colour c, Shape s) { return held_out_shape(c) == s; }

// train, val and test draw only the 56 seen pairs, from independent streams; test_unseen draws
// every object from the 8 held-out pairs.
enum class SyntheticSplit : std::uint8_t { train, val, test, test_unseen };

inline std::string_view name(SyntheticSplit split) {
    static constexpr std::array<std::string_view, 4> names = {"train", "val", "test", "test_unseen"};
    return names[std::size_t(split)];
}

inline SyntheticSplit parse_split(std::string_view text) {
    for (int i = 0; i < 4; ++i)
        if (name(SyntheticSplit(i)) == text) return SyntheticSplit(i);
    throw ValueError("synthetic split '" + std::string(text) + "' is not one of train, val, test, test_unseen");
}

// What the generator draws. Sizes and distances scale with min(height, width) / 64.
struct SyntheticConfig {
    index_t height = 64;
    index_t width = 64;
    index_t frames = 8;
    std::uint64_t seed = 0;
    SyntheticSplit split = SyntheticSplit::train;
    index_t count = 10000;  // items in the dataset (any index draws; count bounds SyntheticDataset)
    int min_objects = 1;    // per scene, 1 <= min_objects <= max_objects <= 3
    int max_objects = 3;
    double scene_change_probability = 0.0;       // a second, independent scene from a drawn frame on
    double textured_background_probability = 0.5;  // else plain (40, 40, 40)
};

// Throws ValueError naming the field that is out of range.
inline void validate(const SyntheticConfig& c) {
    auto fail = [](const std::string& what) { throw ValueError("SyntheticConfig: " + what); };
    if (c.height < 16 || c.width < 16) fail("frames must be at least 16x16 pixels");
    if (c.frames < 1) fail("frames must be at least 1");
    if (c.count < 0) fail("count must not be negative");
    if (c.min_objects < 1 || c.max_objects < c.min_objects || c.max_objects > 3)
        fail("objects per scene must satisfy 1 <= min_objects <= max_objects <= 3");
    if (!(c.scene_change_probability >= 0 && c.scene_change_probability <= 1))
        fail("scene_change_probability must lie in [0, 1]");
    if (c.scene_change_probability > 0 && c.frames < 2) fail("a scene change needs at least 2 frames");
    if (!(c.textured_background_probability >= 0 && c.textured_background_probability <= 1))
        fail("textured_background_probability must lie in [0, 1]");
}

// One object of one scene. Coordinates in pixels, x right, y down; pixel (row i, column j) is
// the square [j, j + 1) x [i, i + 1), sampled at its centre.
struct SceneObject {
    Shape shape = Shape::circle;
    Colour colour = Colour::red;
    Motion motion = Motion::stays_still;
    int scene = 0;         // 0, or 1 after a scene change
    float x = 0, y = 0;    // centre at the first frame of its scene
    float size = 0;        // diameter of the circle the shape fits in, at that frame
    float distance = 0;    // total displacement of a moves_* motion, else 0
};

struct ObjectPose {
    float x, y, size;
};

// Centre and size at `progress` in [0, 1] through the object's scene: translation is linear,
// growth geometric (the same factor from frame to frame).
inline ObjectPose pose_at(const SceneObject& o, float progress) {
    ObjectPose p{o.x, o.y, o.size};
    const float d = o.distance * progress;
    switch (o.motion) {
        case Motion::moves_left: p.x -= d; break;
        case Motion::moves_right: p.x += d; break;
        case Motion::moves_up: p.y -= d; break;
        case Motion::moves_down: p.y += d; break;
        case Motion::grows: p.size *= std::pow(size_change_factor, progress); break;
        case Motion::shrinks: p.size /= std::pow(size_change_factor, progress); break;
        case Motion::stays_still: break;
    }
    return p;
}

struct Background {
    bool textured = false;
    std::uint64_t texture_seed = 0;  // draws the texture (synthetic_render.hpp) when textured
};

// Everything a video shows. objects are in caption order: scene 0's, then scene 1's.
struct SceneScript {
    index_t height = 0, width = 0, frames = 0;
    std::vector<SceneObject> objects;
    std::vector<Background> backgrounds;  // one per scene
    index_t change_frame = -1;            // first frame of scene 1, or -1 without a scene change

    index_t scene_count() const { return index_t(backgrounds.size()); }
    // Frames [begin, end) of a scene.
    index_t scene_begin(int scene) const { return scene == 0 ? 0 : change_frame; }
    index_t scene_end(int scene) const { return scene == 0 && change_frame >= 0 ? change_frame : frames; }
    int scene_at(index_t frame) const { return change_frame >= 0 && frame >= change_frame ? 1 : 0; }
    // How far frame t is through its scene: 0 at the scene's first frame, 1 at its last.
    float progress(index_t frame) const {
        const int s = scene_at(frame);
        const index_t span = scene_end(s) - scene_begin(s) - 1;
        return span > 0 ? float(frame - scene_begin(s)) / float(span) : 0.0f;
    }
};

// "red circle": the noun phrase grounding uses (docs/model.md §12).
inline std::string noun_phrase(const SceneObject& o) {
    return std::string(name(o.colour)) + " " + std::string(name(o.shape));
}

// "a red circle moves left", "an orange ring grows": "an" before a vowel sound; every colour
// name is pronounced as spelt, so the first letter decides.
inline std::string describe(const SceneObject& o) {
    const std::string_view colour = name(o.colour);
    const bool vowel = std::string_view("aeiou").find(colour.front()) != std::string_view::npos;
    return std::string(vowel ? "an " : "a ") + noun_phrase(o) + " " + std::string(phrase(o.motion));
}

// Objects of one scene joined with ", " and a final " and "; scenes joined with ", then ":
// "a blue star grows and a white ring stays still", "a green square moves up, then a pink
// hexagon shrinks".
inline std::string caption(const SceneScript& script) {
    std::string out;
    for (int s = 0; s < int(script.scene_count()); ++s) {
        std::vector<const SceneObject*> in_scene;
        for (const SceneObject& o : script.objects)
            if (o.scene == s) in_scene.push_back(&o);
        if (s > 0) out += ", then ";
        for (std::size_t k = 0; k < in_scene.size(); ++k) {
            if (k > 0) out += k + 1 == in_scene.size() ? " and " : ", ";
            out += describe(*in_scene[k]);
        }
    }
    return out;
}

// One phrase per object, in caption order (all phrases of a video are distinct).
inline std::vector<std::string> noun_phrases(const SceneScript& script) {
    std::vector<std::string> out;
    for (const SceneObject& o : script.objects) out.push_back(noun_phrase(o));
    return out;
}

namespace detail {

inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Generator key of item `index` of a split: distinct (seed, split, index) give unrelated streams.
inline std::uint64_t synthetic_item_key(std::uint64_t seed, SyntheticSplit split, index_t index) {
    return splitmix64(splitmix64(splitmix64(seed) ^ std::uint64_t(split)) ^ std::uint64_t(index));
}

// U[low, high) with 24 bits of resolution, one generator draw.
inline float uniform_real(Generator& g, float low, float high) {
    constexpr std::uint64_t steps = std::uint64_t(1) << 24;
    return low + (high - low) * float(g.uniform_int(steps)) / float(steps);
}

inline bool chance(Generator& g, double probability) {
    constexpr std::uint64_t steps = std::uint64_t(1) << 32;
    return double(g.uniform_int(steps)) < probability * double(steps);
}

struct PlacedCircle {
    float x, y, radius;
};

// Draws one object of `scene`, or returns false when no start position was found that keeps
// its whole path inside the frame and its start circle clear of `placed` (the caller then
// gives up on the object). Sizes: 10-20 px across at 64x64; a growing object starts at
// 10-12.5 px and a shrinking one at 16-20 px, so every frame stays within 10-20 px. Moves
// cover a third to a half of the frame's extent along their axis.
inline bool sample_object(Generator& g, const SyntheticConfig& c, Colour colour, Shape shape, int scene,
                          const std::vector<PlacedCircle>& placed, SceneObject& out) {
    const float W = float(c.width), H = float(c.height);
    const float scale = float(std::min(c.height, c.width)) / 64.0f;
    const float margin = 2.0f * scale;  // start gap between bounding circles
    constexpr int attempts = 32;
    for (int attempt = 0; attempt < attempts; ++attempt) {
        SceneObject o;
        o.shape = shape;
        o.colour = colour;
        o.scene = scene;
        o.motion = Motion(g.uniform_int(motion_count));
        float largest;
        if (o.motion == Motion::grows) {
            o.size = uniform_real(g, 10.0f, 20.0f / size_change_factor) * scale;
            largest = o.size * size_change_factor;
        } else if (o.motion == Motion::shrinks) {
            o.size = uniform_real(g, 10.0f * size_change_factor, 20.0f) * scale;
            largest = o.size;
        } else {
            o.size = uniform_real(g, 10.0f, 20.0f) * scale;
            largest = o.size;
        }
        const bool horizontal = o.motion == Motion::moves_left || o.motion == Motion::moves_right;
        const bool vertical = o.motion == Motion::moves_up || o.motion == Motion::moves_down;
        if (horizontal || vertical) {
            const float extent = horizontal ? W : H;
            o.distance = uniform_real(g, extent / 3.0f, extent / 2.0f);
        }
        // Start-centre ranges that keep the largest extent inside the frame along the whole path.
        const float r = largest / 2.0f;
        float x_lo = r, x_hi = W - r, y_lo = r, y_hi = H - r;
        if (o.motion == Motion::moves_left) x_lo += o.distance;
        if (o.motion == Motion::moves_right) x_hi -= o.distance;
        if (o.motion == Motion::moves_up) y_lo += o.distance;
        if (o.motion == Motion::moves_down) y_hi -= o.distance;
        if (x_hi < x_lo || y_hi < y_lo) continue;
        o.x = uniform_real(g, x_lo, x_hi);
        o.y = uniform_real(g, y_lo, y_hi);
        const float start_radius = o.size / 2.0f;
        const bool clear = std::all_of(placed.begin(), placed.end(), [&](const PlacedCircle& p) {
            return std::hypot(o.x - p.x, o.y - p.y) >= start_radius + p.radius + margin;
        });
        if (!clear) continue;
        out = o;
        return true;
    }
    return false;
}

// A colour-shape pair allowed in the split and not yet used in the video.
inline void sample_pair(Generator& g, SyntheticSplit split, const std::vector<SceneObject>& used, Colour& colour,
                        Shape& shape) {
    for (;;) {
        colour = Colour(g.uniform_int(colour_count));
        if (split == SyntheticSplit::test_unseen) {
            shape = held_out_shape(colour);
        } else {
            // the k-th of the 7 seen shapes of this colour
            int k = int(g.uniform_int(shape_count - 1));
            int s = 0;
            for (;; ++s)
                if (!is_held_out(colour, Shape(s)) && k-- == 0) break;
            shape = Shape(s);
        }
        const bool fresh = std::none_of(used.begin(), used.end(),
                                        [&](const SceneObject& o) { return o.colour == colour && o.shape == shape; });
        if (fresh) return;  // at most 6 of the >= 8 allowed pairs are ever taken, so this ends
    }
}

// Textured with `textured_probability`, else plain; the texture's seed is drawn either way.
inline Background sample_background(Generator& g, double textured_probability) {
    Background background;
    background.textured = chance(g, textured_probability);
    background.texture_seed = g.uniform_int(~std::uint64_t(0));
    return background;
}

inline void sample_scene(Generator& g, const SyntheticConfig& c, int scene, SceneScript& script) {
    const int count = c.min_objects + int(g.uniform_int(std::uint64_t(c.max_objects - c.min_objects + 1)));
    std::vector<PlacedCircle> placed;
    for (int k = 0; k < count; ++k) {
        Colour colour;
        Shape shape;
        sample_pair(g, c.split, script.objects, colour, shape);
        SceneObject o;
        if (!sample_object(g, c, colour, shape, scene, placed, o)) continue;
        placed.push_back({o.x, o.y, o.size / 2.0f});
        script.objects.push_back(o);
    }
    script.backgrounds.push_back(sample_background(g, c.textured_background_probability));
}

// The script drawn from `g`, one item's generator (sample_script below keys it; the downstream
// tasks of docs/model.md §13 key theirs with a salted seed and draw their questions after it).
inline SceneScript draw_script(Generator& g, const SyntheticConfig& config) {
    SceneScript script;
    script.height = config.height;
    script.width = config.width;
    script.frames = config.frames;
    const bool change = chance(g, config.scene_change_probability);
    sample_scene(g, config, 0, script);
    if (change) {
        const index_t T = config.frames;
        const index_t lo = std::clamp<index_t>((T + 3) / 4, 1, T - 1);
        const index_t hi = std::clamp<index_t>(3 * T / 4, lo, T - 1);
        script.change_frame = lo + index_t(g.uniform_int(std::uint64_t(hi - lo + 1)));
        sample_scene(g, config, 1, script);
    }
    return script;
}

}  // namespace detail

// The script of item `index` of config's split.
// requires: validate(config) passes, index >= 0.
// ensures: 1 or 2 scenes; each has between 1 and max_objects objects (at least min_objects unless
// no free start position turned up in 32 tries: not once in 150,000 scenes of 3 at 64x64),
// whose start circles (diameter = size) are at least 2 px apart (scaled) and whose paths stay
// inside the frame; all colour-shape pairs of the video are distinct, seen pairs outside
// test_unseen and held-out pairs in it; a scene change, when drawn, happens at a frame in
// [ceil(T / 4), floor(3T / 4)] clamped to [1, T - 1], so both scenes are on screen.
inline SceneScript sample_script(const SyntheticConfig& config, index_t index) {
    validate(config);
    if (index < 0) throw ValueError("sample_script: negative index " + std::to_string(index));
    Generator g(detail::synthetic_item_key(config.seed, config.split, index));
    return detail::draw_script(g, config);
}

}  // namespace svilm::data
