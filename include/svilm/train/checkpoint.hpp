// svilm/train/checkpoint.hpp: everything a training run needs to continue bit for bit, in one
// safetensors file written atomically (temporary file, fsync, rename, fsync of the folder):
//
//   tensors   model.<name>         every parameter (docs/model.md §11 names)
//             adamw.exp_avg.<name>, adamw.exp_avg_sq.<name>   AdamW's moments
//   metadata  config               the model configuration (JSON)
//             training             {"step", "adamw": {options, step_count}, "schedule": {peak_lr,
//                                   min_lr, warmup_steps, total_steps}, "generators": {name:
//                                   [seed, offset]}, "source": the data position}
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
#include "svilm/io/model_file.hpp"
#include "svilm/optim/adamw.hpp"
#include "svilm/optim/schedule.hpp"

namespace svilm::train {

struct TrainingState {
    std::int64_t step = 0;                              // optimiser steps done
    std::map<std::string, GeneratorState> generators;   // every generator the run draws from
    nlohmann::json source = nlohmann::json::object();   // where the data source stands
    optim::WarmupCosine schedule;                       // the learning rates the run follows
};

namespace detail {

// A flat device buffer readable on the host: the buffer itself on the CPU, else a host copy in
// `staging`.
template <class T, class Device>
const T* host_data(const Context<Device>& ctx, TensorView<const T, 1, Device> buffer, Tensor<T, 1>& staging) {
    if constexpr (is_cpu_v<Device>) {
        return buffer.data();
    } else {
        staging = to_host<T, 1, Device>(ctx, buffer);
        return staging.data();
    }
}

}  // namespace detail

// Writes the checkpoint atomically; a model on a device is written through host copies.
template <class T, class Device>
void save_checkpoint(const std::filesystem::path& path, const SVilm<T, Device>& model, const optim::AdamW<T, Device>& adamw,
                     const TrainingState& state) {
    const nn::ParameterStore<T, Device>& store = model.parameters();
    const Context<Device>& ctx = store.context();
    Tensor<T, 1> values_host, exp_avg_host, exp_avg_sq_host;
    const T* values = detail::host_data<T, Device>(ctx, store.values(), values_host);
    const T* exp_avg = detail::host_data<T, Device>(ctx, adamw.exp_avg.view(), exp_avg_host);
    const T* exp_avg_sq = detail::host_data<T, Device>(ctx, adamw.exp_avg_sq.view(), exp_avg_sq_host);
    io::SafetensorsWriter writer;
    for (const nn::ParameterInfo& p : store.parameters()) {
        writer.add<T>("model." + p.name, values + p.offset, p.shape);
        writer.add<T>("adamw.exp_avg." + p.name, exp_avg + p.offset, p.shape);
        writer.add<T>("adamw.exp_avg_sq." + p.name, exp_avg_sq + p.offset, p.shape);
    }
    nlohmann::json generators = nlohmann::json::object();
    for (const auto& [name, g] : state.generators) generators[name] = {g.seed, g.offset};
    const optim::AdamWOptions& o = adamw.options;
    const nlohmann::json training = {
        {"step", state.step},
        {"adamw",
         {{"lr", o.lr}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}, {"weight_decay", o.weight_decay},
          {"step_count", adamw.step_count}}},
        {"schedule",
         {{"peak_lr", state.schedule.peak_lr},
          {"min_lr", state.schedule.min_lr},
          {"warmup_steps", state.schedule.warmup_steps},
          {"total_steps", state.schedule.total_steps}}},
        {"generators", generators},
        {"source", state.source}};
    writer.set_metadata("config", to_json(model.config()).dump());
    writer.set_metadata("training", training.dump());
    writer.set_metadata("format", checkpoint_format);
    writer.write(path);
}

