// svilm evaluate: a model scored on a manifest of the user's own videos (docs/programs/evaluate.md),
// for up to three tasks:
//   retrieval  text-to-video and video-to-text recall of the manifest's (video, caption) pairs
//   grounding  for each annotated object (docs/annotations.md), the group token nearest to its
//              noun's prompt and that group's map against the object's boxes or masks: pointing
//              accuracy and IoU (eval/grounding.hpp), with a random group and a uniform map
//   temporal   for each annotated video with scene changes, the per-step embeddings' cosine
//              similarities: block structure against the true scenes (eval/temporal.hpp) and
//              whether the largest drop between adjacent steps is the change, with the chance of
//              a boundary picked at random
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "svilm/data/annotations.hpp"
#if defined(SVILM_CLI_VIZ)
#include "svilm/data/annotation_masks.hpp"
#endif
#include "svilm/eval/grounding.hpp"
#include "svilm/eval/temporal.hpp"
#include "svilm/train/progress.hpp"

namespace svilm_cli {
namespace {

using namespace svilm;

struct EvaluateOptions {
    std::string model, manifest, device = "cpu", tasks = "retrieval", annotations, metrics, out;
    data::ManifestColumns columns;
    double dual_softmax = 0;
    index_t frame_tolerance = 2;
    bool overwrite = false;
};

struct Tasks {
    bool retrieval = false, grounding = false, temporal = false;
};

Tasks parse_tasks(const std::string& list) {
    Tasks t;
    std::stringstream names(list);
    for (std::string name; std::getline(names, name, ',');) {
        if (name == "retrieval") t.retrieval = true;
        else if (name == "grounding") t.grounding = true;
        else if (name == "temporal") t.temporal = true;
        else throw InputError("--tasks: '" + name + "' is not retrieval, grounding or temporal");
    }
    if (!t.retrieval && !t.grounding && !t.temporal)
        throw InputError("--tasks: name at least one of retrieval, grounding, temporal");
    return t;
}

nlohmann::json ranks_json(const eval::RankSummary& r) {
    return {{"r1", r.r1}, {"r5", r.r5}, {"r10", r.r10}, {"median_rank", r.median_rank}, {"mean_rank", r.mean_rank}};
}

nlohmann::json retrieval_json(const eval::RetrievalMetrics& m) {
    return {{"pairs", m.count},
            {"protocol", m.protocol},
            {"text_to_video", ranks_json(m.text_to_video)},
            {"video_to_text", ranks_json(m.video_to_text)},
            {"chance", ranks_json(m.chance)}};
}

// Retrieval over every video of the manifest, batched through the loader (on --device).
nlohmann::json evaluate_retrieval(const EvaluateOptions& o, const data::Manifest& manifest, const ModelFile& model,
                                  const text::Tokenizer& tokenizer, std::vector<Skip>& skipped) {
    const SVilmConfig& config = model.config;
    data::VideoLoaderOptions loading;
    loading.batch_size = 32;
    loading.clip.sampling.count = config.video.frames;
    loading.clip.size = int(config.video.image_size);
    loading.clip.train = false;
    loading.shuffle = false;
    data::VideoLoader loader(manifest, loading);
    const EvaluateJob job{
        .model_file = model.file,
        .config = config,
        .tokenizer = tokenizer,
        .next = [&]() -> std::optional<train::ClipBatch> {
            std::optional<data::VideoBatch> batch = loader.next();
            if (!batch) return std::nullopt;
            train::ClipBatch clips;
            clips.clips = std::move(batch->video);
            clips.captions = std::move(batch->captions);
            return clips;
        },
        .run = [&](const std::function<void()>& encode) {
            run_work([&] {
                loader.start_epoch(0);
                encode();
            });
        },
        .precision = parse_precision(precision_option)};
#if defined(SVILM_CLI_CUDA)
    const Embeddings embeddings = o.device == "cuda" ? evaluate_cuda(job) : evaluate_on(cpu_ctx, job);
#else
    const Embeddings embeddings = evaluate_on(cpu_ctx, job);
#endif
    nlohmann::json out;
    run_work([&] {
        const data::LoaderStats stats = loader.stats();
        for (const data::SkippedItem& s : stats.skipped)
            skipped.push_back({"retrieval: " + o.manifest + " line " + std::to_string(s.line), s.path, s.reason});
        const index_t n = embeddings.count;
        if (n == 0) {
            if (!o.out.empty()) fs::create_directories(o.out);
            report_skipped(o.out, skipped, manifest.size());
            throw ValueError(o.manifest + ": no video could be used for retrieval: all " + std::to_string(stats.items) +
                             " were skipped (the reasons are above)");
        }
        const index_t D = config.embed_dim;
        const TensorView<const float, 2> texts(embeddings.texts.data(), {n, D}), videos(embeddings.videos.data(), {n, D});
        const eval::RetrievalMetrics m = eval::retrieval_metrics<float>(texts, videos);
        std::printf("%s\n", eval::format_retrieval(m).c_str());
        out = retrieval_json(m);
        if (o.dual_softmax > 0) {
            const eval::RetrievalMetrics d = eval::retrieval_metrics<float>(texts, videos, {1024, o.dual_softmax});
            std::printf("%s\n", eval::format_retrieval(d).c_str());
            out["dual_softmax"] = retrieval_json(d);
        }
        out["videos"] = n;
    });
    return out;
}

// Where the model looks in a frame of width x height: the centred square of side min(W, H)
// (video::center_crop), scored at `size` x `size` pixels.
struct CropView {
    index_t x0 = 0, y0 = 0, side = 0, size = 0;
    // The original frame's pixel under the centre of scored pixel (i, j).
    double x(index_t j) const { return double(x0) + (double(j) + 0.5) * double(side) / double(size); }
    double y(index_t i) const { return double(y0) + (double(i) + 0.5) * double(side) / double(size); }
};

// Scores are computed at most this many pixels across: a map is a bilinear upsampling of a grid
// a few tokens wide (e.g. 4 x 4), so scoring it finer than this adds pixels, not detail.
constexpr index_t max_scoring_size = 256;

// The ground truth (T, size, size) of `object` on the sampled frames: each sampled frame takes
// the nearest annotated frame within the tolerance (a mask there, else the box); none leaves it
// empty, and an empty frame is not scored.
Tensor<std::uint8_t, 3> object_mask(const data::AnnotatedObject& object, const std::vector<index_t>& frames,
                                    index_t tolerance, const CropView& crop, index_t width, index_t height,
                                    const std::string& source) {
    const index_t T = index_t(frames.size()), S = crop.size;
    Tensor<std::uint8_t, 3> mask({T, S, S});
    for (index_t t = 0; t < T; ++t) {
        const std::optional<index_t> at = object.nearest_frame(frames[std::size_t(t)], tolerance);
        if (!at) continue;
        if (const data::FrameMask* m = object.mask_at(*at)) {
#if defined(SVILM_CLI_VIZ)
            const std::string where = source + ": " + object.where + " mask of frame " + std::to_string(*at);
            const Tensor<std::uint8_t, 2> png = data::read_mask_png(m->path, where);
            if (png.extent(0) != height || png.extent(1) != width)
                throw FormatError(m->path.string() + " (" + where + "): " + std::to_string(png.extent(1)) + "x" +
                                  std::to_string(png.extent(0)) + ", the video's frames are " + std::to_string(width) +
                                  "x" + std::to_string(height));
            for (index_t i = 0; i < S; ++i)
                for (index_t j = 0; j < S; ++j)
                    mask(t, i, j) = png(std::min(height - 1, index_t(crop.y(i))), std::min(width - 1, index_t(crop.x(j))));
            continue;
#else
            throw InputError(m->path.string() + " (" + source + ": " + object.where +
                             "): this svilm was built without PNG support (Debian: libstb-dev); give boxes instead");
#endif
        }
        const data::PixelBox& box = object.box_at(*at)->box;
        for (index_t i = 0; i < S; ++i)
            for (index_t j = 0; j < S; ++j) {
                const double x = crop.x(j), y = crop.y(i);
                mask(t, i, j) = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1;
            }
    }
    return mask;
}

// Counts and sums of the temporal task over videos.
struct TemporalTally {
    index_t videos = 0;
    double block = 0, change_exact = 0, change_near = 0, random_exact = 0, random_near = 0;
};

using AnnotatedVideos = std::vector<std::pair<const data::ManifestEntry*, const data::VideoAnnotation*>>;

// The manifest's videos that are annotated, each once, in the manifest's order; none is an
// input error (paths that do not meet, most likely).
AnnotatedVideos annotated_videos(const EvaluateOptions& o, const data::Manifest& manifest, const data::Annotations& annotations) {
    AnnotatedVideos work;
    std::set<const data::VideoAnnotation*> seen;
    for (const data::ManifestEntry& e : manifest.entries())
        if (const data::VideoAnnotation* a = annotations.find(e.path); a && seen.insert(a).second) work.push_back({&e, a});
    if (work.empty())
        throw InputError("--annotations: " + o.annotations + " annotates none of the videos of " + o.manifest +
                         " (video paths are resolved against each file's folder)");
    const std::size_t unlisted = annotations.videos().size() - seen.size();
    say("annotations: %s: %zu videos, %lld objects; %zu of them in the manifest%s", annotations.source().c_str(),
        annotations.videos().size(), (long long)annotations.object_count(), work.size(),
        unlisted ? (" (" + std::to_string(unlisted) + " not in the manifest are left out)").c_str() : "");
    return work;
}

// The annotated videos' grounding and temporal scores, one video at a time on the CPU.
void evaluate_annotated(const EvaluateOptions& o, const Tasks& tasks, const AnnotatedVideos& work,
                        const data::Annotations& annotations, const ModelFile& file, const text::Tokenizer& tokenizer,
                        nlohmann::json& metrics, std::vector<Skip>& skipped) {
    const SVilm<float, cpu> model = make_inference_model(file.config, file.file);
    const VideoConfig& vc = model.config().video;
    const eval::TokenGrid grid{vc.temporal_positions(), vc.image_size / vc.patch_size, vc.image_size / vc.patch_size};
    const index_t Nt = vc.temporal_positions(), per_step = vc.frames / Nt;
    const auto encode_prompts = prompt_encoder(model, tokenizer);

    eval::GroundingTally grounding;
    index_t nouns_annotated = 0, nouns_unscored = 0, grounding_videos = 0;
    TemporalTally temporal;
    index_t temporal_annotated = 0, temporal_unscored = 0;
    nlohmann::json per_video = nlohmann::json::array();
    train::ProgressLine progress(stderr);
    std::size_t done = 0;
    for (const auto& [entry, annotation] : work) {
        ++done;
        const bool wants_grounding = tasks.grounding && !annotation->objects.empty();
        const bool wants_temporal = tasks.temporal && !annotation->scene_changes.empty();
        if (!wants_grounding && !wants_temporal) continue;
        // this video's results, counted once the whole video is scored (a skipped video counts nowhere)
        std::vector<eval::NounGrounding> found;
        TemporalTally scored;
        bool temporal_unscorable = false;
        const std::string source = o.manifest + " line " + std::to_string(entry->line);
        try {
            video::VideoReader reader(entry->path);
            const video::VideoInfo& info = reader.info();
            if (info.rotation != 0)
                throw VideoError(entry->path.string() + ": the video is shown rotated by " + std::to_string(info.rotation) +
                                 " degrees; annotations are for unrotated frames");
            video::ClipOptions clip_options = inference_clip(vc);
            if (entry->start || entry->end)
                clip_options.sampling.range = {entry->start.value_or(0.0),
                                               entry->end.value_or(std::numeric_limits<double>::infinity())};
            video::Clip clip = video::load_clip(reader, clip_options);
            // (T, 3, S, S) -> a batch of one (1, T, 3, S, S)
            Tensor<float, 5> batch({1, clip.pixels.extent(0), clip.pixels.extent(1), clip.pixels.extent(2),
                                    clip.pixels.extent(3)},
                                   uninitialized);
            std::copy(clip.pixels.data(), clip.pixels.data() + clip.pixels.size(), batch.data());
            VideoEncoderSaved<float> enc;
            const VideoEmbeddings<float> e = model.embed_video(cpu_ctx, batch.view(), enc);
            nlohmann::json row = {{"video", entry->video}, {"frames", clip.frames}};
            if (wants_grounding) {
                const index_t W = info.width, H = info.height, side = std::min(W, H);
                const CropView crop{(W - side) / 2, (H - side) / 2, side, std::min(side, max_scoring_size)};
                std::vector<std::string> prompts;
                for (const data::AnnotatedObject& object : annotation->objects)
                    prompts.push_back(text::format_prompt(text::default_prompt_template, object.noun));
                const Tensor<float, 2> nouns = encode_prompts(prompts);  // (K, D)
                const auto assignment = enc.grouping.back().block.soft.view().select(0, 0);  // (M, L)
                nlohmann::json objects = nlohmann::json::array();
                for (std::size_t k = 0; k < annotation->objects.size(); ++k) {
                    const data::AnnotatedObject& object = annotation->objects[k];
                    const Tensor<std::uint8_t, 3> mask =
                        object_mask(object, clip.frames, o.frame_tolerance, crop, W, H, annotations.source());
                    const eval::NounGrounding g = eval::ground_noun<float>(
                        nouns.view().select(0, index_t(k)), e.groups.view().select(0, 0), assignment, grid, mask.view());
                    found.push_back(g);
                    objects.push_back({{"noun", object.noun},
                                       {"group", g.group},
                                       {"frames_scored", g.chosen.frames},
                                       {"pointing", g.chosen.pointing},
                                       {"iou", g.chosen.iou}});
                }
                row["objects"] = objects;
            }
            if (wants_temporal) {
                // a step's scene is that of its middle sampled frame
                std::vector<int> scene(std::size_t(Nt), 0);
                for (index_t n = 0; n < Nt; ++n) {
                    const index_t frame = clip.frames[std::size_t(n * per_step + per_step / 2)];
                    for (const index_t change : annotation->scene_changes) scene[std::size_t(n)] += frame >= change;
                }
                std::vector<index_t> changes;  // steps that start a new scene
                for (index_t n = 1; n < Nt; ++n)
                    if (scene[std::size_t(n)] != scene[std::size_t(n - 1)]) changes.push_back(n);
                index_t largest_segment = 0;
                for (index_t n = 0, run = 0; n < Nt; ++n) {
                    run = n > 0 && scene[std::size_t(n)] == scene[std::size_t(n - 1)] ? run + 1 : 1;
                    largest_segment = std::max(largest_segment, run);
                }
                if (changes.empty() || largest_segment < 2) {
                    temporal_unscorable = true;
                    row["temporal"] = changes.empty() ? "no scene change between the sampled steps"
                                                      : "no two sampled steps in one scene";
                } else {
                    const Tensor<float, 2> similarity =
                        eval::cosine_similarity_matrix<float>(e.temporal.view().select(0, 0));  // (N_t, N_t)
                    const double block = eval::block_structure_score<float>(similarity.view(), scene);
                    index_t predicted = 1;
                    for (index_t n = 2; n < Nt; ++n)
                        if (similarity(n - 1, n) < similarity(predicted - 1, predicted)) predicted = n;
                    auto near = [&](index_t step, index_t reach) {
                        for (const index_t c : changes)
                            if (std::abs(step - c) <= reach) return true;
                        return false;
                    };
                    // a boundary drawn uniformly from the N_t - 1 places between steps, exactly
                    double random_exact = 0, random_near = 0;
                    for (index_t n = 1; n < Nt; ++n) random_exact += near(n, 0), random_near += near(n, 1);
                    scored = {1, block, double(near(predicted, 0)), double(near(predicted, 1)), random_exact / double(Nt - 1),
                              random_near / double(Nt - 1)};
                    row["temporal"] = {{"scene", scene}, {"predicted_change_step", predicted}, {"block_structure", block}};
                }
            }
            per_video.push_back(row);
        } catch (const Error& e) {
            skipped.push_back({source, entry->video, e.what()});
            progress.update(std::int64_t(done), std::int64_t(work.size()), double(done), "videos", "annotated videos");
            continue;
        }
        if (wants_grounding) {
            ++grounding_videos;
            nouns_annotated += index_t(found.size());
            for (const eval::NounGrounding& g : found) {
                grounding.add(g);
                nouns_unscored += g.chosen.frames == 0;
            }
        }
        if (wants_temporal) {
            ++temporal_annotated;
            temporal_unscored += temporal_unscorable;
            temporal.videos += scored.videos;
            temporal.block += scored.block;
            temporal.change_exact += scored.change_exact;
            temporal.change_near += scored.change_near;
            temporal.random_exact += scored.random_exact;
            temporal.random_near += scored.random_near;
        }
        progress.update(std::int64_t(done), std::int64_t(work.size()), double(done), "videos", "annotated videos");
    }

    if (tasks.grounding) {
        // no scored noun: no table of zeros that would read as a result
        if (grounding.nouns() > 0) std::printf("%s", grounding.report().c_str());
        std::printf("(%lld of %lld annotated nouns scored in %lld videos; %lld had no annotated frame within %lld of a "
                    "sampled frame)\n",
                    (long long)grounding.nouns(), (long long)nouns_annotated, (long long)grounding_videos,
                    (long long)nouns_unscored, (long long)o.frame_tolerance);
        auto score = [&](const eval::GroundingScore& s) {
            return grounding.nouns() > 0 ? nlohmann::json{{"pointing", s.pointing}, {"iou", s.iou}} : nlohmann::json();
        };
        metrics["grounding"] = {{"nouns_annotated", nouns_annotated},
                                {"nouns_scored", grounding.nouns()},
                                {"videos", grounding_videos},
                                {"frame_tolerance", o.frame_tolerance},
                                {"chosen_group", score(grounding.chosen())},
                                {"random_group", score(grounding.random_group())},
                                {"uniform_map", score(grounding.uniform())}};
    }
    if (tasks.temporal) {
        const double n = double(std::max<index_t>(1, temporal.videos));
        std::printf("temporal: %lld videos with a scene change between sampled steps (of %lld with scene changes); "
                    "%lld steps per clip\n",
                    (long long)temporal.videos, (long long)temporal_annotated, (long long)Nt);
        if (temporal.videos > 0) {
            std::printf("%-34s %9s %9s\n", "", "model", "random");
            std::printf("%-34s %9.3f %9s\n", "block structure (within - across)", temporal.block / n, "0");
            std::printf("%-34s %8.1f%% %8.1f%%\n", "change step exact", 100 * temporal.change_exact / n, 100 * temporal.random_exact / n);
            std::printf("%-34s %8.1f%% %8.1f%%\n", "change step within one step", 100 * temporal.change_near / n,
                        100 * temporal.random_near / n);
        }
        // means over the scored videos; none scored: null, not 0
        const auto mean = [&](double sum) { return temporal.videos > 0 ? nlohmann::json(sum / n) : nlohmann::json(); };
        metrics["temporal"] = {{"videos_annotated", temporal_annotated},
                               {"videos_scored", temporal.videos},
                               {"videos_without_steps_in_two_scenes", temporal_unscored},
                               {"steps", Nt},
                               {"block_structure", mean(temporal.block)},
                               {"change_exact", mean(temporal.change_exact)},
                               {"change_within_one_step", mean(temporal.change_near)},
                               {"random_change_exact", mean(temporal.random_exact)},
                               {"random_change_within_one_step", mean(temporal.random_near)}};
    }
    metrics["annotated_videos"] = per_video;
}

void evaluate(const EvaluateOptions& o) {
    check_device(o.device);
    if (o.device == "cuda" && precision_option != "fp32")
        throw InputError("--precision " + precision_option + " runs on the CPU; use --device cpu, or fp32 on the GPU");
    const Tasks tasks = parse_tasks(o.tasks);
    if ((tasks.grounding || tasks.temporal) && o.annotations.empty())
        throw InputError("--tasks: grounding and temporal need --annotations (docs/annotations.md)");
    if (!o.annotations.empty() && !tasks.grounding && !tasks.temporal)
        throw InputError("--annotations: only used by --tasks grounding or temporal");
    if (!o.metrics.empty()) check_new_file("--metrics", o.metrics, o.overwrite);
    if (!o.out.empty() && holds_files(o.out) && !o.overwrite) throw InputError(not_empty(o.out));
    const data::Manifest manifest = load_manifest(o.manifest, o.columns);
    std::optional<data::Annotations> annotations;
    AnnotatedVideos annotated;
    if (!o.annotations.empty()) {
        annotations.emplace(from_option("--annotations", [&] { return data::Annotations::load(o.annotations); }));
        annotated = annotated_videos(o, manifest, *annotations);
    }
    quiet_libav();
    const text::Tokenizer tokenizer = load_tokenizer();
    const ModelFile model = open_model(o.model);
    nlohmann::json metrics = {{"model", o.model}, {"manifest", o.manifest}, {"tasks", o.tasks}};
    std::vector<Skip> skipped;
    if (tasks.retrieval) metrics["retrieval"] = evaluate_retrieval(o, manifest, model, tokenizer, skipped);
    if (tasks.grounding || tasks.temporal)
        run_work([&] { evaluate_annotated(o, tasks, annotated, *annotations, model, tokenizer, metrics, skipped); });
    run_work([&] {
        if (!o.out.empty()) fs::create_directories(o.out);
        report_skipped(o.out, skipped, manifest.size());
        metrics["skipped"] = skipped.size();
        write_metrics(o.metrics, metrics);
    });
}

}  // namespace

Subcommand add_evaluate_command(CLI::App& app) {
    auto o = std::make_shared<EvaluateOptions>();
    auto* c = app.add_subcommand("evaluate", "score a model on a manifest: retrieval, grounding and temporal grouping");
    c->add_option("--model", o->model, "model file or training checkpoint (svilm init / pretrain)")->check(a_path)->required();
    c->add_option("--manifest", o->manifest, ".csv or .jsonl of (video, caption)")->check(a_path)->required();
    c->add_option("--tasks", o->tasks, "comma-separated subset of retrieval,grounding,temporal");
    c->add_option("--annotations", o->annotations, "objects and scene changes of the videos (docs/annotations.md)")
        ->check(a_path)
        ->default_str("none");
    add_manifest_column_options(c, o->columns);
    c->add_option("--frame-tolerance", o->frame_tolerance,
                  "grounding: a sampled frame takes the nearest annotated frame at most this many frames away")
        ->check(whole_number<index_t>(0, 1 << 20));
    c->add_option("--device", o->device, "where the model runs: cpu or cuda (GPU 0) for retrieval; grounding and temporal run on the CPU")
        ->check(one_of({"cpu", "cuda"}));
    c->add_option("--dual-softmax", o->dual_softmax, "also the dual-softmax protocol at this temperature (0.01 is usual)")
        ->check(real_number(0))
        ->default_str("0: off");
    c->add_option("--metrics", o->metrics, "write every task's numbers as JSON")->check(a_path)->default_str("none");
    c->add_option("--out", o->out, "folder for skipped.csv (each skipped video with its reason)")->check(a_path)->default_str("none");
    c->add_flag("--overwrite", o->overwrite, "replace an existing --metrics file or write into a non-empty --out");
    return {c, [o] { evaluate(*o); }};
}

}  // namespace svilm_cli
