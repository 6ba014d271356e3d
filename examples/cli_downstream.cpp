// examples/cli_downstream.cpp: the downstream tasks' frozen-feature programs of svilm
// (docs/downstream.md), and the synthetic downstream datasets `svilm synth --task` writes.
//
//   svilm classify  zero-shot action recognition: class-name prompts against video embeddings
//   svilm probe     linear probe: logistic regression on the frozen pooled encoder output
//   svilm localize  temporal action localisation: logistic regression on sliding-window features,
//                   windows grouped into segments, ActivityNet's detection mAP
//
// All three run the model on the CPU. They follow the program's conventions (svilm_cli.cpp):
// every input is checked before any work (a mistake is an InputError, exit 2), a non-empty --out
// takes --overwrite, an error during the work is a failed run (exit 1), and a video that cannot
// be used is skipped, counted, its reason printed (the first few) and listed in OUT/skipped.csv.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "svilm/data/synthetic_downstream_export.hpp"
#include "svilm/train/progress.hpp"
#if defined(SVILM_CLI_VIZ)
#include "svilm/viz.hpp"
#endif

namespace svilm_cli {

namespace {

// ---- svilm synth --task ------------------------------------------------------------------------

// The video loader indexes at most 2^24 items, as synth --count.
constexpr index_t max_split_count = index_t(1) << 24;

data::DownstreamSplitCounts default_counts(const std::string& task) {
    if (task == "retrieval") return {1000, 100, 100, 100};
    if (task == "qa") return {1500, 200, 300, 300};
    if (task == "action") return {700, 140, 280, 280};
    return {200, 50, 100, 100};  // localisation
}

// "TRAIN,VAL,TEST,TEST_UNSEEN": four whole numbers from 0 to 2^24.
data::DownstreamSplitCounts parse_counts(const std::string& text) {
    const auto fail = [&](const std::string& why) {
        return InputError("--counts: " + why + " (got '" + text + "'): give TRAIN,VAL,TEST,TEST_UNSEEN, e.g. 700,140,280,280");
    };
    std::vector<index_t> values;
    std::size_t at = 0;
    for (;;) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        index_t value = -1;
        const auto [end, error] = std::from_chars(text.data() + at, text.data() + comma, value);
        if (error != std::errc() || end != text.data() + comma || value < 0) throw fail("each count must be a whole number");
        if (value > max_split_count) throw fail("each count must be at most 2^24 = " + std::to_string(max_split_count));
        values.push_back(value);
        if (comma == text.size()) break;
        at = comma + 1;
    }
    if (values.size() != 4) throw fail("expected 4 counts, found " + std::to_string(values.size()));
    return {values[0], values[1], values[2], values[3]};
}

index_t total(const data::DownstreamSplitCounts& c) { return c.train + c.val + c.test + c.test_unseen; }

void say_path(const char* what, const fs::path& path) { say("  %-17s %s", what, path.c_str()); }

void say_lists(const char* suffix, const std::array<fs::path, 4>& files) {
    for (const data::SyntheticSplit split : data::detail::all_splits)
        say_path((std::string(data::name(split)) + suffix).c_str(), files[std::size_t(split)]);
}

}  // namespace

void synth_downstream(const std::string& task, const std::string& counts_text, std::uint64_t seed, const std::string& out,
                      bool overwrite) {
    const data::DownstreamSplitCounts counts = counts_text.empty() ? default_counts(task) : parse_counts(counts_text);
    if (holds_files(out) && !overwrite) throw InputError(not_empty(out));
    video::set_libav_log_level(AV_LOG_ERROR);  // the encoder's statistics per file are noise here
    data::DownstreamExportOptions options;
    options.overwrite = true;  // the folder was checked above, with the program's wording
    run_work([&] {
        say("writing %lld videos for --task %s: train %lld, val %lld, test %lld, test_unseen %lld", (long long)total(counts),
            task.c_str(), (long long)counts.train, (long long)counts.val, (long long)counts.test,
            (long long)counts.test_unseen);
        if (task == "retrieval") {
            data::SyntheticConfig config;  // pre-training's clips and captions
            config.seed = seed;
            const data::RetrievalExport e = data::export_synthetic_retrieval(config, counts, out, options);
            say("wrote MSR-VTT's layout in %s:", out.c_str());
            say_path("videos", e.videos);
            say_path("train", e.train);
            say_path("val", e.val);
            say_path("test", e.test);
            say_path("test_unseen", e.test_unseen);
        } else if (task == "qa") {
            data::DownstreamConfig config;
            config.seed = seed;
            const data::QaExport e = data::export_synthetic_qa(config, counts, out, options);
            say("wrote MSRVTT-QA's layout in %s:", out.c_str());
            say_path("videos", e.videos);
            say_lists("", e.questions);
        } else if (task == "action") {
            data::DownstreamConfig config;
            config.seed = seed;
            const data::ActionsExport e = data::export_synthetic_actions(config, counts, out, options);
            say("wrote UCF101's layout in %s:", out.c_str());
            say_path("videos", e.videos);
            say_path("classes", e.class_index);
            say_lists(" list", e.lists);
        } else {
            data::LocalisationConfig config;
            config.seed = seed;
            const data::LocalisationExport e = data::export_synthetic_localisation(config, counts, out, options);
            say("wrote ActivityNet v1.3's layout in %s:", out.c_str());
            say_path("videos", e.videos);
            say_path("ground truth", e.ground_truth);
            say_path("unseen", e.unseen_ground_truth);
        }
    });
}

