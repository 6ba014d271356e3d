// The synthetic structured-video benchmark (docs/model.md §12): determinism and random access, the caption
// grammar parsed back to the drawn objects, exact colours and masks of all 64 colour-shape
// pairs, motion directions and amounts, held-out pairs, non-overlap at the start, scene changes,
// textured backgrounds and the normalised model input.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "svilm/data/synthetic.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::data;

bool same_bytes(const TensorView<const std::uint8_t, 4>& a, const TensorView<const std::uint8_t, 4>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), std::size_t(a.size())) == 0;
}

std::vector<std::string> split(const std::string& text, const std::string& separator) {
    std::vector<std::string> parts;
    std::size_t begin = 0;
    for (std::size_t at; (at = text.find(separator, begin)) != std::string::npos; begin = at + separator.size())
        parts.push_back(text.substr(begin, at - begin));
    parts.push_back(text.substr(begin));
    return parts;
}

template <std::size_t N>
int find_name(const std::array<std::string_view, N>& names, const std::string& word) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == word) return int(i);
    return -1;
}

// Parses a caption back to (colour, shape, motion, scene) per object, checking the article;
// fails the test on any word outside the grammar.
std::vector<SceneObject> parse_caption(const std::string& caption) {
    std::vector<SceneObject> objects;
    const std::vector<std::string> scenes = split(caption, ", then ");
    for (std::size_t s = 0; s < scenes.size(); ++s) {
        std::vector<std::string> phrases = split(scenes[s], ", ");
        const std::vector<std::string> last = split(phrases.back(), " and ");
        REQUIRE(last.size() == (phrases.size() > 1 ? 2u : last.size()));
        phrases.pop_back();
        phrases.insert(phrases.end(), last.begin(), last.end());
        for (const std::string& p : phrases) {
            std::istringstream words(p);
            std::string article, colour, shape, motion, rest;
            words >> article >> colour >> shape >> motion;
            std::getline(words, rest);
            motion += rest;
            INFO("phrase '" << p << "' of '" << caption << "'");
            const int c = find_name(colour_names, colour), sh = find_name(shape_names, shape);
            const int m = find_name(motion_phrases, motion);
            REQUIRE(c >= 0);
            REQUIRE(sh >= 0);
            REQUIRE(m >= 0);
            CHECK(article == (std::string("aeiou").find(colour[0]) != std::string::npos ? "an" : "a"));
            SceneObject o;
            o.colour = Colour(c), o.shape = Shape(sh), o.motion = Motion(m), o.scene = int(s);
            objects.push_back(o);
        }
    }
    return objects;
}

// A script of still objects on a plain background, for exact pixel checks.
SceneScript still_script(index_t size, std::vector<SceneObject> objects, index_t frames = 1) {
    SceneScript s;
    s.height = s.width = size;
    s.frames = frames;
    s.objects = std::move(objects);
    s.backgrounds = {Background{}};
    return s;
}

struct Centroid {
    double x = 0, y = 0;
    index_t area = 0;
};

Centroid centroid(const Tensor<std::uint8_t, 3>& mask, index_t t) {
    Centroid c;
    for (index_t i = 0; i < mask.extent(1); ++i)
        for (index_t j = 0; j < mask.extent(2); ++j)
            if (mask(t, i, j)) c.x += double(j) + 0.5, c.y += double(i) + 0.5, ++c.area;
    if (c.area) c.x /= double(c.area), c.y /= double(c.area);
    return c;
}

// Whether every pixel of object k's silhouette at frame t is covered by an object drawn after it.
bool hidden_by_later_objects(const SyntheticVideo& v, index_t k, index_t t) {
    const SceneObject& o = v.script.objects[std::size_t(k)];
    const ObjectPose p = pose_at(o, v.script.progress(t));
    for (index_t i = 0; i < v.labels.extent(1); ++i)
        for (index_t j = 0; j < v.labels.extent(2); ++j)
            if (shape_covers(o.shape, float(j) + 0.5f - p.x, float(i) + 0.5f - p.y, p.size / 2) && v.labels(t, i, j) <= k + 1)
                return false;
    return true;
}

