// svilm: the command-line program. Subcommands:
//
//   svilm info [--preset tiny|small|base] [--frames T] | --model FILE
//       the configuration and the parameter count of each component
//   svilm init --preset P [--frames T] --out FILE [--seed S] [--vit CKPT] [--bert CKPT]
//       a model file with SPEC's random initialisation, optionally with the video encoder from
//       an image ViT checkpoint (timm or Hugging Face naming) and the text encoder from a
//       bert-base-uncased checkpoint; prints what each checkpoint filled and what it left alone
//
// With the text and video components (utf8proc, WordNet, libav):
//   svilm synth --split S --count N --out DIR [--seed S] [--scene-change P]
//       synthetic structured videos (SPEC 12) written as .mp4 files with DIR/manifest.csv
//   svilm pretrain --manifest M --out RUN [--preset P | --model FILE] [--steps N] [--batch B]
//                  [--lr X] [--losses contrastive,temporal,grounding] [--resume CKPT]
//       S-ViLM pre-training on a manifest of (video, caption): decoding ahead on worker
//       threads, nouns from WordNet, progress line, RUN/log.csv, RUN/checkpoint.safetensors,
//       RUN/model.safetensors at the end; bad videos are skipped and listed
//   svilm evaluate --model FILE --manifest M
//       text-to-video and video-to-text retrieval of a model on a manifest
//
// Errors are one line on stderr and exit status 2.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "svilm/svilm.hpp"
#if defined(SVILM_CLI_PIPELINE)
#include "svilm/data/synthetic_export.hpp"
#include "svilm/text.hpp"
#include "svilm/train/manifest_source.hpp"
#endif

namespace {

using namespace svilm;

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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"svilm: S-ViLM video-language model (" + std::string(version_string) + ")"};
    app.require_subcommand(1);

    std::string preset_name = "tiny", model_file;
    index_t frames = 0;
    auto* info = app.add_subcommand("info", "print a configuration and its parameter counts");
    info->add_option("--preset", preset_name, "tiny, small or base")->check(CLI::IsMember({"tiny", "small", "base"}));
    auto* info_frames = info->add_option("--frames", frames, "frames per clip (default: the preset's)");
    info->add_option("--model", model_file, "a model file: print its configuration instead")
        ->excludes(info_frames)
        ->excludes("--preset");

    std::string out, vit, bert;
    std::uint64_t seed = 0;
    auto* init = app.add_subcommand("init", "write a freshly initialised model file");
    init->add_option("--preset", preset_name, "tiny, small or base")->check(CLI::IsMember({"tiny", "small", "base"}));
    init->add_option("--frames", frames, "frames per clip (default: the preset's)");
    init->add_option("--out", out, "output .safetensors")->required();
    init->add_option("--seed", seed, "random initialisation seed");
    init->add_option("--vit", vit, "image ViT checkpoint (.safetensors) for the video encoder");
    init->add_option("--bert", bert, "BERT checkpoint (.safetensors) for the text encoder");

#if defined(SVILM_CLI_PIPELINE)
    std::string split = "train", manifest_file, run_dir, losses = "contrastive,temporal,grounding", resume;
    index_t count = 100, steps = 1000, batch = 16;
    double scene_change = 0, lr = 1e-4;
    int threads = 0;
    auto* synth = app.add_subcommand("synth", "write synthetic videos (SPEC 12) and their manifest");
    synth->add_option("--split", split, "train, val, test or test_unseen")
        ->check(CLI::IsMember({"train", "val", "test", "test_unseen"}));
    synth->add_option("--count", count, "videos")->check(CLI::PositiveNumber);
    synth->add_option("--out", out, "folder")->required();
    synth->add_option("--seed", seed, "dataset seed");
    synth->add_option("--scene-change", scene_change, "probability of a scene change")->check(CLI::Range(0.0, 1.0));

    auto* pretrain = app.add_subcommand("pretrain", "pre-train on a manifest of (video, caption)");
    pretrain->add_option("--manifest", manifest_file, ".csv or .jsonl")->required();
    pretrain->add_option("--out", run_dir, "run folder")->required();
    pretrain->add_option("--preset", preset_name, "tiny, small or base")->check(CLI::IsMember({"tiny", "small", "base"}));
    pretrain->add_option("--model", model_file, "start from this model file instead of a preset")->excludes("--preset");
    pretrain->add_option("--steps", steps, "optimiser steps")->check(CLI::PositiveNumber);
    pretrain->add_option("--batch", batch, "clips per step")->check(CLI::Range(2, 4096));
    pretrain->add_option("--lr", lr, "peak learning rate");
    pretrain->add_option("--losses", losses, "comma-separated subset of contrastive,temporal,grounding");
    pretrain->add_option("--resume", resume, "a checkpoint of this run to continue from");
    pretrain->add_option("--seed", seed, "seed of the initial weights, data order and augmentation");
    pretrain->add_option("--threads", threads, "threads (0: all cores)");

    auto* evaluate = app.add_subcommand("evaluate", "retrieval metrics of a model on a manifest");
    evaluate->add_option("--model", model_file, "model file (svilm init / pretrain)")->required();
    evaluate->add_option("--manifest", manifest_file, ".csv or .jsonl")->required();