namespace {

// ---- what the three commands share --------------------------------------------------------------

struct DownstreamOptions {
    std::string model, videos, out, metrics;
    std::string class_index, class_names, list, train_list, val_list, test_list;  // classify, probe
    std::vector<std::string> templates;                                            // classify
    std::vector<std::string> inputs;                                               // classify without --list
    std::string classes;                                                           // classify without --list
    std::string ground_truth, test_ground_truth;                                   // localize
    index_t stride = 0;                                                            // localize; 0: half a clip
    bool overwrite = false;
};

// Inputs every command checks first: the output folder and file, and the videos folder.
void check_outputs(const DownstreamOptions& o) {
    if (!o.out.empty() && holds_files(o.out) && !o.overwrite) throw InputError(not_empty(o.out));
    if (!o.metrics.empty()) check_new_file("--metrics", o.metrics, o.overwrite);
    if (!fs::is_directory(o.videos)) throw InputError("--videos: " + o.videos + " is not a folder");
}

SVilm<float, cpu> load_model(const std::string& path) {
    const ModelFile file = open_model(path);
    SVilm<float, cpu> model = make_inference_model(file.config, file.file);
    const VideoConfig& v = model.config().video;
    say("model: %s: clips of %lld frames at %lldx%lld, embeddings of %lld, encoder width %lld", path.c_str(),
        (long long)v.frames, (long long)v.image_size, (long long)v.image_size, (long long)model.config().embed_dim,
        (long long)v.width);
    return model;
}

// ---- action recognition: classes, split lists, clip features -----------------------------------

// --class-names: one class per line in label order, as the split lists' folders name them.
std::vector<std::string> load_class_names(const std::string& path) {
    return from_option("--class-names", [&] {
        const std::string text = data::read_text_file(path, "the class names");
        std::vector<std::string> names;
        std::map<std::string, std::size_t, std::less<>> lines;
        data::for_each_line(text, [&](std::string_view line, std::size_t number) {
            const std::string name(data::trim(line));
            if (name.empty()) return;
            const std::string where = path + ": line " + std::to_string(number);
            if (data::whitespace_fields(name).size() != 1)
                throw FormatError(where + ": '" + name + "' has blanks, which a split list's folder cannot name");
            const auto [it, added] = lines.emplace(name, number);
            if (!added) throw FormatError(where + ": class " + name + " is listed twice (line " + std::to_string(it->second) + ")");
            names.push_back(name);
        });
        if (names.empty()) throw FormatError(path + ": no class names");
        return names;
    });
}

std::vector<std::string> load_classes(const DownstreamOptions& o) {
    if (o.class_index.empty() == o.class_names.empty())
        throw InputError("--class-index: give the class index (UCF101's classInd.txt) or --class-names, one of the two");
    if (!o.class_names.empty()) return load_class_names(o.class_names);
    return from_option("--class-index", [&] { return data::load_ucf101_classes(o.class_index); });
}

data::ActionSplit load_split(const std::string& option, const std::string& path, const std::vector<std::string>& classes) {
    data::ActionSplit split = from_option(
        option, [&] { return data::parse_ucf101_split(data::read_text_file(path, "the split list"), path, classes); });
    if (split.clips.empty()) throw InputError(option + ": " + path + " lists no clips");
    return split;
}

enum class Feature {
    embedding,  // the global video embedding (D): mean over tokens, LayerNorm, video_proj, L2
    pooled      // the encoder's pooled output (C): LayerNorm of the mean over tokens, before any head
};

// Frozen features of a split's clips, in list order, without the skipped ones.
struct ClipFeatures {
    Tensor<float, 2> features;       // (N, D or C)
    std::vector<std::size_t> kept;   // (N) index of each row's clip in the list
    std::vector<Skip> skipped;
};

// The frozen features of a batch of clips: the global embeddings (B, D) or the pooled encoder output (B, C).
Tensor<float, 2> encode_clips(const SVilm<float, cpu>& model, const Tensor<float, 5>& clips, Feature feature) {
    if (feature == Feature::embedding) return model.encode_video(cpu_ctx, clips);
    VideoEncoderSaved<float, cpu> encoder;
    model.embed_video(cpu_ctx, clips, encoder);
    return std::move(encoder.pooled);
}

// Decodes and encodes the clips `batch` at a time, with a progress line on stderr.
ClipFeatures clip_features(const SVilm<float, cpu>& model, const std::string& root, const std::string& list,
                           const std::vector<data::ActionClip>& clips, Feature feature) {
    constexpr index_t batch = 16;
    const video::ClipOptions options = inference_clip(model.config().video);
    const index_t T = options.sampling.count, S = options.size;
    const std::size_t clip_size = std::size_t(T * 3 * S * S);
    ClipFeatures out;
    std::vector<float> rows;
    std::vector<Tensor<float, 4>> pending;
    std::vector<std::size_t> pending_index;
    index_t width = 0;
    const auto encode_pending = [&] {
        if (pending.empty()) return;
        Tensor<float, 5> batch_clips({index_t(pending.size()), T, 3, S, S}, uninitialized);
        for (std::size_t k = 0; k < pending.size(); ++k)
            std::memcpy(batch_clips.data() + k * clip_size, pending[k].data(), clip_size * sizeof(float));
        const Tensor<float, 2> encoded = encode_clips(model, batch_clips, feature);  // (B, D or C)
        width = encoded.extent(1);
        rows.insert(rows.end(), encoded.data(), encoded.data() + encoded.size());
        out.kept.insert(out.kept.end(), pending_index.begin(), pending_index.end());
        pending.clear();
        pending_index.clear();
    };
    train::ProgressLine progress(stderr);
    for (std::size_t i = 0; i < clips.size(); ++i) {
        const fs::path path = fs::path(root) / clips[i].path;
        try {
            pending.push_back(video::load_clip(path, options).pixels);
            pending_index.push_back(i);
        } catch (const Error& e) {
            out.skipped.push_back({list, clips[i].path.string(), e.what()});
        }
        if (index_t(pending.size()) == batch || i + 1 == clips.size()) encode_pending();
        progress.update(std::int64_t(i + 1), std::int64_t(clips.size()), double(i + 1), "videos", list);
    }
    out.features = Tensor<float, 2>({index_t(out.kept.size()), width}, uninitialized);
    std::copy(rows.begin(), rows.end(), out.features.data());
    return out;
}

std::vector<index_t> kept_labels(const data::ActionSplit& split, const ClipFeatures& f) {
    std::vector<index_t> labels;
    for (const std::size_t i : f.kept) labels.push_back(split.clips[i].label);
    return labels;
}

// No usable video in a list: the run cannot go on.
void expect_some(const ClipFeatures& f, const std::string& option, const std::string& list, std::size_t listed) {
    if (f.kept.empty())
        throw ValueError(option + ": no video of " + list + " could be used: all " + std::to_string(listed) +
                         " were skipped (see above)");
}

// ---- classification outputs: confusion matrix (CSV, PNG) and predictions -----------------------

// One row per scored clip: its video, true and predicted class, and the score of the prediction.
void write_predictions_csv(const fs::path& path, const std::vector<std::string>& videos, std::span<const index_t> truth,
                           std::span<const index_t> predicted, std::span<const double> scores,
                           const std::vector<std::string>& classes, const char* score_name) {
    std::string text = std::string("video,true_class,predicted_class,") + score_name + "\n";
    for (std::size_t i = 0; i < videos.size(); ++i) {
        char score[32];
        std::snprintf(score, sizeof score, "%.6g", scores[i]);
        text += csv_field(videos[i]) + ',' + csv_field(classes[std::size_t(truth[i])]) + ',' +
                csv_field(classes[std::size_t(predicted[i])]) + ',' + score + '\n';
    }
    write_text(path, text);
}

// Prints the metrics with the confusion matrix, and writes OUT/confusion.{csv,png} and
// OUT/predictions.csv when there is an --out.
struct ScoredClips {
    std::vector<std::string> videos;
    std::vector<index_t> truth, predicted;
    std::vector<double> scores;  // of each predicted class
};

void report_classification(const std::string& out, const ScoredClips& s, const std::vector<std::string>& classes,
                           const char* score_name) {
    const eval::ClassificationMetrics m = eval::classification_metrics(s.predicted, s.truth, index_t(classes.size()));
    std::fputs(eval::format_classification(m, classes).c_str(), stdout);
    if (out.empty()) return;
    const fs::path folder = out;
    write_confusion_csv(folder / "confusion.csv", m, classes);
    write_predictions_csv(folder / "predictions.csv", s.videos, s.truth, s.predicted, s.scores, classes, score_name);
    std::string written = (folder / "confusion.csv").string() + ", " + (folder / "predictions.csv").string();
#if defined(SVILM_CLI_VIZ)
    write_confusion_png(folder / "confusion.png", m);
    written += ", " + (folder / "confusion.png").string();
#endif
    say("wrote %s", written.c_str());
}

ScoredClips scored_clips(const data::ActionSplit& split, const ClipFeatures& f, TensorView<const double, 2> scores) {
    ScoredClips s;
    s.truth = kept_labels(split, f);
    s.predicted = eval::argmax_labels<double>(scores);
    for (std::size_t i = 0; i < f.kept.size(); ++i) {
        s.videos.push_back(split.clips[f.kept[i]].path.string());
        s.scores.push_back(scores(index_t(i), s.predicted[i]));
    }
    return s;
}

Tensor<double, 2> to_double(TensorView<const float, 2> x) {
    Tensor<double, 2> out(x.shape(), uninitialized);
    for (index_t i = 0; i < x.extent(0); ++i)
        for (index_t j = 0; j < x.extent(1); ++j) out(i, j) = x(i, j);
    return out;
}

// Probabilities (N, K) from logits (N, K), row by row.
Tensor<double, 2> softmax_rows(TensorView<const double, 2> logits) {
    Tensor<double, 2> out(logits.shape(), uninitialized);
    for (index_t i = 0; i < logits.extent(0); ++i) {
        double top = logits(i, 0), sum = 0;
        for (index_t k = 1; k < logits.extent(1); ++k) top = std::max(top, logits(i, k));
        for (index_t k = 0; k < logits.extent(1); ++k) sum += out(i, k) = std::exp(logits(i, k) - top);
        for (index_t k = 0; k < logits.extent(1); ++k) out(i, k) /= sum;
    }
    return out;
}

double percent(double fraction) { return 100 * fraction; }

// ---- svilm classify ---------------------------------------------------------------------------

// Top-1 of the classifier's cosine scores against the true labels.
double top1(const eval::ZeroShotClassifier& classifier, const Tensor<float, 2>& videos, std::span<const index_t> truth) {
    const Tensor<float, 2> scores = classifier.scores(videos);
    return eval::classification_metrics_from_scores<float>(scores, truth).accuracy;
}

void classify(const DownstreamOptions& o) {
    if (o.list.empty()) {
        if (!o.videos.empty() || !o.class_index.empty())
            throw InputError("--list: --videos and --class-index classify a split list's clips: give its --list, or give "
                             "video files and --classes without them");
        if (o.inputs.empty()) throw InputError("VIDEOS: give the videos to classify (or a split list with --list and --videos)");
        classify_videos(o.model, o.inputs, o.classes, o.class_names, o.templates, o.out, o.metrics, o.overwrite);
        return;
    }
    if (!o.inputs.empty() || !o.classes.empty())
        throw InputError("--list: a split list names its clips and classes: VIDEOS and --classes are for classifying other videos");
    if (o.videos.empty()) throw InputError("--videos: --list needs the folder its paths are under");
    check_outputs(o);
    const std::vector<std::string> classes = load_classes(o);
    const data::ActionSplit split = load_split("--list", o.list, classes);
    const std::vector<std::string>& templates = o.templates.empty() ? default_templates : o.templates;
    for (const std::string& t : templates)
        check_template(t);
    const SVilm<float, cpu> model = load_model(o.model);
    const text::Tokenizer tokenizer = load_tokenizer();
    quiet_libav();
    std::vector<std::string> names;  // as the prompts say them: "MovesLeft" -> "moves left"
    for (const std::string& c : classes) names.push_back(eval::readable_class_name(c));
    say("classes: %zu, prompted as: %s", classes.size(), in_words(names).c_str());
    say("templates: %zu, ensembled (the mean of each class's L2-normalised prompt embeddings)", templates.size());
    say("clips: %zu in %s", split.clips.size(), o.list.c_str());
    run_work([&] {
        if (!o.out.empty()) fs::create_directories(o.out);
        const ClipFeatures f = clip_features(model, o.videos, o.list, split.clips, Feature::embedding);
        report_skipped(o.out, f.skipped, split.clips.size());
        expect_some(f, "--list", o.list, split.clips.size());
        const std::vector<index_t> truth = kept_labels(split, f);
        say("scored %zu test clips", f.kept.size());
        const auto encode = prompt_encoder(model, tokenizer);
        nlohmann::json per_template = nlohmann::json::array();
        for (const std::string& t : templates) {
            const double accuracy = top1(eval::ZeroShotClassifier::build(names, {t}, encode), f.features, truth);
            say("template \"%s\": top-1 %.1f%%", t.c_str(), percent(accuracy));
            per_template.push_back({{"template", t}, {"top1", percent(accuracy)}});
        }
        const eval::ZeroShotClassifier ensemble = eval::ZeroShotClassifier::build(names, templates, encode);
        const Tensor<float, 2> scores = ensemble.scores(f.features);  // (N, K) cosine
        const ScoredClips scored = scored_clips(split, f, to_double(scores));
        const double accuracy = eval::classification_metrics(scored.predicted, truth, index_t(classes.size())).accuracy;
        say("ensemble of %zu templates: top-1 %.1f%% (chance %.1f%%)", templates.size(), percent(accuracy),
            100.0 / double(classes.size()));
        report_classification(o.out, scored, classes, "cosine");
        write_metrics(o.metrics, {{"task", "classify"},
                                  {"count", f.kept.size()},
                                  {"classes", classes.size()},
                                  {"chance", 100.0 / double(classes.size())},
                                  {"top1", percent(accuracy)},
                                  {"templates", per_template}});
    });
}

// ---- svilm probe ------------------------------------------------------------------------------

// The regularisation strengths tried: the objective's data term is a mean over the clips and the
// features are standardised, so these mean the same for any split size and feature width.
constexpr std::array<double, 6> probe_lambdas = {1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0};

const char* stop_reason(const eval::LbfgsReport& fit) { return fit.converged ? "converged" : "stopped early"; }

void print_lambda_grid(const eval::RegularisationChoice& choice, const std::string& what) {
    say("regularisation: lambda chosen by %s over %zu values:", what.c_str(), choice.table.size());
    for (const eval::RegularisationScore& s : choice.table)
        say("  lambda %-7g  %5.1f%%  (L-BFGS: %lld iterations, %s)%s", s.lambda, percent(s.validation_accuracy),
            (long long)s.fit.iterations, stop_reason(s.fit), s.lambda == choice.probe.lambda ? "  <- chosen" : "");
}

void probe(const DownstreamOptions& o) {
    check_outputs(o);
    const std::vector<std::string> classes = from_option("--class-index", [&] { return data::load_ucf101_classes(o.class_index); });
    if (classes.size() < 2) throw InputError("--class-index: " + o.class_index + " names one class; a probe needs two or more");
    const data::ActionSplit train = load_split("--train-list", o.train_list, classes);
    const data::ActionSplit val = load_split("--val-list", o.val_list, classes);
    const data::ActionSplit test = load_split("--test-list", o.test_list, classes);
    const SVilm<float, cpu> model = load_model(o.model);
    quiet_libav();
    say("features: the pooled encoder output (%lld: LayerNorm of the mean over tokens), no noise, no augmentation",
        (long long)model.config().video.width);
    say("clips: train %zu, val %zu, test %zu; %zu classes", train.clips.size(), val.clips.size(), test.clips.size(),
        classes.size());
    run_work([&] {
        if (!o.out.empty()) fs::create_directories(o.out);
        const ClipFeatures f_train = clip_features(model, o.videos, o.train_list, train.clips, Feature::pooled);
        const ClipFeatures f_val = clip_features(model, o.videos, o.val_list, val.clips, Feature::pooled);
        const ClipFeatures f_test = clip_features(model, o.videos, o.test_list, test.clips, Feature::pooled);
        std::vector<Skip> skipped = f_train.skipped;
        skipped.insert(skipped.end(), f_val.skipped.begin(), f_val.skipped.end());
        skipped.insert(skipped.end(), f_test.skipped.begin(), f_test.skipped.end());
        report_skipped(o.out, skipped, train.clips.size() + val.clips.size() + test.clips.size());
        expect_some(f_train, "--train-list", o.train_list, train.clips.size());
        expect_some(f_val, "--val-list", o.val_list, val.clips.size());
        expect_some(f_test, "--test-list", o.test_list, test.clips.size());
        const std::vector<index_t> y_train = kept_labels(train, f_train), y_val = kept_labels(val, f_val);
        const eval::RegularisationChoice choice = eval::choose_regularisation<float>(
            {f_train.features, y_train}, {f_val.features, y_val}, index_t(classes.size()), probe_lambdas);
        print_lambda_grid(choice, "top-1 on the " + std::to_string(f_val.kept.size()) + " val clips");
        double val_accuracy = 0;
        for (const eval::RegularisationScore& s : choice.table)
            if (s.lambda == choice.probe.lambda) val_accuracy = s.validation_accuracy;
        const Tensor<double, 2> logits = choice.probe.scores<float>(f_test.features);  // (N, K)
        const ScoredClips scored = scored_clips(test, f_test, softmax_rows(logits));
        const double accuracy = eval::classification_metrics(scored.predicted, scored.truth, index_t(classes.size())).accuracy;
        say("probe: lambda %g, trained on %zu clips; test top-1 %.1f%% on %zu clips (chance %.1f%%)", choice.probe.lambda,
            f_train.kept.size(), percent(accuracy), f_test.kept.size(), 100.0 / double(classes.size()));
        report_classification(o.out, scored, classes, "probability");
        write_metrics(o.metrics, {{"task", "probe"},
                                  {"count", f_test.kept.size()},
                                  {"classes", classes.size()},
                                  {"chance", 100.0 / double(classes.size())},
                                  {"top1", percent(accuracy)},
                                  {"lambda", choice.probe.lambda},
                                  {"val_top1", percent(val_accuracy)}});
    });
}


// ---- svilm localize ---------------------------------------------------------------------------

// Segments of one class overlapping by more than this tIoU are one detection (temporal_nms).
constexpr double nms_threshold = 0.5;
// The chance baseline's scores: the same draws on every run.
constexpr std::uint64_t chance_seed = 0;

// Every frame of a video, in decoding order, as the model's input: the centre square resized to
// S and normalised, (T_long, 3, S, S), at the stream's average frame rate.
struct DecodedVideo {
    Tensor<float, 4> frames;
    double fps = 0;
};

DecodedVideo decode_every_frame(const fs::path& path, index_t size) {
    video::VideoReader reader(path);
    const video::VideoInfo& info = reader.info();
    if (!(info.fps > 0)) throw VideoError(reader.name() + ": the stream has no frame rate, so no window has a time");
    // the crop is planned on the upright frame: a quarter turn swaps width and height
    const bool quarter = info.rotation % 180 != 0;
    video::FrameTransform transform =
        video::center_crop(quarter ? info.height : info.width, quarter ? info.width : info.height, int(size));
    transform.rotation = info.rotation;
    DecodedVideo out{Tensor<float, 4>({info.frame_count, 3, size, size}, uninitialized), info.fps};
    video::FrameConverter converter;
    index_t decoded = 0;
    reader.decode_all([&](const AVFrame& frame, index_t i) {
        if (frame.width != info.width || frame.height != info.height)
            throw VideoError(reader.name() + ": frame size changes from " + std::to_string(info.width) + "x" +
                             std::to_string(info.height) + " to " + std::to_string(frame.width) + "x" +
                             std::to_string(frame.height));
        converter.to_tensor<float>(frame, transform, out.frames.select(0, i), reader.name());
        decoded = i + 1;
    });
    if (decoded != info.frame_count)
        throw VideoError(reader.name() + ": decoded " + std::to_string(decoded) + " of its " +
                         std::to_string(info.frame_count) + " frames");
    return out;
}

// A ground truth video's file: FOLDER/<id>.mp4, else .mkv or .webm (ActivityNet's downloads come
// in all three).
std::optional<fs::path> find_video(const std::string& folder, const std::string& id) {
    for (const char* extension : {".mp4", ".mkv", ".webm"}) {
        const fs::path path = fs::path(folder) / (id + extension);
        std::error_code error;
        if (fs::is_regular_file(path, error)) return path;
    }
    return std::nullopt;
}

// One video's sliding windows: features, times, and (training and validation) labels.
struct VideoWindows {
    std::string id;
    Tensor<float, 2> features;         // (W, D) L2-normalised global video embeddings
    std::vector<double> starts, ends;  // (W) seconds
    std::vector<index_t> labels;       // (W) the class of the segment covering the window's centre, else background (K)
};

// The label of the annotated segment of `v` covering `seconds`, else `background`.
index_t label_at(const data::ActivityNetVideo& v, double seconds, index_t background) {
    for (const data::ActivityNetSegment& s : v.segments)
        if (s.start <= seconds && seconds < s.end) return s.label;
    return background;
}

// What turns the videos of the ground truth into windows, with one progress line for them all.
struct WindowJob {
    const SVilm<float, cpu>& model;
    const std::string& folder;
    index_t stride;
    index_t background;
    train::ProgressLine progress;
    std::int64_t done = 0, total = 0;
    std::vector<Skip> skipped;
};

std::vector<VideoWindows> subset_windows(WindowJob& job, const std::vector<const data::ActivityNetVideo*>& videos,
                                         const std::string& source) {
    std::vector<VideoWindows> out;
    for (const data::ActivityNetVideo* v : videos) {
        try {
            const std::optional<fs::path> path = find_video(job.folder, v->id);
            if (!path) throw VideoError(v->id + ": no file " + v->id + ".mp4, .mkv or .webm in " + job.folder);
            const DecodedVideo video = decode_every_frame(*path, job.model.config().video.image_size);
            WindowFeatures f = window_features(cpu_ctx, job.model, video.frames, job.stride, video.fps);
            VideoWindows w{v->id, std::move(f.features), {}, {}, {}};
            for (index_t k = 0; k < f.count(); ++k) {
                w.starts.push_back(f.start_seconds(k));
                w.ends.push_back(f.end_seconds(k));
                w.labels.push_back(label_at(*v, (double(f.start_frame[std::size_t(k)]) + double(f.window) / 2) / f.fps,
                                            job.background));
            }
            out.push_back(std::move(w));
        } catch (const Error& e) {
            job.skipped.push_back({source, v->id, e.what()});
        }
        ++job.done;
        job.progress.update(job.done, job.total, double(job.done), "videos", source);
    }
    return out;
}

// The windows of many videos as one training set: features (N, D) and labels (N).
struct StackedWindows {
    Tensor<float, 2> features;
    std::vector<index_t> labels;
};

StackedWindows stack_windows(const std::vector<VideoWindows>& videos) {
    index_t rows = 0;
    for (const VideoWindows& v : videos) rows += v.features.extent(0);
    const index_t D = videos.front().features.extent(1);
    StackedWindows out{Tensor<float, 2>({rows, D}, uninitialized), {}};
    float* at = out.features.data();
    for (const VideoWindows& v : videos) {
        at = std::copy(v.features.data(), v.features.data() + v.features.size(), at);
        out.labels.insert(out.labels.end(), v.labels.begin(), v.labels.end());
    }
    return out;
}

using WindowScores = std::function<Tensor<float, 2>(const VideoWindows&)>;  // (W, K + 1) class scores

// Each test video's windows grouped into segments (runs of one most likely action), then
// temporal NMS, as a results file holds them; every video has an entry, empty when nothing was found.
data::ActivityNetResults detect(const std::vector<VideoWindows>& videos, const WindowScores& scores,
                                const std::vector<std::string>& names, index_t background) {
    std::vector<eval::PredictedSegment> segments;
    for (const VideoWindows& v : videos) {
        const Tensor<float, 2> p = scores(v);
        for (eval::PredictedSegment& s : eval::segments_from_windows(v.id, v.starts, v.ends, p, names, background))
            segments.push_back(std::move(s));
    }
    data::ActivityNetResults results;
    for (const VideoWindows& v : videos) results.results[v.id];
    for (const eval::PredictedSegment& s : eval::temporal_nms(std::move(segments), nms_threshold))
        results.results[s.video_id].push_back({s.label, s.score, s.start, s.end});
    return results;
}

// One subset's annotated segments, as eval-tal reads them.
struct SubsetTruth {
    std::string file;
    data::ActivityNetSubset subset = data::ActivityNetSubset::testing;
    std::set<std::string> videos;
    std::vector<eval::GroundTruthSegment> segments;
};

SubsetTruth subset_truth(const data::ActivityNetGroundTruth& truth, const std::string& file, data::ActivityNetSubset subset) {
    SubsetTruth out{file, subset, {}, {}};
    for (const data::ActivityNetVideo& v : truth.videos) {
        if (v.subset != subset) continue;
        out.videos.insert(v.id);
        for (const data::ActivityNetSegment& s : v.segments)
            out.segments.push_back({v.id, truth.labels[std::size_t(s.label)], s.start, s.end});
    }
    return out;
}

// The predictions of `results` for the subset's videos, in the order eval-tal reads them back
// from the results file (videos by id, each video's list in order).
std::vector<eval::PredictedSegment> subset_predictions(const SubsetTruth& truth, const data::ActivityNetResults& results) {
    std::vector<eval::PredictedSegment> predicted;
    for (const auto& [video, list] : results.results)
        for (const data::ActivityNetPrediction& p : list)
            if (truth.videos.count(video)) predicted.push_back({video, p.label, p.score, p.start, p.end});
    return predicted;
}

// mAP at tIoU 0.5, 0.75, 0.95 and the average over 0.5:0.05:0.95, in percent.
std::array<double, 4> headline(const eval::DetectionMetrics& m) {
    const auto at = [&](double t) {
        for (std::size_t k = 0; k < m.tiou_thresholds.size(); ++k)
            if (std::abs(m.tiou_thresholds[k] - t) < 1e-9) return 100 * m.mean_average_precision[k];
        return 0.0;
    };
    return {at(0.5), at(0.75), at(0.95), 100 * m.average_mean_average_precision};
}

nlohmann::json headline_json(const std::array<double, 4>& h) {
    return {{"0.5", h[0]}, {"0.75", h[1]}, {"0.95", h[2]}, {"average", h[3]}};
}

// Scores `results` exactly as `svilm eval-tal --subset <the subset>` does, printing its lines
// when `full`, and the mAP line after `prefix`.
std::array<double, 4> score_detections(const SubsetTruth& truth, const data::ActivityNetResults& results,
                                       const std::string& predictions, const char* prefix, bool full) {
    const std::vector<eval::PredictedSegment> predicted = subset_predictions(truth, results);
    const eval::DetectionMetrics m = eval::detection_metrics(truth.segments, predicted);
    if (full) {
        say("ground truth: %s, subset %s: %zu videos, %zu segments, %zu classes", truth.file.c_str(),
            data::subset_name(truth.subset), truth.videos.size(), truth.segments.size(), m.classes.size());
        say("predictions: %s: %zu scored", predictions.c_str(), predicted.size());
        std::fputs(eval::format_detection(m, false).c_str(), stdout);
    }
    const std::array<double, 4> h = headline(m);
    say("%smAP@0.5 %.1f  mAP@0.75 %.1f  mAP@0.95 %.1f  average %.1f", prefix, h[0], h[1], h[2], h[3]);
    return h;
}

std::vector<const data::ActivityNetVideo*> subset_videos(const data::ActivityNetGroundTruth& truth,
                                                         data::ActivityNetSubset subset) {
    std::vector<const data::ActivityNetVideo*> out;
    for (const data::ActivityNetVideo& v : truth.videos)
        if (v.subset == subset) out.push_back(&v);
    return out;
}

data::ActivityNetGroundTruth load_ground_truth(const std::string& option, const std::string& path) {
    return from_option(option, [&] { return data::load_activitynet_ground_truth(path); });
}

// The subset's videos, refused when none has an annotated segment to learn from or score.
std::vector<const data::ActivityNetVideo*> annotated_subset(const data::ActivityNetGroundTruth& truth,
                                                            data::ActivityNetSubset subset, const std::string& option,
                                                            const std::string& path) {
    std::vector<const data::ActivityNetVideo*> videos = subset_videos(truth, subset);
    const bool annotated = std::any_of(videos.begin(), videos.end(), [](const auto* v) { return !v->segments.empty(); });
    if (!annotated)
        throw InputError(option + ": " + path + ": no " + data::subset_name(subset) + " video has an annotated segment");
    return videos;
}

// Class probabilities (W, K + 1) of a video's windows from the fitted regression.
WindowScores probe_scores(const eval::LinearProbe& probe) {
    return [&probe](const VideoWindows& v) {
        const Tensor<double, 2> p = softmax_rows(probe.scores<float>(v.features));
        Tensor<float, 2> out(p.shape(), uninitialized);
        std::transform(p.data(), p.data() + p.size(), out.data(), [](double x) { return float(x); });
        return out;
    };
}

// Scores drawn uniformly at random, one generator through every video in order.
WindowScores chance_scores(Generator& rng, index_t classes) {
    return [&rng, classes](const VideoWindows& v) {
        Tensor<float, 2> out({v.features.extent(0), classes}, uninitialized);
        rng.uniform<float, 2>(out.view());
        return out;
    };
}

// One regularisation strength tried: the regression fitted on the training windows and scored on
// the validation subset.
struct LambdaTrial {
    double lambda = 0;
    double window_top1 = 0, average_map = 0;  // percent
    eval::LbfgsReport fit;
};

struct LocaliserChoice {
    eval::LinearProbe probe;
    std::vector<LambdaTrial> table;  // in the grid's order
};

// Fits the (K + 1)-class regression for each lambda of the grid and keeps the one with the best
// average mAP on the validation subset (ties: the larger lambda, the simpler model). Window top-1
// is shown beside it, not used: most windows are background, so it favours a model that finds nothing.
LocaliserChoice choose_localiser(const StackedWindows& train, const std::vector<VideoWindows>& val, const SubsetTruth& val_truth,
                                 const std::vector<std::string>& names, index_t K) {
    const StackedWindows x_val = stack_windows(val);
    LocaliserChoice choice;
    double best = -1;
    for (const double lambda : probe_lambdas) {
        eval::LinearProbe probe = eval::fit_linear_probe<float>({train.features, train.labels}, K + 1, lambda);
        const std::vector<index_t> predicted = probe.predict<float>(x_val.features);
        const double top1 = eval::classification_metrics(predicted, x_val.labels, K + 1).accuracy;
        const data::ActivityNetResults found = detect(val, probe_scores(probe), names, K);
        const double average =
            100 * eval::detection_metrics(val_truth.segments, subset_predictions(val_truth, found)).average_mean_average_precision;
        choice.table.push_back({lambda, percent(top1), average, probe.fit});
        if (average > best || (average == best && lambda > choice.probe.lambda)) {
            best = average;
            choice.probe = std::move(probe);
        }
    }
    return choice;
}

void print_localiser_grid(const LocaliserChoice& choice, std::size_t windows) {
    say("regularisation: lambda chosen by the validation subset's average mAP over %zu values (window top-1 on its %zu "
        "windows, background included, beside it):",
        choice.table.size(), windows);
    for (const LambdaTrial& t : choice.table)
        say("  lambda %-7g  average mAP %5.1f  window top-1 %5.1f%%  (L-BFGS: %lld iterations, %s)%s", t.lambda, t.average_map,
            t.window_top1, (long long)t.fit.iterations, stop_reason(t.fit), t.lambda == choice.probe.lambda ? "  <- chosen" : "");
}

void localize(const DownstreamOptions& o) {
    check_outputs(o);
    const data::ActivityNetGroundTruth truth = load_ground_truth("--ground-truth", o.ground_truth);
    const bool separate = !o.test_ground_truth.empty();
    const data::ActivityNetGroundTruth test_file =
        separate ? load_ground_truth("--test-ground-truth", o.test_ground_truth) : data::ActivityNetGroundTruth{};
    const data::ActivityNetGroundTruth& test_truth = separate ? test_file : truth;
    const std::string& test_path = separate ? o.test_ground_truth : o.ground_truth;
    const auto training = annotated_subset(truth, data::ActivityNetSubset::training, "--ground-truth", o.ground_truth);
    const auto validation = annotated_subset(truth, data::ActivityNetSubset::validation, "--ground-truth", o.ground_truth);
    const auto testing = annotated_subset(test_truth, data::ActivityNetSubset::testing,
                                          separate ? "--test-ground-truth" : "--ground-truth", test_path);
    const SVilm<float, cpu> model = load_model(o.model);
    const index_t window = model.config().video.frames;
    const index_t stride = o.stride > 0 ? o.stride : std::max<index_t>(1, window / 2);
    quiet_libav();
    const index_t K = index_t(truth.labels.size());  // the actions; class K is the background
    std::vector<std::string> names = truth.labels;
    names.push_back("background");
    say("classes: %lld actions from %s (%s) and background", (long long)K, o.ground_truth.c_str(), in_words(truth.labels).c_str());
    for (const std::string& label : test_truth.labels)
        if (truth.label(label) < 0) say("note: the test class '%s' never occurs in training: its segments can only be missed", label.c_str());
    say("videos: training %zu, validation %zu, testing %zu (%s)", training.size(), validation.size(), testing.size(),
        test_path.c_str());
    say("windows: %lld frames (the model's clip), every %lld frames; a window's label is the annotated segment covering "
        "its centre, else background",
        (long long)window, (long long)stride);
    run_work([&] {
        if (!o.out.empty()) fs::create_directories(o.out);
        const auto total = std::int64_t(training.size() + validation.size() + testing.size());
        WindowJob job{model, o.videos, stride, K, train::ProgressLine(stderr), 0, total, {}};
        const std::vector<VideoWindows> train = subset_windows(job, training, "training");
        const std::vector<VideoWindows> val = subset_windows(job, validation, "validation");
        const std::vector<VideoWindows> test = subset_windows(job, testing, "testing");
        report_skipped(o.out, job.skipped, std::size_t(job.total));
        for (const auto& [set, subset] : {std::pair{&train, "training"}, std::pair{&val, "validation"}, std::pair{&test, "testing"}})
            if (set->empty()) throw ValueError(std::string("no ") + subset + " video could be used: all were skipped (see above)");
        const StackedWindows x_train = stack_windows(train);
        const SubsetTruth val_truth = subset_truth(truth, o.ground_truth, data::ActivityNetSubset::validation);
        const LocaliserChoice choice = choose_localiser(x_train, val, val_truth, names, K);
        print_localiser_grid(choice, stack_windows(val).labels.size());
        say("logistic regression: %lld classes over %lld training windows, lambda %g; segments: runs of windows of one most "
            "likely action, temporal NMS at tIoU %.1f",
            (long long)(K + 1), (long long)x_train.labels.size(), choice.probe.lambda, nms_threshold);
        const data::ActivityNetResults results = detect(test, probe_scores(choice.probe), names, K);
        std::string predictions = "(not written: no --out)";
        if (!o.out.empty()) {
            predictions = (fs::path(o.out) / "results.json").string();
            data::write_activitynet_results(predictions, results);
        }
        const SubsetTruth test_segments = subset_truth(test_truth, test_path, data::ActivityNetSubset::testing);
        const std::array<double, 4> map = score_detections(test_segments, results, predictions, "", true);
        Generator rng(chance_seed);
        const data::ActivityNetResults chance = detect(test, chance_scores(rng, K + 1), names, K);
        if (!o.out.empty()) data::write_activitynet_results(fs::path(o.out) / "chance_results.json", chance);
        const std::array<double, 4> chance_map = score_detections(test_segments, chance, "", "chance: ", false);
        write_metrics(o.metrics, {{"task", "localize"},
                                  {"videos", test.size()},
                                  {"classes", K},
                                  {"map", headline_json(map)},
                                  {"chance", headline_json(chance_map)}});
    });
}

// ---- registration -------------------------------------------------------------------------------

const char* const classify_help =
    "Zero-shot action recognition. Each class name is made readable (MovesLeft and moves_left become \"moves left\")\n"
    "and put into every --template; a class's embedding is the mean of its prompts' L2-normalised text embeddings,\n"
    "normalised again (prompt ensembling), and each clip (T frames uniformly over the video, the centre square, no\n"
    "augmentation) goes to the class of highest cosine. Prints each template's top-1, the ensemble's, and the\n"
    "ensemble's confusion matrix. The split list is UCF101's (Class/v_Class_g01_c01.avi [number]; the folder names\n"
    "the class). With --out: confusion.csv, confusion.png (rows: true class as fractions), predictions.csv, and\n"
    "skipped.csv when a video could not be used. Default templates: \"a video of {}.\", \"something {}.\", \"an object\n"
    "that {}.\", \"a clip in which something {}.\"\n"
    "Without --list, any videos (files, folders, manifests, lists) are classified against --classes \"a,b,c\" (or\n"
    "--class-names FILE, one per line; names are used as written): each video's top classes and cosines are printed,\n"
    "and with --out every video's scores go to predictions.csv.\n"
    "Examples: svilm classify --model tiny.safetensors --class-index ucf/ucfTrainTestlist/classInd.txt\n"
    "            --list ucf/ucfTrainTestlist/testlist01.txt --videos ucf/UCF-101 --out classify\n"
    "          svilm classify --model model.safetensors --classes \"juggling,surfing,playing guitar\" clips/\n";

const char* const probe_help =
    "Linear probe. Frozen features: the video encoder's pooled output (LayerNorm of the mean over its tokens, width C)\n"
    "of one clip per video (T frames uniformly, the centre square, no noise, no augmentation). A multinomial logistic\n"
    "regression (standardised features, L2 penalty lambda, L-BFGS) is fitted on the train list for each lambda of\n"
    "1e-4, 1e-3, 1e-2, 0.1, 1, 10; the one with the best top-1 on the val list is kept (ties: the larger lambda) and\n"
    "scored on the test list. Outputs as svilm classify.\n"
    "Example: svilm probe --model tiny.safetensors --class-index ucf/ucfTrainTestlist/classInd.txt\n"
    "           --train-list ucf/ucfTrainTestlist/trainlist01.txt --val-list ucf/ucfTrainTestlist/vallist01.txt\n"
    "           --test-list ucf/ucfTrainTestlist/testlist01.txt --videos ucf/UCF-101 --out probe\n";

const char* const localize_help =
    "Baseline temporal action localisation. Every frame of each video is decoded at its own rate (the centre square\n"
    "resized to the model's input); windows of the model's clip length every --stride frames (plus one ending at the\n"
    "last frame) get the global video embedding. A window's label is the annotated segment covering its centre, else\n"
    "background. A (K+1)-class logistic regression is fitted on the training subset's windows for each lambda of\n"
    "1e-4, 1e-3, 1e-2, 0.1, 1, 10; the one with the best average mAP on the validation subset is kept (ties: the larger\n"
    "lambda; window top-1 is printed beside it, but most windows are background). Test windows' probabilities: runs of windows of one\n"
    "most likely action become segments scored by their mean probability, then temporal NMS at tIoU 0.5; scored with\n"
    "ActivityNet's detection mAP as svilm eval-tal --subset testing prints it. A chance baseline (the same windows with\n"
    "uniformly random scores, fixed seed) is printed after it. With --out: results.json (ActivityNet's results\n"
    "format), chance_results.json (the baseline's) and skipped.csv. Videos are DIR/<id>.mp4 (or .mkv, .webm); a missing one is skipped, and its segments\n"
    "count as missed.\n"
    "Example: svilm localize --model tiny.safetensors --ground-truth anet/activity_net.v1-3.min.json --videos anet/videos\n"
    "           --out localize\n";

void add_common(CLI::App* command, DownstreamOptions& o, const char* videos, bool videos_required = true) {
    command->add_option("--model", o.model, "model file or checkpoint (svilm init / pretrain)")->check(a_path)->required();
    command->add_option("--videos", o.videos, videos)->check(a_path)->required(videos_required);
    command->add_option("--out", o.out, "folder for the outputs (new or empty, unless --overwrite)")->check(a_path);
    command->add_option("--metrics", o.metrics, "write the headline numbers as one JSON object (percent) to this file")
        ->check(a_path);
    command->add_flag("--overwrite", o.overwrite, "write into a non-empty --out, replace --metrics");
}

}  // namespace

