// svilm/train/trainer.hpp: S-ViLM pre-training (docs/model.md §5 and 7).
//
// One optimiser step = `micro_batches` times: draw a batch of raw clips with captions from the
// source, cut-and-paste it (docs/model.md §4), tokenize captions and noun prompts, forward (all losses
// that are on), backward (gradients accumulate); then average the micro-batch gradients, clip by
// global norm, and take an AdamW step at the warm-up + cosine learning rate.
//
// The model may live on either device (Trainer<cpu>, Trainer<cuda> with svilm/cuda.hpp): clips are
// drawn, blended and tokenized on the host and the blended clips move to the model's device.
// Trainer<Device, double> trains in double (the determinism tests); clips stay float until blended.
//
// Data parallel (a Communicator, svilm/core/communicator.hpp): batch_size is the global batch of
// every rank together, and each rank takes its shard of it (ClipSource::next_shard). Every rank
// draws the same cut-and-paste plan for the global batch and receives the background clips it
// needs from the ranks holding them; the losses span the global batch (svilm/model/svilm_model.hpp);
// the gradients are summed over the ranks in buckets, the video encoder's while the text encoder's
// backward runs (in a step's last micro-batch). So the global batch sequence, the noise and the losses do not depend on the
// number of ranks, and N ranks train the model one process would on the same global batches (up to
// the order of floating-point sums). Rank 0 alone shows progress, writes the logs and checkpoints;
// every rank resumes from the same checkpoint file, with any number of ranks.
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
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/communicator.hpp"
#include "svilm/io/mapped_file.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/optim/adamw.hpp"
#include "svilm/optim/schedule.hpp"
#include "svilm/text/nouns.hpp"
#include "svilm/text/prompts.hpp"
#include "svilm/train/checkpoint.hpp"
#include "svilm/train/diverged.hpp"
#include "svilm/train/progress.hpp"
#include "svilm/video/cut_and_paste.hpp"

namespace svilm::train {

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
    // Clips begin .. begin + count - 1 of the next global batch of `batch_size`, leaving the source
    // where next(batch_size) would. This default draws the whole batch and keeps the shard; a
    // source that reaches its items by index overrides it and reads only the shard.
    virtual ClipBatch next_shard(index_t batch_size, index_t begin, index_t count) {
        ClipBatch all = next(batch_size);
        ClipBatch out;
        out.clips = Tensor<float, 5>({count, all.clips.extent(1), all.clips.extent(2), all.clips.extent(3), all.clips.extent(4)},
                                     uninitialized);
        const std::size_t clip = std::size_t(all.clips.size() / std::max<index_t>(all.clips.extent(0), 1));
        if (begin < 0 || begin + count > all.clips.extent(0))
            throw ShapeError("ClipSource::next_shard: clips " + std::to_string(begin) + " .. " + std::to_string(begin + count - 1) +
                             " of a batch of " + std::to_string(all.clips.extent(0)));
        std::copy_n(all.clips.data() + std::size_t(begin) * clip, std::size_t(count) * clip, out.clips.data());
        for (index_t i = begin; i < begin + count; ++i) {
            if (std::size_t(i) < all.captions.size()) out.captions.push_back(std::move(all.captions[std::size_t(i)]));
            if (std::size_t(i) < all.nouns.size()) out.nouns.push_back(std::move(all.nouns[std::size_t(i)]));
        }
        return out;
    }
    virtual nlohmann::json state() const = 0;
    virtual void restore(const nlohmann::json& state) = 0;
};

struct TrainerOptions {
    std::int64_t steps = 1000;     // optimiser steps in the whole run
    index_t batch_size = 16;       // clips per micro-batch, of all ranks together (>= 2: cut-and-paste pairs clips)
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
    std::size_t bucket_bytes = std::size_t(25) << 20;  // data parallel: gradients summed in buckets of this size
};