TEST_CASE("synthetic: an item is a pure function of (seed, split, index)") {
    SyntheticConfig config;
    config.scene_change_probability = 0.5;
    const SyntheticDataset a(config), b(config);
    for (index_t i : {0, 1, 7, 9999}) {
        const SyntheticVideo x = a.item(i), y = b.item(i);
        CHECK(same_bytes(x.frames, y.frames));
        CHECK(std::memcmp(x.labels.data(), y.labels.data(), std::size_t(x.labels.size())) == 0);
        CHECK(x.caption == y.caption);
        CHECK(x.change_frame == y.change_frame);
    }
    // random access: item 5 alone equals item 5 drawn after others
    const SyntheticVideo alone = SyntheticDataset(config).item(5);
    CHECK(same_bytes(alone.frames, a.item(5).frames));

    CHECK_FALSE(same_bytes(a.item(0).frames, a.item(1).frames));
    SyntheticConfig other_seed = config, other_split = config;
    other_seed.seed = 1;
    other_split.split = SyntheticSplit::val;
    CHECK_FALSE(same_bytes(a.item(3).frames, SyntheticDataset(other_seed).item(3).frames));
    CHECK_FALSE(same_bytes(a.item(3).frames, SyntheticDataset(other_split).item(3).frames));
}

TEST_CASE("synthetic: captions follow docs/model.md §12's grammar and parse back to the drawn objects") {
    SceneObject star{Shape::star, Colour::blue, Motion::grows, 0};
    SceneObject ring{Shape::ring, Colour::white, Motion::stays_still, 0};
    SceneObject square{Shape::square, Colour::green, Motion::moves_up, 0};
    SceneObject hexagon{Shape::hexagon, Colour::pink, Motion::shrinks, 1};
    SceneObject orange{Shape::ring, Colour::orange, Motion::moves_left, 0};
    SceneScript s = still_script(64, {star, ring});
    CHECK(caption(s) == "a blue star grows and a white ring stays still");
    s.objects.push_back(orange);
    CHECK(caption(s) == "a blue star grows, a white ring stays still and an orange ring moves left");
    s = still_script(64, {square, hexagon}, 8);
    s.backgrounds.push_back(Background{});
    s.change_frame = 4;
    CHECK(caption(s) == "a green square moves up, then a pink hexagon shrinks");
    CHECK(noun_phrases(s) == std::vector<std::string>{"green square", "pink hexagon"});
    CHECK(caption(still_script(64, {orange})) == "an orange ring moves left");

    SyntheticConfig config;
    config.scene_change_probability = 0.5;
    config.split = SyntheticSplit::val;
    int changes = 0;
    for (index_t i = 0; i < 300; ++i) {
        const SceneScript script = sample_script(config, i);
        const std::string text = caption(script);
        INFO(text);
        const std::vector<SceneObject> parsed = parse_caption(text);
        REQUIRE(parsed.size() == script.objects.size());
        for (std::size_t k = 0; k < parsed.size(); ++k) {
            CHECK(parsed[k].colour == script.objects[k].colour);
            CHECK(parsed[k].shape == script.objects[k].shape);
            CHECK(parsed[k].motion == script.objects[k].motion);
            CHECK(parsed[k].scene == script.objects[k].scene);
            CHECK(noun_phrases(script)[k] == std::string(name(parsed[k].colour)) + " " + std::string(name(parsed[k].shape)));
        }
        const bool has_then = text.find(", then ") != std::string::npos;
        CHECK(has_then == (script.change_frame >= 0));
        changes += has_then;
        const std::vector<std::string> nouns = noun_phrases(script);
        CHECK(std::set<std::string>(nouns.begin(), nouns.end()).size() == nouns.size());  // distinct
    }
    CHECK(changes > 100);
    CHECK(changes < 200);
}

