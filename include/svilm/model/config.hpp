// svilm/model/config.hpp: the sizes of an S-ViLM model, its presets, and their JSON form (the
// `config` entry of a checkpoint's metadata).
#pragma once

#include <cmath>
#include <concepts>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"

namespace svilm {

inline constexpr index_t max_config_size = index_t(1) << 20;

// The grouping blocks' settings (docs/model.md §2.1), one place for all of them: how many group
// tokens, after which layers a block regroups them, the Gumbel-softmax temperature, hard or soft
// assignment, and the width of the blocks' MLPs.
struct GroupingConfig {
    index_t num_group_tokens = 32;              // M
    std::vector<index_t> after{6, 9, 12};       // 1-based layer numbers, increasing
    double gumbel_tau = 1.0;                    // softmax((logits + G) / tau)
    // docs/model.md §2.1's hard straight-through assignment; false gives GroupViT's soft
    // assignment, which is differentiable everywhere (finite-difference gradient checks of whole
    // encoders use it).
    bool hard_assignment = true;
    index_t mlp_ratio = 4;                      // the pre-assignment and channel MLPs: C -> ratio C -> C
};

struct VideoConfig {
    index_t image_size = 224;  // square frames, H = W
    index_t patch_size = 16;
    index_t frames = 8;  // T
    index_t tubelet = 2;  // t
    index_t width = 768;  // C
    index_t depth = 12;
    index_t heads = 12;
    index_t mlp_hidden = 3072;
    double layer_norm_eps = 1e-6;
    GroupingConfig grouping;

    index_t temporal_positions() const { return frames / tubelet; }  // N_t
    index_t spatial_positions() const {  // N_s
        return (image_size / patch_size) * (image_size / patch_size);
    }
    index_t tokens() const { return temporal_positions() * spatial_positions(); }  // L

    // Throws ValueError naming the first inconsistent field (every encoder checks its config).
    void validate() const {
        auto fail = [](const std::string& what) { throw ValueError("SVilmConfig: " + what); };
        if (patch_size <= 0 || image_size <= 0 || image_size % patch_size)
            fail("video.image_size must be a positive multiple of video.patch_size");
        if (tubelet <= 0 || frames <= 0 || frames % tubelet) fail("video.frames must be a positive multiple of video.tubelet");
        if (width <= 0 || heads <= 0 || width % heads) fail("video.width must be a positive multiple of video.heads");
        if (width % 2) fail("video.width must be even (token mixing uses width / 2)");
        const GroupingConfig& g = grouping;
        if (depth <= 0 || mlp_hidden <= 0 || g.num_group_tokens <= 0)
            fail("video.depth, mlp_hidden, num_group_tokens must be positive");
        if (g.after.empty()) fail("video.grouping_after needs at least one grouping block (spatial grounding reads it)");
        for (std::size_t k = 0; k < g.after.size(); ++k) {
            const index_t layer = g.after[k];
            if (layer < 1 || layer > depth || (k && layer <= g.after[k - 1]))
                fail("video.grouping_after must be increasing layer numbers in [1, depth]");
        }
        if (!(g.gumbel_tau > 0) || !std::isfinite(g.gumbel_tau)) fail("temperatures must be positive and finite");
        if (g.mlp_ratio < 1 || g.mlp_ratio > 64) fail("video.grouping_mlp_ratio must be in [1, 64]");
        if (!(layer_norm_eps > 0) || !std::isfinite(layer_norm_eps)) fail("video.layer_norm_eps must be positive and finite");
        // each size below 2^20, so the products the model forms stay far from overflow
        for (const index_t n : {image_size, frames, width, depth, mlp_hidden, g.num_group_tokens})
            if (n > max_config_size) fail("a video size exceeds 2^20");
    }
};

struct TextConfig {
    index_t vocab_size = 30522;
    index_t max_length = 32;
    index_t width = 768;
    index_t depth = 12;
    index_t heads = 12;
    index_t mlp_hidden = 3072;
    double layer_norm_eps = 1e-12;

    // Throws ValueError naming the first inconsistent field.
    void validate() const {
        auto fail = [](const std::string& what) { throw ValueError("SVilmConfig: " + what); };
        if (vocab_size <= 0 || max_length <= 0 || depth <= 0 || mlp_hidden <= 0) fail("text sizes must be positive");
        if (width <= 0 || heads <= 0 || width % heads) fail("text.width must be a positive multiple of text.heads");
        if (!(layer_norm_eps > 0) || !std::isfinite(layer_norm_eps)) fail("text.layer_norm_eps must be positive and finite");
        for (const index_t n : {vocab_size, max_length, width, depth, mlp_hidden})
            if (n > max_config_size) fail("a text size exceeds 2^20");
    }
};

struct SVilmConfig {
    VideoConfig video;
    TextConfig text;
    index_t embed_dim = 256;  // D
    index_t num_nouns = 2;  // K
    double tau_temporal = 0.1;
    double tau_assign = 0.1;

