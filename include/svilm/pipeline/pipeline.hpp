// svilm/pipeline/pipeline.hpp: the model applied to video files and text, in one object. A
// Pipeline owns a model read from a model file, the tokenizer, the noun extractor and the
// decoding and preprocessing settings that match the model; its calls take paths and strings and
// return the result structs of results.hpp.
//
//   svilm::Pipeline<> p({.model = "model.safetensors"});
//   svilm::EmbeddedVideos v = p.embed_videos({"a.mp4", "b.mp4"});     // (N, D), bad videos skipped
//   svilm::Tensor<float, 2> t = p.embed_text({"a dog runs on a beach"});
//   svilm::Tensor<float, 2> s = p.similarity(v.embeddings, t);       // (N, 1) cosines
//   svilm::Grounding g = p.ground("a.mp4", "a dog runs on a beach"); // each noun's map per frame
//
// Videos are decoded on worker threads ahead of the model (data::VideoLoader), `batch` clips per
// model call. Every frame choice is the model's inference input (docs/model.md §2): T frames
// spread uniformly over the video (or over a window), the centre square, no augmentation.
//
// Device: Pipeline<cpu> runs on the CPU; Pipeline<cuda> (svilm/cuda.hpp, built with CUDA) keeps
// the model on the GPU of its context and moves clips there; results are host tensors either way.
// Contract: the context given to the constructor outlives the pipeline. A pipeline's calls are
// not safe to make from several threads at once (the model's workspace is shared).
// Needs svilm::text and svilm::video.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/core/data_dir.hpp"
#include "svilm/core/error.hpp"
#include "svilm/data/manifest.hpp"
#include "svilm/data/video_loader.hpp"
#include "svilm/eval/grounding.hpp"
#include "svilm/io/model_file.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/pipeline/clip.hpp"
#include "svilm/pipeline/results.hpp"
#include "svilm/text/nouns.hpp"
#include "svilm/text/prompts.hpp"
#include "svilm/text/tokenizer.hpp"
#include "svilm/video/clip.hpp"
#include "svilm/video/reader.hpp"

namespace svilm {

struct PipelineOptions {
    std::filesystem::path model;           // a model file (svilm init, svilm pretrain, save_model)
    std::filesystem::path data_dir;        // holds vocab/; empty: svilm::data_directory()'s search
    std::filesystem::path wordnet_dir = text::default_wordnet_dir;  // for ground()'s noun phrases
    index_t batch = 8;                     // clips per model call
    int workers = 2;                       // decoding threads
    int display_size = 224;                // ground(): side of the display frames and maps, pixels
    std::string prompt_template = std::string(text::default_prompt_template);  // ground(): "{}" = the phrase
    std::size_t max_nouns = 0;             // ground(): phrases per caption, 0 = all
    Precision precision = Precision::fp32;  // the Linear layers' (svilm/ops/precision.hpp): bf16 and int8 on the CPU only
};

// Called after each batch: videos (or windows) done of total.
using PipelineProgress = std::function<void(index_t done, index_t total)>;

template <class Device = cpu>
class Pipeline {
public:
    // Reads the model file and the vocabulary. Errors: IoError / FormatError naming the file,
    // ValueError for options out of range.
    explicit Pipeline(PipelineOptions options, const Context<Device>& ctx = default_context())
        : options_(std::move(options)), ctx_(&ctx), model_(load_model<float, Device>(ctx, options_.model)),
          tokenizer_(text::Vocabulary::load(vocabulary_path(data_directory(options_.data_dir)))) {
        if (options_.batch < 1 || options_.workers < 1)
            throw ValueError("Pipeline: batch and workers must be at least 1 (got " + std::to_string(options_.batch) + ", " +
                             std::to_string(options_.workers) + ")");
        if (options_.display_size < 8 || options_.display_size > 4096)
            throw ValueError("Pipeline: display_size must be from 8 to 4096 (got " + std::to_string(options_.display_size) + ")");
        if (options_.prompt_template.find("{}") == std::string::npos)
            throw ValueError("Pipeline: prompt_template '" + options_.prompt_template + "' has no {} for the phrase");
        model_.parameters().set_inference_precision(options_.precision);
    }

    const SVilmConfig& config() const { return model_.config(); }
    const SVilm<float, Device>& model() const { return model_; }
    const text::Tokenizer& tokenizer() const { return tokenizer_; }
    const PipelineOptions& options() const { return options_; }
    index_t embedding_dim() const { return config().embed_dim; }