TEST_CASE("synthetic: all 64 colour-shape pairs render in their exact sRGB colour on a plain background") {
    std::set<std::vector<std::uint8_t>> silhouettes;
    for (int sh = 0; sh < shape_count; ++sh) {
        for (int c = 0; c < colour_count; ++c) {
            SceneObject o{Shape(sh), Colour(c), Motion::stays_still, 0, 32.3f, 31.6f, 16.0f, 0.0f};
            const SyntheticVideo v = render_video(still_script(64, {o}));
            INFO(noun_phrase(o));
            const Rgb want = srgb(Colour(c));
            index_t object_pixels = 0;
            bool exact = true;
            for (index_t i = 0; i < 64; ++i)
                for (index_t j = 0; j < 64; ++j) {
                    const Rgb got{v.frames(0, i, j, 0), v.frames(0, i, j, 1), v.frames(0, i, j, 2)};
                    const bool covered = shape_covers(o.shape, float(j) + 0.5f - o.x, float(i) + 0.5f - o.y, 8.0f);
                    exact = exact && (covered ? got == want : got == background_grey) && (v.labels(0, i, j) == covered);
                    object_pixels += covered;
                }
            CHECK(exact);
            CHECK(object_pixels > 60);  // a 16 px object is never a speck (a ring has the least)
            const Rgb centre{v.frames(0, 31, 32, 0), v.frames(0, 31, 32, 1), v.frames(0, 31, 32, 2)};
            if (o.shape == Shape::ring)
                CHECK(centre == background_grey);
            else
                CHECK(centre == want);
            if (c == 0) silhouettes.insert(std::vector<std::uint8_t>(v.labels.data(), v.labels.data() + v.labels.size()));
        }
    }
    CHECK(silhouettes.size() == std::size_t(shape_count));  // eight different silhouettes
    CHECK(srgb(Colour::orange) == Rgb{250, 140, 30});
    CHECK(srgb(Colour::purple) == Rgb{150, 60, 200});
}

TEST_CASE("synthetic: labels, masks and boxes match the rendered pixels, plain and textured") {
    SyntheticConfig config;
    config.scene_change_probability = 0.3;
    config.textured_background_probability = 0.5;
    const SyntheticDataset data(config);
    int textured = 0;
    for (index_t n = 0; n < 60; ++n) {
        const SyntheticVideo v = data.item(n);
        const index_t T = v.frames.extent(0), H = v.frames.extent(1), W = v.frames.extent(2);
        REQUIRE(v.frames.shape() == Extents<4>{8, 64, 64, 3});
        REQUIRE(v.nouns.size() == v.script.objects.size());
        REQUIRE(v.boxes.size() == v.script.objects.size());
        bool ok = true;
        for (index_t t = 0; t < T; ++t)
            for (index_t i = 0; i < H; ++i)
                for (index_t j = 0; j < W; ++j) {
                    const int label = v.labels(t, i, j);
                    const Rgb got{v.frames(t, i, j, 0), v.frames(t, i, j, 1), v.frames(t, i, j, 2)};
                    if (label == 0)  // grey around 40: never an object colour (white is 245)
                        ok = ok && got.r == got.g && got.g == got.b && got.r >= 27 && got.r <= 53;
                    else
                        ok = ok && label <= v.object_count() && got == srgb(v.script.objects[std::size_t(label - 1)].colour);
                }
        CHECK(ok);
        for (index_t k = 0; k < v.object_count(); ++k) {
            const Tensor<std::uint8_t, 3> mask = v.mask(k);
            for (index_t t = 0; t < T; ++t) {
                Box box{W, H, 0, 0};
                for (index_t i = 0; i < H; ++i)
                    for (index_t j = 0; j < W; ++j)
                        if (mask(t, i, j))
                            box = {std::min(box.x0, j), std::min(box.y0, i), std::max(box.x1, j + 1), std::max(box.y1, i + 1)};
                if (box.empty()) box = Box{};
                CHECK(v.boxes[std::size_t(k)][std::size_t(t)] == box);
                const bool on_screen = v.script.scene_at(t) == v.script.objects[std::size_t(k)].scene;
                if (!on_screen) CHECK(box.empty());
            }
        }
        textured += v.script.backgrounds[0].textured;
    }
    CHECK(textured > 10);
    CHECK(textured < 50);
}