    // Throws ValueError naming the first inconsistent field.
    void validate() const {
        video.validate();
        text.validate();
        auto fail = [](const std::string& what) { throw ValueError("SVilmConfig: " + what); };
        if (embed_dim <= 0 || num_nouns < 0) fail("embed_dim must be positive and num_nouns non-negative");
        if (embed_dim > max_config_size || num_nouns > max_config_size) fail("a size exceeds 2^20");
        for (const double t : {tau_temporal, tau_assign})
            if (!(t > 0) || !std::isfinite(t)) fail("temperatures must be positive and finite");
    }
};

// Presets. `tiny`: tests and the CPU demo (64x64 frames of the synthetic benchmark). `small`: a
// ViT-S/16-sized model for CPU experiments at 224x224. `base`: ViT-B/16 + BERT-base as the paper.
inline SVilmConfig preset(const std::string& name) {
    SVilmConfig c;
    if (name == "base") {
        c.video.frames = 32;
        return c;
    }
    if (name == "small") {
        c.video.width = 384;
        c.video.heads = 6;
        c.video.mlp_hidden = 1536;
        c.video.grouping.num_group_tokens = 16;
        c.text.width = 384;
        c.text.depth = 6;
        c.text.heads = 6;
        c.text.mlp_hidden = 1536;
        return c;
    }
    if (name == "tiny") {
        c.video.image_size = 64;
        c.video.width = 96;
        c.video.depth = 4;
        c.video.heads = 3;
        c.video.mlp_hidden = 384;
        c.video.grouping.num_group_tokens = 8;
        c.video.grouping.after = {2, 3, 4};
        c.text.width = 96;
        c.text.depth = 2;
        c.text.heads = 3;
        c.text.mlp_hidden = 384;
        c.embed_dim = 64;
        return c;
    }
    throw ValueError("unknown preset '" + name + "' (tiny, small, base)");
}

// Every field of a config section with its JSON name: the one list that to_json and
// config_from_json both walk. V is the section, const or not; field(name, member).
template <class V, class F>
    requires std::same_as<std::remove_const_t<V>, VideoConfig>
void visit_fields(V& v, F&& field) {
    field("image_size", v.image_size);
    field("patch_size", v.patch_size);
    field("frames", v.frames);
    field("tubelet", v.tubelet);
    field("width", v.width);
    field("depth", v.depth);
    field("heads", v.heads);
    field("mlp_hidden", v.mlp_hidden);
    field("num_group_tokens", v.grouping.num_group_tokens);
    field("grouping_after", v.grouping.after);
    field("layer_norm_eps", v.layer_norm_eps);
    field("hard_assignment", v.grouping.hard_assignment);
    field("grouping_mlp_ratio", v.grouping.mlp_ratio);
}
template <class V, class F>
    requires std::same_as<std::remove_const_t<V>, TextConfig>
void visit_fields(V& t, F&& field) {
    field("vocab_size", t.vocab_size);
    field("max_length", t.max_length);
    field("width", t.width);
    field("depth", t.depth);
    field("heads", t.heads);
    field("mlp_hidden", t.mlp_hidden);
    field("layer_norm_eps", t.layer_norm_eps);
}
// The top level's own fields (its sections are `video` and `text`).
template <class V, class F>
    requires std::same_as<std::remove_const_t<V>, SVilmConfig>
void visit_fields(V& c, F&& field) {
    field("embed_dim", c.embed_dim);
    field("num_nouns", c.num_nouns);
    field("tau_temporal", c.tau_temporal);
    field("tau_assign", c.tau_assign);
    field("gumbel_tau", c.video.grouping.gumbel_tau);  // top level: where model files have always kept it
}

inline nlohmann::json to_json(const SVilmConfig& c) {
    nlohmann::json out = nlohmann::json::object(), video = nlohmann::json::object(), text = nlohmann::json::object();
    visit_fields(c, [&](const char* name, const auto& value) { out[name] = value; });
    visit_fields(c.video, [&](const char* name, const auto& value) { video[name] = value; });
    visit_fields(c.text, [&](const char* name, const auto& value) { text[name] = value; });
    out["video"] = std::move(video);
    out["text"] = std::move(text);
    return out;
}

// Reads the JSON form. A missing key keeps SVilmConfig's default (ViT-B/16 and BERT-base sizes,
// 8 frames); an unknown key, a section that is not an object, a fraction or a boolean where a
// count belongs is a FormatError naming the key, so a typo cannot silently change the model.
inline SVilmConfig config_from_json(const nlohmann::json& j) {
    SVilmConfig c;
    auto fail = [](const std::string& what) -> void { throw FormatError("model config: " + what); };
    auto read_section = [&](const nlohmann::json& obj, const std::string& path, auto& section) {
        if (!obj.is_object()) fail("'" + (path.empty() ? std::string("(root)") : path) + "' must be an object");
        for (const auto& [key, value] : obj.items()) {
            bool known = false;
            visit_fields(section, [&](const char* name, auto& field) {
                if (key != name) return;
                known = true;
                using F = std::remove_reference_t<decltype(field)>;
                const std::string where = "'" + path + (path.empty() ? "" : ".") + key + "'";
                if constexpr (std::is_same_v<F, bool>) {
                    if (!value.is_boolean()) fail(where + " must be true or false");
                } else if constexpr (std::is_integral_v<F>) {
                    if (!value.is_number_integer()) fail(where + " must be an integer");
                } else if constexpr (std::is_floating_point_v<F>) {
                    if (!value.is_number()) fail(where + " must be a number");
                } else {
                    if (!value.is_array()) fail(where + " must be an array of integers");
                    for (const auto& e : value)
                        if (!e.is_number_integer()) fail(where + " must be an array of integers");
                }
                value.get_to(field);
            });
            if (!known && !(path.empty() && (key == "video" || key == "text")))
                fail("unknown key '" + path + (path.empty() ? "" : ".") + key + "'");
        }
    };
    read_section(j, "", c);
    if (j.contains("video")) read_section(j.at("video"), "video", c.video);
    if (j.contains("text")) read_section(j.at("text"), "text", c.text);
    c.validate();
    return c;
}

}  // namespace svilm