std::vector<Subcommand> add_downstream_commands(CLI::App& app) {
    const auto o = std::make_shared<DownstreamOptions>();
    std::vector<Subcommand> commands;

    auto* classify_command = app.add_subcommand("classify", "zero-shot action recognition with class-name prompts");
    add_common(classify_command, *o, "with --list: the videos folder the split list's paths are under (UCF-101)", false);
    auto* class_index = classify_command->add_option("--class-index", o->class_index, "UCF101's classInd.txt")->check(a_path);
    classify_command->add_option("--class-names", o->class_names, "instead of --class-index: one class name per line, in label order")
        ->check(a_path)
        ->excludes(class_index);
    classify_command->add_option("--list", o->list, "split list (UCF101's testlist01.txt), scored against its labels")->check(a_path);
    classify_command->add_option("VIDEOS", o->inputs, "without --list: video files, folders, manifests (.csv, .jsonl) or lists (.txt)");
    classify_command->add_option("--classes", o->classes, "without --list: the class names, comma-separated (\"riding a bike,surfing\")");

    classify_command->add_option("--template", o->templates, "a prompt template with {} for the class name (repeat for more)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->default_str("4 built-in templates, see below");
    classify_command->footer([] { return std::string(classify_help); });
    commands.push_back({classify_command, [o] { classify(*o); }});

    auto* probe_command = app.add_subcommand("probe", "linear probe on the frozen pooled encoder output");
    add_common(probe_command, *o, "the videos folder the split lists' paths are under (UCF-101)");
    probe_command->add_option("--class-index", o->class_index, "UCF101's classInd.txt")->check(a_path)->required();
    probe_command->add_option("--train-list", o->train_list, "the probe's training clips")->check(a_path)->required();
    probe_command->add_option("--val-list", o->val_list, "clips that choose the regularisation")->check(a_path)->required();
    probe_command->add_option("--test-list", o->test_list, "clips scored")->check(a_path)->required();
    probe_command->footer([] { return std::string(probe_help); });
    commands.push_back({probe_command, [o] { probe(*o); }});

    auto* localize_command = app.add_subcommand("localize", "temporal action localisation on sliding-window features");
    add_common(localize_command, *o, "folder of the videos, <id>.mp4 (or .mkv, .webm)");
    localize_command->add_option("--ground-truth", o->ground_truth, "ActivityNet v1.3 JSON: training and validation (and testing)")
        ->check(a_path)
        ->required();
    localize_command->add_option("--test-ground-truth", o->test_ground_truth,
                                 "the test videos' ground truth (subset testing) when in another file")
        ->check(a_path)
        ->default_str("--ground-truth");
    localize_command->add_option("--stride", o->stride, "frames between window starts")
        ->check(whole_number<index_t>(1, max_config_size))
        ->default_str("half the model's clip length");
    localize_command->footer([] { return std::string(localize_help); });
    commands.push_back({localize_command, [o] { localize(*o); }});
    return commands;
}

}  // namespace svilm_cli