// Restores parameters, AdamW's moments and step count, and returns the training state. The
// model must have the checkpoint's configuration, `adamw` its options and, when given,
// `expected_schedule` its schedule (FormatError otherwise, naming the file and what differs,
// before anything is changed): a run continues under the rules it started with.
template <class T, class Device>
TrainingState load_checkpoint(const std::filesystem::path& path, SVilm<T, Device>& model, optim::AdamW<T, Device>& adamw,
                              const optim::WarmupCosine* expected_schedule = nullptr) {
    const io::SafetensorsFile file(path);
    const auto format = file.metadata().find("format");
    if (format == file.metadata().end() || format->second != checkpoint_format)
        throw FormatError(path.string() + ": not an svilm training checkpoint (metadata 'format')");
    if (to_json(load_model_config(file)) != to_json(model.config()))
        throw FormatError(path.string() + ": the checkpoint's model configuration differs from this model's");
    TrainingState state;
    std::int64_t step_count = 0;
    try {
        const nlohmann::json training = nlohmann::json::parse(file.metadata().at("training"));
        state.step = training.at("step").get<std::int64_t>();
        const nlohmann::json& saved = training.at("adamw");
        const optim::AdamWOptions& o = adamw.options;
        for (const auto& [name, value] : {std::pair{"lr", o.lr}, std::pair{"beta1", o.beta1}, std::pair{"beta2", o.beta2},
                                          std::pair{"eps", o.eps}, std::pair{"weight_decay", o.weight_decay}})
            if (saved.at(name).template get<double>() != value)
                throw FormatError(path.string() + ": the checkpoint's AdamW " + name + " " + saved.at(name).dump() +
                                  " differs from this run's " + nlohmann::json(value).dump());
        const nlohmann::json& schedule = training.at("schedule");
        state.schedule = {schedule.at("peak_lr").template get<double>(), schedule.at("min_lr").template get<double>(),
                          schedule.at("warmup_steps").template get<std::int64_t>(), schedule.at("total_steps").template get<std::int64_t>()};
        if (const optim::WarmupCosine* e = expected_schedule) {
            const optim::WarmupCosine& s = state.schedule;
            if (s.peak_lr != e->peak_lr || s.min_lr != e->min_lr || s.warmup_steps != e->warmup_steps ||
                s.total_steps != e->total_steps)
                throw FormatError(path.string() + ": the checkpoint's schedule (" + std::to_string(s.total_steps) +
                                  " steps, " + std::to_string(s.warmup_steps) + " warm-up) differs from this run's (" +
                                  std::to_string(e->total_steps) + " steps, " + std::to_string(e->warmup_steps) +
                                  " warm-up): resume with the run's own options");
        }
        step_count = saved.at("step_count").template get<std::int64_t>();
        for (const auto& [name, g] : training.at("generators").items())
            state.generators[name] = GeneratorState{g.at(0).template get<std::uint64_t>(), g.at(1).template get<std::uint64_t>()};
        state.source = training.at("source");
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(path.string() + ": malformed 'training' metadata: " + e.what());
    } catch (const std::out_of_range&) {
        throw FormatError(path.string() + ": no 'training' metadata");
    }
    nn::ParameterStore<T, Device>& store = model.parameters();
    // every moment tensor is checked before the model is loaded: a bad checkpoint changes nothing
    for (const nn::ParameterInfo& p : store.parameters())
        for (const char* prefix : {"adamw.exp_avg.", "adamw.exp_avg_sq."}) {
            const std::string key = prefix + p.name;
            if (!file.contains(key)) throw FormatError(path.string() + ": missing '" + key + "'");
            const io::TensorInfo& t = file.info(key);
            if (!io::detail::is_floating(t.dtype) || t.shape != p.shape)
                throw FormatError(path.string() + ": '" + key + "' is " + io::dtype_name(t.dtype) + " " +
                                  io::detail::shape_text(t.shape) + ", the optimiser expects a floating " +
                                  io::detail::shape_text(p.shape));
        }
    io::load_parameters(store, file, {true, "model."});
    const std::pair<const char*, Tensor<T, 1, Device>*> moments[] = {{"adamw.exp_avg.", &adamw.exp_avg},
                                                                     {"adamw.exp_avg_sq.", &adamw.exp_avg_sq}};
    for (const auto& [prefix, buffer] : moments) {
        Tensor<T, 1> host({buffer->size()});  // the padding between parameters stays 0
        for (const nn::ParameterInfo& p : store.parameters())
            file.read_into<T>(prefix + p.name, host.data() + p.offset, std::size_t(p.size));
        upload<T, 1, Device>(store.context(), buffer->view(), host);
    }
    adamw.step_count = step_count;
    return state;
}

// The model alone from a checkpoint, on ctx's device, for evaluation or export.
template <class T, class Device>
SVilm<T, Device> load_checkpoint_model(const Context<Device>& ctx, const std::filesystem::path& path) {
    const io::SafetensorsFile file(path);
    SVilm<T, Device> model = SVilm<T, Device>::zeroed(ctx, load_model_config(file));
    io::load_parameters(model.parameters(), file, {true, "model."});
    return model;
}

}  // namespace svilm::train