    // The model's inference input (pipeline/clip.hpp): T frames uniformly over the whole video,
    // the centre square resized to the model's image size, normalised.
    video::ClipOptions clip_options() const { return inference_clip(config().video); }

    // Global embeddings (N, D) of preprocessed clips (N, T, 3, S, S) on the host.
    Tensor<float, 2> embed_video(TensorView<const float, 5> clips) const {
        const VideoConfig& v = config().video;
        expect_shape("Pipeline::embed_video", "clips", clips, {clips.extent(0), v.frames, 3, v.image_size, v.image_size});
        if constexpr (std::is_same_v<Device, cpu>) return model_.encode_video(*ctx_, clips);
        else return host(model_.encode_video(*ctx_, to_device<float, 5>(*ctx_, clips).view()));
    }

    // The embedding (1, D) of one video file; VideoError naming it when it cannot be read.
    Tensor<float, 2> embed_video(const std::filesystem::path& path) const {
        EmbeddedVideos e = embed_videos({path});
        if (!e.skipped.empty()) throw VideoError(e.skipped.front().reason);
        return std::move(e.embeddings);
    }

    // Embeddings of many videos; a video that cannot be read is skipped with its reason.
    EmbeddedVideos embed_videos(const std::vector<std::filesystem::path>& paths, const PipelineProgress& progress = {}) const {
        std::vector<data::ManifestEntry> entries;
        for (std::size_t i = 0; i < paths.size(); ++i) entries.push_back(entry(paths[i], i + 1, std::nullopt, std::nullopt));
        EmbeddedVideos out;
        Loaded loaded = run_loader(std::move(entries), "the videos", progress);
        out.embeddings = std::move(loaded.embeddings);
        for (const index_t item : loaded.items) {
            out.videos.push_back(paths[std::size_t(item)]);
            out.inputs.push_back(std::size_t(item));
        }
        for (const data::SkippedItem& s : loaded.skipped) out.skipped.push_back({s.path, s.reason});
        return out;
    }

    // Text embeddings (N, D), rows L2-normalised; each string is cut to the model's max_length tokens.
    Tensor<float, 2> embed_text(const std::vector<std::string>& texts) const {
        if (texts.empty()) throw ValueError("Pipeline::embed_text: no texts");
        Tensor<float, 2> out({index_t(texts.size()), embedding_dim()}, uninitialized);
        for (std::size_t first = 0; first < texts.size(); first += std::size_t(text_batch)) {
            const std::size_t count = std::min(texts.size() - first, std::size_t(text_batch));
            const std::vector<std::string> part(texts.begin() + std::ptrdiff_t(first),
                                                texts.begin() + std::ptrdiff_t(first + count));
            const text::BatchEncoding encoded = tokenizer_.encode_batch(part, std::size_t(config().text.max_length));
            const Tensor<float, 2> e = host(model_.encode_text(*ctx_, encoded.ids, encoded.attention_mask));
            std::copy(e.data(), e.data() + e.size(), out.data() + index_t(first) * embedding_dim());
        }
        return out;
    }

    // Windows of `window` seconds every `stride` seconds over the whole video (a last window
    // ends at the video's end, so its tail is covered); a video shorter than one window is one
    // window. Each window's T frames are spread uniformly inside it. VideoError when the video
    // cannot be read or a window cannot be decoded.
    WindowEmbeddings embed_windows(const std::filesystem::path& path, double window, double stride,
                                   const PipelineProgress& progress = {}) const {
        if (!(window > 0) || !(stride > 0) || !std::isfinite(window) || !std::isfinite(stride))
            throw ValueError("Pipeline::embed_windows: window and stride must be positive seconds (got " +
                             std::to_string(window) + ", " + std::to_string(stride) + ")");
        const video::VideoReader reader(path);
        WindowEmbeddings out;
        out.window = window;
        out.stride = stride;
        out.fps = reader.info().fps;
        out.duration = reader.frames().duration;
        out.frames_per_window = config().video.frames;
        const double duration = out.duration;
        if (!(duration > 0)) throw VideoError(path.string() + ": the video has no duration, so it has no windows");
        // starts 0, stride, 2 stride, ... while a whole window fits, then one window ending at the end
        std::vector<double> starts;
        for (double s = 0; s + window <= duration + 1e-9; s = double(starts.size()) * stride) starts.push_back(s);
        if (starts.empty()) starts.push_back(0);
        else if (starts.back() + window < duration - 1e-9) starts.push_back(duration - window);
        std::vector<data::ManifestEntry> entries;
        for (const double s : starts) {
            const double e = std::min(s + window, duration);
            entries.push_back(entry(path, entries.size() + 1, s, e));
            out.start.push_back(s);
            out.end.push_back(e);
        }
        Loaded loaded = run_loader(std::move(entries), path.string(), progress);
        if (!loaded.skipped.empty())
            throw VideoError(loaded.skipped.front().reason + " (window " + std::to_string(loaded.skipped.front().item + 1) +
                             " of " + std::to_string(starts.size()) + ")");
        out.embeddings = std::move(loaded.embeddings);
        return out;
    }

