// svilm/io/weights.hpp: a parameter store to and from safetensors, by name.
//
// Names are the reference PyTorch state_dict keys (docs/model.md §11), so a file written here loads in
// PyTorch with `model.load_state_dict(safetensors.torch.load_file(path))` and the other way
// round. Loading converts from any floating dtype (F64, F32, F16, BF16, F8_E4M3, F8_E5M2); an
// integer or BOOL tensor where a parameter is expected is an error. A mis-shaped tensor is
// always an error naming the key and both shapes; missing and unexpected keys are errors in
// strict mode and are reported otherwise.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "svilm/io/safetensors.hpp"
#include "svilm/nn/parameter.hpp"

namespace svilm::io {

struct LoadOptions {
    bool strict = true;
    std::string file_prefix;  // key in the file = file_prefix + parameter name
};

struct LoadReport {
    std::vector<std::string> loaded;      // parameter names
    std::vector<std::string> missing;     // parameters the file does not have (they keep their values)
    std::vector<std::string> unexpected;  // file keys under file_prefix that name no parameter
};

namespace detail {

inline std::string shape_text(const std::vector<index_t>& shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + ")";
}

inline std::string name_list(const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + names[i];
    if (names.size() > 8) out += ", ... (" + std::to_string(names.size()) + " in all)";
    return out;
}

}  // namespace detail

// Loads every parameter of `store` found in `file`. Throws FormatError naming the file and key
// on a shape or dtype mismatch, and in strict mode on any missing or unexpected key (before
// anything is written, so a failed strict load leaves the store unchanged). A store on a device
// is loaded through one host copy of its buffer.
template <class T, class Device>
LoadReport load_parameters(nn::ParameterStore<T, Device>& store, const SafetensorsFile& file, const LoadOptions& options = {}) {
    LoadReport report;
    const std::string where = file.path().string();
    store.drop_low_precision_copies();  // made from the values about to be replaced
    for (const nn::ParameterInfo& p : store.parameters()) {
        const std::string key = options.file_prefix + p.name;
        if (!file.contains(key)) {
            report.missing.push_back(p.name);
            continue;
        }
        const TensorInfo& t = file.info(key);
        if (!detail::is_floating(t.dtype))
            throw FormatError(where + ": tensor '" + key + "' has dtype " + dtype_name(t.dtype) +
                              ", parameters need a floating dtype");
        if (t.shape != p.shape)
            throw FormatError(where + ": tensor '" + key + "' has shape " + detail::shape_text(t.shape) +
                              ", the model expects " + detail::shape_text(p.shape));
        report.loaded.push_back(p.name);
    }
    for (const auto& [key, info] : file.tensors()) {
        if (key.compare(0, options.file_prefix.size(), options.file_prefix) != 0) continue;
        if (!store.find(key.substr(options.file_prefix.size()))) report.unexpected.push_back(key);
    }
    if (options.strict && !report.missing.empty())
        throw FormatError(where + ": missing " + std::to_string(report.missing.size()) +
                          " parameter(s): " + detail::name_list(report.missing));
    if (options.strict && !report.unexpected.empty())
        throw FormatError(where + ": " + std::to_string(report.unexpected.size()) +
                          " unexpected tensor(s): " + detail::name_list(report.unexpected));
    Tensor<T, 1> staging;
    T* values = store.values().data();
    if constexpr (!is_cpu_v<Device>) {
        // the parameters the file does not have keep their values: only then is the buffer read back
        staging = report.missing.empty() ? Tensor<T, 1>({store.buffer_size()})
                                         : to_host<T, 1, Device>(store.context(), store.values());
        values = staging.data();
    }
    for (const std::string& name : report.loaded) {
        const nn::ParameterInfo& p = *store.find(name);
        file.read_into<T>(options.file_prefix + name, values + p.offset, std::size_t(p.size));
    }
    if constexpr (!is_cpu_v<Device>) upload<T, 1, Device>(store.context(), store.values(), staging);
    return report;
}

template <class T, class Device>
LoadReport load_parameters(nn::ParameterStore<T, Device>& store, const std::filesystem::path& path,
                           const LoadOptions& options = {}) {
    return load_parameters(store, SafetensorsFile(path), options);
}

// Writes every parameter under its name (dtype of T), atomically, with string metadata. A store
// on a device is written from one host copy of its buffer.
template <class T, class Device>
void save_parameters(const nn::ParameterStore<T, Device>& store, const std::filesystem::path& path,
                     const std::map<std::string, std::string>& metadata = {}) {
    Tensor<T, 1> staging;
    const T* values = store.values().data();
    if constexpr (!is_cpu_v<Device>) {
        staging = to_host<T, 1, Device>(store.context(), store.values());
        values = staging.data();
    }
    SafetensorsWriter writer;
    for (const nn::ParameterInfo& p : store.parameters()) writer.add<T>(p.name, values + p.offset, p.shape);
    for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
    writer.write(path);
}

}  // namespace svilm::io