TEST_CASE("synthetic: a textured background is low-contrast grey noise, a plain one exactly (40, 40, 40)") {
    Tensor<std::uint8_t, 3> frame({64, 64, 3});
    draw_background(Background{true, 1234}, frame);
    int lo = 255, hi = 0;
    double sum = 0;
    for (index_t p = 0; p < 64 * 64; ++p) {
        lo = std::min<int>(lo, frame.data()[3 * p]), hi = std::max<int>(hi, frame.data()[3 * p]);
        sum += frame.data()[3 * p];
    }
    CHECK(hi - lo >= 8);
    CHECK(lo >= 27);
    CHECK(hi <= 53);
    CHECK(std::abs(sum / 4096 - 40) < 4);
    draw_background(Background{false, 1234}, frame);
    for (index_t p = 0; p < frame.size(); ++p) REQUIRE(frame.data()[p] == 40);
}

TEST_CASE("synthetic: motions move the centroid the right way by a third to a half of the frame") {
    SyntheticConfig config;
    config.min_objects = config.max_objects = 1;
    config.textured_background_probability = 0;
    const SyntheticDataset data(config);
    std::set<Motion> seen;
    for (index_t n = 0; n < 140; ++n) {
        const SyntheticVideo v = data.item(n);
        const SceneObject& o = v.script.objects[0];
        INFO(v.caption << " at (" << o.x << ", " << o.y << ") size " << o.size << " distance " << o.distance);
        seen.insert(o.motion);
        const Tensor<std::uint8_t, 3> mask = v.mask(0);
        const Centroid first = centroid(mask, 0), last = centroid(mask, 7);
        REQUIRE(first.area > 0);
        REQUIRE(last.area > 0);
        const double dx = last.x - first.x, dy = last.y - first.y;
        double want_dx = 0, want_dy = 0;
        switch (o.motion) {
            case Motion::moves_left: want_dx = -o.distance; break;
            case Motion::moves_right: want_dx = o.distance; break;
            case Motion::moves_up: want_dy = -o.distance; break;
            case Motion::moves_down: want_dy = o.distance; break;
            default: break;
        }
        if (want_dx != 0 || want_dy != 0) {
            CHECK(o.distance >= 64.0f / 3 - 1e-3f);
            CHECK(o.distance <= 64.0f / 2 + 1e-3f);
        }
        CHECK(std::abs(dx - want_dx) < 1.0);  // pixel sampling moves a centroid by well under a pixel
        CHECK(std::abs(dy - want_dy) < 1.0);
        const double growth = double(last.area) / double(first.area);
        if (o.motion == Motion::grows) CHECK(growth == doctest::Approx(1.6 * 1.6).epsilon(0.2));
        if (o.motion == Motion::shrinks) CHECK(growth == doctest::Approx(1 / (1.6 * 1.6)).epsilon(0.2));
        if (o.motion != Motion::grows && o.motion != Motion::shrinks)  // sampling shifts a sharp corner's pixels
            CHECK(first.area == doctest::Approx(last.area).epsilon(0.2));
        // the whole path stays inside the frame: sizes within 10-20 px and never clipped
        for (index_t t = 0; t < 8; ++t) {
            const ObjectPose p = pose_at(o, v.script.progress(t));
            CHECK(p.size >= 10.0f - 1e-3f);
            CHECK(p.size <= 20.0f + 1e-3f);
            CHECK(p.x - p.size / 2 >= -1e-3f);
            CHECK(p.x + p.size / 2 <= 64 + 1e-3f);
            CHECK(p.y - p.size / 2 >= -1e-3f);
            CHECK(p.y + p.size / 2 <= 64 + 1e-3f);
        }
    }
    CHECK(seen.size() == std::size_t(motion_count));
}

