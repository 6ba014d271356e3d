// svilm: the command-line program. Subcommands:
//
//   svilm info [--preset tiny|small|base] [--frames T] [--model FILE]
//       the configuration and the parameter count of each component
//   svilm init --preset P --out FILE [--seed S] [--vit CKPT] [--bert CKPT]
//       a model file with SPEC's random initialisation, optionally with the video encoder from
//       an image ViT checkpoint (timm or Hugging Face naming) and the text encoder from a
//       bert-base-uncased checkpoint; prints what each checkpoint filled and what it left alone
//
// Errors are one line on stderr and exit status 2.
#include <cstdio>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "svilm/svilm.hpp"

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
    info->add_option("--frames", frames, "frames per clip (default: the preset's)");
    info->add_option("--model", model_file, "a model file: print its configuration instead");

    std::string out, vit, bert;
    std::uint64_t seed = 0;
    auto* init = app.add_subcommand("init", "write a freshly initialised model file");
    init->add_option("--preset", preset_name, "tiny, small or base")->check(CLI::IsMember({"tiny", "small", "base"}));
    init->add_option("--frames", frames, "frames per clip (default: the preset's)");
    init->add_option("--out", out, "output .safetensors")->required();
    init->add_option("--seed", seed, "random initialisation seed");
    init->add_option("--vit", vit, "image ViT checkpoint (.safetensors) for the video encoder");
    init->add_option("--bert", bert, "BERT checkpoint (.safetensors) for the text encoder");

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
