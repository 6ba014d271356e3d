// svilm/io/model_file.hpp: a whole S-ViLM model as one safetensors file: every parameter under
// its docs/model.md §11 name, the configuration as JSON in the metadata (`config`), so that
// load_model needs nothing but the file. A model on a device is written and read through a host
// copy of its parameters.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "svilm/io/weights.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/version.hpp"

namespace svilm {

template <class T, class Device>
void save_model(const SVilm<T, Device>& model, const std::filesystem::path& path,
                std::map<std::string, std::string> metadata = {}) {
    metadata["config"] = to_json(model.config()).dump();
    metadata["format"] = "svilm";
    metadata["svilm_version"] = version_string;
    io::save_parameters(model.parameters(), path, metadata);
}

// The configuration stored in a model file; FormatError naming the file when it has none.
inline SVilmConfig load_model_config(const io::SafetensorsFile& file) {
    const auto it = file.metadata().find("config");
    if (it == file.metadata().end())
        throw FormatError(file.path().string() + ": no 'config' in the metadata: not an svilm model file");
    try {
        return config_from_json(nlohmann::json::parse(it->second));
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(file.path().string() + ": the 'config' metadata is not valid JSON: " + e.what());
    } catch (const Error& e) {
        throw FormatError(file.path().string() + ": " + e.what());
    }
}

// A model on ctx's device built from the file's configuration, every parameter loaded (strict).
template <class T, class Device>
SVilm<T, Device> load_model(const Context<Device>& ctx, const std::filesystem::path& path) {
    const io::SafetensorsFile file(path);
    SVilm<T, Device> model = SVilm<T, Device>::zeroed(ctx, load_model_config(file));
    io::load_parameters(model.parameters(), file);
    return model;
}

}  // namespace svilm
