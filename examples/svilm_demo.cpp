// svilm_demo: the paper's loss ablation (Table 6) in miniature, on the synthetic structured-video
// benchmark (docs/model.md §12), on the CPU.
//
//   1. data: synthetic train clips rendered on the fly; test sets of seen and of held-out
//      colour-shape pairs, and clips with real scene changes;
//   2. pre-train the `tiny` preset twice with the same budget and seed: the contrastive loss only,
//      and all three S-ViLM losses;
//   3. evaluate the untrained model and both runs: text-to-video retrieval on the held-out pairs
//      (and on seen ones), grounding of each caption noun to a group token (pointing and IoU of
//      its assignment map against the object's mask), temporal grouping (foreground accuracy
//      of p_t on cut-and-paste composites, block structure of the per-step similarity at cuts);
//   4. print the table, write results.json and the figures as PNG: loss curves, similarity at a
//      scene change (Figure 2 left), grounding maps (Figure 4), foreground probability (Figure 5).
//
// Usage: svilm_demo [--out runs/demo] [--steps 1500] [--batch 16] [--test 100] [--seed 0]
//                   [--threads N] [--data-dir DIR | --vocab FILE]  (data directory: docs/install.md)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "svilm/data/synthetic.hpp"
#include "svilm/eval.hpp"
#include "svilm/svilm.hpp"
#include "svilm/text.hpp"
#include "svilm/train.hpp"
#include "svilm/viz.hpp"

namespace {

using namespace svilm;

// CPU ops and modules take this context first (svilm/core/context.hpp).
const Context<cpu> cpu_ctx;
namespace fs = std::filesystem;

// The trainer's clip source: item after item of one synthetic split, nouns from the ground truth.
class SyntheticSource : public train::ClipSource {
public:
    explicit SyntheticSource(const data::SyntheticConfig& config) : dataset_(config) {}

    train::ClipBatch next(index_t batch_size) override {
        const data::SyntheticConfig& c = dataset_.config();
        train::ClipBatch out;
        out.clips = Tensor<float, 5>({batch_size, c.frames, 3, c.height, c.width}, uninitialized);
        for (index_t b = 0; b < batch_size; ++b) {
            const data::SyntheticVideo v = dataset_.item(next_++ % dataset_.size());
            data::normalize_frames<float>(out.clips.view().select(0, b), v.frames);
            out.captions.push_back(v.caption);
            out.nouns.push_back(v.nouns);
        }
        return out;
    }
    nlohmann::json state() const override { return {{"next", next_}}; }
    void restore(const nlohmann::json& state) override { next_ = state.at("next").get<index_t>(); }

private:
    data::SyntheticDataset dataset_;
    index_t next_ = 0;
};

// A rendered test set and its model input.
struct TestSet {
    std::vector<data::SyntheticVideo> videos;
    Tensor<float, 5> clips;  // (N, T, 3, H, W)
    std::vector<std::string> captions;