TEST_CASE("synthetic: held-out pairs never appear in train, val or test, and make up test_unseen") {
    std::set<std::pair<int, int>> held_out;
    for (int c = 0; c < colour_count; ++c)
        for (int s = 0; s < shape_count; ++s)
            if (is_held_out(Colour(c), Shape(s))) held_out.insert({c, s});
    REQUIRE(held_out.size() == 8u);
    std::set<int> held_colours, held_shapes;
    for (auto [c, s] : held_out) held_colours.insert(c), held_shapes.insert(s);
    CHECK(held_colours.size() == 8u);  // a Latin-square pattern: each colour and each shape once
    CHECK(held_shapes.size() == 8u);
    CHECK(is_held_out(Colour::red, Shape::square));
    CHECK(is_held_out(Colour::pink, Shape::diamond));

    SyntheticConfig config;
    config.scene_change_probability = 0.5;
    std::set<std::pair<int, int>> seen_in_training;
    for (SyntheticSplit split : {SyntheticSplit::train, SyntheticSplit::val, SyntheticSplit::test}) {
        config.split = split;
        for (index_t i = 0; i < (split == SyntheticSplit::train ? 1500 : 400); ++i)
            for (const SceneObject& o : sample_script(config, i).objects) {
                REQUIRE_FALSE(is_held_out(o.colour, o.shape));
                if (split == SyntheticSplit::train) seen_in_training.insert({int(o.colour), int(o.shape)});
            }
    }
    CHECK(seen_in_training.size() == 56u);  // every other pair is trained on
    config.split = SyntheticSplit::test_unseen;
    std::set<std::pair<int, int>> unseen;
    for (index_t i = 0; i < 300; ++i)
        for (const SceneObject& o : sample_script(config, i).objects) {
            REQUIRE(is_held_out(o.colour, o.shape));
            unseen.insert({int(o.colour), int(o.shape)});
        }
    CHECK(unseen == held_out);
    CHECK(parse_split("test_unseen") == SyntheticSplit::test_unseen);
    CHECK_THROWS_AS(parse_split("unseen"), ValueError);
}

TEST_CASE("synthetic: objects do not overlap at the start of their scene") {
    SyntheticConfig config;
    config.min_objects = 2;
    config.scene_change_probability = 0.5;
    config.split = SyntheticSplit::test;
    int objects = 0, scenes = 0;
    for (index_t n = 0; n < 150; ++n) {
        const SceneScript script = sample_script(config, n);
        for (int s = 0; s < int(script.scene_count()); ++s) {
            std::vector<const SceneObject*> in_scene;
            for (const SceneObject& o : script.objects)
                if (o.scene == s) in_scene.push_back(&o);
            CHECK(in_scene.size() >= 1u);
            CHECK(in_scene.size() <= 3u);
            objects += int(in_scene.size());
            ++scenes;
            for (std::size_t a = 0; a < in_scene.size(); ++a)
                for (std::size_t b = a + 1; b < in_scene.size(); ++b)
                    CHECK(std::hypot(in_scene[a]->x - in_scene[b]->x, in_scene[a]->y - in_scene[b]->y) >=
                          (in_scene[a]->size + in_scene[b]->size) / 2 + 2 - 1e-3);
        }
        // no occlusion at a scene's first frame: each object's full silhouette is visible
        const SyntheticVideo v = render_video(script);
        for (std::size_t k = 0; k < script.objects.size(); ++k) {
            const SceneObject& o = script.objects[k];
            const index_t t = script.scene_begin(o.scene);
            bool whole = true;
            for (index_t i = 0; i < 64; ++i)
                for (index_t j = 0; j < 64; ++j)
                    if (shape_covers(o.shape, float(j) + 0.5f - o.x, float(i) + 0.5f - o.y, o.size / 2))
                        whole = whole && v.labels(t, i, j) == k + 1;
            CHECK(whole);
        }
    }
    CHECK(double(objects) / scenes > 2.3);  // min_objects = 2 is met (nearly always)
}

