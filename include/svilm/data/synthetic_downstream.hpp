// svilm/data/synthetic_downstream.hpp: the synthetic versions of three downstream tasks
// (docs/model.md §13), video QA, action recognition and temporal action localisation, drawn with
// §12's vocabulary, scene sampling, rendering and held-out colour-shape pairs. Plain C++, no
// libav; synthetic_downstream_export.hpp writes them as videos with the real datasets' files.
//
//   DownstreamConfig config;                          // 64x64, 8 frames, seed 0, train
//   const SyntheticQaItem q = SyntheticQA(config).item(3);
//   // q.question "what colour is the star?", q.answer "blue", q.video.frames (T, H, W, 3)
//   LocalisationConfig long_config;                   // T_long = 64 frames at 8 fps
//   const SyntheticLocalisationItem l = SyntheticLocalisation(long_config).item(0);
//   // l.segments: frames [start_frame, end_frame) and seconds, labels of localisation_class_names()
//
// An item is a pure function of (seed, task, split, index), as in SyntheticDataset: each task
// salts the seed, so its videos are unrelated to the other tasks' and to pre-training's. The
// splits are §12's: train, val and test draw only the seen colour-shape pairs, test_unseen only
// the held-out ones.
//
// Where §13 leaves a choice, svilm's:
//  - QA: a §12 scene of 1-3 objects (uniform), a single scene. A question type can be asked when
//    it has a subject whose answer is unambiguous: "what colour is the {shape}?" about an object
//    whose shape no other object has, "what shape is the {colour} object?" about one whose
//    colour no other has, "how does the {colour} {shape} move?" about any object (the pairs of a
//    video are distinct), "how many objects are there?" always. The type is uniform over the
//    types that can be asked, the subject uniform over the type's candidates. In test_unseen
//    every type can always be asked: the held-out pairs have distinct colours and shapes.
//  - QA answers, by index: the 8 colours, the 8 shapes, the 7 motion words (left, right, up,
//    down, still, grows, shrinks), then one, two, three; each group in §12's order.
//  - Actions: one object, drawn as in §12; label = its motion's index in §12's order.
//  - Localisation: the layout is gap, segment, gap, ..., segment, gap: K segments (uniform over
//    the K in {2, 3, 4} that fit T_long) and K + 1 "stays still" gaps, so a video starts and ends
//    still. The lengths are drawn in that order, each uniform over the values that leave the
//    rest satisfiable, and sum to T_long exactly; T_long must lie in [28, 176] (the shortest
//    and longest layouts). A segment is one §12 motion over its frames: a move covers a third to
//    a half of the frame along its axis, a size change is x1.6 or /1.6. The object has two sizes,
//    small (10-12.5 px, scaled) and large (1.6 times it), so it stays within §12's 10-20 px: it
//    grows only when small and shrinks only when large. Its centre keeps the large radius from
//    every edge, and a move is allowed only towards an edge at least a third of the frame away;
//    each segment's motion is uniform over the allowed ones and a move's distance uniform in
//    [extent / 3, min(extent / 2, room)], so the object never leaves the frame.
//  - Localisation timing: frame t of a segment [s, e) shows the motion at progress
//    (t - s + 1) / (e - s), so every segment frame differs from the one before and every gap
//    frame equals it: a segment is exactly the frames that move. In seconds it is
//    [s / fps, e / fps] (frame t spans [t / fps, (t + 1) / fps)); the default 8 fps makes
//    T_long = 64 frames 8 s.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/data/synthetic.hpp"
#include "svilm/data/synthetic_render.hpp"
#include "svilm/data/synthetic_scene.hpp"

