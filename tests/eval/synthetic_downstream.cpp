// The synthetic downstream tasks (docs/model.md §13): determinism, the held-out pairs of every
// split, QA questions parsed back from their templates and answered from the script and the
// rendered pixels, action labels, and the localisation layout (segment and gap lengths, seconds),
// timing (still gaps, moving segments, motions as labelled) and an object that never leaves the
// frame.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "svilm/data/synthetic_downstream.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::data;

bool same_bytes(const TensorView<const std::uint8_t, 4>& a, const TensorView<const std::uint8_t, 4>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), std::size_t(a.size())) == 0;
}

bool same_frame(const Tensor<std::uint8_t, 4>& frames, index_t a, index_t b) {
    const std::size_t bytes = std::size_t(frames.extent(1) * frames.extent(2) * 3);
    return std::memcmp(frames.data() + std::size_t(a) * bytes, frames.data() + std::size_t(b) * bytes, bytes) == 0;
}

bool same_pose(const ObjectPose& a, const ObjectPose& b) { return a.x == b.x && a.y == b.y && a.size == b.size; }

template <std::size_t N>
int find_name(const std::array<std::string_view, N>& names, const std::string& word) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == word) return int(i);
    return -1;
}

// The text between `prefix` and `suffix` when `text` has both, else nothing.
std::optional<std::string> between(const std::string& text, const std::string& prefix, const std::string& suffix) {
    if (text.size() < prefix.size() + suffix.size() || !text.starts_with(prefix) || !text.ends_with(suffix)) return std::nullopt;
    return text.substr(prefix.size(), text.size() - prefix.size() - suffix.size());
}

// Objects of the script matching a predicate.
template <class Match>
std::vector<index_t> objects_where(const SceneScript& script, Match&& match) {
    std::vector<index_t> out;
    for (std::size_t k = 0; k < script.objects.size(); ++k)
        if (match(script.objects[k])) out.push_back(index_t(k));
    return out;
}

// Whether every pixel labelled k + 1 in frame t holds `colour`, and there is at least one.
bool drawn_in(const SyntheticVideo& v, index_t k, index_t t, Colour colour) {
    index_t pixels = 0;
    bool exact = true;
    for (index_t i = 0; i < v.labels.extent(1); ++i)
        for (index_t j = 0; j < v.labels.extent(2); ++j)
            if (v.labels(t, i, j) == k + 1) {
                ++pixels;
                const Rgb got{v.frames(t, i, j, 0), v.frames(t, i, j, 1), v.frames(t, i, j, 2)};
                exact = exact && got == srgb(colour);
            }
    return exact && pixels > 0;
}

// Checks one QA item against its template, its script and its pixels; returns the parsed type.
QuestionType check_question(const SyntheticQaItem& q) {
    const SceneScript& script = q.video.script;
    INFO("question '" << q.question << "', answer '" << q.answer << "', caption '" << q.video.caption << "'");
    REQUIRE(q.answer_index >= 0);
    REQUIRE(q.answer_index < qa_answer_count);
    CHECK(qa_answer_vocabulary()[std::size_t(q.answer_index)] == q.answer);
    CHECK(script.scene_count() == 1);
    CHECK(script.change_frame == -1);
    if (const auto shape = between(q.question, "what colour is the ", "?")) {
        const int s = find_name(shape_names, *shape);
        REQUIRE(s >= 0);
        const std::vector<index_t> with_shape = objects_where(script, [&](const SceneObject& o) { return o.shape == Shape(s); });
        REQUIRE(with_shape.size() == 1u);  // unambiguous
        CHECK(q.subject == with_shape[0]);
        const Colour colour = script.objects[std::size_t(with_shape[0])].colour;
        CHECK(q.answer == name(colour));
        CHECK(drawn_in(q.video, with_shape[0], 0, colour));
        CHECK(q.type == QuestionType::colour);
        return QuestionType::colour;
    }
    if (const auto colour = between(q.question, "what shape is the ", " object?")) {
        const int c = find_name(colour_names, *colour);
        REQUIRE(c >= 0);
        const std::vector<index_t> with_colour = objects_where(script, [&](const SceneObject& o) { return o.colour == Colour(c); });
        REQUIRE(with_colour.size() == 1u);
        CHECK(q.subject == with_colour[0]);
        CHECK(q.answer == name(script.objects[std::size_t(with_colour[0])].shape));
        CHECK(drawn_in(q.video, with_colour[0], 0, Colour(c)));
        CHECK(q.type == QuestionType::shape);
        return QuestionType::shape;
    }
    if (const auto noun = between(q.question, "how does the ", " move?")) {
        const std::size_t space = noun->find(' ');
        REQUIRE(space != std::string::npos);
        const int c = find_name(colour_names, noun->substr(0, space)), s = find_name(shape_names, noun->substr(space + 1));
        REQUIRE(c >= 0);
        REQUIRE(s >= 0);
        const std::vector<index_t> matching =
            objects_where(script, [&](const SceneObject& o) { return o.colour == Colour(c) && o.shape == Shape(s); });
        REQUIRE(matching.size() == 1u);
        CHECK(q.subject == matching[0]);
        CHECK(q.answer == motion_answers[std::size_t(script.objects[std::size_t(matching[0])].motion)]);
        CHECK(drawn_in(q.video, matching[0], 0, Colour(c)));
        CHECK(q.type == QuestionType::motion);
        return QuestionType::motion;
    }
    REQUIRE(q.question == "how many objects are there?");
    const std::size_t n = script.objects.size();
    REQUIRE(n >= 1u);
    REQUIRE(n <= 3u);
    CHECK(q.answer == count_answers[n - 1]);
    CHECK(q.subject == -1);
    std::set<int> visible;  // objects do not overlap at the first frame: each shows
    for (index_t p = 0; p < q.video.labels.extent(1) * q.video.labels.extent(2); ++p)
        if (q.video.labels.data()[p] != 0) visible.insert(q.video.labels.data()[p]);
    CHECK(visible.size() == n);
    CHECK(q.type == QuestionType::count);
    return QuestionType::count;
}