namespace detail {

inline constexpr const char* csv_log_header =
    "step,lr,loss_total,loss_contrastive,loss_temporal,loss_grounding,grad_norm,clips,seconds,ranks,comm_seconds\n";

// The step a log line records, or -1 for any other line (the CSV header, a line torn by a crash).
// Lines of runs before the ranks and comm_seconds columns (9 fields) still count (see csv_log_line).
inline std::int64_t csv_log_step(const std::string& line) {
    const auto fields = std::count(line.begin(), line.end(), ',') + 1;
    if (fields != 9 && fields != 11) return -1;
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

// A kept CSV line in today's columns: a line of a run from before the ranks and comm_seconds
// columns was a single process's (1 rank, no communication).
inline std::string csv_log_line(const std::string& line) {
    return std::count(line.begin(), line.end(), ',') == 8 ? line + ",1,0" : line;
}

// Rewrites the log at `path`, atomically, as `header` and its lines of steps 1 to `last`, each
// passed through `normalise`.
inline void keep_logged_steps(const std::filesystem::path& path, const std::string& header, std::int64_t last,
                              std::int64_t (*step_of)(const std::string&),
                              std::string (*normalise)(const std::string&) = nullptr) {
    std::string kept = header;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        const std::int64_t step = step_of(line);
        if (step >= 1 && step <= last) kept += (normalise ? normalise(line) : line) + '\n';
    }
    io::write_file_atomically(path, [&](const auto& append) { append(kept.data(), kept.size()); });
}

}  // namespace detail

struct StepResult {
    std::int64_t step = 0;  // 1-based: steps done after this one
    double lr = 0, grad_norm = 0;
    SVilmLosses<double> losses;  // averaged over the micro-batches
    index_t clips = 0;           // of every rank together
    double seconds = 0;
    int ranks = 1;
    double comm_seconds = 0;         // this rank waited for collectives
    std::uint64_t comm_bytes = 0;    // this rank sent
};

template <class Device = cpu, class T = float>
class Trainer {
public:
    // The model, tokenizer, source, extractor and communicator must outlive the trainer. With a
    // communicator every rank constructs its trainer alike (same model seed, options, source).
    Trainer(SVilm<T, Device>& model, const text::Tokenizer& tokenizer, ClipSource& source, const TrainerOptions& options,
            const text::NounExtractor* nouns = nullptr, Communicator<Device>* comm = nullptr)
        : model_(model), tokenizer_(tokenizer), source_(source), nouns_(nouns), comm_(comm), options_(options),
          adamw_(model.parameters(), options.adamw), augment_rng_(options.seed * 2 + 1), noise_rng_(options.seed * 2 + 2) {
        if (options.batch_size < 2) throw ValueError("Trainer: batch_size must be >= 2 (cut-and-paste pairs clips)");
        if (options.micro_batches < 1 || options.steps < 1) throw ValueError("Trainer: steps and micro_batches must be >= 1");
        if (comm_) shard_of(*comm_, options.batch_size);  // refuses a batch that leaves a rank without a clip
        const auto warmup = std::int64_t(std::llround(options.warmup_fraction * double(options.steps)));
        schedule_ = {options.adamw.lr, options.min_lr, std::min(warmup, options.steps), options.steps};
        video_params_end_ = video_parameters_end(model.parameters());
    }

    int rank() const { return comm_ ? comm_->rank() : 0; }
    int ranks() const { return comm_ ? comm_->size() : 1; }

    // One optimiser step. Throws DivergedError (nothing applied) on a non-finite loss or gradient.
    StepResult step() {
        const auto start = std::chrono::steady_clock::now();
        const CommunicatorStats comm_before = comm_ ? comm_->stats() : CommunicatorStats{};
        nn::ParameterStore<T, Device>& store = model_.parameters();
        store.zero_grad();
        StepResult r;
        for (index_t micro = 0; micro < options_.micro_batches; ++micro) {
            const SVilmLosses<T> l = forward_backward(micro + 1 == options_.micro_batches);
            r.losses.contrastive += double(l.contrastive) / double(options_.micro_batches);
            r.losses.temporal += double(l.temporal) / double(options_.micro_batches);
            r.losses.grounding += double(l.grounding) / double(options_.micro_batches);
            r.losses.total += double(l.total) / double(options_.micro_batches);
            r.clips += options_.batch_size;
        }
        if (comm_) {
            sum_gradients(video_params_end_, store.buffer_size());
            comm_->finish_all_reduces(store.context());
        }
        if (options_.micro_batches > 1)
            scale_forward(store.context(), store.grads(), TensorView<const T, 1, Device>(store.grads()),
                          T(1) / T(options_.micro_batches));
        r.grad_norm = options_.clip_norm > 0 ? optim::clip_grad_norm(store, options_.clip_norm)
                                             : optim::clip_grad_norm(store, INFINITY);
        if (!std::isfinite(r.grad_norm))
            throw DivergedError("training step " + std::to_string(step_ + 1) + ": the gradient norm is " +
                                std::to_string(r.grad_norm) + "; stopped before applying it");
        r.lr = schedule_(step_);
        adamw_.step(r.lr);
        r.step = ++step_;
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        r.ranks = ranks();
        if (comm_) {
            const CommunicatorStats after = comm_->stats();
            r.comm_seconds = after.seconds - comm_before.seconds;
            r.comm_bytes = after.bytes_sent - comm_before.bytes_sent;
        }
        return r;
    }