namespace svilm::data {

// What every downstream task draws. Sizes and distances scale with min(height, width) / 64.
struct DownstreamConfig {
    index_t height = 64;
    index_t width = 64;
    index_t frames = 8;  // T (localisation: T_long)
    int fps = 8;         // the rate the videos play at: localisation's seconds, the exported files
    std::uint64_t seed = 0;
    SyntheticSplit split = SyntheticSplit::train;
    index_t count = 1000;  // items in the dataset
    double textured_background_probability = 0.5;  // else plain (40, 40, 40)
};

// The localisation task's config: T_long = 64 frames by default.
struct LocalisationConfig : DownstreamConfig {
    LocalisationConfig() { frames = 64; }
};

// Throws ValueError naming the field that is out of range.
inline void validate(const DownstreamConfig& c) {
    auto fail = [](const std::string& what) { throw ValueError("DownstreamConfig: " + what); };
    if (c.height < 16 || c.width < 16) fail("frames must be at least 16x16 pixels");
    if (c.frames < 1) fail("frames must be at least 1");
    if (c.fps < 1) fail("fps must be positive");
    if (c.count < 0) fail("count must not be negative");
    if (!(c.textured_background_probability >= 0 && c.textured_background_probability <= 1))
        fail("textured_background_probability must lie in [0, 1]");
}

// ---- video QA ----

enum class QuestionType : std::uint8_t { colour, shape, motion, count };
inline constexpr int question_type_count = 4;

// "colour", "shape", "motion", "count": the "type" field of the exported questions.
inline std::string_view name(QuestionType type) {
    static constexpr std::array<std::string_view, question_type_count> names = {"colour", "shape", "motion", "count"};
    return names[std::size_t(type)];
}

// The answer to "how does ... move?" for each motion, in §12's order.
inline constexpr std::array<std::string_view, motion_count> motion_answers = {"left", "right", "up", "down",
                                                                              "still", "grows", "shrinks"};
inline constexpr std::array<std::string_view, 3> count_answers = {"one", "two", "three"};
inline constexpr index_t qa_answer_count = colour_count + shape_count + motion_count + 3;  // 26

inline index_t qa_answer_index(Colour c) { return index_t(c); }
inline index_t qa_answer_index(Shape s) { return colour_count + index_t(s); }
inline index_t qa_answer_index(Motion m) { return colour_count + shape_count + index_t(m); }
inline index_t qa_count_answer_index(int objects) { return colour_count + shape_count + motion_count + objects - 1; }

// The 26 answers by index (see the header comment for the order).
inline const std::vector<std::string>& qa_answer_vocabulary() {
    static const std::vector<std::string> answers = [] {
        std::vector<std::string> out;
        for (const std::string_view w : colour_names) out.emplace_back(w);
        for (const std::string_view w : shape_names) out.emplace_back(w);
        for (const std::string_view w : motion_answers) out.emplace_back(w);
        for (const std::string_view w : count_answers) out.emplace_back(w);
        return out;
    }();
    return answers;
}

struct SyntheticQaItem {
    SyntheticVideo video;  // frames (T, H, W, 3), labels (T, H, W), the script (one scene), boxes
    QuestionType type = QuestionType::count;
    std::string question;  // "what colour is the star?"
    std::string answer;    // "blue": qa_answer_vocabulary()[answer_index]
    index_t answer_index = 0;
    index_t subject = -1;  // the object asked about (index into video.script.objects), -1 for a count
};

// ---- action recognition ----

// The 7 motion phrases in §12's order: label l is Motion(l).
inline const std::vector<std::string>& action_class_names() {
    static const std::vector<std::string> names(motion_phrases.begin(), motion_phrases.end());
    return names;
}

struct SyntheticActionItem {
    SyntheticVideo video;  // exactly one object
    index_t label = 0;     // its motion: index into action_class_names()
};

// ---- temporal action localisation ----

inline constexpr int localisation_class_count = 6;
inline constexpr int localisation_min_segments = 2, localisation_max_segments = 4;
inline constexpr index_t localisation_min_segment = 8, localisation_max_segment = 24;  // frames
inline constexpr index_t localisation_min_gap = 4, localisation_max_gap = 16;          // frames
inline constexpr index_t localisation_min_frames = 3 * localisation_min_gap + 2 * localisation_min_segment;  // 28
inline constexpr index_t localisation_max_frames = 5 * localisation_max_gap + 4 * localisation_max_segment;  // 176

// The six non-still motions in §12's order (moves left, right, up, down, grows, shrinks); "stays
// still" is the background.
inline Motion localisation_motion(index_t label) {
    if (label < 0 || label >= localisation_class_count)
        throw ValueError("localisation_motion: label " + std::to_string(label) + " outside [0, 6)");
    return label < index_t(Motion::stays_still) ? Motion(label) : Motion(label + 1);
}

// The motion's label, or -1 for stays_still.
inline index_t localisation_label(Motion m) {
    if (m == Motion::stays_still) return -1;
    return m < Motion::stays_still ? index_t(m) : index_t(m) - 1;
}

inline const std::vector<std::string>& localisation_class_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (index_t l = 0; l < localisation_class_count; ++l) out.emplace_back(phrase(localisation_motion(l)));
        return out;
    }();
    return names;
}