TEST_CASE("synthetic downstream: an item is a pure function of (seed, task, split, index)") {
    DownstreamConfig config;
    LocalisationConfig long_config;
    const SyntheticQA qa(config);
    const SyntheticActions actions(config);
    const SyntheticLocalisation localisation(long_config);
    for (index_t i : {0, 5, 999}) {
        const SyntheticQaItem a = qa.item(i), b = SyntheticQA(config).item(i);
        CHECK(same_bytes(a.video.frames, b.video.frames));
        CHECK(std::memcmp(a.video.labels.data(), b.video.labels.data(), std::size_t(a.video.labels.size())) == 0);
        CHECK(a.question == b.question);
        CHECK(a.answer == b.answer);
        const SyntheticActionItem x = actions.item(i), y = SyntheticActions(config).item(i);
        CHECK(same_bytes(x.video.frames, y.video.frames));
        CHECK(x.label == y.label);
        const SyntheticLocalisationItem l = localisation.item(i), m = SyntheticLocalisation(long_config).item(i);
        CHECK(same_bytes(l.frames, m.frames));
        REQUIRE(l.segments.size() == m.segments.size());
        for (std::size_t s = 0; s < l.segments.size(); ++s) {
            CHECK(l.segments[s].start_frame == m.segments[s].start_frame);
            CHECK(l.segments[s].end_frame == m.segments[s].end_frame);
            CHECK(l.segments[s].label == m.segments[s].label);
        }
    }
    CHECK_FALSE(same_bytes(qa.item(0).video.frames, qa.item(1).video.frames));
    CHECK_FALSE(same_bytes(localisation.item(0).frames, localisation.item(1).frames));
    // the tasks salt the seed: their videos are not pre-training's, nor each other's
    SyntheticConfig pretraining;
    CHECK_FALSE(same_bytes(qa.item(2).video.frames, SyntheticDataset(pretraining).item(2).frames));
    CHECK(qa.item(2).video.caption != actions.item(2).video.caption);
    DownstreamConfig other_seed = config, other_split = config;
    other_seed.seed = 1;
    other_split.split = SyntheticSplit::val;
    CHECK_FALSE(same_bytes(qa.item(3).video.frames, SyntheticQA(other_seed).item(3).video.frames));
    CHECK_FALSE(same_bytes(actions.item(3).video.frames, SyntheticActions(other_split).item(3).video.frames));
}

