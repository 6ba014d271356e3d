// svilm: the command-line program. Subcommands:
//
//   svilm info [--preset tiny|small|base] [--frames T] | --model FILE  [--device cpu|cuda]
//       the configuration, the parameter count of each component and the data directory; with --device, the device,
//       and for cuda the memory that training's parameters, gradients and AdamW moments take on it
//   svilm init --preset P [--frames T] --out FILE [--seed S] [--vit CKPT] [--bert CKPT] [--overwrite]
//       a model file with the model description's random initialisation, optionally with the video encoder from
//       an image ViT checkpoint (timm or Hugging Face naming) and the text encoder from a
//       bert-base-uncased checkpoint; prints what each checkpoint filled and what it left alone
//
// With the text and video components (utf8proc, WordNet, libav):
//   svilm synth --split S --count N --out DIR [--seed S] [--scene-change P] [--composites N] [--overwrite]
//       synthetic structured videos (docs/model.md §12) written as .mp4 files with DIR/manifest.csv
//       and DIR/annotations.json (objects' boxes, scene changes: docs/annotations.md), and N
//       cut-and-paste composites
//   svilm synth --task retrieval|qa|action|localisation --out DIR [--counts TRAIN,VAL,TEST,TEST_UNSEEN]
//               [--seed S] [--overwrite]
//       a synthetic downstream dataset (docs/model.md §13) in its real dataset's layout: MSR-VTT,
//       MSRVTT-QA, UCF101 or ActivityNet v1.3 (docs/downstream.md)
//   svilm pretrain --manifest M --out RUN [--preset P | --model FILE] [--steps N] [--batch B]
//                  [--lr X] [--losses contrastive,temporal,grounding] [--seed S] [--threads N]
//                  [--resume CKPT | --overwrite] [--device cpu|cuda]
//       S-ViLM pre-training on a manifest of (video, caption): one line for each thing loaded
//       before step 1 (vocabulary, manifest, losses, model, device), then decoding ahead on
//       worker threads, nouns from WordNet, a progress line, RUN/log.csv, RUN/log.jsonl,
//       RUN/checkpoint.safetensors, RUN/model.safetensors at the end; bad videos are skipped
//       and listed with their reasons in RUN/skipped.csv
//   mpirun -np N svilm pretrain ...   (a build with MPI: svilm::distributed)
//       the same training over N processes, each on its share of every batch of --batch clips
//       (the global batch), on one machine or on several (mpirun --hostfile); the same losses
//       and model as one process; rank 0 prints, logs and writes; --threads defaults to the
//       machine's cores over its ranks; with --device cuda one GPU per rank, summed with NCCL
//   svilm eval-tal --ground-truth GT.json --predictions P.json [--subset validation] [--per-class]
//       temporal action localisation: ActivityNet v1.3's detection mAP (tIoU 0.5:0.05:0.95,
//       interpolated AP per class) of a results file on one subset of the ground truth
//   svilm evaluate --model FILE --manifest M [--tasks retrieval,grounding,temporal] [--annotations A]
//                  [--video-column C ...] [--metrics FILE] [--out DIR] [--device cpu|cuda] [--dual-softmax T]
//       a model scored on one's own videos (docs/programs/evaluate.md): text-to-video and
//       video-to-text retrieval, grounding of annotated objects, temporal grouping at annotated
//       scene changes (cli_evaluate.cpp)
//   svilm embed | features | ground | classify VIDEOS --classes ...   (cli_inference.cpp)
//       the user's own videos through svilm::Pipeline: embeddings per video or window, window
//       features for localisation heads, a caption's nouns grounded as a figure, zero-shot classes
//   svilm index | search   (cli_search.cpp, with FAISS)
//       a nearest-neighbour index of embed's output, and text queries against it
//   svilm classify | probe | localize | finetune   (cli_downstream.cpp, cli_finetune.cpp)
//       the downstream tasks (docs/downstream.md)
//
// Each command has a page in docs/programs/.
//
// --device cuda runs the model on GPU 0 (a build with -DSVILM_CUDA=ON, where nvcc is found); the
// videos are still decoded, cut and pasted and the captions tokenized on the CPU.
//
// --data-dir DIR (any command) names svilm's data directory, which holds the vocabulary; without
// it, svilm::data_directory() searches (docs/install.md).
//
// An output that exists is never written over without --overwrite: a non-empty run folder
// takes --resume (continue the run in it) or --overwrite (start afresh in it). --model takes a
// model file or a training checkpoint. `svilm --version` prints the version; `--help` after a
// subcommand its options and their defaults.
//
// Exit status: 0 done; 1 the command failed while doing its work (a diverged step, no video
// that decodes, a failed write), keeping what a run wrote until then; 2 a usage or input error
// (an option or its value, an input missing or of the wrong kind, an output that exists), found
// before anything was written. Errors are one line on stderr, starting "svilm: ".
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_common.hpp"
#if defined(SVILM_HAVE_MPI)
#include "svilm/distributed/mpi.hpp"
#endif
#if defined(SVILM_CLI_PIPELINE)
#include "svilm/data/synthetic_export.hpp"
#include "svilm/train/manifest_source.hpp"
#endif

