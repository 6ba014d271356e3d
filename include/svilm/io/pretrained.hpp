// svilm/io/pretrained.hpp: initialise S-ViLM's encoders from public image-ViT and BERT
// checkpoints (safetensors) through documented name maps (docs/model.md §2 and 3).
//
// Video side, from an image ViT in either common naming:
//   timm `vit_base_patch16_224`                 Hugging Face `google/vit-base-patch16-224`
//   patch_embed.proj.{weight,bias}              [vit.]embeddings.patch_embeddings.projection.*
//   pos_embed (1, 1 + N_s, C)                   [vit.]embeddings.position_embeddings
//   blocks.{i}.norm1 / norm2                    [vit.]encoder.layer.{i}.layernorm_before / _after
//   blocks.{i}.attn.qkv                         ...attention.attention.{query,key,value} (concatenated)
//   blocks.{i}.attn.proj                        ...attention.output.dense
//   blocks.{i}.mlp.fc1 / fc2                    ...intermediate.dense / output.dense
//   norm                                        [vit.]layernorm
// become video.patch_embed.proj (the 2-D patch (C, 3, p, p) inflated to the tubelet
// (C, 3, t, p, p) as w / t repeated over t, so a static clip embeds as the image did),
// video.pos_embed_spatial (the position table without its class row), video.blocks.{i}.* and
// video.norm. The class token and classification head are not used; the temporal positions,
// group tokens and grouping blocks keep their initialisation. The position grid must match the
// model's (image_size / patch_size)^2.
//
// Text side, from bert-base-uncased naming, with or without the `bert.` prefix: embeddings.* and
// encoder.layer.{i}.* map to text.* by prefix (old `gamma` / `beta` LayerNorm names too); the
// position table keeps its first max_length rows; the pooler and the `cls.*` heads are unused.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "svilm/io/weights.hpp"
#include "svilm/model/config.hpp"