    // Cosine similarities (V, N) of video embeddings (V, D) and text embeddings (N, D), both
    // L2-normalised as the pipeline returns them.
    static Tensor<float, 2> similarity(TensorView<const float, 2> videos, TensorView<const float, 2> texts) {
        if (videos.extent(1) != texts.extent(1))
            throw ShapeError("Pipeline::similarity: videos " + to_string<2>(videos.shape()) + " and texts " +
                             to_string<2>(texts.shape()) + " differ in embedding size");
        Tensor<float, 2> s({videos.extent(0), texts.extent(0)}, uninitialized);
        for (index_t v = 0; v < videos.extent(0); ++v)
            for (index_t t = 0; t < texts.extent(0); ++t) {
                double dot = 0;
                for (index_t d = 0; d < videos.extent(1); ++d) dot += double(videos(v, d)) * double(texts(t, d));
                s(v, t) = float(dot);
            }
        return s;
    }

    // The caption's noun phrases, each with the group token that matches it best and that
    // group's map over the display frames (docs/model.md §10, Figure 4). VideoError when the
    // video cannot be read; a caption without groundable nouns gives an empty `nouns`.
    Grounding ground(const std::filesystem::path& path, const std::string& caption) const {
        const VideoConfig& vc = config().video;
        Grounding g;
        g.video = path;
        g.caption = caption;
        video::VideoReader reader(path);
        const video::Clip clip = video::load_clip(reader, clip_options());
        // the same frames at display size, in [0, 1] (no normalisation), for the figure
        video::ClipOptions display = clip_options();
        display.size = options_.display_size;
        display.normalization = {{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};
        const video::Clip shown = video::load_clip(reader, display);
        g.frame_indices = clip.frames;
        for (const index_t f : clip.frames) g.times.push_back(reader.frames().seconds(f));
        g.frames = to_rgb8(shown.pixels);
        const std::vector<std::string> phrases = nouns().extract(caption, options_.max_nouns == 0 ? std::size_t(-1) : options_.max_nouns);
        if (phrases.empty()) return g;

        const index_t T = vc.frames, S = vc.image_size, side = S / vc.patch_size;
        Tensor<float, 5> batch({1, T, 3, S, S}, uninitialized);
        std::copy(clip.pixels.data(), clip.pixels.data() + clip.pixels.size(), batch.data());
        VideoEncoderSaved<float, Device> encoder;
        VideoEmbeddings<float, Device> e;
        if constexpr (std::is_same_v<Device, cpu>) e = model_.embed_video(*ctx_, batch.view(), encoder);
        else e = model_.embed_video(*ctx_, to_device<float, 5>(*ctx_, batch.view()).view(), encoder);
        const Tensor<float, 3> groups = host(e.groups);                         // (1, M, D)
        const Tensor<float, 3> soft = host(encoder.grouping.back().block.soft);  // (1, M, L)
        std::vector<std::string> prompts;
        for (const std::string& p : phrases) prompts.push_back(text::format_prompt(options_.prompt_template, p));
        const Tensor<float, 2> noun = embed_text(prompts);  // (P, D)
        const eval::TokenGrid grid{vc.temporal_positions(), side, side};
        const index_t M = groups.extent(1), D = groups.extent(2), H = options_.display_size;
        for (std::size_t k = 0; k < phrases.size(); ++k) {
            GroundedNoun n;
            n.phrase = phrases[k];
            n.prompt = prompts[k];
            for (index_t m = 0; m < M; ++m) {
                double dot = 0;
                for (index_t d = 0; d < D; ++d) dot += double(noun(index_t(k), d)) * double(groups(0, m, d));
                n.similarities.push_back(float(dot));
            }
            n.group = eval::most_similar_group<float>(noun.view().select(0, index_t(k)), groups.view().select(0, 0));
            n.map = eval::group_heat_map<float>(soft.view().select(0, 0), n.group, grid, T, H, H);
            g.nouns.push_back(std::move(n));
        }
        return g;
    }

private:
    static constexpr index_t text_batch = 64;

    static const Context<Device>& default_context() {
        static const Context<Device> ctx;
        return ctx;
    }

    struct Loaded {
        Tensor<float, 2> embeddings;  // (N, D) of the items read
        std::vector<index_t> items;   // (N) their positions in the list
        std::vector<data::SkippedItem> skipped;
    };

    static data::ManifestEntry entry(const std::filesystem::path& path, std::size_t line, std::optional<double> start,
                                     std::optional<double> end) {
        data::ManifestEntry e;
        e.video = path.string();
        e.path = path;
        e.start = start;
        e.end = end;
        e.line = line;
        return e;
    }

    // Every entry through the loader, batch by batch through the video encoder.
    Loaded run_loader(std::vector<data::ManifestEntry> entries, const std::string& source, const PipelineProgress& progress) const {
        const index_t total = index_t(entries.size()), D = embedding_dim();
        Loaded out;
        if (total == 0) {
            out.embeddings = Tensor<float, 2>({0, D});
            return out;
        }
        data::VideoLoaderOptions o;
        o.batch_size = options_.batch;
        o.clip = clip_options();
        o.workers = options_.workers;
        data::VideoLoader loader(data::Manifest(std::move(entries), source), o);
        loader.start_epoch(0);
        std::vector<float> rows;
        index_t reported = 0;
        while (std::optional<data::VideoBatch> batch = loader.next()) {
            const Tensor<float, 2> e = embed_video(batch->video.view());
            rows.insert(rows.end(), e.data(), e.data() + e.size());
            out.items.insert(out.items.end(), batch->items.begin(), batch->items.end());
            reported = index_t(out.items.size()) + loader.stats().skipped_count;
            if (progress) progress(reported, total);
        }
        out.skipped = loader.stats().skipped;
        // bad videos after the last batch are counted only now
        if (progress && reported < total) progress(total, total);
        out.embeddings = Tensor<float, 2>({index_t(out.items.size()), D}, uninitialized);
        std::copy(rows.begin(), rows.end(), out.embeddings.data());
        return out;
    }

    // A result on the host (no copy on the CPU).
    template <int Rank>
    Tensor<float, Rank> host(Tensor<float, Rank, Device>&& t) const {
        if constexpr (std::is_same_v<Device, cpu>) return std::move(t);
        else return to_host<float, Rank>(*ctx_, t.view());
    }
    template <int Rank>
    Tensor<float, Rank> host(const Tensor<float, Rank, Device>& t) const {
        return to_host<float, Rank>(*ctx_, t.view());
    }

    // (T, 3, H, W) in [0, 1] -> (T, H, W, 3) bytes.
    static Tensor<std::uint8_t, 4> to_rgb8(const Tensor<float, 4>& pixels) {
        const index_t T = pixels.extent(0), H = pixels.extent(2), W = pixels.extent(3);
        Tensor<std::uint8_t, 4> out({T, H, W, 3}, uninitialized);
        for (index_t t = 0; t < T; ++t)
            for (index_t c = 0; c < 3; ++c)
                for (index_t y = 0; y < H; ++y)
                    for (index_t x = 0; x < W; ++x)
                        out(t, y, x, c) = std::uint8_t(std::lround(std::clamp(pixels(t, c, y, x), 0.f, 1.f) * 255.f));
        return out;
    }

    // WordNet is read on the first ground(): embedding needs none of it.
    const text::NounExtractor& nouns() const {
        if (!nouns_) nouns_ = text::NounExtractor::load(options_.wordnet_dir);
        return *nouns_;
    }

    PipelineOptions options_;
    const Context<Device>* ctx_;
    SVilm<float, Device> model_;
    text::Tokenizer tokenizer_;
    mutable std::optional<text::NounExtractor> nouns_;
};

}  // namespace svilm