namespace {

using namespace svilm;
using namespace svilm_cli;

constexpr const char* exit_status_help =
    "Exit status:\n"
    "  0  done\n"
    "  1  the command failed while doing its work (what a run wrote until then is kept)\n"
    "  2  a usage or input error, found before anything was written";

struct Options {
    std::string preset = "tiny", model, out, vit, bert;
    index_t frames = 0;  // 0: the preset's
    std::uint64_t seed = 0;
    bool overwrite = false;
    std::string task = "pretrain", counts;  // synth: the dataset, and a downstream task's items per split
    bool pretrain_split_given = false;      // synth: --split, --count or --scene-change on the command line
    std::string split = "train", manifest, losses = "contrastive,temporal,grounding", resume;
    index_t count = 100, steps = 1000, batch = 16, composites = 0;
    double scene_change = 0, lr = 1e-4;
    int threads = 0;
    std::string device = "cpu";
    bool show_device = false;  // info: --device given
    std::string captions;      // nouns: a file of captions, one per line ("-": standard input)
    index_t max_phrases = 2;
    std::string ground_truth, predictions, subset = "validation";  // eval-tal
    bool per_class = false;
    data::ManifestColumns columns;  // pretrain: the manifest's column names
    Communicator<cpu>* world = nullptr;  // under mpirun: the job's ranks
};

// Rank 0 of a data-parallel run, or the process alone: the one that writes the run's files.
bool lead_rank(const Options& o) { return !o.world || o.world->rank() == 0; }

SVilmConfig preset_config(const Options& o) {
    SVilmConfig config = preset(o.preset);
    if (o.frames > 0) {
        const index_t tubelet = config.video.tubelet;
        if (o.frames % tubelet)
            throw InputError("--frames: must be a multiple of " + std::to_string(tubelet) + ", the " + o.preset +
                             " preset's tubelet (got " + std::to_string(o.frames) + ")");
        config.video.frames = o.frames;
    }
    return config;
}

// Parameter counts grouped by the first name component (video.blocks, text.encoder, ...).
void print_parameters(const nn::ParameterStore<float>& store) {
    std::map<std::string, index_t> groups;
    for (const nn::ParameterInfo& p : store.parameters()) {
        std::string key = p.name.substr(0, p.name.find('.'));
        const auto second = p.name.find('.', key.size() + 1);
        if (second != std::string::npos) key = p.name.substr(0, second);
        groups[key] += p.size;
    }
    for (const auto& [name, count] : groups) std::printf("  %-28s %14lld\n", name.c_str(), (long long)count);
    std::printf("  %-28s %14lld  (%.1f MB as float32)\n", "total", (long long)store.parameter_count(),
                double(store.parameter_count()) * 4 / 1e6);
}

void print_report(const char* what, const io::LoadReport& r) {
    std::printf("%s: %zu tensors loaded, %zu parameters keep their initialisation, %zu file tensors unused\n", what,
                r.loaded.size(), r.missing.size(), r.unexpected.size());
    for (const auto& name : r.unexpected) std::printf("  unused: %s\n", name.c_str());
}

void info(const Options& o) {
    // the device first: a GPU that cannot be used is refused before anything is printed
    const std::string device = o.show_device ? describe_device(o.device) : "";
    SVilmConfig config = o.model.empty() ? preset_config(o) : open_model(o.model).config;
    config.validate();
    std::printf("%s\n", to_json(config).dump(2).c_str());
    std::printf("tokens per clip: %lld video (%lld x %lld) + %lld group\n", (long long)config.video.tokens(),
                (long long)config.video.temporal_positions(), (long long)config.video.spatial_positions(),
                (long long)config.video.grouping.num_group_tokens);
    std::printf("video encoder forward: %.1f GFLOP per clip\n", video_encoder_flops(config.video, 1) / 1e9);
    nn::ParameterStore<float> store;  // registration only: nothing is allocated
    const VideoEncoder<float> video(store, config.video, "video");
    const TextEncoder<float> text(store, config.text, "text");
    for (const char* head : {"video_proj", "temporal_proj", "group_proj"})
        nn::Linear<float>(store, head, config.video.width, config.embed_dim);
    nn::Linear<float>(store, "text_proj", config.text.width, config.embed_dim);
    store.add<0>("logit_scale", {}, nn::Role::scalar);
    store.add<0>("grounding_logit_scale", {}, nn::Role::scalar);
    std::printf("parameters:\n");
    print_parameters(store);
    // where the vocabulary comes from; a missing one fails the commands that tokenize, not info
    try {
        std::printf("data: %s\n", data_directory(data_dir_option).c_str());
    } catch (const IoError& e) {
        std::printf("data: none (%s)\n", e.what());
    }
    if (!o.show_device) return;
    std::printf("device: %s\n", device.c_str());
    // what training keeps on a GPU besides the activations: four float32 buffers of the store's
    // layout (values, gradients, AdamW's two moments)
    if (o.device == "cuda")
        std::printf("device memory for training: %.1f MiB (float32 parameters, gradients and AdamW moments; "
                    "activations come on top)\n",
                    4.0 * double(store.buffer_size()) * sizeof(float) / double(1 << 20));
}

void init(const Options& o) {
    check_new_file("--out", o.out, o.overwrite);
    if (!o.vit.empty()) open_safetensors("--vit", o.vit);  // before the seconds a large model takes
    if (!o.bert.empty()) open_safetensors("--bert", o.bert);
    SVilm<float> model(cpu_ctx, preset_config(o), o.seed);
    if (!o.vit.empty())
        print_report(o.vit.c_str(), from_option("--vit", [&] {
                         return io::load_vit_checkpoint(model.parameters(), model.config().video, o.vit);
                     }));
    if (!o.bert.empty())
        print_report(o.bert.c_str(), from_option("--bert", [&] {
                         return io::load_bert_checkpoint(model.parameters(), model.config().text, o.bert);
                     }));
    run_work([&] { save_model(model, o.out); });
    std::printf("wrote %s: preset %s, %lld parameters\n", o.out.c_str(), o.preset.c_str(),
                (long long)model.parameters().parameter_count());
}

#if defined(SVILM_CLI_PIPELINE)

void synth(const Options& o) {
    if (o.task != "pretrain") {
        // a downstream task writes all four splits: --counts says how many of each
        if (o.pretrain_split_given)
            throw InputError("--task " + o.task +
                             ": --split, --count, --scene-change and --composites are pre-training's; give --counts TRAIN,VAL,TEST,TEST_UNSEEN");
        return synth_downstream(o.task, o.counts, o.seed, o.out, o.overwrite);
    }
    if (!o.counts.empty()) throw InputError("--counts: only with a downstream --task (pre-training takes --split and --count)");
    if (holds_files(o.out) && !o.overwrite) throw InputError(not_empty(o.out));
    video::set_libav_log_level(AV_LOG_ERROR);  // the encoder's statistics per file are noise here
    data::SyntheticConfig c;
    c.split = data::parse_split(o.split);
    c.seed = o.seed;
    c.count = o.count;
    c.scene_change_probability = o.scene_change;
    if (o.composites > 0 && o.count < 2) throw InputError("--composites: cut-and-paste needs --count of at least 2");
    data::ExportOptions exporting;
    exporting.composites = o.composites;
    run_work([&] {
        const auto manifest = data::export_synthetic(data::SyntheticDataset(c), o.count, o.out, exporting);
        std::printf("wrote %lld videos%s, %s and %s\n", (long long)o.count,
                    o.composites ? (" and " + std::to_string(o.composites) + " cut-and-paste composites").c_str() : "",
                    (fs::path(o.out) / "annotations.json").c_str(), manifest.string().c_str());
    });
}

// A second run in a run folder would replace its model and checkpoint and cut its log: a
// non-empty one takes --overwrite, or --resume from a checkpoint in it (another run's would
// continue over this one).
void check_run_folder(const Options& o) {
    if (!holds_files(o.out) || o.overwrite) return;
    const fs::path checkpoint = fs::path(o.out) / "checkpoint.safetensors";
    if (o.resume.empty() && fs::exists(checkpoint))
        throw InputError("--out: " + o.out + " already holds a run: continue it with --resume " + checkpoint.string() +
                         ", or start afresh with --overwrite");
    if (o.resume.empty()) throw InputError(not_empty(o.out));
    std::error_code error;
    if (!fs::equivalent(fs::absolute(o.resume).parent_path(), o.out, error))
        throw InputError("--resume: " + o.resume + " is not in --out " + o.out +
                         ", which is not empty: continue a run in its own folder, or in a new one");
}

std::string loss_names(const LossSwitches& losses) {
    std::string names;
    for (const auto& [on, name] : {std::pair{losses.contrastive, "contrastive"}, std::pair{losses.temporal, "temporal"},
                                   std::pair{losses.grounding, "grounding"}})
        if (on) names += (names.empty() ? "" : ", ") + std::string(name);
    return names;
}

data::VideoLoaderOptions loader_options(const VideoConfig& v, index_t batch, const Options& o, bool training) {
    data::VideoLoaderOptions loading;
    loading.batch_size = batch;
    loading.clip.sampling.count = v.frames;
    loading.clip.size = int(v.image_size);
    loading.clip.train = training;
    // random resized crops, never mirrored: captions name directions ("moves left"), which a
    // mirrored clip would contradict
    loading.clip.crop.flip = false;
    loading.seed = o.seed;
    loading.shuffle = training;
    return loading;
}

// RUN/skipped.csv: each skipped video with its manifest line and the reason, for the user to
// fix or drop; returns the file's path.
fs::path write_skipped_report(const fs::path& run, const std::vector<data::SkippedItem>& skipped) {
    std::string text = "line,video,reason\n";
    for (const data::SkippedItem& s : skipped)
        text += std::to_string(s.line) + ',' + csv_field(s.path) + ',' + csv_field(s.reason) + '\n';
    const fs::path path = run / "skipped.csv";
    fs::create_directories(run);
    io::write_file_atomically(path, [&](const auto& append) { append(text.data(), text.size()); });
    return path;
}

// The count, the report and the first reasons: enough to see what is wrong at a glance.
void print_skipped(const fs::path& run, const std::vector<data::SkippedItem>& skipped) {
    if (skipped.empty()) return;
    const fs::path report = write_skipped_report(run, skipped);
    say("skipped %zu video%s, each with its reason in %s:", skipped.size(), skipped.size() == 1 ? "" : "s",
        report.c_str());
    const std::size_t shown = std::min<std::size_t>(skipped.size(), 3);
    for (std::size_t k = 0; k < shown; ++k) say("  %s", skipped[k].reason.c_str());
    if (skipped.size() > shown) say("  ... and %zu more", skipped.size() - shown);
}

// --overwrite: the earlier run's model, checkpoint and report go before the new run writes
// anything, so that the folder never mixes two runs (the trainer starts the logs afresh).
void remove_previous_run(const fs::path& run) {
    for (const char* name : {"model.safetensors", "checkpoint.safetensors", "skipped.csv"}) fs::remove(run / name);
}

train::TrainerOptions trainer_options(const Options& o, const LossSwitches& losses) {
    train::TrainerOptions options;
    options.steps = o.steps;
    options.batch_size = o.batch;
    options.adamw.lr = o.lr;
    options.seed = o.seed;
    options.run_dir = o.out;
    options.checkpoint_every = std::max<std::int64_t>(1, o.steps / 10);
    options.losses = losses;
    return options;
}

void pretrain(const Options& o) {
    // the quick checks first, before the seconds a large model takes
    check_device(o.device);
    check_run_folder(o);
    const LossSwitches losses = parse_losses(o.losses);
    data::Manifest manifest = load_manifest(o.manifest, o.columns);
    if (index_t(manifest.size()) < o.batch)
        throw InputError("--batch: " + std::to_string(o.batch) + " is more than the " + std::to_string(manifest.size()) +
                         " videos of " + o.manifest);
    if (!o.resume.empty()) open_safetensors("--resume", o.resume);
    std::optional<ModelFile> model;
    if (!o.model.empty()) model.emplace(open_model(o.model));
    const SVilmConfig config = model ? model->config : preset_config(o);
    quiet_libav();
#if defined(SVILM_HAVE_MPI)
    // ranks on one machine share its cores
    set_num_threads(o.threads || !o.world ? o.threads : std::max(1, default_num_threads() / dist::ranks_on_this_machine()));
#else
    set_num_threads(o.threads);
#endif
    const text::Tokenizer tokenizer = load_tokenizer();
    say("vocabulary: %zu tokens", tokenizer.vocabulary().size());
    say("manifest: %s, %zu videos", o.manifest.c_str(), manifest.size());
    say("losses: %s", loss_names(losses).c_str());
    const text::NounExtractor nouns = text::NounExtractor::load();
    train::ManifestSource source(std::move(manifest), loader_options(config.video, o.batch, o, true));

    const fs::path run = o.out, checkpoint = run / "checkpoint.safetensors";
    // every rank has checked the run folder before rank 0 writes in it
    if (o.world) o.world->barrier();
    const PretrainJob job{
        .config = config,
        .model_file = model ? &model->file : nullptr,
        .seed = o.seed,
        .origin = o.model.empty() ? "preset " + o.preset + ", seed " + std::to_string(o.seed) : o.model,
        .resume = o.resume,
        .tokenizer = tokenizer,
        .nouns = nouns,
        .source = source,
        .options = trainer_options(o, losses),
        .world = o.world,
        .run = [&](const std::function<void()>& train_and_save) {
            run_work(
                [&] {
                    if (o.overwrite && lead_rank(o)) remove_previous_run(run);
                    train_and_save();
                    if (lead_rank(o)) print_skipped(run, source.skipped());
                    say("wrote %s after %lld steps", (run / "model.safetensors").c_str(), (long long)o.steps);
                },
                [&] {
                    std::string note;
                    if (const auto skipped = source.skipped(); !skipped.empty() && lead_rank(o))
                        note += "; every skipped video is listed in " + write_skipped_report(run, skipped).string();
                    if (fs::exists(checkpoint))
                        note += "; the last checkpoint is " + checkpoint.string() + " (--resume continues from it)";
                    return note;
                });
        }};
#if defined(SVILM_CLI_CUDA)
    if (o.device == "cuda") return pretrain_cuda(job);
#endif
    pretrain_on(cpu_ctx, cpu_device(), job, o.world);
}

// ActivityNet's detection mAP of a predictions file against a ground truth file, on one subset:
// only that subset's videos count, and predictions for other videos are left out (and counted).
void eval_tal(const Options& o) {
    const data::ActivityNetGroundTruth truth =
        from_option("--ground-truth", [&] { return data::load_activitynet_ground_truth(o.ground_truth); });
    const data::ActivityNetResults results =
        from_option("--predictions", [&] { return data::load_activitynet_results(o.predictions); });
    std::vector<eval::GroundTruthSegment> segments;
    std::set<std::string> videos;
    for (const data::ActivityNetVideo& v : truth.videos) {
        if (data::subset_name(v.subset) != o.subset) continue;
        videos.insert(v.id);
        for (const data::ActivityNetSegment& s : v.segments)
            segments.push_back({v.id, truth.labels[std::size_t(s.label)], s.start, s.end});
    }
    if (segments.empty())
        throw InputError("--subset: " + o.subset + ": no annotated segment in " + o.ground_truth);
    std::vector<eval::PredictedSegment> predicted;
    std::size_t elsewhere = 0;
    for (const auto& [video, list] : results.results)
        for (const data::ActivityNetPrediction& p : list) {
            if (!videos.count(video)) {
                ++elsewhere;
                continue;
            }
            predicted.push_back({video, p.label, p.score, p.start, p.end});
        }
    const eval::DetectionMetrics m = eval::detection_metrics(segments, predicted);
    say("ground truth: %s, subset %s: %zu videos, %zu segments, %zu classes", o.ground_truth.c_str(), o.subset.c_str(),
        videos.size(), segments.size(), m.classes.size());
    say("predictions: %s: %zu scored%s", o.predictions.c_str(), predicted.size(),
        elsewhere ? (", " + std::to_string(elsewhere) + " for videos outside the subset left out").c_str() : "");
    std::fputs(eval::format_detection(m, o.per_class).c_str(), stdout);
    const auto at = [&](double t) {
        for (std::size_t k = 0; k < m.tiou_thresholds.size(); ++k)
            if (std::abs(m.tiou_thresholds[k] - t) < 1e-9) return 100 * m.mean_average_precision[k];
        return 0.0;
    };
    say("mAP@0.5 %.1f  mAP@0.75 %.1f  mAP@0.95 %.1f  average %.1f", at(0.5), at(0.75), at(0.95),
        100 * m.average_mean_average_precision);
}

// One line per caption: the caption, a TAB, its noun phrases joined by '|' (the phrases the
// grounding loss would prompt with: "a video of a {}."). Lines of a TSV file are captions up to
// their first TAB, so a caption column comes first.
void nouns(const Options& o) {
    const text::NounExtractor extractor = text::NounExtractor::load();
    std::ifstream file;
    if (o.captions != "-") {
        file.open(o.captions);
        if (!file) throw InputError("--captions: cannot read " + o.captions);
    }
    std::istream& in = o.captions == "-" ? std::cin : file;
    const std::size_t max = o.max_phrases == 0 ? std::size_t(-1) : std::size_t(o.max_phrases);
    std::string line;
    while (std::getline(in, line)) {
        const std::string caption = line.substr(0, line.find('\t'));
        const std::vector<std::string> phrases = extractor.extract(caption, max);
        std::string joined;
        for (const std::string& p : phrases) joined += (joined.empty() ? "" : "|") + p;
        std::printf("%s\t%s\n", caption.c_str(), joined.c_str());
    }
}

#endif

}  // namespace