#endif

    CLI11_PARSE(app, argc, argv);
    try {
        SVilmConfig config = preset(preset_name);
        if (frames > 0) config.video.frames = frames;
        if (*info) {
            if (!model_file.empty()) config = load_model_config(io::SafetensorsFile(model_file));
            config.validate();
            std::printf("%s\n", to_json(config).dump(2).c_str());
            std::printf("tokens per clip: %lld video (%lld x %lld) + %lld group\n", (long long)config.video.tokens(),
                        (long long)config.video.temporal_positions(), (long long)config.video.spatial_positions(),
                        (long long)config.video.num_group_tokens);
            std::printf("video encoder forward: %.1f GFLOP per clip\n", video_encoder_flops(config.video, 1) / 1e9);
            nn::ParameterStore<float> store;  // registration only: nothing is allocated
            const VideoEncoder<float> video(store, config.video, "video", config.gumbel_tau);
            const TextEncoder<float> text(store, config.text, "text");
            for (const char* head : {"video_proj", "temporal_proj", "group_proj"})
                nn::Linear<float>(store, head, config.video.width, config.embed_dim);
            nn::Linear<float>(store, "text_proj", config.text.width, config.embed_dim);
            store.add<0>("logit_scale", {}, nn::Role::scalar);
            store.add<0>("grounding_logit_scale", {}, nn::Role::scalar);
            std::printf("parameters:\n");
            print_parameters(store);
            return 0;
        }
#if defined(SVILM_CLI_PIPELINE)
        if (*synth) {
            video::set_libav_log_level(AV_LOG_ERROR);  // the encoder's statistics per file are noise here
            data::SyntheticConfig c;
            c.split = data::parse_split(split);
            c.seed = seed;
            c.count = count;
            c.scene_change_probability = scene_change;
            const auto manifest = data::export_synthetic(data::SyntheticDataset(c), count, out);
            std::printf("wrote %lld videos and %s\n", (long long)count, manifest.string().c_str());
            return 0;
        }
        if (*pretrain || *evaluate) {
            set_num_threads(threads);
            const text::Tokenizer tokenizer(text::Vocabulary::load(std::string(SVILM_CLI_DATA_DIR) + "/vocab/bert-base-uncased-vocab.txt"));
            SVilm<float> model = model_file.empty() ? SVilm<float>(config, seed) : load_model<float>(model_file);
            const VideoConfig& v = model.config().video;
            data::VideoLoaderOptions loading;
            loading.batch_size = *pretrain ? batch : 32;
            loading.clip.sampling.count = v.frames;
            loading.clip.size = int(v.image_size);
            loading.clip.train = bool(*pretrain);
            loading.seed = seed;
            loading.shuffle = bool(*pretrain);
            if (*evaluate) {
                data::VideoLoader loader(data::Manifest::load(manifest_file), loading);
                loader.start_epoch(0);
                std::vector<float> videos, texts;
                index_t n = 0;
                while (auto b = loader.next()) {
                    const Tensor<float, 2> e = model.encode_video(b->video);
                    const text::BatchEncoding enc = tokenizer.encode_batch(b->captions, std::size_t(model.config().text.max_length));
                    const Tensor<float, 2> t = model.encode_text(enc.ids, enc.attention_mask);
                    videos.insert(videos.end(), e.data(), e.data() + e.size());
                    texts.insert(texts.end(), t.data(), t.data() + t.size());
                    n += e.extent(0);
                }
                const index_t D = model.config().embed_dim;
                const eval::RetrievalMetrics m = eval::retrieval_metrics<float>(
                    TensorView<const float, 2>(texts.data(), {n, D}), TensorView<const float, 2>(videos.data(), {n, D}));
                std::printf("%s\n", eval::format_retrieval(m).c_str());
                for (const auto& skipped : loader.stats().skipped)
                    std::printf("skipped %s: %s\n", skipped.path.c_str(), skipped.reason.c_str());
                return 0;
            }
            train::TrainerOptions options;
            options.steps = steps;
            options.batch_size = batch;
            options.adamw.lr = lr;
            options.seed = seed;
            options.run_dir = run_dir;
            options.checkpoint_every = std::max<std::int64_t>(1, steps / 10);
            options.losses = {false, false, false};
            std::stringstream names(losses);
            for (std::string name; std::getline(names, name, ',');) {
                if (name == "contrastive") options.losses.contrastive = true;
                else if (name == "temporal") options.losses.temporal = true;
                else if (name == "grounding") options.losses.grounding = true;
                else throw ValueError("--losses: '" + name + "' is not contrastive, temporal or grounding");
            }
            const text::NounExtractor nouns = text::NounExtractor::load();
            train::ManifestSource source(data::Manifest::load(manifest_file), loading);
            train::Trainer trainer(model, tokenizer, source, options, &nouns);
            if (!resume.empty()) trainer.resume(resume);
            trainer.run();
            save_model(model, std::filesystem::path(run_dir) / "model.safetensors");
            const data::LoaderStats stats = source.stats();
            for (const auto& skipped : stats.skipped)
                std::printf("skipped %s: %s\n", skipped.path.c_str(), skipped.reason.c_str());
            std::printf("wrote %s/model.safetensors after %lld steps\n", run_dir.c_str(), (long long)trainer.steps_done());
            return 0;
        }
#endif
        SVilm<float> model(config, seed);
        if (!vit.empty())
            print_report(vit.c_str(), io::load_vit_checkpoint(model.parameters(), config.video, vit));
        if (!bert.empty())
            print_report(bert.c_str(), io::load_bert_checkpoint(model.parameters(), config.text, bert));
        save_model(model, out);
        std::printf("wrote %s: preset %s, %lld parameters\n", out.c_str(), preset_name.c_str(),
                    (long long)model.parameters().parameter_count());
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "svilm: %s\n", e.what());
        return 2;
    }
}