    TestSet(data::SyntheticConfig config, index_t count) {
        config.count = count;
        const data::SyntheticDataset dataset(config);
        clips = Tensor<float, 5>({count, config.frames, 3, config.height, config.width}, uninitialized);
        for (index_t i = 0; i < count; ++i) {
            videos.push_back(dataset.item(i));
            data::normalize_frames<float>(clips.view().select(0, i), videos.back().frames);
            captions.push_back(videos.back().caption);
        }
    }
};

struct Scores {
    eval::RetrievalMetrics unseen, seen;
    eval::GroundingTally grounding;
    eval::ForegroundAccuracy foreground;
    double block_composite = 0, block_change = 0;
};

constexpr index_t eval_batch = 50;

Tensor<float, 2> embed_texts(const SVilm<float>& model, const text::Tokenizer& tokenizer,
                             const std::vector<std::string>& texts) {
    const index_t N = index_t(texts.size()), D = model.config().embed_dim;
    Tensor<float, 2> out({N, D}, uninitialized);
    for (index_t start = 0; start < N; start += eval_batch) {
        const index_t end = std::min(N, start + eval_batch);
        const std::vector<std::string> part(texts.begin() + start, texts.begin() + end);
        const text::BatchEncoding enc = tokenizer.encode_batch(part, std::size_t(model.config().text.max_length));
        const Tensor<float, 2> e = model.encode_text(cpu_ctx, enc.ids, enc.attention_mask);
        std::copy_n(e.data(), e.size(), out.data() + start * D);
    }
    return out;
}

// Video embeddings of a whole set in batches; `each` sees every batch's embeddings and encoder state.
template <class Each>
void embed_videos(const SVilm<float>& model, TensorView<const float, 5> clips, Each each) {
    const index_t N = clips.extent(0);
    for (index_t start = 0; start < N; start += eval_batch) {
        const index_t end = std::min(N, start + eval_batch);
        VideoEncoderSaved<float> encoder;
        const VideoEmbeddings<float> e = model.embed_video(cpu_ctx, clips.narrow(0, start, end), encoder);
        each(start, e, encoder);
    }
}

// The similarity of the per-step features z of one clip, (N_t, N_t).
Tensor<float, 2> step_similarity(const VideoEmbeddings<float>& e, index_t i) {
    const auto z = e.temporal.view().select(0, i);
    Tensor<float, 2> zc(z.shape(), uninitialized);
    copy<float, 2>(cpu_ctx, zc, z);
    return eval::cosine_similarity_matrix<float>(zc);
}

Scores evaluate(const SVilm<float>& model, const text::Tokenizer& tokenizer, const TestSet& unseen, const TestSet& seen,
                const TestSet& changes, std::uint64_t seed) {
    Scores s;
    const VideoConfig& vc = model.config().video;
    const index_t D = model.config().embed_dim, grid_side = vc.image_size / vc.patch_size;
    const eval::TokenGrid grid{vc.temporal_positions(), grid_side, grid_side};

    // retrieval, and grounding of every noun of the held-out-pair captions
    for (const TestSet* set : {&unseen, &seen}) {
        const index_t N = set->clips.extent(0);
        Tensor<float, 2> videos({N, D}, uninitialized);
        std::vector<std::string> prompts;
        std::vector<std::pair<index_t, index_t>> owners;  // (video, object) of each prompt
        if (set == &unseen)
            for (index_t i = 0; i < N; ++i)
                for (std::size_t k = 0; k < set->videos[std::size_t(i)].nouns.size(); ++k) {
                    prompts.push_back(text::format_prompt(text::default_prompt_template, set->videos[std::size_t(i)].nouns[k]));
                    owners.emplace_back(i, index_t(k));
                }
        const Tensor<float, 2> nouns = prompts.empty() ? Tensor<float, 2>() : embed_texts(model, tokenizer, prompts);
        std::size_t next_prompt = 0;
        embed_videos(model, set->clips, [&](index_t start, const VideoEmbeddings<float>& e, const VideoEncoderSaved<float>& enc) {
            std::copy_n(e.global.data(), e.global.size(), videos.data() + start * D);
            const auto& soft = enc.grouping.back().block.soft;  // (B, M, L): the last grouping block's map
            while (next_prompt < owners.size() && owners[next_prompt].first < start + e.global.extent(0)) {
                const auto [i, k] = owners[next_prompt];
                const data::SyntheticVideo& v = set->videos[std::size_t(i)];
                const Tensor<std::uint8_t, 3> mask = v.mask(k);
                const auto groups = e.groups.view().select(0, i - start);
                s.grounding.add(eval::ground_noun<float>(nouns.view().select(0, index_t(next_prompt)), groups,
                                                         soft.view().select(0, i - start), grid, mask));
                ++next_prompt;
            }
        });
        const Tensor<float, 2> texts = embed_texts(model, tokenizer, set->captions);
        (set == &unseen ? s.unseen : s.seen) = eval::retrieval_metrics<float>(texts, videos);
    }

    // temporal grouping on cut-and-paste composites of the seen test clips (a fixed draw)
    Generator rng(seed);
    const video::CutAndPaste<float> composite = video::cut_and_paste<float>(seen.clips, vc.tubelet, rng);
    double block_sum = 0;
    index_t block_count = 0;
    embed_videos(model, composite.video, [&](index_t start, const VideoEmbeddings<float>& e, const VideoEncoderSaved<float>&) {
        const index_t B = e.temporal.extent(0);
        const auto mask = composite.mask.view().narrow(0, start, start + B);
        Tensor<float, 2> m(mask.shape(), uninitialized);
        copy<float, 2>(cpu_ctx, m, mask);
        TemporalGroupingSaved<float> t;
        temporal_grouping_loss_forward<float>(cpu_ctx, t, e.temporal, m, float(model.config().tau_temporal));
        s.foreground += eval::foreground_accuracy<float>(t.p, m);
        for (index_t i = 0; i < B; ++i) {
            std::vector<int> segment;
            for (index_t p = 0; p < m.extent(1); ++p) segment.push_back(int(m(i, p)));
            block_sum += eval::block_structure_score<float>(step_similarity(e, i), segment);
            ++block_count;
        }
    });
    s.block_composite = block_sum / double(block_count);

    // real scene changes: the cut at the tubelet position where the second scene starts
    block_sum = 0, block_count = 0;
    embed_videos(model, changes.clips, [&](index_t start, const VideoEmbeddings<float>& e, const VideoEncoderSaved<float>&) {
        for (index_t i = 0; i < e.temporal.extent(0); ++i) {
            const index_t change = changes.videos[std::size_t(start + i)].change_frame;
            const index_t cut = (change + vc.tubelet / 2) / vc.tubelet;
            if (change < 0 || cut < 1 || cut >= vc.temporal_positions()) continue;
            block_sum += eval::block_structure_score<float>(step_similarity(e, i), cut);
            ++block_count;
        }
    });
    s.block_change = block_count ? block_sum / double(block_count) : 0;
    return s;
}

void print_table(const std::vector<std::pair<std::string, Scores>>& rows, index_t unseen_count) {
    std::printf("\n%-22s | %-27s | %-6s | %-15s | %-22s\n", "", "text -> video, held-out pairs", "seen",
                "grounding", "temporal grouping");
    std::printf("%-22s | %5s %5s %5s %6s  | %6s | %6s %7s | %6s %6s %7s\n", "model", "R@1", "R@5", "R@10", "MdR", "R@1",
                "point", "IoU", "fg acc", "block", "change");
    const Scores& any = rows.front().second;
    std::printf("%-22s | %5.1f %5.1f %5.1f %6.1f  | %6.1f | %6.1f %7.1f | %6.1f %6s %7s\n", "chance / uniform map",
                any.unseen.chance.r1, any.unseen.chance.r5, any.unseen.chance.r10, any.unseen.chance.median_rank,
                any.seen.chance.r1, 100 * any.grounding.uniform().pointing, 100 * any.grounding.uniform().iou, 50.0, "0", "0");
    for (const auto& [name, s] : rows)
        std::printf("%-22s | %5.1f %5.1f %5.1f %6.1f  | %6.1f | %6.1f %7.1f | %6.1f %6.3f %7.3f\n", name.c_str(),
                    s.unseen.text_to_video.r1, s.unseen.text_to_video.r5, s.unseen.text_to_video.r10,
                    s.unseen.text_to_video.median_rank, s.seen.text_to_video.r1, 100 * s.grounding.chosen().pointing,
                    100 * s.grounding.chosen().iou, 100 * s.foreground.accuracy(), s.block_composite, s.block_change);
    std::printf("\nretrieval: %s\n", any.unseen.protocol.c_str());
    std::printf("grounding: %lld nouns of the %lld held-out-pair test captions; random group: pointing %.1f, IoU %.1f "
                "(untrained model)\n",
                (long long)any.grounding.nouns(), (long long)unseen_count, 100 * any.grounding.random_group().pointing,
                100 * any.grounding.random_group().iou);
    std::printf("temporal: fg acc = p_t > 0.5 vs the pasted segment on cut-and-paste composites; block = mean "
                "within-segment minus mean across-segment similarity of z_t (composites; real scene changes)\n");
}

nlohmann::json scores_json(const Scores& s) {
    auto ranks = [](const eval::RankSummary& r) {
        return nlohmann::json{{"r1", r.r1}, {"r5", r.r5}, {"r10", r.r10}, {"median_rank", r.median_rank}, {"mean_rank", r.mean_rank}};
    };
    return {{"unseen", {{"text_to_video", ranks(s.unseen.text_to_video)}, {"video_to_text", ranks(s.unseen.video_to_text)}}},
            {"seen", {{"text_to_video", ranks(s.seen.text_to_video)}, {"video_to_text", ranks(s.seen.video_to_text)}}},
            {"grounding",
             {{"nouns", s.grounding.nouns()}, {"pointing", s.grounding.chosen().pointing}, {"iou", s.grounding.chosen().iou},
              {"uniform_pointing", s.grounding.uniform().pointing}, {"random_group_pointing", s.grounding.random_group().pointing}}},
            {"temporal",
             {{"foreground_accuracy", s.foreground.accuracy()}, {"block_composite", s.block_composite},
              {"block_scene_change", s.block_change}}}};
}

// Figure 2 left: the per-step similarity of one clip with a real scene change, for each model.
void write_similarity_figure(const fs::path& path, const std::vector<const SVilm<float>*>& models, const TestSet& changes) {
    index_t pick = 0;
    while (pick + 1 < index_t(changes.videos.size()) && changes.videos[std::size_t(pick)].change_frame < 0) ++pick;
    std::vector<viz::Image> panels;
    for (const SVilm<float>* model : models) {
        VideoEncoderSaved<float> enc;
        const VideoEmbeddings<float> e = model->embed_video(cpu_ctx, changes.clips.view().narrow(0, pick, pick + 1), enc);
        panels.push_back(viz::heat_map<float>(step_similarity(e, 0), 24, viz::ValueRange{-1, 1}));
    }
    panels.push_back(viz::frame_strip(changes.videos[std::size_t(pick)].frames));
    viz::write_png(path, viz::stack_images(panels, 6));
}

// Figure 4: for a few nouns of held-out-pair captions, the chosen group's map over the frames.
void write_grounding_figure(const fs::path& path, const SVilm<float>& model, const text::Tokenizer& tokenizer,
                            const TestSet& unseen) {
    const VideoConfig& vc = model.config().video;
    const index_t side = vc.image_size / vc.patch_size;
    std::vector<viz::Image> strips;
    for (index_t i = 0; i < std::min<index_t>(4, index_t(unseen.videos.size())); ++i) {
        const data::SyntheticVideo& v = unseen.videos[std::size_t(i)];
        VideoEncoderSaved<float> enc;
        const VideoEmbeddings<float> e = model.embed_video(cpu_ctx, unseen.clips.view().narrow(0, i, i + 1), enc);
        const Tensor<float, 2> noun =
            embed_texts(model, tokenizer, {text::format_prompt(text::default_prompt_template, v.nouns.front())});
        const index_t group = eval::most_similar_group<float>(noun.view().select(0, 0), e.groups.view().select(0, 0));
        const Tensor<float, 3> heat = eval::group_heat_map<float>(enc.grouping.back().block.soft.view().select(0, 0), group,
                                                                  eval::TokenGrid{vc.temporal_positions(), side, side},
                                                                  v.frames.extent(0), v.frames.extent(1), v.frames.extent(2));
        strips.push_back(viz::overlay_strip<float>(v.frames, heat));
        std::printf("  grounding figure row %lld: \"%s\" -> group %lld (caption: %s)\n", (long long)i, v.nouns.front().c_str(),
                    (long long)group, v.caption.c_str());
    }
    viz::write_png(path, viz::stack_images(strips, 6));
}

// Figure 5: p_t of a few cut-and-paste composites, the pasted segment as the reference line.
void write_foreground_figure(const fs::path& path, const SVilm<float>& model, const TestSet& seen, std::uint64_t seed) {
    const VideoConfig& vc = model.config().video;
    Generator rng(seed);
    const index_t B = std::min<index_t>(4, seen.clips.extent(0));
    const video::CutAndPaste<float> composite =
        video::cut_and_paste<float>(seen.clips.view().narrow(0, 0, B), vc.tubelet, rng);
    VideoEncoderSaved<float> enc;
    const VideoEmbeddings<float> e = model.embed_video(cpu_ctx, composite.video, enc);
    TemporalGroupingSaved<float> t;
    temporal_grouping_loss_forward<float>(cpu_ctx, t, e.temporal, composite.mask, float(model.config().tau_temporal));
    std::vector<viz::Image> strips;
    for (index_t i = 0; i < B; ++i) {
        // the composite's frames: clip i inside its segment, its background clip elsewhere
        const index_t F = seen.videos[0].frames.extent(0), j = composite.plan.background[std::size_t(i)];
        Tensor<std::uint8_t, 4> frames(seen.videos[0].frames.shape(), uninitialized);
        for (index_t f = 0; f < F; ++f) {
            const bool inside = composite.mask(i, f / vc.tubelet) != 0;
            const auto& src = seen.videos[std::size_t(inside ? i : j)].frames;
            copy<std::uint8_t, 3>(cpu_ctx, frames.view().select(0, f), src.view().select(0, f));
        }
        std::vector<float> p, m;
        for (index_t s = 0; s < vc.temporal_positions(); ++s) {
            p.push_back(t.p(i, s));
            m.push_back(composite.mask(i, s));
        }
        strips.push_back(viz::value_strip<float>(frames, p, m));
    }
    viz::write_png(path, viz::stack_images(strips, 6));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"svilm_demo: S-ViLM's loss ablation in miniature on synthetic structured videos"};
    std::string out = "runs/demo", data_dir, vocab;
    std::int64_t steps = 1500;
    index_t batch = 16, test_count = 100;
    std::uint64_t seed = 0;
    int threads = 0;
    app.add_option("--out", out, "run folder (logs, checkpoints, results.json, figures)");
    app.add_option("--steps", steps, "optimiser steps of each training run")->check(CLI::PositiveNumber);
    app.add_option("--batch", batch, "clips per step")->check(CLI::Range(2, 1024));
    app.add_option("--test", test_count, "clips per test set")->check(CLI::Range(10, 100000));
    app.add_option("--seed", seed, "seed of the initial weights, cut-and-paste and Gumbel noise");
    app.add_option("--threads", threads, "threads (0: all cores)");
    app.add_option("--data-dir", data_dir, "svilm's data directory (docs/install.md)")
        ->default_str("$SVILM_DATA_DIR, <program>/../share/svilm, the build's");
    app.add_option("--vocab", vocab, "bert-base-uncased vocab.txt")->default_str("the data directory's");
    CLI11_PARSE(app, argc, argv);

    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // our lines and the trainer's progress (stderr) interleave in order
    try {
        set_num_threads(threads);
        std::printf("svilm %s | threads %d | GEMM: %s\n", version_string, num_threads(), gemm_backend_description().c_str());
        const fs::path run(out);
        fs::create_directories(run);
        const text::Tokenizer tokenizer(
            text::Vocabulary::load(vocab.empty() ? vocabulary_path(data_directory(data_dir)).string() : vocab));
        const SVilmConfig config = preset("tiny");

        data::SyntheticConfig data_config;
        data_config.height = data_config.width = config.video.image_size;
        data_config.frames = config.video.frames;
        data_config.seed = 2024;
        data_config.count = index_t(1) << 40;  // endless: item i is rendered when drawn
        std::printf("\n1. Data: synthetic clips %lldx%lld, %lld frames (docs/model.md §12); held-out colour-shape pairs never "
                    "trained on\n",
                    (long long)data_config.width, (long long)data_config.height, (long long)data_config.frames);
        data::SyntheticConfig test_config = data_config;
        test_config.split = data::SyntheticSplit::test_unseen;
        const TestSet unseen(test_config, test_count);
        test_config.split = data::SyntheticSplit::test;
        const TestSet seen(test_config, test_count);
        test_config.scene_change_probability = 1.0;
        test_config.seed = 2025;
        const TestSet changes(test_config, test_count / 2);
        std::printf("   test: %lld held-out-pair clips (e.g. \"%s\"), %lld seen-pair clips, %lld with a scene change\n",
                    (long long)test_count, unseen.captions.front().c_str(), (long long)test_count, (long long)(test_count / 2));

        const SVilm<float> untrained(cpu_ctx, config, seed);
        std::vector<std::pair<std::string, LossSwitches>> runs = {{"contrastive only", {true, false, false}},
                                                                  {"S-ViLM (all three)", {true, true, true}}};
        std::vector<SVilm<float>> trained;
        std::vector<std::vector<train::StepResult>> histories;
        for (std::size_t r = 0; r < runs.size(); ++r) {
            std::printf("\n2.%zu Pre-training `tiny` (%lld parameters): %s, %lld steps of %lld clips\n", r + 1,
                        (long long)untrained.parameters().parameter_count(), runs[r].first.c_str(), (long long)steps,
                        (long long)batch);
            trained.emplace_back(cpu_ctx, config, seed);
            SyntheticSource source(data_config);
            train::TrainerOptions options;
            options.steps = steps;
            options.batch_size = batch;
            options.adamw.lr = 5e-4;
            options.adamw.weight_decay = 0.05;
            options.warmup_fraction = 0.05;
            options.losses = runs[r].second;
            options.seed = seed;
            options.run_dir = run / (r == 0 ? "contrastive" : "svilm");
            train::Trainer trainer(trained.back(), tokenizer, source, options);
            histories.push_back(trainer.run());
            // a model file every svilm program accepts (svilm evaluate, finetune, probe, ...)
            save_model(trained.back(), options.run_dir / "model.safetensors");
        }
        fs::create_directories(run / "untrained");
        save_model(untrained, run / "untrained" / "model.safetensors");
        std::printf("\nModel files: %s, %s, %s\n", (run / "untrained" / "model.safetensors").c_str(),
                    (run / "contrastive" / "model.safetensors").c_str(), (run / "svilm" / "model.safetensors").c_str());

        std::printf("\n3. Evaluation\n");
        std::vector<std::pair<std::string, Scores>> rows;
        rows.emplace_back("untrained", evaluate(untrained, tokenizer, unseen, seen, changes, seed + 7));
        for (std::size_t r = 0; r < runs.size(); ++r)
            rows.emplace_back(runs[r].first, evaluate(trained[r], tokenizer, unseen, seen, changes, seed + 7));
        print_table(rows, test_count);
        const double chance = rows.front().second.unseen.chance.r1;
        const double full = rows.back().second.unseen.text_to_video.r1;
        std::printf("\nS-ViLM text->video R@1 on held-out pairs: %.1f%% = %.1fx chance (%.1f%%)\n", full, full / chance, chance);

        nlohmann::json results = {{"steps", steps}, {"batch", batch}, {"test", test_count}, {"seed", seed}, {"models", nlohmann::json::object()}};
        for (const auto& [name, s] : rows) results["models"][name] = scores_json(s);
        std::ofstream(run / "results.json") << results.dump(2) << '\n';

        std::printf("\n4. Figures in %s\n", run.string().c_str());
        // a moving average over 25 steps: one batch of 16 is a noisy estimate of the loss
        auto smoothed = [](const std::vector<train::StepResult>& h, double SVilmLosses<double>::*term) {
            std::vector<double> out;
            double sum = 0;
            for (std::size_t i = 0; i < h.size(); ++i) {
                sum += h[i].losses.*term;
                if (i >= 25) sum -= h[i - 25].losses.*term;
                out.push_back(sum / double(std::min<std::size_t>(i + 1, 25)));
            }
            return out;
        };
        const std::vector<std::vector<double>> curves = {
            smoothed(histories[0], &SVilmLosses<double>::total), smoothed(histories[1], &SVilmLosses<double>::total),
            smoothed(histories[1], &SVilmLosses<double>::contrastive), smoothed(histories[1], &SVilmLosses<double>::temporal),
            smoothed(histories[1], &SVilmLosses<double>::grounding)};
        viz::write_png(run / "loss_curves.png", viz::line_plot(curves));
        std::printf("  loss_curves.png (25-step average): total loss of the contrastive-only run (blue), of the S-ViLM "
                    "run (orange), and the S-ViLM run's contrastive (green), temporal (red), grounding (purple) terms\n");
        write_similarity_figure(run / "similarity_scene_change.png", {&untrained, &trained[0], &trained[1]}, changes);
        std::printf("  similarity_scene_change.png: z_t similarity of a clip with a scene change: untrained, "
                    "contrastive only, S-ViLM, then the frames\n");
        write_grounding_figure(run / "grounding_maps.png", trained[1], tokenizer, unseen);
        std::printf("  grounding_maps.png: S-ViLM's group map for the first noun of held-out-pair clips\n");
        write_foreground_figure(run / "foreground_probability.png", trained[1], seen, seed + 7);
        std::printf("  foreground_probability.png: S-ViLM's p_t on cut-and-paste composites (line: the pasted segment)\n");
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "svilm_demo: %s\n", e.what());
        return 2;
    }
}
