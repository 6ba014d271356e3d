// svilm/model/config.hpp: the sizes of an S-ViLM model, its presets, and their JSON form (the
// `config` entry of a checkpoint's metadata).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"

namespace svilm {

struct VideoConfig {
    index_t image_size = 224;  // square frames, H = W
    index_t patch_size = 16;
    index_t frames = 8;  // T
    index_t tubelet = 2;  // t
    index_t width = 768;  // C
    index_t depth = 12;
    index_t heads = 12;
    index_t mlp_hidden = 3072;
    index_t num_group_tokens = 32;  // M
    std::vector<index_t> grouping_after{6, 9, 12};  // 1-based layer numbers
    double layer_norm_eps = 1e-6;
    // SPEC 2.1's hard straight-through assignment; false gives GroupViT's soft assignment, which
    // is differentiable everywhere (finite-difference gradient checks of whole encoders use it).
    bool hard_assignment = true;

    index_t temporal_positions() const { return frames / tubelet; }  // N_t
    index_t spatial_positions() const {  // N_s
        return (image_size / patch_size) * (image_size / patch_size);
    }
    index_t tokens() const { return temporal_positions() * spatial_positions(); }  // L
};

struct TextConfig {
    index_t vocab_size = 30522;
    index_t max_length = 32;
    index_t width = 768;
    index_t depth = 12;
    index_t heads = 12;
    index_t mlp_hidden = 3072;
    double layer_norm_eps = 1e-12;
};

struct SVilmConfig {
    VideoConfig video;
    TextConfig text;
    index_t embed_dim = 256;  // D
    index_t num_nouns = 2;  // K
    double tau_temporal = 0.1;
    double tau_assign = 0.1;
    double gumbel_tau = 1.0;

    // Throws ValueError naming the first inconsistent field.
    void validate() const {
        auto fail = [](const std::string& what) { throw ValueError("SVilmConfig: " + what); };
        const VideoConfig& v = video;
        if (v.patch_size <= 0 || v.image_size <= 0 || v.image_size % v.patch_size)
            fail("video.image_size must be a positive multiple of video.patch_size");
        if (v.tubelet <= 0 || v.frames <= 0 || v.frames % v.tubelet) fail("video.frames must be a positive multiple of video.tubelet");
        if (v.width <= 0 || v.heads <= 0 || v.width % v.heads) fail("video.width must be a positive multiple of video.heads");
        if (v.width % 2) fail("video.width must be even (token mixing uses width / 2)");
        if (v.depth <= 0 || v.mlp_hidden <= 0 || v.num_group_tokens <= 0) fail("video.depth, mlp_hidden, num_group_tokens must be positive");
        if (v.grouping_after.empty()) fail("video.grouping_after needs at least one grouping block (spatial grounding reads it)");
        for (std::size_t k = 0; k < v.grouping_after.size(); ++k) {
            const index_t layer = v.grouping_after[k];
            if (layer < 1 || layer > v.depth || (k && layer <= v.grouping_after[k - 1]))
                fail("video.grouping_after must be increasing layer numbers in [1, depth]");
        }
        const TextConfig& t = text;
        if (t.vocab_size <= 0 || t.max_length <= 0 || t.depth <= 0 || t.mlp_hidden <= 0)
            fail("text sizes must be positive");
        if (t.width <= 0 || t.heads <= 0 || t.width % t.heads) fail("text.width must be a positive multiple of text.heads");
        if (embed_dim <= 0 || num_nouns < 0) fail("embed_dim must be positive and num_nouns non-negative");
        if (!(tau_temporal > 0) || !(tau_assign > 0) || !(gumbel_tau > 0)) fail("temperatures must be positive");
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
        c.video.num_group_tokens = 16;
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
        c.video.num_group_tokens = 8;
        c.video.grouping_after = {2, 3, 4};
        c.text.width = 96;
        c.text.depth = 2;
        c.text.heads = 3;
        c.text.mlp_hidden = 384;
        c.embed_dim = 64;
        return c;
    }
    throw ValueError("unknown preset '" + name + "' (tiny, small, base)");
}

inline nlohmann::json to_json(const SVilmConfig& c) {
    const VideoConfig& v = c.video;
    const TextConfig& t = c.text;
    return {{"video",
             {{"image_size", v.image_size}, {"patch_size", v.patch_size}, {"frames", v.frames}, {"tubelet", v.tubelet},
              {"width", v.width}, {"depth", v.depth}, {"heads", v.heads}, {"mlp_hidden", v.mlp_hidden},
              {"num_group_tokens", v.num_group_tokens}, {"grouping_after", v.grouping_after},
              {"layer_norm_eps", v.layer_norm_eps}, {"hard_assignment", v.hard_assignment}}},
            {"text",
             {{"vocab_size", t.vocab_size}, {"max_length", t.max_length}, {"width", t.width}, {"depth", t.depth},
              {"heads", t.heads}, {"mlp_hidden", t.mlp_hidden}, {"layer_norm_eps", t.layer_norm_eps}}},
            {"embed_dim", c.embed_dim},
            {"num_nouns", c.num_nouns},
            {"tau_temporal", c.tau_temporal},
            {"tau_assign", c.tau_assign},
            {"gumbel_tau", c.gumbel_tau}};
}

// Reads the JSON form; missing keys keep the `base` value, a wrong type is a FormatError.
inline SVilmConfig config_from_json(const nlohmann::json& j) {
    SVilmConfig c;
    auto read = [](const nlohmann::json& obj, const char* key, auto& field, const std::string& path) {
        if (!obj.contains(key)) return;
        try {
            obj.at(key).get_to(field);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError("model config: '" + path + key + "': " + e.what());
        }
    };
    try {
        if (j.contains("video")) {
            const auto& v = j.at("video");
            read(v, "image_size", c.video.image_size, "video.");
            read(v, "patch_size", c.video.patch_size, "video.");
            read(v, "frames", c.video.frames, "video.");
            read(v, "tubelet", c.video.tubelet, "video.");
            read(v, "width", c.video.width, "video.");
            read(v, "depth", c.video.depth, "video.");
            read(v, "heads", c.video.heads, "video.");
            read(v, "mlp_hidden", c.video.mlp_hidden, "video.");
            read(v, "num_group_tokens", c.video.num_group_tokens, "video.");
            read(v, "grouping_after", c.video.grouping_after, "video.");
            read(v, "layer_norm_eps", c.video.layer_norm_eps, "video.");
            read(v, "hard_assignment", c.video.hard_assignment, "video.");
        }
        if (j.contains("text")) {
            const auto& t = j.at("text");
            read(t, "vocab_size", c.text.vocab_size, "text.");
            read(t, "max_length", c.text.max_length, "text.");
            read(t, "width", c.text.width, "text.");
            read(t, "depth", c.text.depth, "text.");
            read(t, "heads", c.text.heads, "text.");
            read(t, "mlp_hidden", c.text.mlp_hidden, "text.");
            read(t, "layer_norm_eps", c.text.layer_norm_eps, "text.");
        }
        read(j, "embed_dim", c.embed_dim, "");
        read(j, "num_nouns", c.num_nouns, "");
        read(j, "tau_temporal", c.tau_temporal, "");
        read(j, "tau_assign", c.tau_assign, "");
        read(j, "gumbel_tau", c.gumbel_tau, "");
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(std::string("model config: ") + e.what());
    }
    c.validate();
    return c;
}

}  // namespace svilm