TEST_CASE("synthetic downstream: held-out pairs never appear in train, val or test, and make up test_unseen") {
    std::set<std::pair<int, int>> held_out;
    for (int c = 0; c < colour_count; ++c) held_out.insert({c, int(held_out_shape(Colour(c)))});
    for (const SyntheticSplit split : {SyntheticSplit::train, SyntheticSplit::val, SyntheticSplit::test, SyntheticSplit::test_unseen}) {
        INFO("split " << name(split));
        DownstreamConfig config;
        config.split = split;
        config.textured_background_probability = 0;
        LocalisationConfig long_config;
        long_config.split = split;
        long_config.frames = 28;  // the pair is drawn before anything that depends on T_long
        std::set<std::pair<int, int>> pairs;
        auto add = [&](const SceneObject& o) { pairs.insert({int(o.colour), int(o.shape)}); };
        for (index_t i = 0; i < 150; ++i) {
            for (const SceneObject& o : SyntheticQA(config).item(i).video.script.objects) add(o);
            add(SyntheticActions(config).item(i).video.script.objects.at(0));
            add(SyntheticLocalisation(long_config).item(i).object);
        }
        std::set<std::pair<int, int>> unseen;
        for (const auto& pair : pairs)
            if (held_out.count(pair)) unseen.insert(pair);
        if (split == SyntheticSplit::test_unseen) {
            CHECK(pairs == held_out);  // only held-out pairs, and all eight of them
        } else {
            CHECK(unseen.empty());
            CHECK(pairs.size() == 56u);  // every seen pair turns up
        }
    }
}

TEST_CASE("synthetic QA: the 26 answers in their documented order") {
    const std::vector<std::string> want = {"red",    "green",   "blue",     "yellow", "purple", "orange", "white",
                                           "pink",   "circle",  "square",   "triangle", "star", "cross",  "ring",
                                           "diamond", "hexagon", "left",    "right",  "up",     "down",   "still",
                                           "grows",  "shrinks", "one",      "two",    "three"};
    CHECK(qa_answer_vocabulary() == want);
    CHECK(qa_answer_count == 26);
    CHECK(qa_answer_index(Colour::pink) == 7);
    CHECK(qa_answer_index(Shape::circle) == 8);
    CHECK(qa_answer_index(Motion::stays_still) == 20);
    CHECK(qa_count_answer_index(3) == 25);
    CHECK(name(QuestionType::motion) == "motion");
}

TEST_CASE("synthetic QA: every question follows a template of §13, is unambiguous and is answered by the scene") {
    std::map<QuestionType, int> types;
    std::map<std::string, int> answers;
    int shared_shape = 0, shared_colour = 0;
    for (const SyntheticSplit split : {SyntheticSplit::train, SyntheticSplit::test_unseen}) {
        DownstreamConfig config;
        config.split = split;
        config.count = split == SyntheticSplit::train ? 2000 : 300;
        const SyntheticQA qa(config);
        std::map<QuestionType, int> split_types;
        for (index_t i = 0; i < qa.size(); ++i) {
            const SyntheticQaItem q = qa.item(i);
            const QuestionType type = check_question(q);
            ++types[type], ++split_types[type], ++answers[q.answer];
            CHECK(q.video.frames.shape() == Extents<4>{8, 64, 64, 3});
            CHECK(q.video.labels.shape() == Extents<3>{8, 64, 64});
            const std::vector<SceneObject>& objects = q.video.script.objects;
            for (std::size_t a = 0; a < objects.size(); ++a)
                for (std::size_t b = a + 1; b < objects.size(); ++b) {
                    shared_shape += objects[a].shape == objects[b].shape;
                    shared_colour += objects[a].colour == objects[b].colour;
                }
        }
        CHECK(split_types.size() == 4u);
        for (const auto& [type, n] : split_types) CHECK(n > qa.size() / 8);  // each type a fair share
    }
    CHECK(types.size() == 4u);
    CHECK(answers.size() == 26u);  // every answer occurs
    // scenes where a colour or shape question would be ambiguous do occur, so the rule is tested
    CHECK(shared_shape > 50);
    CHECK(shared_colour > 50);
}

TEST_CASE("synthetic actions: exactly one object, whose motion is the label") {
    CHECK(action_class_names() ==
          std::vector<std::string>{"moves left", "moves right", "moves up", "moves down", "stays still", "grows", "shrinks"});
    DownstreamConfig config;
    config.split = SyntheticSplit::val;
    config.count = 700;
    const SyntheticActions actions(config);
    std::vector<int> per_class(motion_count);
    for (index_t i = 0; i < actions.size(); ++i) {
        const SyntheticActionItem a = actions.item(i);
        REQUIRE(a.video.object_count() == 1);
        CHECK(a.label == index_t(a.video.script.objects[0].motion));
        CHECK(a.video.caption.ends_with(" " + action_class_names()[std::size_t(a.label)]));
        ++per_class[std::size_t(a.label)];
    }
    for (const int n : per_class) {  // 100 expected per class
        CHECK(n > 60);
        CHECK(n < 140);
    }
}