// Under mpirun (a build with svilm::distributed) MPI lives as long as main, and an error on any
// rank stops every rank with a line naming it: a rank left alone would wait in a collective.
struct MpiJob {
#if defined(SVILM_HAVE_MPI)
    std::optional<dist::MpiSession> session;
    std::optional<dist::MpiCommunicator> world;
    MpiJob(int& argc, char**& argv) {
        if (!dist::launched_by_mpi()) return;
        session.emplace(argc, argv);
        world.emplace();
        quiet = world->rank() != 0;
    }
    Communicator<cpu>* communicator() { return world ? &*world : nullptr; }
    int fail(const char* message, int status) {
        if (world && world->size() > 1) dist::abort_job(message, status);
        std::fprintf(stderr, "svilm: %s\n", message);
        return status;
    }
#else
    MpiJob(int&, char**&) {}
    Communicator<cpu>* communicator() { return nullptr; }
    int fail(const char* message, int status) {
        std::fprintf(stderr, "svilm: %s\n", message);
        return status;
    }
#endif
};

int main(int argc, char** argv) {
    std::optional<MpiJob> mpi;
    try {
        mpi.emplace(argc, argv);
    } catch (const std::exception& e) {  // MPI could not start
        std::fprintf(stderr, "svilm: %s\n", e.what());
        return exit_failed;
    }
    CLI::App app{"svilm: S-ViLM video-language model (" + std::string(version_string) + ")", "svilm"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "svilm " + std::string(version_string));
    app.footer(exit_status_help);
    // --help shows each option's default, except where the option says what it is
    app.option_defaults()->always_capture_default();
    Options o;
    o.world = mpi->communicator();
    // before the subcommands, so that they inherit fallthrough: `svilm CMD --data-dir DIR` as well
    app.add_option("--data-dir", data_dir_option,
                   "svilm's data directory (the vocabulary; docs/install.md)")
        ->check(a_path)
        ->default_str("$SVILM_DATA_DIR, <program>/../share/svilm, the build's");
    app.add_option("--precision", precision_option,
                   "the Linear layers' precision when a command only runs the model: fp32, bf16 or int8 (docs/performance.md)")
        ->check(one_of({"fp32", "bf16", "int8"}));
    app.fallthrough();
    const auto presets = one_of({"tiny", "small", "base"});
    const auto frames = whole_number<index_t>(1, max_config_size);
    const auto devices = one_of({"cpu", "cuda"});
    const std::string device_help = "cpu or cuda (GPU 0)";

    auto* info_command = app.add_subcommand("info", "print a configuration and its parameter counts");
    info_command->add_option("--preset", o.preset, "tiny, small or base")->check(presets);
    auto* info_frames =
        info_command->add_option("--frames", o.frames, "frames per clip")->check(frames)->default_str("the preset's");
    info_command->add_option("--model", o.model, "a model file or checkpoint: print its configuration instead")
        ->check(a_path)
        ->excludes(info_frames)
        ->excludes("--preset");
    auto* info_device = info_command->add_option("--device", o.device, "print this device too: " + device_help)
                            ->check(devices);

    auto* init_command = app.add_subcommand("init", "write a freshly initialised model file");
    init_command->add_option("--preset", o.preset, "tiny, small or base")->check(presets);
    init_command->add_option("--frames", o.frames, "frames per clip")->check(frames)->default_str("the preset's");
    init_command->add_option("--out", o.out, "output .safetensors")->check(a_path)->required();
    init_command->add_option("--seed", o.seed, "random initialisation seed")->check(whole_number<std::uint64_t>(0));
    init_command->add_option("--vit", o.vit, "image ViT checkpoint (.safetensors) for the video encoder")->check(a_path);
    init_command->add_option("--bert", o.bert, "BERT checkpoint (.safetensors) for the text encoder")->check(a_path);
    init_command->add_flag("--overwrite", o.overwrite, "replace an existing --out file");

#if defined(SVILM_CLI_PIPELINE)
    auto* synth_command = app.add_subcommand(
        "synth", "write synthetic videos (docs/model.md §12) and their manifest, or a downstream task's dataset (--task)");
    synth_command->add_option("--task", o.task,
                              "pretrain (videos and captions of one split, with manifest.csv), or a downstream dataset in "
                              "its real layout: retrieval (MSR-VTT), qa (MSRVTT-QA), action (UCF101), localisation "
                              "(ActivityNet v1.3)")
        ->check(one_of({"pretrain", "retrieval", "qa", "action", "localisation"}));
    synth_command->add_option("--counts", o.counts,
                              "a downstream task's items per split, TRAIN,VAL,TEST,TEST_UNSEEN (each 0 to 2^24)")
        ->default_str("retrieval 1000,100,100,100; qa 1500,200,300,300; action 700,140,280,280; localisation 200,50,100,100");
    auto* synth_split = synth_command->add_option("--split", o.split, "train, val, test or test_unseen (--task pretrain)")
                            ->check(one_of({"train", "val", "test", "test_unseen"}));
    // the video loader indexes at most 2^24 items
    auto* synth_count = synth_command->add_option("--count", o.count, "videos, 1 to 2^24 (--task pretrain)")
                            ->check(whole_number<index_t>(1, index_t(1) << 24));
    auto* synth_composites =
        synth_command->add_option("--composites", o.composites,
                                  "also this many cut-and-paste videos with two scene changes each (--task pretrain)")
            ->check(whole_number<index_t>(0, index_t(1) << 24));
    synth_command->add_option("--out", o.out, "folder (new or empty)")->check(a_path)->required();
    synth_command->add_option("--seed", o.seed, "dataset seed")->check(whole_number<std::uint64_t>(0));
    auto* synth_scene_change =
        synth_command->add_option("--scene-change", o.scene_change, "probability of a scene change, 0 to 1 (--task pretrain)")
            ->check(real_number(0, 1));
    synth_command->add_flag("--overwrite", o.overwrite, "write into a non-empty --out folder");

    auto* pretrain_command = app.add_subcommand("pretrain", "pre-train on a manifest of (video, caption)");
    pretrain_command->add_option("--manifest", o.manifest, ".csv or .jsonl")->check(a_path)->required();
    pretrain_command->add_option("--out", o.out, "run folder (new or empty, unless --resume or --overwrite)")
        ->check(a_path)
        ->required();
    pretrain_command->add_option("--preset", o.preset, "tiny, small or base")->check(presets);
    pretrain_command->add_option("--model", o.model, "start from this model file or checkpoint instead of a preset")
        ->check(a_path)
        ->excludes("--preset");
    add_manifest_column_options(pretrain_command, o.columns);
    pretrain_command->add_option("--steps", o.steps, "optimiser steps")->check(whole_number<index_t>(1));
    pretrain_command->add_option("--batch", o.batch, "clips per step, 2 to 4096 (cut-and-paste pairs them)")
        ->check(whole_number<index_t>(2, 4096));
    pretrain_command->add_option("--lr", o.lr, "peak learning rate")->check(real_number(0));
    pretrain_command->add_option("--losses", o.losses, "comma-separated subset of contrastive,temporal,grounding");
    pretrain_command->add_option("--seed", o.seed, "seed of the initial weights, data order and augmentation")
        ->check(whole_number<std::uint64_t>(0));
    pretrain_command->add_option("--threads", o.threads, "threads, up to 1024 (0: all cores; under mpirun, the cores over the ranks on the machine)")
        ->check(whole_number<int>(0, 1024));
    auto* resume = pretrain_command->add_option("--resume", o.resume, "a checkpoint of the run in --out to continue from")
                       ->check(a_path);
    pretrain_command->add_flag("--overwrite", o.overwrite, "replace the run in a non-empty --out folder")->excludes(resume);
    pretrain_command->add_option("--device", o.device, "where the model trains: " + device_help)->check(devices);

    auto* nouns_command = app.add_subcommand("nouns", "print the noun phrases of captions, as the grounding loss sees them");
    nouns_command->add_option("--captions", o.captions, "a file of captions, one per line (up to a TAB); - reads stdin")
        ->required();
    nouns_command->add_option("--max", o.max_phrases, "phrases per caption (0: all)")->check(whole_number<index_t>(0, 1024));
    std::vector<Subcommand> downstream = add_downstream_commands(app);
    for (Subcommand& s : add_finetune_commands(app)) downstream.push_back(std::move(s));
    for (Subcommand& s : add_inference_commands(app)) downstream.push_back(std::move(s));
    downstream.push_back(add_evaluate_command(app));
#if defined(SVILM_CLI_SEARCH)
    for (Subcommand& s : add_search_commands(app)) downstream.push_back(std::move(s));
#endif
#else
    const std::vector<Subcommand> downstream;
#endif
    auto* eval_tal_command = app.add_subcommand("eval-tal", "temporal action localisation: ActivityNet detection mAP of predictions");
    eval_tal_command->add_option("--ground-truth", o.ground_truth, "ActivityNet v1.3 ground truth JSON")->check(a_path)->required();
    eval_tal_command->add_option("--predictions", o.predictions, "ActivityNet results JSON ({\"results\": {id: [...]}})")
        ->check(a_path)
        ->required();
    eval_tal_command->add_option("--subset", o.subset, "the ground truth's subset to score")
        ->check(one_of({"training", "validation", "testing"}));
    eval_tal_command->add_flag("--per-class", o.per_class, "one row of AP per class");
    std::vector<std::string> command_names;
    for (CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) {
        command->footer(exit_status_help);
        command_names.push_back(command->get_name());
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        if (app.get_subcommands().empty()) {
            const bool named = argc > 1 && argv[1][0] != '-';
            const std::string given = named ? "'" + std::string(argv[1]) + "' is not a subcommand: " : "";
            std::fprintf(stderr, "svilm: %sgive one of %s (svilm --help)\n", given.c_str(), in_words(command_names).c_str());
        } else {
            std::fprintf(stderr, "svilm: %s\n", e.what());
        }
        return exit_usage;
    }
    o.show_device = info_device->count() > 0;
    for (const CLI::App* command : app.get_subcommands())
        if (precision_option != "fp32" && (command->get_name() == "pretrain" || command->get_name() == "finetune")) {
            if (!o.world || o.world->rank() == 0)  // under mpirun, rank 0 says why and every rank stops
                std::fprintf(stderr, "svilm: --precision %s: %s trains, and training runs in fp32 (--precision is for the "
                                     "commands that only run the model)\n",
                             precision_option.c_str(), command->get_name().c_str());
            return exit_usage;
        }
#if defined(SVILM_CLI_PIPELINE)
    o.pretrain_split_given =
        synth_split->count() + synth_count->count() + synth_scene_change->count() + synth_composites->count() > 0;
    // every rank reaches this line alike: rank 0 says why, and they all stop
    if (o.world && o.world->size() > 1 && !*pretrain_command) {
        if (o.world->rank() == 0)
            std::fprintf(stderr, "svilm: only pretrain runs on several ranks; run `svilm %s` without mpirun\n",
                         app.get_subcommands().front()->get_name().c_str());
        return exit_usage;
    }
#endif
    try {
        if (*info_command) info(o);
        if (*init_command) init(o);
        if (*eval_tal_command) eval_tal(o);
#if defined(SVILM_CLI_PIPELINE)
        if (*synth_command) synth(o);
        if (*pretrain_command) pretrain(o);
        if (*nouns_command) nouns(o);
#endif
        for (const Subcommand& s : downstream)
            if (*s.command) s.run();
        return 0;
    } catch (const RunFailure& e) {
        return mpi->fail(e.what(), exit_failed);
    } catch (const Error& e) {
        return mpi->fail(e.what(), exit_usage);
    } catch (const std::exception& e) {  // out of memory, say: not the user's input
        return mpi->fail(e.what(), exit_failed);
    }
}