    // Steps until options.steps, with the progress line, the CSV and JSONL logs and
    // checkpoints in run_dir. Returns every step's result.
    std::vector<StepResult> run() {
        std::vector<StepResult> results;
        std::ofstream csv, jsonl;
        const bool lead = rank() == 0;  // the one rank that shows and writes
        if (!options_.run_dir.empty() && lead) open_logs(csv, jsonl);
        ProgressLine progress(options_.show_progress && lead ? stderr : nullptr);
        const std::int64_t first = step_;
        double clips = 0, seconds = 0, comm_seconds = 0;
        while (step_ < options_.steps) {
            const StepResult r = step();
            results.push_back(r);
            clips += double(r.clips);
            seconds += r.seconds;
            comm_seconds += r.comm_seconds;
            if (csv) {
                csv << r.step << ',' << r.lr << ',' << r.losses.total << ',' << r.losses.contrastive << ','
                    << r.losses.temporal << ',' << r.losses.grounding << ',' << r.grad_norm << ',' << r.clips << ','
                    << r.seconds << ',' << r.ranks << ',' << r.comm_seconds << '\n';
                jsonl << nlohmann::json{{"step", r.step}, {"lr", r.lr}, {"loss_total", r.losses.total},
                                        {"loss_contrastive", r.losses.contrastive}, {"loss_temporal", r.losses.temporal},
                                        {"loss_grounding", r.losses.grounding}, {"grad_norm", r.grad_norm},
                                        {"clips", r.clips}, {"seconds", r.seconds}, {"ranks", r.ranks},
                                        {"comm_seconds", r.comm_seconds}, {"comm_bytes", r.comm_bytes}}
                             .dump()
                      << '\n';
                csv.flush();
                jsonl.flush();
            }
            char text[200];
            std::snprintf(text, sizeof text, "loss %.4f (contrastive %.3f temporal %.3f grounding %.3f)  lr %.2e",
                          r.losses.total, r.losses.contrastive, r.losses.temporal, r.losses.grounding, r.lr);
            std::string line = "step " + std::string(text);
            if (comm_) {
                std::snprintf(text, sizeof text, "  %d ranks, %.0f%% communicating", r.ranks,
                              seconds > 0 ? 100 * comm_seconds / seconds : 0.0);
                line += text;
            }
            progress.update(step_ - first, options_.steps - first, clips, "clips", line);
            if (!options_.run_dir.empty() && options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0)
                save(options_.run_dir / "checkpoint.safetensors");
        }
        if (!options_.run_dir.empty()) save(options_.run_dir / "checkpoint.safetensors");
        return results;
    }

    // Writes the checkpoint (atomically). With a communicator every rank calls it, rank 0 writes,
    // and every rank returns once the file is complete: a rank failing afterwards cannot stop the
    // job in the middle of the write.
    void save(const std::filesystem::path& path) const {
        if (rank() == 0) write_checkpoint(path);
        if (comm_) comm_->barrier();
    }

    // Continues from a checkpoint of the same model configuration and options; FormatError when
    // the checkpoint's optimiser or schedule (steps, learning rates, warm-up) differ from this run's.
    // Data parallel: every rank reads the file (a folder all ranks see), with any number of ranks:
    // the position is counted in global batches.
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
    void write_checkpoint(const std::filesystem::path& path) const {
        TrainingState state;
        state.step = step_;
        state.generators = {{"augment", augment_rng_.state()}, {"noise", noise_rng_.state()}};
        state.source = source_.state();
        state.schedule = schedule_;
        save_checkpoint(path, model_, adamw_, state);
    }

    // Steps logged after the last checkpoint (the run stopped before the next one) are taken
    // again, so a resumed run drops them, and with them a line torn by a crash.
    void open_logs(std::ofstream& csv, std::ofstream& jsonl) const {
        std::filesystem::create_directories(options_.run_dir);
        const auto csv_path = options_.run_dir / "log.csv", jsonl_path = options_.run_dir / "log.jsonl";
        detail::keep_logged_steps(csv_path, detail::csv_log_header, step_, detail::csv_log_step, detail::csv_log_line);
        detail::keep_logged_steps(jsonl_path, "", step_, detail::jsonl_log_step);
        csv.open(csv_path, std::ios::app);
        jsonl.open(jsonl_path, std::ios::app);
        if (!csv || !jsonl) throw IoError(options_.run_dir.string() + ": cannot write the training logs");
    }