namespace svilm::io {

namespace detail {

// One parameter filled from the checkpoint: its name and how to fill it.
template <class T>
struct Transfer {
    std::string parameter;
    std::vector<std::string> sources;  // file keys consumed
    std::function<void(T*)> fill;
};

// Applies transfers whose sources all exist; reports the rest. Shapes are checked before
// anything is written. Strict: a file key with no place in the model, or a parameter the
// checkpoint should provide (not in `not_provided`, name prefixes) but does not, is an error.
template <class T>
LoadReport apply_transfers(nn::ParameterStore<T>& store, const SafetensorsFile& file, const std::string& prefix,
                           std::vector<Transfer<T>>& transfers, const std::vector<std::string>& ignored_keys,
                           const std::vector<std::string>& not_provided, bool strict) {
    LoadReport report;
    std::vector<std::string> used;
    std::vector<const Transfer<T>*> ready;
    for (const Transfer<T>& t : transfers) {
        bool present = true;
        for (const std::string& key : t.sources) present = present && file.contains(key);
        if (!present) continue;
        ready.push_back(&t);
        used.insert(used.end(), t.sources.begin(), t.sources.end());
    }
    for (const nn::ParameterInfo& p : store.parameters()) {
        if (p.name.compare(0, prefix.size(), prefix) != 0) continue;
        bool found = false;
        for (const Transfer<T>* t : ready) found = found || t->parameter == p.name;
        (found ? report.loaded : report.missing).push_back(p.name);
    }
    for (const auto& [key, info] : file.tensors()) {
        bool is_used = false;
        for (const std::string& u : used) is_used = is_used || u == key;
        for (const std::string& ig : ignored_keys) is_used = is_used || key.compare(0, ig.size(), ig) == 0;
        if (!is_used) report.unexpected.push_back(key);
    }
    if (strict && !report.unexpected.empty())
        throw FormatError(file.path().string() + ": " + std::to_string(report.unexpected.size()) +
                          " tensor(s) with no place in the model: " + detail::name_list(report.unexpected));
    std::vector<std::string> lacking;
    for (const std::string& name : report.missing) {
        bool documented = false;
        for (const std::string& p : not_provided) documented = documented || name.compare(0, p.size(), p) == 0;
        if (!documented) lacking.push_back(name);
    }
    if (strict && !lacking.empty())
        throw FormatError(file.path().string() + ": the checkpoint lacks " + std::to_string(lacking.size()) +
                          " parameter(s) it should provide: " + detail::name_list(lacking));
    for (const Transfer<T>* t : ready) t->fill(store.value(*store.find(t->parameter)).data());
    return report;
}

template <class T>
void expect_source_shape(const SafetensorsFile& file, const std::string& key, const std::vector<index_t>& shape) {
    const TensorInfo& t = file.info(key);
    if (!is_floating(t.dtype))
        throw FormatError(file.path().string() + ": tensor '" + key + "' has dtype " + dtype_name(t.dtype) +
                          ", parameters need a floating dtype");
    if (t.shape != shape)
        throw FormatError(file.path().string() + ": tensor '" + key + "' has shape " + shape_text(t.shape) +
                          ", the model expects " + shape_text(shape));
}

}  // namespace detail

// Video encoder (`video.*` in `store`) from an image ViT checkpoint, timm or Hugging Face naming.
// Returns what was loaded, what kept its initialisation (missing) and which file keys were not
// used beyond the documented ones (class token, heads, pooler). Strict makes an unused key an
// error, and so is a parameter the checkpoint should have provided (a shallower ViT leaves
// blocks uninitialised).
template <class T>
LoadReport load_vit_checkpoint(nn::ParameterStore<T>& store, const VideoConfig& config, const std::filesystem::path& path,
                               bool strict = false) {
    const SafetensorsFile file(path);
    const index_t C = config.width, p = config.patch_size, t = config.tubelet, Ns = config.spatial_positions();
    // Hugging Face naming comes with ("vit.", ViTForImageClassification) or without (ViTModel) a prefix
    const bool with_prefix = file.contains("vit.embeddings.patch_embeddings.projection.weight");
    const bool is_hf = with_prefix || file.contains("embeddings.patch_embeddings.projection.weight");
    const std::string hf = with_prefix ? "vit." : "";
    if (!is_hf && !file.contains("patch_embed.proj.weight"))
        throw FormatError(path.string() + ": neither timm ('patch_embed.proj.weight') nor Hugging Face "
                          "('vit.embeddings.patch_embeddings.projection.weight') ViT naming");

    std::vector<detail::Transfer<T>> transfers;
    auto direct = [&](const std::string& parameter, const std::string& key) {
        const nn::ParameterInfo* info = store.find(parameter);
        if (!info) throw ValueError("load_vit_checkpoint: the model has no parameter '" + parameter + "'");
        if (file.contains(key)) detail::expect_source_shape<T>(file, key, info->shape);
        const std::size_t n = std::size_t(info->size);
        transfers.push_back({parameter, {key}, [&file, key, n](T* out) { file.read_into<T>(key, out, n); }});
    };

    const std::string patch_w = is_hf ? hf + "embeddings.patch_embeddings.projection.weight" : "patch_embed.proj.weight";
    const std::string patch_b = is_hf ? hf + "embeddings.patch_embeddings.projection.bias" : "patch_embed.proj.bias";
    const std::string pos = is_hf ? hf + "embeddings.position_embeddings" : "pos_embed";
    detail::expect_source_shape<T>(file, patch_w, {C, 3, p, p});
    transfers.push_back({"video.patch_embed.proj.weight", {patch_w}, [&file, patch_w, C, p, t](T* out) {
                             std::vector<T> image(std::size_t(C * 3 * p * p));
                             file.read_into<T>(patch_w, image.data(), image.size());
                             // (C, 3, p, p) -> (C, 3, t, p, p) / t
                             for (index_t o = 0; o < C * 3; ++o)
                                 for (index_t dt = 0; dt < t; ++dt)
                                     for (index_t k = 0; k < p * p; ++k)
                                         out[(o * t + dt) * p * p + k] = image[std::size_t(o * p * p + k)] / T(t);
                         }});
    direct("video.patch_embed.proj.bias", patch_b);
    if (file.contains(pos)) {
        const std::vector<index_t> shape = file.info(pos).shape;
        if (shape != std::vector<index_t>{1, 1 + Ns, C})
            throw FormatError(path.string() + ": tensor '" + pos + "' has shape " + detail::shape_text(shape) +
                              ", expected (1, " + std::to_string(1 + Ns) + ", " + std::to_string(C) +
                              "): a class row and the model's " + std::to_string(Ns) + " positions");
        transfers.push_back({"video.pos_embed_spatial", {pos}, [&file, pos, Ns, C](T* out) {
                                 std::vector<T> table(std::size_t((1 + Ns) * C));
                                 file.read_into<T>(pos, table.data(), table.size());
                                 std::copy(table.begin() + C, table.end(), out);  // drop the class row
                             }});
    }
    for (index_t i = 0; i < config.depth; ++i) {
        const std::string ours = "video.blocks." + std::to_string(i) + ".";
        if (!is_hf) {
            for (const char* name : {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "attn.qkv.weight",
                                     "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "mlp.fc1.weight",
                                     "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"})
                direct(ours + name, "blocks." + std::to_string(i) + "." + name);
            continue;
        }
        const std::string theirs = hf + "encoder.layer." + std::to_string(i) + ".";
        for (const char* part : {"weight", "bias"}) {
            const std::string suffix = std::string(".") + part;
            direct(ours + "norm1" + suffix, theirs + "layernorm_before" + suffix);
            direct(ours + "norm2" + suffix, theirs + "layernorm_after" + suffix);
            direct(ours + "attn.proj" + suffix, theirs + "attention.output.dense" + suffix);
            direct(ours + "mlp.fc1" + suffix, theirs + "intermediate.dense" + suffix);
            direct(ours + "mlp.fc2" + suffix, theirs + "output.dense" + suffix);
            std::vector<std::string> qkv;
            for (const char* which : {"query", "key", "value"})
                qkv.push_back(theirs + "attention.attention." + which + suffix);
            const bool is_weight = part == std::string("weight");
            const std::size_t each = std::size_t(is_weight ? C * C : C);
            for (const std::string& key : qkv)
                if (file.contains(key))
                    detail::expect_source_shape<T>(file, key,
                                                   is_weight ? std::vector<index_t>{C, C} : std::vector<index_t>{C});
            // [q | k | v] stacked along the output axis: rows 0..C-1 are q, then k, then v
            transfers.push_back({ours + "attn.qkv" + suffix, qkv, [&file, qkv, each](T* out) {
                                     for (std::size_t j = 0; j < 3; ++j) file.read_into<T>(qkv[j], out + j * each, each);
                                 }});
        }
    }
    for (const char* part : {"weight", "bias"}) direct(std::string("video.norm.") + part, is_hf ? hf + "layernorm." + part : std::string("norm.") + part);

    const std::vector<std::string> ignored = is_hf ? std::vector<std::string>{hf + "embeddings.cls_token", "classifier.", hf + "pooler.", "pooler."}
                                                   : std::vector<std::string>{"cls_token", "head.", "fc_norm.", "dist_token", "head_dist."};
    return detail::apply_transfers(store, file, "video.", transfers, ignored,
                                   {"video.pos_embed_temporal", "video.group_token", "video.grouping."}, strict);
}

// Text encoder (`text.*` in `store`) from a bert-base-uncased style checkpoint.
template <class T>
LoadReport load_bert_checkpoint(nn::ParameterStore<T>& store, const TextConfig& config, const std::filesystem::path& path,
                                bool strict = false) {
    const SafetensorsFile file(path);
    const std::string prefix = file.contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
    if (!file.contains(prefix + "embeddings.word_embeddings.weight"))
        throw FormatError(path.string() + ": no 'bert.embeddings.word_embeddings.weight' or "
                          "'embeddings.word_embeddings.weight': not a BERT checkpoint");
    std::vector<detail::Transfer<T>> transfers;
    for (const nn::ParameterInfo& p : store.parameters()) {
        if (p.name.compare(0, 5, "text.") != 0) continue;
        std::string key = prefix + p.name.substr(5);
        if (!file.contains(key)) {  // TensorFlow-era names
            const auto dot = key.rfind('.');
            const std::string tail = key.substr(dot + 1);
            if (tail == "weight" && key.find("LayerNorm") != std::string::npos) key = key.substr(0, dot) + ".gamma";
            else if (tail == "bias" && key.find("LayerNorm") != std::string::npos) key = key.substr(0, dot) + ".beta";
        }
        if (!file.contains(key)) continue;
        const std::size_t n = std::size_t(p.size);
        if (p.name == "text.embeddings.position_embeddings.weight") {
            const std::vector<index_t> shape = file.info(key).shape;
            if (shape.size() != 2 || shape[0] < config.max_length || shape[1] != config.width)
                throw FormatError(path.string() + ": tensor '" + key + "' has shape " + detail::shape_text(shape) +
                                  ", expected at least " + std::to_string(config.max_length) + " rows of " +
                                  std::to_string(config.width));
            const std::size_t rows = std::size_t(shape[0]);
            transfers.push_back({p.name, {key}, [&file, key, n, rows, width = config.width](T* out) {
                                     std::vector<T> table(rows * std::size_t(width));
                                     file.read_into<T>(key, table.data(), table.size());
                                     std::copy_n(table.begin(), n, out);  // the first max_length positions
                                 }});
            continue;
        }
        detail::expect_source_shape<T>(file, key, p.shape);
        transfers.push_back({p.name, {key}, [&file, key, n](T* out) { file.read_into<T>(key, out, n); }});
    }
    const std::vector<std::string> ignored{prefix + "pooler.", "cls.", prefix + "embeddings.position_ids"};
    return detail::apply_transfers(store, file, "text.", transfers, ignored, {}, strict);
}

}  // namespace svilm::io
