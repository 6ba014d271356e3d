// svilm/train/trainer.hpp: S-ViLM pre-training (docs/model.md §5 and 7).
//
// One optimiser step = `micro_batches` times: draw a batch of raw clips with captions from the
// source, cut-and-paste it (docs/model.md §4), tokenize captions and noun prompts, forward (all losses
// that are on), backward (gradients accumulate); then average the micro-batch gradients, clip by
// global norm, and take an AdamW step at the warm-up + cosine learning rate.
//
// The model may live on either device (Trainer<cpu>, Trainer<cuda> with svilm/cuda.hpp): clips are
// drawn, blended and tokenized on the host and the blended clips move to the model's device.
//
// Reproducible: the data source's position, the cut-and-paste generator and the Gumbel noise
// generator are part of the checkpoint, so a resumed run continues bit for bit (tested). A loss
// or gradient that is NaN or infinite stops the run with DivergedError before the step is
// applied; the last checkpoint on disk is the last good one.
//
// The logs in run_dir describe the run being trained: a run from step 0 replaces them, a
// resumed run keeps their lines up to its checkpoint's step and goes on from there.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/io/mapped_file.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/optim/adamw.hpp"
#include "svilm/optim/schedule.hpp"
#include "svilm/text/nouns.hpp"
#include "svilm/text/prompts.hpp"
#include "svilm/train/checkpoint.hpp"
#include "svilm/train/progress.hpp"
#include "svilm/video/cut_and_paste.hpp"

namespace svilm::train {

// Training produced a NaN or an infinity; the message names the step and the term.
class DivergedError : public Error {
public:
    using Error::Error;
};

// Raw clips with their captions, before augmentation.
struct ClipBatch {
    Tensor<float, 5> clips;                       // (B, T, 3, H, W) normalised
    std::vector<std::string> captions;            // B
    std::vector<std::vector<std::string>> nouns;  // B lists of noun phrases; empty lists are filled by the
                                                  // trainer's NounExtractor when it has one
};

// Where batches come from: a synthetic generator, a manifest loader. Its position is part of a
// checkpoint, so next() after restore(state()) returns what it would have returned.
class ClipSource {
public:
    virtual ~ClipSource() = default;
    virtual ClipBatch next(index_t batch_size) = 0;
    virtual nlohmann::json state() const = 0;
    virtual void restore(const nlohmann::json& state) = 0;
};

struct TrainerOptions {
    std::int64_t steps = 1000;     // optimiser steps in the whole run
    index_t batch_size = 16;       // clips per micro-batch (>= 2: cut-and-paste needs a partner)
    index_t micro_batches = 1;     // gradient accumulation: clips per step = batch_size * micro_batches
    optim::AdamWOptions adamw{1e-4, 0.9, 0.999, 1e-8, 0.05};
    double warmup_fraction = 0.05;
    double min_lr = 0.0;
    double clip_norm = 1.0;        // <= 0: no clipping (the norm is still logged)
    LossSwitches losses;
    std::uint64_t seed = 0;        // cut-and-paste and Gumbel noise generators
    std::filesystem::path run_dir;       // log.csv, log.jsonl, checkpoint.safetensors; empty: none
    std::int64_t checkpoint_every = 0;   // steps; 0: only at the end of run()
    bool show_progress = true;
};

namespace detail {

inline constexpr const char* csv_log_header =
    "step,lr,loss_total,loss_contrastive,loss_temporal,loss_grounding,grad_norm,clips,seconds\n";

// The step a log line records, or -1 for any other line (the CSV header, a line torn by a crash).
inline std::int64_t csv_log_step(const std::string& line) {
    if (std::count(line.begin(), line.end(), ',') != 8) return -1;
    std::int64_t step = -1;
    const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), step);
    return error == std::errc() && *end == ',' ? step : -1;
}

inline std::int64_t jsonl_log_step(const std::string& line) {
    const nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    return entry.is_object() && entry.contains("step") && entry["step"].is_number_integer()
               ? entry["step"].get<std::int64_t>()
               : -1;
}

// Rewrites the log at `path`, atomically, as `header` and its lines of steps 1 to `last`.
inline void keep_logged_steps(const std::filesystem::path& path, const std::string& header, std::int64_t last,
                              std::int64_t (*step_of)(const std::string&)) {
    std::string kept = header;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        const std::int64_t step = step_of(line);
        if (step >= 1 && step <= last) kept += line + '\n';
    }
    io::write_file_atomically(path, [&](const auto& append) { append(kept.data(), kept.size()); });
}

}  // namespace detail

struct StepResult {
    std::int64_t step = 0;  // 1-based: steps done after this one
    double lr = 0, grad_norm = 0;
    SVilmLosses<double> losses;  // averaged over the micro-batches
    index_t clips = 0;
    double seconds = 0;
};