    // One global batch's forward and backward on this rank's shard. On the last micro-batch of a
    // data-parallel step the video encoder's gradients start summing as soon as they are final.
    SVilmLosses<T> forward_backward(bool last_micro_batch) {
        const SVilmConfig& config = model_.config();
        const index_t B = options_.batch_size;
        const BatchShard shard = comm_ ? shard_of(*comm_, B) : BatchShard{B};
        ClipBatch raw = comm_ ? source_.next_shard(B, shard.begin(), shard.count()) : source_.next(B);
        const index_t local = raw.clips.extent(0);
        if (local != shard.count() || index_t(raw.captions.size()) != local ||
            (!raw.nouns.empty() && index_t(raw.nouns.size()) != local))
            throw ShapeError("Trainer: the source returned " + std::to_string(local) + " clips, " +
                             std::to_string(raw.captions.size()) + " captions and " + std::to_string(raw.nouns.size()) +
                             " noun lists for " + std::to_string(shard.count()) + " clips");
        const index_t positions = video::detail::tubelet_positions(raw.clips.extent(1), config.video.tubelet, "Trainer");
        const video::CutAndPastePlan plan = video::draw_cut_and_paste(B, positions, augment_rng_);
        blend(raw.clips, plan, shard, positions);
        const auto max_length = std::size_t(config.text.max_length);
        const text::BatchEncoding captions = tokenizer_.encode_batch(raw.captions, max_length);
        SVilmBatch<T, Device> batch{video_, fg_mask_, captions.ids, captions.attention_mask, {}, {}, {}};
        text::PromptBatch prompts;
        if (options_.losses.grounding && config.num_nouns > 0) {
            raw.nouns.resize(std::size_t(local));
            for (index_t b = 0; b < local; ++b)
                if (raw.nouns[std::size_t(b)].empty() && nouns_)
                    raw.nouns[std::size_t(b)] = nouns_->extract(raw.captions[std::size_t(b)], std::size_t(config.num_nouns));
            prompts = text::encode_prompts(tokenizer_, raw.nouns, std::size_t(config.num_nouns), max_length);
            batch.prompt_ids = prompts.ids;
            batch.prompt_mask = prompts.attention_mask;
            batch.noun_valid = prompts.valid;
        }
        const Context<Device>& ctx = model_.parameters().context();
        model_.forward(ctx, state_, batch, noise_rng_, options_.losses, comm_, B);
        const SVilmLosses<T>& l = state_.losses;
        const std::pair<const char*, T> terms[] = {{"contrastive", l.contrastive}, {"temporal", l.temporal}, {"grounding", l.grounding}};
        for (const auto& [name, value] : terms)
            if (!std::isfinite(value))
                throw DivergedError("training step " + std::to_string(step_ + 1) + ": the " + name + " loss is " +
                                    std::to_string(value) + "; stopped before applying the step");
        std::function<void()> video_done;
        if (comm_ && last_micro_batch) video_done = [this] { sum_gradients(0, video_params_end_); };
        model_.backward(ctx, state_, video_done);
        return l;
    }