struct ActionSegment {
    index_t start_frame = 0, end_frame = 0;     // frames [start_frame, end_frame)
    double start_seconds = 0, end_seconds = 0;  // start_frame / fps, end_frame / fps
    index_t label = 0;                          // index into localisation_class_names()
};

struct SyntheticLocalisationItem {
    Tensor<std::uint8_t, 4> frames;       // (T, H, W, 3) sRGB
    Tensor<std::uint8_t, 3> labels;       // (T, H, W): 1 where the object is visible, else 0
    SceneObject object;                   // colour, shape, and x, y, size at frame 0 (segments hold the motions)
    Background background;
    std::vector<ObjectPose> track;        // (T): the object's centre and size at each frame
    std::vector<ActionSegment> segments;  // in time order
    std::vector<index_t> frame_labels;    // (T): the label of the segment holding frame t, -1 in a gap
    double duration = 0;                  // seconds: T / fps
};

namespace detail {

enum class DownstreamTask : std::uint64_t { qa = 1, actions = 2, localisation = 3 };

// One item's generator: the pre-training key (synthetic_scene.hpp) of the task-salted seed.
inline Generator downstream_generator(const DownstreamConfig& c, DownstreamTask task, index_t index) {
    return Generator(synthetic_item_key(splitmix64(c.seed ^ (std::uint64_t(task) << 56)), c.split, index));
}

// The §12 generator's config for single-scene videos of min_objects to max_objects objects.
inline SyntheticConfig scene_config(const DownstreamConfig& c, int min_objects, int max_objects) {
    SyntheticConfig s;
    s.height = c.height;
    s.width = c.width;
    s.frames = c.frames;
    s.seed = c.seed;
    s.split = c.split;
    s.count = c.count;
    s.min_objects = min_objects;
    s.max_objects = max_objects;
    s.scene_change_probability = 0;
    s.textured_background_probability = c.textured_background_probability;
    return s;
}

inline void check_index(const char* op, index_t i, index_t size) {
    if (i < 0 || i >= size)
        throw ValueError(std::string(op) + ": index " + std::to_string(i) + " outside [0, " + std::to_string(size) + ")");
}

// Draws the question of a single-scene script into `item` (see the header comment).
inline void ask_question(Generator& g, const SceneScript& script, SyntheticQaItem& item) {
    const std::vector<SceneObject>& objects = script.objects;
    auto unique = [&](auto&& same) {
        std::vector<index_t> out;
        for (std::size_t k = 0; k < objects.size(); ++k) {
            const auto shared = std::count_if(objects.begin(), objects.end(), [&](const SceneObject& o) { return same(o, objects[k]); });
            if (shared == 1) out.push_back(index_t(k));
        }
        return out;
    };
    std::array<std::vector<index_t>, question_type_count> candidates;
    candidates[std::size_t(QuestionType::colour)] = unique([](const SceneObject& a, const SceneObject& b) { return a.shape == b.shape; });
    candidates[std::size_t(QuestionType::shape)] = unique([](const SceneObject& a, const SceneObject& b) { return a.colour == b.colour; });
    for (std::size_t k = 0; k < objects.size(); ++k) candidates[std::size_t(QuestionType::motion)].push_back(index_t(k));
    candidates[std::size_t(QuestionType::count)] = {-1};
    std::vector<QuestionType> askable;
    for (int t = 0; t < question_type_count; ++t)
        if (!candidates[std::size_t(t)].empty()) askable.push_back(QuestionType(t));
    item.type = askable[g.uniform_int(askable.size())];
    const std::vector<index_t>& subjects = candidates[std::size_t(item.type)];
    item.subject = subjects[g.uniform_int(subjects.size())];
    const std::string colour = item.subject >= 0 ? std::string(name(objects[std::size_t(item.subject)].colour)) : "";
    const std::string shape = item.subject >= 0 ? std::string(name(objects[std::size_t(item.subject)].shape)) : "";
    switch (item.type) {
        case QuestionType::colour:
            item.question = "what colour is the " + shape + "?";
            item.answer_index = qa_answer_index(objects[std::size_t(item.subject)].colour);
            break;
        case QuestionType::shape:
            item.question = "what shape is the " + colour + " object?";
            item.answer_index = qa_answer_index(objects[std::size_t(item.subject)].shape);
            break;
        case QuestionType::motion:
            item.question = "how does the " + colour + " " + shape + " move?";
            item.answer_index = qa_answer_index(objects[std::size_t(item.subject)].motion);
            break;
        case QuestionType::count:
            item.question = "how many objects are there?";
            item.answer_index = qa_count_answer_index(int(objects.size()));
            break;
    }
    item.answer = qa_answer_vocabulary()[std::size_t(item.answer_index)];
}

// The lengths of gap, segment, gap, ..., gap: 2K + 1 parts summing to T (see the header comment).
inline std::vector<index_t> sample_layout(Generator& g, index_t T) {
    std::vector<int> fits;
    for (int k = localisation_min_segments; k <= localisation_max_segments; ++k)
        if ((k + 1) * localisation_min_gap + k * localisation_min_segment <= T &&
            T <= (k + 1) * localisation_max_gap + k * localisation_max_segment)
            fits.push_back(k);
    const int K = fits[g.uniform_int(fits.size())];
    const std::size_t parts = std::size_t(2 * K + 1);
    std::vector<index_t> lo(parts), hi(parts);
    for (std::size_t p = 0; p < parts; ++p) {
        lo[p] = p % 2 == 0 ? localisation_min_gap : localisation_min_segment;
        hi[p] = p % 2 == 0 ? localisation_max_gap : localisation_max_segment;
    }
    std::vector<index_t> lengths(parts);
    index_t rest = T, lo_after = 0, hi_after = 0;
    for (std::size_t p = 0; p < parts; ++p) lo_after += lo[p], hi_after += hi[p];
    for (std::size_t p = 0; p < parts; ++p) {
        lo_after -= lo[p], hi_after -= hi[p];
        const index_t a = std::max(lo[p], rest - hi_after), b = std::min(hi[p], rest - lo_after);
        lengths[p] = a + index_t(g.uniform_int(std::uint64_t(b - a + 1)));
        rest -= lengths[p];
    }
    return lengths;
}

}  // namespace detail