template <class Device = cpu>
class Trainer {
public:
    // The model, tokenizer, source and extractor must outlive the trainer.
    Trainer(SVilm<float, Device>& model, const text::Tokenizer& tokenizer, ClipSource& source, const TrainerOptions& options,
            const text::NounExtractor* nouns = nullptr)
        : model_(model), tokenizer_(tokenizer), source_(source), nouns_(nouns), options_(options),
          adamw_(model.parameters(), options.adamw), augment_rng_(options.seed * 2 + 1), noise_rng_(options.seed * 2 + 2) {
        if (options.batch_size < 2) throw ValueError("Trainer: batch_size must be >= 2 (cut-and-paste pairs clips)");
        if (options.micro_batches < 1 || options.steps < 1) throw ValueError("Trainer: steps and micro_batches must be >= 1");
        const auto warmup = std::int64_t(std::llround(options.warmup_fraction * double(options.steps)));
        schedule_ = {options.adamw.lr, options.min_lr, std::min(warmup, options.steps), options.steps};
    }

    // One optimiser step. Throws DivergedError (nothing applied) on a non-finite loss or gradient.
    StepResult step() {
        const auto start = std::chrono::steady_clock::now();
        nn::ParameterStore<float, Device>& store = model_.parameters();
        store.zero_grad();
        StepResult r;
        for (index_t micro = 0; micro < options_.micro_batches; ++micro) {
            const SVilmLosses<float> l = forward_backward();
            r.losses.contrastive += l.contrastive / double(options_.micro_batches);
            r.losses.temporal += l.temporal / double(options_.micro_batches);
            r.losses.grounding += l.grounding / double(options_.micro_batches);
            r.losses.total += l.total / double(options_.micro_batches);
            r.clips += options_.batch_size;
        }
        if (options_.micro_batches > 1)
            scale_forward(store.context(), store.grads(), TensorView<const float, 1, Device>(store.grads()),
                          1.0f / float(options_.micro_batches));
        r.grad_norm = options_.clip_norm > 0 ? optim::clip_grad_norm(store, options_.clip_norm)
                                             : optim::clip_grad_norm(store, INFINITY);
        if (!std::isfinite(r.grad_norm))
            throw DivergedError("training step " + std::to_string(step_ + 1) + ": the gradient norm is " +
                                std::to_string(r.grad_norm) + "; stopped before applying it");
        r.lr = schedule_(step_);
        adamw_.step(r.lr);
        r.step = ++step_;
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return r;
    }

    // Steps until options.steps, with the progress line, the CSV and JSONL logs and
    // checkpoints in run_dir. Returns every step's result.
    std::vector<StepResult> run() {
        std::vector<StepResult> results;
        std::ofstream csv, jsonl;
        if (!options_.run_dir.empty()) open_logs(csv, jsonl);
        ProgressLine progress(options_.show_progress ? stderr : nullptr);
        const std::int64_t first = step_;
        double clips = 0;
        while (step_ < options_.steps) {
            const StepResult r = step();
            results.push_back(r);
            clips += double(r.clips);
            if (csv) {
                csv << r.step << ',' << r.lr << ',' << r.losses.total << ',' << r.losses.contrastive << ','
                    << r.losses.temporal << ',' << r.losses.grounding << ',' << r.grad_norm << ',' << r.clips << ','
                    << r.seconds << '\n';
                jsonl << nlohmann::json{{"step", r.step}, {"lr", r.lr}, {"loss_total", r.losses.total},
                                        {"loss_contrastive", r.losses.contrastive}, {"loss_temporal", r.losses.temporal},
                                        {"loss_grounding", r.losses.grounding}, {"grad_norm", r.grad_norm},
                                        {"clips", r.clips}, {"seconds", r.seconds}}
                             .dump()
                      << '\n';
                csv.flush();
                jsonl.flush();
            }
            char text[160];
            std::snprintf(text, sizeof text, "loss %.4f (contrastive %.3f temporal %.3f grounding %.3f)  lr %.2e",
                          r.losses.total, r.losses.contrastive, r.losses.temporal, r.losses.grounding, r.lr);
            progress.update(step_ - first, options_.steps - first, clips, "clips", "step " + std::string(text));
            if (!options_.run_dir.empty() && options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0)
                save(options_.run_dir / "checkpoint.safetensors");
        }
        if (!options_.run_dir.empty()) save(options_.run_dir / "checkpoint.safetensors");
        return results;
    }

    void save(const std::filesystem::path& path) const {
        TrainingState state;
        state.step = step_;
        state.generators = {{"augment", augment_rng_.state()}, {"noise", noise_rng_.state()}};
        state.source = source_.state();
        state.schedule = schedule_;
        save_checkpoint(path, model_, adamw_, state);
    }