TEST_CASE("synthetic localisation: 2-4 segments of 8-24 frames between still gaps of 4-16, in frames and seconds") {
    CHECK(localisation_class_names() ==
          std::vector<std::string>{"moves left", "moves right", "moves up", "moves down", "grows", "shrinks"});
    for (index_t l = 0; l < localisation_class_count; ++l) CHECK(localisation_label(localisation_motion(l)) == l);
    CHECK(localisation_label(Motion::stays_still) == -1);
    CHECK_THROWS_AS(localisation_motion(6), ValueError);

    LocalisationConfig config;
    config.count = 400;
    config.textured_background_probability = 0;
    const SyntheticLocalisation data(config);
    std::map<std::size_t, int> segment_counts;
    std::vector<int> per_class(localisation_class_count);
    for (index_t i = 0; i < data.size(); ++i) {
        const SyntheticLocalisationItem v = data.item(i);
        REQUIRE(v.frames.shape() == Extents<4>{64, 64, 64, 3});
        REQUIRE(v.frame_labels.size() == 64u);
        REQUIRE(v.track.size() == 64u);
        CHECK(v.duration == 8.0);
        const std::size_t K = v.segments.size();
        REQUIRE(K >= 2u);
        REQUIRE(K <= 4u);
        ++segment_counts[K];
        index_t previous_end = 0;
        std::vector<index_t> frame_labels(64, -1);
        for (const ActionSegment& s : v.segments) {
            const index_t gap = s.start_frame - previous_end, length = s.end_frame - s.start_frame;
            CHECK(gap >= 4);
            CHECK(gap <= 16);
            CHECK(length >= 8);
            CHECK(length <= 24);
            CHECK(s.start_seconds == double(s.start_frame) / 8.0);
            CHECK(s.end_seconds == double(s.end_frame) / 8.0);
            REQUIRE(s.label >= 0);
            REQUIRE(s.label < localisation_class_count);
            ++per_class[std::size_t(s.label)];
            for (index_t t = s.start_frame; t < s.end_frame; ++t) frame_labels[std::size_t(t)] = s.label;
            previous_end = s.end_frame;
        }
        CHECK(64 - previous_end >= 4);  // the trailing gap
        CHECK(64 - previous_end <= 16);
        CHECK(v.frame_labels == frame_labels);
    }
    CHECK(segment_counts.size() == 3u);  // 2, 3 and 4 segments all occur at T_long = 64
    int segments = 0;
    for (const int n : per_class) segments += n;
    for (const int n : per_class) CHECK(n > segments / 12);  // every class a fair share (1/6 expected)
}

