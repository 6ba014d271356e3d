// svilm/io/model_file.hpp: a whole S-ViLM model as one safetensors file: every parameter under
// its docs/model.md §11 name, the configuration as JSON in the metadata (`config`), so that
// load_model needs nothing but the file. A model on a device is written and read through a host
// copy of its parameters.
//
// Wherever a model file is read, a training checkpoint (svilm pretrain's checkpoint.safetensors,
// train/checkpoint.hpp) is one too: its `model.` tensors are the model. Other safetensors files
// are refused with what they are: a checkpoint without the model's tensors, an image ViT or a
// BERT checkpoint (inputs of `svilm init --vit / --bert`), or a file without a configuration.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "svilm/io/weights.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/version.hpp"

namespace svilm {

namespace train {
// The metadata `format` of a training checkpoint (train/checkpoint.hpp).
inline constexpr const char* checkpoint_format = "svilm-checkpoint";
}  // namespace train

namespace detail {

// What a safetensors file without an svilm configuration is, in words, by its tensor names
// (io/pretrained.hpp's namings); empty when it is none of the checkpoints svilm knows.
inline std::string foreign_checkpoint_kind(const io::SafetensorsFile& file) {
    const std::string name = file.path().string();
    for (const char* key : {"patch_embed.proj.weight", "vit.embeddings.patch_embeddings.projection.weight",
                            "embeddings.patch_embeddings.projection.weight"})
        if (file.contains(key))
            return name + " is a ViT checkpoint, not an svilm model: give it to svilm init --vit (io::load_vit_checkpoint)";
    for (const char* key : {"bert.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"})
        if (file.contains(key))
            return name + " is a BERT checkpoint, not an svilm model: give it to svilm init --bert (io::load_bert_checkpoint)";
    return {};
}

}  // namespace detail

// The key prefix of the model's tensors in a model file ("") or a training checkpoint
// ("model."); FormatError saying what the file is when it holds no svilm model.
inline std::string model_tensor_prefix(const io::SafetensorsFile& file) {
    const auto format = file.metadata().find("format");
    if (format == file.metadata().end() || format->second != train::checkpoint_format) {
        // a file of ViT or BERT tensors may carry a configuration too (a converter's): its names tell
        if (!file.contains("video.patch_embed.proj.weight") && !file.contains("text.embeddings.word_embeddings.weight"))
            if (std::string kind = detail::foreign_checkpoint_kind(file); !kind.empty()) throw FormatError(kind);
        return "";
    }
    for (const auto& [key, info] : file.tensors())
        if (key.rfind("model.", 0) == 0) return "model.";
    std::string step = "of an unknown step";
    if (const auto training = file.metadata().find("training"); training != file.metadata().end()) {
        const nlohmann::json state = nlohmann::json::parse(training->second, nullptr, false);
        if (state.is_object() && state.contains("step") && state["step"].is_number_integer())
            step = "of step " + std::to_string(state["step"].get<std::int64_t>());
    }
    throw FormatError(file.path().string() + " is a training checkpoint " + step +
                      " without the model's weights (no 'model.' tensors): not a model file");
}

template <class T, class Device>
void save_model(const SVilm<T, Device>& model, const std::filesystem::path& path,
                std::map<std::string, std::string> metadata = {}) {
    metadata["config"] = to_json(model.config()).dump();
    metadata["format"] = "svilm";
    metadata["svilm_version"] = version_string;
    io::save_parameters(model.parameters(), path, metadata);
}

// The configuration stored in a model file or training checkpoint; FormatError naming the file
// and what it is when it holds no svilm model.
inline SVilmConfig load_model_config(const io::SafetensorsFile& file) {
    const auto it = file.metadata().find("config");
    if (it == file.metadata().end()) {
        if (std::string kind = detail::foreign_checkpoint_kind(file); !kind.empty()) throw FormatError(kind);
        throw FormatError(file.path().string() + ": no 'config' in the metadata: not an svilm model file");
    }
    model_tensor_prefix(file);
    try {
        return config_from_json(nlohmann::json::parse(it->second));
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(file.path().string() + ": the 'config' metadata is not valid JSON: " + e.what());
    } catch (const Error& e) {
        throw FormatError(file.path().string() + ": " + e.what());
    }
}

// A model on ctx's device built from the file's configuration, every parameter loaded (strict),
// from a model file or a training checkpoint.
template <class T, class Device>
SVilm<T, Device> load_model(const Context<Device>& ctx, const io::SafetensorsFile& file) {
    SVilm<T, Device> model = SVilm<T, Device>::zeroed(ctx, load_model_config(file));
    io::load_parameters(model.parameters(), file, {true, model_tensor_prefix(file)});
    return model;
}

template <class T, class Device>
SVilm<T, Device> load_model(const Context<Device>& ctx, const std::filesystem::path& path) {
    return load_model<T, Device>(ctx, io::SafetensorsFile(path));
}

}  // namespace svilm