// A fixed-size, random-access view of one split of the QA task; item i is a pure function of
// (config, i). Thread-safe (const, no shared state).
class SyntheticQA {
public:
    explicit SyntheticQA(const DownstreamConfig& config) : config_(config) { validate(config_); }

    const DownstreamConfig& config() const { return config_; }
    index_t size() const { return config_.count; }

    // requires: 0 <= i < size().
    // ensures: 1-3 objects in one scene (fewer than drawn only when §12's placement gives up);
    // the answer is unambiguous (see the header comment) and qa_answer_vocabulary()[answer_index].
    SyntheticQaItem item(index_t i) const {
        detail::check_index("SyntheticQA::item", i, size());
        Generator g = detail::downstream_generator(config_, detail::DownstreamTask::qa, i);
        SceneScript script = detail::draw_script(g, detail::scene_config(config_, 1, 3));
        SyntheticQaItem out;
        detail::ask_question(g, script, out);
        out.video = render_video(std::move(script));
        return out;
    }

private:
    DownstreamConfig config_;
};

// A fixed-size, random-access view of one split of the action-recognition task.
class SyntheticActions {
public:
    explicit SyntheticActions(const DownstreamConfig& config) : config_(config) { validate(config_); }

    const DownstreamConfig& config() const { return config_; }
    index_t size() const { return config_.count; }

    // requires: 0 <= i < size().
    // ensures: exactly one object (a lone object always finds a start position: its largest
    // size and longest move leave room in any frame of at least 16x16), label == its motion.
    SyntheticActionItem item(index_t i) const {
        detail::check_index("SyntheticActions::item", i, size());
        Generator g = detail::downstream_generator(config_, detail::DownstreamTask::actions, i);
        SyntheticActionItem out;
        out.video = render_video(detail::draw_script(g, detail::scene_config(config_, 1, 1)));
        out.label = index_t(out.video.script.objects.at(0).motion);
        return out;
    }

private:
    DownstreamConfig config_;
};

// A fixed-size, random-access view of one split of the temporal-localisation task.
class SyntheticLocalisation {
public:
    // Also refuses (ValueError) a T_long = config.frames outside [28, 176].
    explicit SyntheticLocalisation(const LocalisationConfig& config) : config_(config) {
        validate(config_);
        if (config_.frames < localisation_min_frames || config_.frames > localisation_max_frames)
            throw ValueError("LocalisationConfig: frames (T_long) " + std::to_string(config_.frames) + " outside [" +
                             std::to_string(localisation_min_frames) + ", " + std::to_string(localisation_max_frames) +
                             "]: 2-4 segments of 8-24 frames between gaps of 4-16 must fit exactly");
    }