TEST_CASE("synthetic localisation: still in the gaps, moving as labelled in the segments, always inside the frame") {
    LocalisationConfig config;
    config.count = 60;
    config.split = SyntheticSplit::test;
    const SyntheticLocalisation data(config);
    for (index_t i = 0; i < data.size(); ++i) {
        const SyntheticLocalisationItem v = data.item(i);
        const index_t T = v.frames.extent(0);
        CHECK(same_pose(v.track[0], ObjectPose{v.object.x, v.object.y, v.object.size}));
        for (index_t t = 1; t < T; ++t) {
            INFO("video " << i << " frame " << t);
            const bool moving = v.frame_labels[std::size_t(t)] >= 0;
            CHECK(same_pose(v.track[std::size_t(t)], v.track[std::size_t(t - 1)]) == !moving);
            if (!moving) CHECK(same_frame(v.frames, t, t - 1));  // a still frame repeats the one before
        }
        for (const ActionSegment& s : v.segments) {
            const ObjectPose a = v.track[std::size_t(s.start_frame - 1)], b = v.track[std::size_t(s.end_frame - 1)];
            INFO("video " << i << " segment [" << s.start_frame << ", " << s.end_frame << ") "
                          << localisation_class_names()[std::size_t(s.label)]);
            // the displacement along the motion's direction (0 for a size change), and the other axis's
            const Motion motion = localisation_motion(s.label);
            const float dx = b.x - a.x, dy = b.y - a.y;
            const float along = motion == Motion::moves_left    ? -dx
                                : motion == Motion::moves_right ? dx
                                : motion == Motion::moves_up    ? -dy
                                : motion == Motion::moves_down  ? dy
                                                                : 0.0f;
            const float across = motion == Motion::moves_left || motion == Motion::moves_right ? dy
                                 : motion == Motion::moves_up || motion == Motion::moves_down  ? dx
                                                                                               : std::abs(dx) + std::abs(dy);
            CHECK(across == 0.0f);
            if (motion == Motion::grows || motion == Motion::shrinks) {
                CHECK(along == 0.0f);
                CHECK((motion == Motion::grows ? b.size / a.size : a.size / b.size) == doctest::Approx(1.6));
            } else {
                CHECK(along >= 64.0f / 3 - 1e-3f);
                CHECK(along <= 64.0f / 2 + 1e-3f);
                CHECK(a.size == b.size);
            }
        }
        // inside the frame: within §12's sizes, the whole silhouette drawn (none of it falls
        // outside), and the labels hold exactly it
        for (index_t t = 0; t < T; ++t) {
            const ObjectPose& p = v.track[std::size_t(t)];
            INFO("video " << i << " frame " << t << " at (" << p.x << ", " << p.y << ") size " << p.size);
            CHECK(p.size >= 10.0f - 1e-3f);
            CHECK(p.size <= 20.0f + 1e-3f);
            CHECK(p.x - p.size / 2 >= -1e-3f);
            CHECK(p.x + p.size / 2 <= 64 + 1e-3f);
            CHECK(p.y - p.size / 2 >= -1e-3f);
            CHECK(p.y + p.size / 2 <= 64 + 1e-3f);
            index_t outside = 0;
            bool exact = true;
            for (index_t row = -24; row < 64 + 24; ++row)
                for (index_t col = -24; col < 64 + 24; ++col) {
                    const bool covered = shape_covers(v.object.shape, float(col) + 0.5f - p.x, float(row) + 0.5f - p.y, p.size / 2);
                    if (row < 0 || row >= 64 || col < 0 || col >= 64)
                        outside += covered;
                    else
                        exact = exact && (v.labels(t, row, col) == 1) == covered;
                }
            CHECK(outside == 0);
            CHECK(exact);
        }
    }
}

TEST_CASE("synthetic localisation: T_long, frame size and fps are configurable; bad configs are refused") {
    LocalisationConfig shortest;
    shortest.frames = localisation_min_frames;  // only 2 segments of 8 frames between gaps of 4 fit
    shortest.fps = 4;
    const SyntheticLocalisationItem v = SyntheticLocalisation(shortest).item(0);
    REQUIRE(v.segments.size() == 2u);
    CHECK(v.segments[0].start_frame == 4);
    CHECK(v.segments[0].end_frame == 12);
    CHECK(v.segments[1].start_frame == 16);
    CHECK(v.segments[1].end_frame == 24);
    CHECK(v.segments[1].start_seconds == 4.0);
    CHECK(v.segments[1].end_seconds == 6.0);
    CHECK(v.duration == 7.0);
    LocalisationConfig longest;
    longest.frames = localisation_max_frames;
    longest.height = 96, longest.width = 128;
    const SyntheticLocalisationItem w = SyntheticLocalisation(longest).item(1);
    CHECK(w.frames.shape() == Extents<4>{176, 96, 128, 3});
    REQUIRE(w.segments.size() == 4u);
    for (const ActionSegment& s : w.segments) CHECK(s.end_frame - s.start_frame == 24);
    CHECK(w.object.size >= 15.0f - 1e-3f);  // scaled by 96 / 64

    auto refused = [](auto edit) {
        LocalisationConfig c;
        edit(c);
        CHECK_THROWS_AS(SyntheticLocalisation{c}, ValueError);
    };
    refused([](LocalisationConfig& c) { c.frames = localisation_min_frames - 1; });
    refused([](LocalisationConfig& c) { c.frames = localisation_max_frames + 1; });
    refused([](LocalisationConfig& c) { c.fps = 0; });
    refused([](LocalisationConfig& c) { c.width = 8; });
    refused([](LocalisationConfig& c) { c.textured_background_probability = 2; });
    DownstreamConfig config;
    config.count = 2;
    CHECK_THROWS_AS(SyntheticQA(config).item(2), ValueError);
    CHECK_THROWS_AS(SyntheticActions(config).item(-1), ValueError);
    config.count = -1;
    CHECK_THROWS_AS(SyntheticQA{config}, ValueError);
}

}  // namespace
}  // namespace svilm::testing