    // The blended clips of this rank's shard into video_ (on the model's device) and fg_mask_.
    // Clip i's background, clip plan.background[i], may be on another rank: each rank sends the
    // clips it holds to the ranks whose clips they surround (one all-to-all of the remote ones;
    // every clip is one clip's background, as the plan is a derangement).
    void blend(const Tensor<float, 5>& raw, const video::CutAndPastePlan& plan, const BatchShard& shard, index_t positions) {
        const index_t local = raw.extent(0), frames = raw.extent(1), tubelet = model_.config().video.tubelet;
        const std::size_t clip = std::size_t(raw.size() / std::max<index_t>(local, 1));
        const std::size_t frame_elements = clip / std::size_t(frames);
        const auto background_of = [&](index_t i) { return plan.background[std::size_t(shard.begin() + i)]; };
        const int me = comm_ ? comm_->rank() : 0, N = comm_ ? comm_->size() : 1;
        std::vector<index_t> send_counts(static_cast<std::size_t>(N)), recv_counts(static_cast<std::size_t>(N));
        std::vector<index_t> send_rows;  // grouped by destination rank, in the order of the clips they surround
        for (int q = 0; q < N; ++q) {
            if (q == me) continue;
            for (index_t i = shard.begin(q); i < shard.begin(q) + shard.count(q); ++i)
                if (const index_t j = plan.background[std::size_t(i)]; shard.owner(j) == me) {
                    send_rows.push_back(j - shard.begin());
                    ++send_counts[std::size_t(q)];
                }
        }
        for (index_t i = 0; i < local; ++i)
            if (const int owner = shard.owner(background_of(i)); owner != me) ++recv_counts[std::size_t(owner)];
        std::vector<float> received;
        if (N > 1) {
            std::vector<float> packed(send_rows.size() * clip);
            for (std::size_t k = 0; k < send_rows.size(); ++k)
                std::copy_n(raw.data() + std::size_t(send_rows[k]) * clip, clip, packed.data() + k * clip);
            std::size_t remote = 0;
            for (index_t c : recv_counts) remote += std::size_t(c);
            received.resize(remote * clip);
            comm_->all_to_all_host(packed.data(), send_counts, received.data(), recv_counts, clip * sizeof(float));
        }
        std::vector<index_t> next_row(static_cast<std::size_t>(N));  // each source rank's next row in `received`
        for (int q = 1; q < N; ++q) next_row[std::size_t(q)] = next_row[std::size_t(q - 1)] + recv_counts[std::size_t(q - 1)];
        Tensor<float, 5> blended(raw.shape(), uninitialized);
        nn::ensure_shape(fg_mask_, {local, positions});
        std::vector<float> mask_row(static_cast<std::size_t>(positions));
        for (index_t i = 0; i < local; ++i) {
            const index_t g = shard.begin() + i, j = background_of(i);
            const int owner = shard.owner(j);
            const float* background = owner == me ? raw.data() + std::size_t(j - shard.begin()) * clip
                                                  : received.data() + std::size_t(next_row[std::size_t(owner)]++) * clip;
            video::blend_clip(blended.data() + std::size_t(i) * clip, mask_row.data(), raw.data() + std::size_t(i) * clip,
                              background, frames, tubelet, frame_elements, plan.start[std::size_t(g)], plan.end[std::size_t(g)]);
            std::copy(mask_row.begin(), mask_row.end(), &fg_mask_(i, 0));
        }
        if constexpr (is_cpu_v<Device> && std::is_same_v<T, float>) {
            video_ = std::move(blended);
        } else if constexpr (std::is_same_v<T, float>) {
            upload<T, 5, Device>(model_.parameters().context(), nn::ensure_shape(video_, blended.shape()), blended);
        } else {
            Tensor<T, 5> host(blended.shape(), uninitialized);
            std::copy_n(blended.data(), blended.size(), host.data());
            upload<T, 5, Device>(model_.parameters().context(), nn::ensure_shape(video_, blended.shape()), host);
        }
    }

    // Starts summing the gradients [begin, end) of the flat buffer over the ranks, in buckets.
    void sum_gradients(index_t begin, index_t end) {
        nn::ParameterStore<T, Device>& store = model_.parameters();
        const index_t bucket = std::max<index_t>(index_t(options_.bucket_bytes / sizeof(T)), 1);
        for (index_t at = begin; at < end; at += bucket)
            comm_->start_all_reduce(store.context(), store.grad_data() + at, std::size_t(std::min(bucket, end - at)));
    }

    // The end of the "video." parameters in the flat buffer, when they come first (the model
    // registers them first); 0 otherwise, and the whole buffer is summed after the backward.
    static index_t video_parameters_end(const nn::ParameterStore<T, Device>& store) {
        index_t end = 0;
        bool prefix = true;
        for (const nn::ParameterInfo& p : store.parameters()) {
            const bool is_video = p.name.rfind("video.", 0) == 0;
            if (is_video && !prefix) return 0;
            if (!is_video) prefix = false;
            if (is_video) end = p.offset + p.size;
        }
        return end;
    }

    SVilm<T, Device>& model_;
    const text::Tokenizer& tokenizer_;
    ClipSource& source_;
    const text::NounExtractor* nouns_;
    Communicator<Device>* comm_;
    TrainerOptions options_;
    optim::AdamW<T, Device> adamw_;
    optim::WarmupCosine schedule_;
    Generator augment_rng_, noise_rng_;
    index_t video_params_end_ = 0;
    Tensor<T, 5, Device> video_;  // the blended clips of the batch in flight, on the model's device
    Tensor<T, 2> fg_mask_;        // (B, N_t) their foreground positions
    SVilmState<T, Device> state_;
    std::int64_t step_ = 0;
};

}  // namespace svilm::train