    const LocalisationConfig& config() const { return config_; }
    index_t size() const { return config_.count; }

    // requires: 0 <= i < size().
    // ensures: the layout, sizes and moves of the header comment; the whole object is inside the
    // frame in every frame.
    SyntheticLocalisationItem item(index_t i) const {
        detail::check_index("SyntheticLocalisation::item", i, size());
        Generator g = detail::downstream_generator(config_, detail::DownstreamTask::localisation, i);
        const index_t T = config_.frames;
        const float W = float(config_.width), H = float(config_.height);
        const float scale = float(std::min(config_.height, config_.width)) / 64.0f;
        SyntheticLocalisationItem out;
        detail::sample_pair(g, config_.split, {}, out.object.colour, out.object.shape);
        out.background = detail::sample_background(g, config_.textured_background_probability);
        const std::vector<index_t> layout = detail::sample_layout(g, T);

        const float small = detail::uniform_real(g, 10.0f, 20.0f / size_change_factor) * scale;
        const float large = small * size_change_factor;
        bool is_large = detail::chance(g, 0.5);
        const float R = large / 2.0f;  // the centre keeps this far from every edge
        ObjectPose pose{detail::uniform_real(g, R, W - R), detail::uniform_real(g, R, H - R), is_large ? large : small};
        out.object.x = pose.x, out.object.y = pose.y, out.object.size = pose.size;

        out.track.assign(std::size_t(T), pose);
        out.frame_labels.assign(std::size_t(T), -1);
        index_t s = 0;
        for (std::size_t p = 0; p < layout.size(); s += layout[p], ++p) {
            const index_t e = s + layout[p];
            if (p % 2 == 0) {  // a gap: the object stays still
                for (index_t f = s; f < e; ++f) out.track[std::size_t(f)] = pose;
                continue;
            }
            struct Move {
                float room, extent;  // px to the edge the move heads for; the frame's extent along it
            };
            const std::array<Move, 4> moves = {{{pose.x - R, W}, {W - R - pose.x, W}, {pose.y - R, H}, {H - R - pose.y, H}}};
            std::vector<Motion> allowed = {is_large ? Motion::shrinks : Motion::grows};
            for (std::size_t m = 0; m < moves.size(); ++m)  // Motion 0-3: moves left, right, up, down
                if (moves[m].room >= moves[m].extent / 3.0f) allowed.push_back(Motion(m));
            SceneObject step = out.object;
            step.motion = allowed[g.uniform_int(allowed.size())];
            step.x = pose.x, step.y = pose.y, step.size = pose.size;
            const bool resize = step.motion == Motion::grows || step.motion == Motion::shrinks;
            if (!resize) {
                const Move& m = moves[std::size_t(step.motion)];
                step.distance = detail::uniform_real(g, m.extent / 3.0f, std::min(m.extent / 2.0f, m.room));
            }
            for (index_t f = s; f < e; ++f) out.track[std::size_t(f)] = pose_at(step, float(f - s + 1) / float(e - s));
            if (resize) {  // land on the other size exactly, so that sizes never drift
                is_large = !is_large;
                out.track[std::size_t(e - 1)].size = is_large ? large : small;
            }
            pose = out.track[std::size_t(e - 1)];
            const index_t label = localisation_label(step.motion);
            out.segments.push_back({s, e, double(s) / double(config_.fps), double(e) / double(config_.fps), label});
            for (index_t f = s; f < e; ++f) out.frame_labels[std::size_t(f)] = label;
        }
        out.duration = double(T) / double(config_.fps);

        SceneScript script;
        script.height = config_.height;
        script.width = config_.width;
        script.frames = T;
        script.objects = {out.object};
        script.backgrounds = {out.background};
        out.frames = Tensor<std::uint8_t, 4>({T, config_.height, config_.width, 3}, uninitialized);
        out.labels = Tensor<std::uint8_t, 3>({T, config_.height, config_.width}, uninitialized);
        render_script(
            script, [&](std::size_t, index_t f) { return out.track[std::size_t(f)]; }, out.frames, out.labels);
        return out;
    }

private:
    LocalisationConfig config_;
};

}  // namespace svilm::data