TEST_CASE("synthetic: a scene change switches the content at a known frame") {
    SyntheticConfig config;
    config.scene_change_probability = 1;
    const SyntheticDataset data(config);
    std::set<index_t> cuts;
    for (index_t n = 0; n < 40; ++n) {
        const SyntheticVideo v = data.item(n);
        REQUIRE(v.change_frame >= 2);
        REQUIRE(v.change_frame <= 6);
        cuts.insert(v.change_frame);
        CHECK(split(v.caption, ", then ").size() == 2u);
        for (index_t k = 0; k < v.object_count(); ++k) {
            const SceneObject& o = v.script.objects[std::size_t(k)];
            for (index_t t = 0; t < 8; ++t) {
                const bool on_screen = o.scene == (t >= v.change_frame ? 1 : 0);
                if (!on_screen) CHECK(v.boxes[std::size_t(k)][std::size_t(t)].empty());
                if (on_screen && v.boxes[std::size_t(k)][std::size_t(t)].empty()) CHECK(hidden_by_later_objects(v, k, t));
            }
        }
    }
    CHECK(cuts.size() == 5u);
    config.scene_change_probability = 0;
    for (index_t n = 0; n < 20; ++n) {
        const SyntheticVideo v = SyntheticDataset(config).item(n);
        CHECK(v.change_frame == -1);
        CHECK(v.caption.find(", then ") == std::string::npos);
    }
}

TEST_CASE("synthetic: frame size, frame count and object counts are configurable; bad configs are refused") {
    SyntheticConfig config;
    config.height = 96, config.width = 128, config.frames = 4, config.count = 3;
    config.min_objects = config.max_objects = 3;
    const SyntheticDataset data(config);
    const SyntheticVideo v = data.item(2);
    CHECK(v.frames.shape() == Extents<4>{4, 96, 128, 3});
    CHECK(v.labels.shape() == Extents<3>{4, 96, 128});
    CHECK(v.object_count() == 3);
    for (const SceneObject& o : v.script.objects) CHECK(o.size >= 15.0f - 1e-3f);  // scaled by 96 / 64
    CHECK_THROWS_AS(data.item(3), ValueError);
    CHECK_THROWS_AS(data.item(-1), ValueError);
    CHECK_THROWS_AS(v.mask(3), ValueError);
    auto refused = [](auto edit) {
        SyntheticConfig c;
        edit(c);
        CHECK_THROWS_AS(SyntheticDataset{c}, ValueError);
    };
    refused([](SyntheticConfig& c) { c.max_objects = 4; });
    refused([](SyntheticConfig& c) { c.min_objects = 0; });
    refused([](SyntheticConfig& c) { c.min_objects = 3, c.max_objects = 2; });
    refused([](SyntheticConfig& c) { c.height = 8; });
    refused([](SyntheticConfig& c) { c.scene_change_probability = 1.5; });
    refused([](SyntheticConfig& c) { c.frames = 1, c.scene_change_probability = 0.5; });
}

TEST_CASE("synthetic: frames convert to the model's normalised (T, 3, H, W) input") {
    Tensor<std::uint8_t, 4> frames({2, 3, 4, 3});
    for (index_t p = 0; p < frames.size(); ++p) frames.data()[p] = std::uint8_t(p * 7 % 256);
    const Tensor<float, 4> x = to_model_input<float>(frames);
    REQUIRE(x.shape() == Extents<4>{2, 3, 3, 4});
    for (index_t t = 0; t < 2; ++t)
        for (index_t c = 0; c < 3; ++c)
            for (index_t i = 0; i < 3; ++i)
                for (index_t j = 0; j < 4; ++j) {
                    const double want = (frames(t, i, j, c) / 255.0 - imagenet_mean[std::size_t(c)]) / imagenet_std[std::size_t(c)];
                    REQUIRE(x(t, c, i, j) == doctest::Approx(want).epsilon(1e-6));
                }
    // into one clip of a batch (B, T, 3, H, W)
    Tensor<double, 5> batch({2, 2, 3, 3, 4});
    normalize_frames<double>(batch.view().select(0, 1), frames);
    CHECK(batch(1, 0, 0, 0, 0) == doctest::Approx((0 - 0.485) / 0.229));
    CHECK(batch(0, 0, 0, 0, 0) == 0.0);
    CHECK_THROWS_AS(normalize_frames<float>(Tensor<float, 4>({2, 3, 4, 3}), frames), ShapeError);
}

}  // namespace
}  // namespace svilm::testing
