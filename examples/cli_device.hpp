// examples/cli_device.hpp: the parts of the svilm program that run on the model's device, written
// once for both: the model built or loaded on the device, pre-training with train::Trainer<Device>
// and the model file at its end, the embeddings of an evaluation set. svilm_cli.cpp instantiates
// them for the CPU, svilm_cli_cuda.cu for CUDA (cli_cuda.hpp); what reads the inputs (the video
// loader, the manifest) stays on the C++ side and reaches this code as a train::ClipSource or a
// batch callback.
//
// Only device-generic svilm headers are included here: the device's ops come from svilm/svilm.hpp
// (C++) or svilm/cuda.hpp (nvcc), which the including file reads first.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "svilm/core/error.hpp"
#if defined(SVILM_CLI_PIPELINE)
#include "svilm/core/communicator.hpp"
#include "svilm/core/context.hpp"
#include "svilm/io/model_file.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/text/nouns.hpp"
#include "svilm/text/tokenizer.hpp"
#include "svilm/train/checkpoint.hpp"
#include "svilm/train/trainer.hpp"
#endif

namespace svilm_cli {

using namespace svilm;

// A mistake in the command line or in an input it names (exit 2). Declared here, not in either
// translation unit, so that one thrown by the CUDA side is caught as such by main.
class InputError : public Error {
public:
    using Error::Error;
};

// Set on every rank but rank 0 of a data-parallel run (mpirun): one rank speaks for the job.
inline bool quiet = false;

// One line saying what the program is doing, shown at once even when stdout is a pipe.
[[gnu::format(printf, 1, 2)]] inline void say(const char* format, ...) {
    if (quiet) return;
    va_list args;
    va_start(args, format);
    std::vprintf(format, args);
    va_end(args);
    std::putchar('\n');
    std::fflush(stdout);
}

// Runs `load`, naming the option when the input it names is wrong, so that the message says
// which argument to fix.
template <class Load>
auto from_option(const std::string& option, Load&& load) -> decltype(load()) {
    try {
        return load();
    } catch (const Error& e) {
        throw InputError(option + ": " + e.what());
    }
}

#if defined(SVILM_CLI_PIPELINE)

// Runs the work of a command once its inputs are checked and loaded: the caller decides what an
// error from it means (a failed run, exit 1) and what follows it.
using WorkPhase = std::function<void(const std::function<void()>& work)>;

// The model on ctx's device: `file`'s weights (--model: a model file, or a training checkpoint's
// `model.` part), or when there is no file a fresh one from the configuration and seed.
template <class Device>
SVilm<float, Device> make_model(const Context<Device>& ctx, const SVilmConfig& config, const io::SafetensorsFile* file,
                                std::uint64_t seed) {
    if (!file) return SVilm<float, Device>(ctx, config, seed);
    return from_option("--model", [&] {
        SVilm<float, Device> model = SVilm<float, Device>::zeroed(ctx, config);
        io::load_parameters(model.parameters(), *file, {true, model_tensor_prefix(*file)});
        return model;
    });
}

// A pre-training run whose inputs are checked and loaded on the host.
struct PretrainJob {
    const SVilmConfig& config;
    const io::SafetensorsFile* model_file;  // --model, or null: a fresh model from config and seed
    std::uint64_t seed;
    std::string origin;  // where the model comes from, for the "model:" line
    std::string resume;  // --resume: the checkpoint to continue from, or empty
    const text::Tokenizer& tokenizer;
    const text::NounExtractor& nouns;
    train::ClipSource& source;
    train::TrainerOptions options;
    // Under mpirun: every rank of the job (MPI), each training on its share of every batch; a
    // CUDA run builds its NCCL communicator from it. Null: this process alone.
    Communicator<cpu>* world = nullptr;
    // Runs the training and the writing of RUN/model.safetensors, after the model, the resumed
    // checkpoint and the lines before step 1.
    WorkPhase run;
};

// Builds the model, resumes, says what it will do ("device: <device>"), then trains and writes
// the model within job.run. `comm`: the ranks of a data-parallel run on this device, or null.
template <class Device>
void pretrain_on(const Context<Device>& ctx, const std::string& device, const PretrainJob& job,
                 Communicator<Device>* comm = nullptr) {
    SVilm<float, Device> model = make_model(ctx, job.config, job.model_file, job.seed);
    say("model: %s, %lld parameters", job.origin.c_str(), (long long)model.parameters().parameter_count());
    const train::TrainerOptions& t = job.options;
    train::Trainer<Device> trainer(model, job.tokenizer, job.source, t, &job.nouns, comm);
    if (!job.resume.empty()) {
        from_option("--resume", [&] { trainer.resume(job.resume); });
        say("resumed: %s, at step %lld", job.resume.c_str(), (long long)trainer.steps_done());
    }
    say("device: %s", device.c_str());
    if (comm) {
        const long long fewest = t.batch_size / comm->size(), most = (t.batch_size + comm->size() - 1) / comm->size();
        const std::string share = fewest == most ? std::to_string(fewest) : std::to_string(fewest) + " or " + std::to_string(most);
        say("ranks: %d (%s), each %s clips of every batch", comm->size(), comm->backend().c_str(), share.c_str());
    }
    say("training: %lld steps of %lld clips, peak lr %g, a checkpoint every %lld step%s, in %s", (long long)t.steps,
        (long long)t.batch_size, t.adamw.lr, (long long)t.checkpoint_every, t.checkpoint_every == 1 ? "" : "s",
        t.run_dir.c_str());
    job.run([&] {
        trainer.run();
        if (trainer.rank() == 0) save_model(model, t.run_dir / "model.safetensors");
    });
}

// An evaluation whose inputs are checked and loaded on the host.
struct EvaluateJob {
    const io::SafetensorsFile& model_file;  // --model: a model file or a training checkpoint
    const SVilmConfig& config;              // the file's configuration
    const text::Tokenizer& tokenizer;
    // The next batch of clips (B, T, 3, H, W) with their B captions, on the host; none at the end.
    std::function<std::optional<train::ClipBatch>()> next;
    WorkPhase run;  // runs the encoding of every batch
    Precision precision = Precision::fp32;  // the Linear layers' (bf16 and int8: CPU only)
};

// The embeddings of every clip and of its caption, in the order the batches came, on the host:
// (N, D) each, row-major.
struct Embeddings {
    std::vector<float> videos, texts;
    index_t count = 0;
};

// Host clips on the model's device: the host tensor itself on the CPU, a copy elsewhere.
template <class Device>
Tensor<float, 5, Device> clips_on_device(const Context<Device>& ctx, Tensor<float, 5>&& clips) {
    if constexpr (is_cpu_v<Device>) {
        return std::move(clips);
    } else {
        return to_device<float, 5, Device>(ctx, clips);
    }
}

// Loads the model on the device, then encodes every batch within job.run.
template <class Device>
Embeddings evaluate_on(const Context<Device>& ctx, const EvaluateJob& job) {
    SVilm<float, Device> model = make_model(ctx, job.config, &job.model_file, 0);
    model.parameters().set_inference_precision(job.precision);
    const auto max_length = std::size_t(job.config.text.max_length);
    Embeddings out;
    job.run([&] {
        while (std::optional<train::ClipBatch> batch = job.next()) {
            const Tensor<float, 5, Device> clips = clips_on_device(ctx, std::move(batch->clips));
            const Tensor<float, 2> videos = to_host<float, 2, Device>(ctx, model.encode_video(ctx, clips));
            const text::BatchEncoding captions = job.tokenizer.encode_batch(batch->captions, max_length);
            const Tensor<float, 2> texts =
                to_host<float, 2, Device>(ctx, model.encode_text(ctx, captions.ids, captions.attention_mask));
            out.videos.insert(out.videos.end(), videos.data(), videos.data() + videos.size());
            out.texts.insert(out.texts.end(), texts.data(), texts.data() + texts.size());
            out.count += videos.extent(0);
        }
    });
    return out;
}

#endif

}  // namespace svilm_cli
