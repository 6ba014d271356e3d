// svilm/train/checkpoint.hpp: everything a training run needs to continue bit for bit, in one
// safetensors file written atomically (temporary file, fsync, rename, fsync of the folder):
//
//   tensors   model.<name>         every parameter (SPEC 11 names)
//             adamw.exp_avg.<name>, adamw.exp_avg_sq.<name>   AdamW's moments
//   metadata  config               the model configuration (JSON)
//             training             {"step", "adamw": {options, step_count}, "generators": {name:
//                                   [seed, offset]}, "source": the data position, "extra": ...}
//             format               "svilm-checkpoint"
//
// A model file for inference is the `model.*` part: load_checkpoint_model() reads it alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "svilm/core/rng.hpp"
#include "svilm/io/weights.hpp"
#include "svilm/model/serialization.hpp"
#include "svilm/optim/adamw.hpp"

namespace svilm::train {

struct TrainingState {
    std::int64_t step = 0;                              // optimiser steps done
    std::map<std::string, GeneratorState> generators;   // every generator the run draws from
    nlohmann::json source = nlohmann::json::object();   // where the data source stands
    nlohmann::json extra = nlohmann::json::object();    // free-form (e.g. the last losses)
};

inline constexpr const char* checkpoint_format = "svilm-checkpoint";

template <class T>
void save_checkpoint(const std::filesystem::path& path, const SVilm<T>& model, const optim::AdamW<T>& adamw,
                     const TrainingState& state) {
    const nn::ParameterStore<T>& store = model.parameters();
    io::SafetensorsWriter writer;
    for (const nn::ParameterInfo& p : store.parameters()) {
        writer.add<T>("model." + p.name, store.values().data() + p.offset, p.shape);
        writer.add<T>("adamw.exp_avg." + p.name, adamw.exp_avg.data() + p.offset, p.shape);
        writer.add<T>("adamw.exp_avg_sq." + p.name, adamw.exp_avg_sq.data() + p.offset, p.shape);
    }
    nlohmann::json generators = nlohmann::json::object();
    for (const auto& [name, g] : state.generators) generators[name] = {g.seed, g.offset};
    const optim::AdamWOptions& o = adamw.options;
    const nlohmann::json training = {
        {"step", state.step},
        {"adamw",
         {{"lr", o.lr}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}, {"weight_decay", o.weight_decay},
          {"step_count", adamw.step_count}}},
        {"generators", generators},
        {"source", state.source},
        {"extra", state.extra}};
    writer.set_metadata("config", to_json(model.config()).dump());
    writer.set_metadata("training", training.dump());
    writer.set_metadata("format", checkpoint_format);
    writer.write(path);
}

// Restores parameters, AdamW's moments and step count, and returns the training state. The
// model must have the checkpoint's configuration (FormatError otherwise, naming the file).
template <class T>
TrainingState load_checkpoint(const std::filesystem::path& path, SVilm<T>& model, optim::AdamW<T>& adamw) {
    const io::SafetensorsFile file(path);
    const auto format = file.metadata().find("format");
    if (format == file.metadata().end() || format->second != checkpoint_format)
        throw FormatError(path.string() + ": not an svilm training checkpoint (metadata 'format')");
    if (to_json(load_model_config(file)) != to_json(model.config()))
        throw FormatError(path.string() + ": the checkpoint's model configuration differs from this model's");
    TrainingState state;
    try {
        const nlohmann::json training = nlohmann::json::parse(file.metadata().at("training"));
        state.step = training.at("step").get<std::int64_t>();
        adamw.step_count = training.at("adamw").at("step_count").get<std::int64_t>();
        for (const auto& [name, g] : training.at("generators").items())
            state.generators[name] = GeneratorState{g.at(0).template get<std::uint64_t>(), g.at(1).template get<std::uint64_t>()};
        state.source = training.at("source");
        state.extra = training.at("extra");
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(path.string() + ": malformed 'training' metadata: " + e.what());
    } catch (const std::out_of_range&) {
        throw FormatError(path.string() + ": no 'training' metadata");
    }
    nn::ParameterStore<T>& store = model.parameters();
    io::load_parameters(store, file, {true, "model."});
    const std::pair<const char*, Tensor<T, 1>*> moments[] = {{"adamw.exp_avg.", &adamw.exp_avg},
                                                             {"adamw.exp_avg_sq.", &adamw.exp_avg_sq}};
    for (const nn::ParameterInfo& p : store.parameters()) {
        for (const auto& [prefix, buffer] : moments) {
            const std::string key = prefix + p.name;
            if (!file.contains(key)) throw FormatError(path.string() + ": missing '" + key + "'");
            file.read_into<T>(key, buffer->data() + p.offset, std::size_t(p.size));
        }
    }
    return state;
}

// The model alone from a checkpoint, for evaluation or export.
template <class T>
SVilm<T> load_checkpoint_model(const std::filesystem::path& path) {
    const io::SafetensorsFile file(path);
    SVilm<T> model(load_model_config(file));
    io::load_parameters(model.parameters(), file, {true, "model."});
    return model;
}

}  // namespace svilm::train