    // Continues from a checkpoint of the same model configuration and options; FormatError when
    // the checkpoint's optimiser or schedule (steps, learning rates, warm-up) differ from this run's.
    void resume(const std::filesystem::path& path) {
        const TrainingState state = load_checkpoint(path, model_, adamw_, &schedule_);
        for (const char* name : {"augment", "noise"})
            if (!state.generators.count(name))
                throw FormatError(path.string() + ": no state for the '" + name + "' generator");
        step_ = state.step;
        augment_rng_.set_state(state.generators.at("augment"));
        noise_rng_.set_state(state.generators.at("noise"));
        source_.restore(state.source);
    }

    std::int64_t steps_done() const { return step_; }
    const optim::WarmupCosine& schedule() const { return schedule_; }

private:
    // Steps logged after the last checkpoint (the run stopped before the next one) are taken
    // again, so a resumed run drops them, and with them a line torn by a crash.
    void open_logs(std::ofstream& csv, std::ofstream& jsonl) const {
        std::filesystem::create_directories(options_.run_dir);
        const auto csv_path = options_.run_dir / "log.csv", jsonl_path = options_.run_dir / "log.jsonl";
        detail::keep_logged_steps(csv_path, detail::csv_log_header, step_, detail::csv_log_step);
        detail::keep_logged_steps(jsonl_path, "", step_, detail::jsonl_log_step);
        csv.open(csv_path, std::ios::app);
        jsonl.open(jsonl_path, std::ios::app);
        if (!csv || !jsonl) throw IoError(options_.run_dir.string() + ": cannot write the training logs");
    }

    SVilmLosses<float> forward_backward() {
        const SVilmConfig& config = model_.config();
        ClipBatch raw = source_.next(options_.batch_size);
        const index_t B = raw.clips.extent(0);
        if (index_t(raw.captions.size()) != B || (!raw.nouns.empty() && index_t(raw.nouns.size()) != B))
            throw ShapeError("Trainer: the source returned " + std::to_string(B) + " clips, " +
                             std::to_string(raw.captions.size()) + " captions and " + std::to_string(raw.nouns.size()) +
                             " noun lists");
        video::CutAndPaste<float> blended = video::cut_and_paste<float>(raw.clips, config.video.tubelet, augment_rng_);
        const auto max_length = std::size_t(config.text.max_length);
        const text::BatchEncoding captions = tokenizer_.encode_batch(raw.captions, max_length);
        if constexpr (is_cpu_v<Device>) {
            video_ = std::move(blended.video);
        } else {
            upload<float, 5, Device>(model_.parameters().context(), nn::ensure_shape(video_, blended.video.shape()),
                                     blended.video);
        }
        SVilmBatch<float, Device> batch{video_, blended.mask, captions.ids, captions.attention_mask, {}, {}, {}};
        text::PromptBatch prompts;
        if (options_.losses.grounding && config.num_nouns > 0) {
            raw.nouns.resize(std::size_t(B));
            for (index_t b = 0; b < B; ++b)
                if (raw.nouns[std::size_t(b)].empty() && nouns_)
                    raw.nouns[std::size_t(b)] = nouns_->extract(raw.captions[std::size_t(b)], std::size_t(config.num_nouns));
            prompts = text::encode_prompts(tokenizer_, raw.nouns, std::size_t(config.num_nouns), max_length);
            batch.prompt_ids = prompts.ids;
            batch.prompt_mask = prompts.attention_mask;
            batch.noun_valid = prompts.valid;
        }
        const Context<Device>& ctx = model_.parameters().context();
        model_.forward(ctx, state_, batch, noise_rng_, options_.losses);
        const SVilmLosses<float>& l = state_.losses;
        const std::pair<const char*, float> terms[] = {
            {"contrastive", l.contrastive}, {"temporal", l.temporal}, {"grounding", l.grounding}};
        for (const auto& [name, value] : terms)
            if (!std::isfinite(value))
                throw DivergedError("training step " + std::to_string(step_ + 1) + ": the " + name + " loss is " +
                                    std::to_string(value) + "; stopped before applying the step");
        model_.backward(ctx, state_);
        return l;
    }

    SVilm<float, Device>& model_;
    const text::Tokenizer& tokenizer_;
    ClipSource& source_;
    const text::NounExtractor* nouns_;
    TrainerOptions options_;
    optim::AdamW<float, Device> adamw_;
    optim::WarmupCosine schedule_;
    Generator augment_rng_, noise_rng_;
    Tensor<float, 5, Device> video_;  // the blended clips of the batch in flight, on the model's device
    SVilmState<float, Device> state_;
    std::int64_t step_ = 0;
};

}  // namespace svilm::train
