// examples/cli_finetune.cpp: `svilm finetune`, a model fine-tuned on one downstream task
// (docs/downstream.md), on the CPU:
//
//   --task retrieval  the contrastive loss (or --losses, as pre-training) on MSR-VTT's train JSON,
//                     trained as `svilm pretrain` trains; text-video retrieval on a 1k-A test CSV
//                     before (zero-shot) and after
//   --task qa         the video QA answer head over [v, q, v * q] (svilm/model/qa_head.hpp) on
//                     MSRVTT-QA / MSVD-QA JSON; top-1 accuracy overall and per question type
//   --task action     a linear classifier over the video embedding, initialised from the class
//                     names' zero-shot prompts, on UCF101 / HMDB51-style split lists; top-1 and
//                     the confusion matrix
//
// QA and action train end to end by default (the model at --lr, the head at --head-lr), or with
// --freeze: the embeddings are computed once and the head alone is trained on them. Both
// report on --val (where the options were chosen) and on --test. OUT receives the fine-tuned
// model (model.safetensors, a model file every program accepts), the head (head.safetensors),
// log.csv, the skipped videos (skipped.csv) and, for actions, confusion.csv and confusion.png.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "svilm/data/action_recognition.hpp"
#include "svilm/data/msrvtt.hpp"
#include "svilm/data/video_files.hpp"
#include "svilm/data/video_loader.hpp"
#include "svilm/data/video_qa.hpp"
#include "svilm/eval/classification.hpp"
#include "svilm/eval/retrieval.hpp"
#include "svilm/eval/zero_shot.hpp"
#include "svilm/model/qa_head.hpp"
#include "svilm/train/finetune.hpp"
#include "svilm/train/manifest_source.hpp"

namespace svilm_cli {
namespace {

struct FinetuneArgs {
    std::string task, model, out, train, val, test, videos, extension = ".mp4", class_index, metrics;
    std::string losses = "contrastive";
    std::vector<std::string> templates = default_templates;
    index_t steps = 300, batch = 16, answers = 1000, hidden = 512, probe_steps = 1000;
    double lr = 5e-5, head_lr = 1e-3, dual_softmax = 0;
    bool freeze = false, overwrite = false;
    std::uint64_t seed = 0;
    int threads = 0;
};

// One split of a classification task: its videos as a manifest (entry i is item i; its caption
// is the question for QA, the class name for actions) and each item's label.
struct LabelledSplit {
    std::string name, source;
    data::Manifest manifest;
    std::vector<std::int64_t> labels;      // per entry; -1: a QA answer outside the vocabulary
    std::vector<data::QaItem> questions;   // QA: per entry
    std::vector<data::SkippedVideo> missing;
};

// Inference clips (no crops and no flips: "moves left" and "moves right" are labels), in order or
// shuffled for training.
data::VideoLoaderOptions clip_options(const VideoConfig& v, index_t batch, bool shuffle, std::uint64_t seed) {
    data::VideoLoaderOptions o;
    o.batch_size = batch;
    o.clip = inference_clip(v);
    o.shuffle = shuffle;
    o.drop_last = shuffle;
    o.seed = seed;
    return o;
}

// What differs between QA and actions: the head, and how a batch of clips and its items becomes
// a loss (accumulating gradients) or logits. Either task first sees the starting model's
// features of every training item (fit), from which the head's input standardisation comes
// (train::Standardisation: a briefly trained encoder's embeddings are nearly parallel).
class ClassificationTask {
public:
    virtual ~ClassificationTask() = default;
    virtual index_t classes() const = 0;
    virtual nn::ParameterStore<float>& head() = 0;
    // The frozen encoders' features of a batch (B, F): what the head reads, before standardisation.
    virtual Tensor<float, 2> features(const Tensor<float, 5>& clips, std::span<const index_t> items) const = 0;
    // Every training item's features (N, F), once, before the first step.
    virtual void fit(TensorView<const float, 2> rows) = 0;
    virtual float end_to_end_loss(const Tensor<float, 5>& clips, std::span<const index_t> items,
                                  const Tensor<std::int64_t, 1>& labels) = 0;
    virtual float frozen_loss(const Tensor<float, 2>& features, const Tensor<std::int64_t, 1>& labels) = 0;
    virtual Tensor<float, 2> logits(const Tensor<float, 5>& clips, std::span<const index_t> items) const = 0;
    // What head.safetensors' metadata records beside the head's parameters: the standardisation.
    virtual std::map<std::string, std::string> head_metadata() const = 0;
};

// The standardisation's shift and scale as JSON, for the head file's metadata.
nlohmann::json standardisation_json(const train::Standardisation<float>& s) {
    const Tensor<float, 1> shift = to_host<float, 1, cpu>(cpu_ctx, s.shift), scale = to_host<float, 1, cpu>(cpu_ctx, s.scale);
    return {{"shift", std::vector<float>(shift.data(), shift.data() + shift.size())},
            {"scale", std::vector<float>(scale.data(), scale.data() + scale.size())}};
}

// Columns [begin, end) of host rows, contiguous.
Tensor<float, 2> columns(TensorView<const float, 2> rows, index_t begin, index_t end) {
    Tensor<float, 2> out({rows.extent(0), end - begin}, uninitialized);
    copy(cpu_ctx, out.view(), rows.narrow(1, begin, end));
    return out;
}

// Video QA: logits = QaHead(v', q') of the standardised embeddings; the questions of the split
// being read come from `read`.
class QaTask : public ClassificationTask {
public:
    QaTask(const SVilm<float>& model, const text::Tokenizer& tokenizer, index_t answers, index_t hidden, std::uint64_t seed)
        : model_(model), tokenizer_(tokenizer), head_(store_, "qa_head", {model.config().embed_dim, hidden, answers}) {
        Generator rng(seed);
        store_.allocate(cpu_ctx, rng);
    }
    void read(const LabelledSplit& split) { split_ = &split; }
    index_t classes() const override { return head_.config().answers; }
    nn::ParameterStore<float>& head() override { return store_; }

    Tensor<float, 2> features(const Tensor<float, 5>& clips, std::span<const index_t> items) const override {
        const Tensor<float, 2> v = model_.encode_video(cpu_ctx, clips);
        const text::BatchEncoding q = encode(items);
        const Tensor<float, 2> t = model_.encode_text(cpu_ctx, q.ids, q.attention_mask);
        const index_t B = v.extent(0), D = v.extent(1);
        Tensor<float, 2> out({B, 2 * D}, uninitialized);  // [v, q]
        copy(cpu_ctx, out.view().narrow(1, 0, D), v.view());
        copy(cpu_ctx, out.view().narrow(1, D, 2 * D), t.view());
        return out;
    }
    void fit(TensorView<const float, 2> rows) override {
        const index_t D = rows.extent(1) / 2;
        sv_ = train::standardisation_of<float, cpu>(cpu_ctx, columns(rows, 0, D));
        sq_ = train::standardisation_of<float, cpu>(cpu_ctx, columns(rows, D, 2 * D));
    }
    float end_to_end_loss(const Tensor<float, 5>& clips, std::span<const index_t> items,
                          const Tensor<std::int64_t, 1>& labels) override {
        const text::BatchEncoding q = encode(items);
        return train::qa_loss_and_gradients<float, cpu>(cpu_ctx, &model_, head_, labels, clips, q.ids, q.attention_mask, {}, {},
                                                        &sv_, &sq_);
    }
    float frozen_loss(const Tensor<float, 2>& features, const Tensor<std::int64_t, 1>& labels) override {
        const index_t D = features.extent(1) / 2;
        const Tensor<float, 2> v = columns(features, 0, D), q = columns(features, D, 2 * D);
        return train::qa_loss_and_gradients<float, cpu>(cpu_ctx, nullptr, head_, labels, {}, {}, {}, v, q, &sv_, &sq_);
    }
    Tensor<float, 2> logits(const Tensor<float, 5>& clips, std::span<const index_t> items) const override {
        const Tensor<float, 2> f = features(clips, items);
        const index_t D = f.extent(1) / 2;
        const Tensor<float, 2> v = train::standardised<float, cpu>(cpu_ctx, &sv_, columns(f, 0, D));
        const Tensor<float, 2> q = train::standardised<float, cpu>(cpu_ctx, &sq_, columns(f, D, 2 * D));
        Tensor<float, 2> out({f.extent(0), classes()}, uninitialized);
        QaHeadSaved<float> s;
        head_.forward(cpu_ctx, out, s, v, q);
        return out;
    }
    std::map<std::string, std::string> head_metadata() const override {
        return {{"standardise_v", standardisation_json(sv_).dump()}, {"standardise_q", standardisation_json(sq_).dump()}};
    }

private:
    text::BatchEncoding encode(std::span<const index_t> items) const {
        std::vector<std::string> texts;
        for (const index_t i : items) texts.push_back(split_->questions.at(std::size_t(i)).question);
        return tokenizer_.encode_batch(texts, std::size_t(model_.config().text.max_length));
    }

    const SVilm<float>& model_;
    const text::Tokenizer& tokenizer_;
    nn::ParameterStore<float> store_;
    QaHead<float> head_;
    const LabelledSplit* split_ = nullptr;
    train::Standardisation<float> sv_, sq_;
};

// Actions: logits = classifier(v') of the standardised embedding, the classifier starting as the
// zero-shot one (the same logits as the class prompts' cosines times the learnt scale).
class ActionTask : public ClassificationTask {
public:
    ActionTask(const SVilm<float>& model, const eval::ZeroShotClassifier& prompts, std::uint64_t seed)
        : model_(model), prompts_(prompts), classifier_(store_, "action_head", model.config().embed_dim, prompts.classes()) {
        Generator rng(seed);
        store_.allocate(cpu_ctx, rng);
    }
    index_t classes() const override { return classifier_.out_features; }
    nn::ParameterStore<float>& head() override { return store_; }

    Tensor<float, 2> features(const Tensor<float, 5>& clips, std::span<const index_t>) const override {
        return model_.encode_video(cpu_ctx, clips);
    }
    void fit(TensorView<const float, 2> rows) override {
        sv_ = train::standardisation_of<float, cpu>(cpu_ctx, rows);
        // the scale pre-training learnt for cosine logits, clamped at 100 as the loss clamps it
        const double scale = std::min(100.0, std::exp(double(model_.logit_scale.value()())));
        train::initialise_from_prompts<float, cpu>(cpu_ctx, classifier_, prompts_.class_embeddings(), scale, &sv_);
    }
    float end_to_end_loss(const Tensor<float, 5>& clips, std::span<const index_t>,
                          const Tensor<std::int64_t, 1>& labels) override {
        return train::action_loss_and_gradients<float, cpu>(cpu_ctx, &model_, classifier_, labels, clips, {}, &sv_);
    }
    float frozen_loss(const Tensor<float, 2>& features, const Tensor<std::int64_t, 1>& labels) override {
        return train::action_loss_and_gradients<float, cpu>(cpu_ctx, nullptr, classifier_, labels, {}, features, &sv_);
    }
    Tensor<float, 2> logits(const Tensor<float, 5>& clips, std::span<const index_t> items) const override {
        const Tensor<float, 2> v = train::standardised<float, cpu>(cpu_ctx, &sv_, features(clips, items));
        Tensor<float, 2> out({v.extent(0), classes()}, uninitialized);
        classifier_.forward(cpu_ctx, out, v);
        return out;
    }
    std::map<std::string, std::string> head_metadata() const override {
        return {{"standardise_v", standardisation_json(sv_).dump()}};
    }

private:
    const SVilm<float>& model_;
    const eval::ZeroShotClassifier& prompts_;
    nn::ParameterStore<float> store_;
    nn::Linear<float> classifier_;
    train::Standardisation<float> sv_;
};

Tensor<std::int64_t, 1> labels_of(const LabelledSplit& split, std::span<const index_t> items) {
    Tensor<std::int64_t, 1> labels({index_t(items.size())}, uninitialized);
    for (std::size_t k = 0; k < items.size(); ++k) labels(index_t(k)) = split.labels.at(std::size_t(items[k]));
    return labels;
}

// Every clip of a split once, in order, `batch` at a time; the loader's statistics (its skipped
// videos with their reasons) at the end.
data::LoaderStats for_each_batch(const LabelledSplit& split, const VideoConfig& v, index_t batch,
                                 const std::function<void(data::VideoBatch&)>& use) {
    data::VideoLoader loader(split.manifest, clip_options(v, batch, false, 0));
    loader.start_epoch(0);
    train::ProgressLine progress(stderr);
    const auto total = std::int64_t(split.manifest.size());
    std::int64_t done = 0;
    while (std::optional<data::VideoBatch> b = loader.next()) {
        use(*b);
        done = loader.stats().loaded + loader.stats().skipped_count;
        progress.update(done, total, double(loader.stats().loaded), "clips", split.name);
    }
    if (done < total) progress.update(total, total, double(loader.stats().loaded), "clips", split.name);
    return loader.stats();
}

// Predicted labels of the split's decoded items (the others are left out and listed).
struct Predictions {
    std::vector<index_t> items, predicted;
    std::vector<data::SkippedItem> skipped;
};

Predictions predict(const ClassificationTask& task, const LabelledSplit& split, const VideoConfig& v) {
    Predictions p;
    const data::LoaderStats stats = for_each_batch(split, v, 32, [&](data::VideoBatch& b) {
        const Tensor<float, 2> logits = task.logits(b.video, b.items);
        const std::vector<index_t> labels = eval::argmax_labels<float>(logits);
        p.items.insert(p.items.end(), b.items.begin(), b.items.end());
        p.predicted.insert(p.predicted.end(), labels.begin(), labels.end());
    });
    p.skipped = stats.skipped;
    if (p.items.empty()) throw ValueError(split.source + ": no video of the " + split.name + " split could be decoded");
    return p;
}

void append_skipped(std::vector<Skip>& all, const std::string& source, const std::vector<data::SkippedItem>& skipped) {
    for (const data::SkippedItem& s : skipped) all.push_back({source, s.path, s.reason});
}

// The head trained alone on cached features (N, F) of the items `items`, `steps` minibatches of
// `batch` in epochs of a fresh random order.
void train_head_on_features(ClassificationTask& task, SVilm<float>& model, const LabelledSplit& split,
                            const std::vector<float>& rows, const std::vector<index_t>& items, std::int64_t steps,
                            const FinetuneArgs& a, const std::function<void(const char*, std::int64_t, std::int64_t, float, index_t)>& report) {
    train::FinetuneOptions options;
    options.steps = steps;
    options.batch_size = a.batch;
    options.lr = a.lr;
    options.head_lr = a.head_lr;
    options.freeze_encoders = true;
    options.seed = a.seed;
    train::Finetuner<cpu> tuner(model, task.head(), options);
    const index_t N = index_t(items.size()), F = index_t(rows.size()) / N, B = std::min(a.batch, N);
    Generator rng(a.seed);
    std::vector<index_t> order(static_cast<std::size_t>(N));
    std::iota(order.begin(), order.end(), index_t(0));
    index_t at = N;
    while (tuner.steps_done() < steps) {
        Tensor<float, 2> features({B, F}, uninitialized);
        std::vector<index_t> picked;
        for (index_t k = 0; k < B; ++k) {
            if (at == N) {  // a new epoch: a new order
                for (index_t i = N - 1; i >= 1; --i)
                    std::swap(order[std::size_t(i)], order[std::size_t(rng.uniform_int(std::uint64_t(i + 1)))]);
                at = 0;
            }
            const index_t row = order[std::size_t(at++)];
            std::copy_n(rows.data() + row * F, F, features.data() + k * F);
            picked.push_back(items[std::size_t(row)]);
        }
        const Tensor<std::int64_t, 1> labels = labels_of(split, picked);
        const float loss = tuner.step([&] { return task.frozen_loss(features, labels); });
        report("head", tuner.steps_done(), steps, loss, B);
    }
}

// The training of both classification tasks. First the starting model's features of every
// training clip, once: the head's standardisation, and what the head trains on alone: all the
// steps with --freeze, else the first --probe-steps (a linear probe, then fine-tuning end to end
// from it: the head starts from a fit instead of from noise, and the encoders' first gradients
// are not the random head's). log.csv: one line per step, its phase and loss.
void train_classifier(ClassificationTask& task, SVilm<float>& model, const LabelledSplit& train_split,
                      const FinetuneArgs& a, std::vector<Skip>& skipped) {
    const VideoConfig& v = model.config().video;
    std::vector<float> rows;
    std::vector<index_t> items;
    const data::LoaderStats stats = for_each_batch(train_split, v, 32, [&](data::VideoBatch& b) {
        const Tensor<float, 2> f = task.features(b.video, b.items);
        rows.insert(rows.end(), f.data(), f.data() + f.size());
        items.insert(items.end(), b.items.begin(), b.items.end());
    });
    append_skipped(skipped, train_split.source, stats.skipped);  // the pass saw every training item once
    if (items.empty()) throw ValueError(train_split.source + ": no training video could be decoded");
    const index_t N = index_t(items.size()), F = index_t(rows.size()) / N;
    task.fit(TensorView<const float, 2>(rows.data(), {N, F}));

    std::ofstream log(fs::path(a.out) / "log.csv");
    if (!log) throw IoError((fs::path(a.out) / "log.csv").string() + ": cannot write the training log");
    log << "phase,step,loss\n";
    train::ProgressLine progress(stderr);
    index_t clips = 0;
    const auto report = [&](const char* phase, std::int64_t step, std::int64_t steps, float loss, index_t batch) {
        log << phase << ',' << step << ',' << loss << '\n';
        char text[64];
        std::snprintf(text, sizeof text, "%s loss %.4f", phase, double(loss));
        progress.update(step, steps, double(clips += batch), "clips", text);
    };
    const std::int64_t head_steps = a.freeze ? a.steps : a.probe_steps;
    if (head_steps > 0) train_head_on_features(task, model, train_split, rows, items, head_steps, a, report);
    if (a.freeze) return;
    rows = {};

    train::FinetuneOptions options;
    options.steps = a.steps;
    options.batch_size = a.batch;
    options.lr = a.lr;
    // after the probe the head is fitted: a fresh AdamW at the head's rate would throw it about in
    // its first steps (the loss doubles), so it moves at the model's rate from there
    options.head_lr = head_steps > 0 ? a.lr : a.head_lr;
    options.seed = a.seed;
    train::Finetuner<cpu> tuner(model, task.head(), options);
    data::VideoLoader loader(train_split.manifest, clip_options(v, a.batch, true, a.seed));
    index_t epoch = 0;
    loader.start_epoch(epoch);
    bool any = false;
    clips = 0;
    while (tuner.steps_done() < options.steps) {
        std::optional<data::VideoBatch> b = loader.next();
        if (!b) {
            if (!any)
                throw ValueError(train_split.source + ": no full batch of " + std::to_string(a.batch) +
                                 " training videos could be decoded");
            loader.start_epoch(++epoch);
            any = false;
            continue;
        }
        any = true;
        const Tensor<std::int64_t, 1> labels = labels_of(train_split, b->items);
        const float loss = tuner.step([&] { return task.end_to_end_loss(b->video, b->items, labels); });
        report("end-to-end", tuner.steps_done(), options.steps, loss, b->video.extent(0));
    }
}

// Readers of the two classification tasks' splits.
std::vector<data::QaItem> read_questions(const std::string& option, const std::string& file) {
    return from_option(option, [&] { return data::load_video_qa(file); });
}

LabelledSplit qa_split(const std::string& name, const std::string& option, const std::string& file, const FinetuneArgs& a,
                       const data::AnswerVocabulary& answers) {
    data::ResolvedVideos<data::QaItem> resolved =
        from_option("--videos", [&] { return data::resolve_video_files(read_questions(option, file), a.videos, a.extension); });
    LabelledSplit s{name, file, {}, {}, std::move(resolved.items), std::move(resolved.skipped)};
    std::vector<data::ManifestEntry> entries;
    for (const data::QaItem& q : s.questions) {
        entries.push_back({q.video_id, q.path, q.question, std::nullopt, std::nullopt, q.index + 1});
        s.labels.push_back(answers.label(q.answer));
    }
    s.manifest = data::Manifest(std::move(entries), file);
    return s;
}

LabelledSplit action_split(const std::string& name, const std::string& option, const std::string& file, const FinetuneArgs& a) {
    const data::ActionSplit split = from_option(option, [&] { return data::load_ucf101_split(a.class_index, file); });
    LabelledSplit s{name, file, {}, {}, {}, {}};
    std::vector<data::ManifestEntry> entries;
    std::size_t line = 0;
    for (const data::ActionClip& clip : split.clips) {
        ++line;
        const fs::path path = fs::path(a.videos) / clip.path;
        std::error_code error;
        if (!fs::is_regular_file(path, error)) {
            s.missing.push_back({clip.path.string(), path});
            continue;
        }
        entries.push_back({clip.path.string(), path, clip.class_name, std::nullopt, std::nullopt, line});
        s.labels.push_back(clip.label);
    }
    s.manifest = data::Manifest(std::move(entries), file);
    return s;
}

// The split's items whose video file is missing: said once here, listed in skipped.csv.
void print_missing(const LabelledSplit& s, std::vector<Skip>& skipped) {
    for (const data::SkippedVideo& m : s.missing) skipped.push_back({s.source, m.path.string(), m.path.string() + ": no such file"});
    if (s.missing.empty()) return;
    say("%s: %zu video file%s missing under %s (left out), e.g. %s", s.name.c_str(), s.missing.size(),
        s.missing.size() == 1 ? " is" : "s are", s.missing.front().path.parent_path().c_str(),
        s.missing.front().path.c_str());
}

void check_split_sizes(const LabelledSplit& s, index_t at_least) {
    if (index_t(s.manifest.size()) < at_least)
        throw InputError(s.source + ": the " + s.name + " split has " + std::to_string(s.manifest.size()) +
                         " video(s) on disk, fewer than " + std::to_string(at_least));
}

struct Loaded {
    ModelFile file;
    SVilm<float> model;
    text::Tokenizer tokenizer;
};

// The checks every task makes before its work: the output folder, the model, the vocabulary.
Loaded prepare(const FinetuneArgs& a) {
    if (holds_files(a.out) && !a.overwrite) throw InputError(not_empty(a.out));
    for (const std::string& t : a.templates) check_template(t);
    if (!a.metrics.empty()) check_new_file("--metrics", a.metrics, a.overwrite);
    if (!fs::is_directory(a.videos)) throw InputError("--videos: " + a.videos + " is not a folder");
    ModelFile file = open_model(a.model);
    SVilm<float> model = make_model(cpu_ctx, file.config, &file.file, 0);
    quiet_libav();
    set_num_threads(a.threads);
    return {std::move(file), std::move(model), load_tokenizer()};
}

// --overwrite: an earlier run's outputs go before this one writes anything, so that the folder
// never mixes two runs (a report this run has no reason to write would otherwise survive).
void remove_previous_outputs(const FinetuneArgs& a) {
    for (const char* name : {"model.safetensors", "head.safetensors", "log.csv", "log.jsonl", "checkpoint.safetensors",
                             "skipped.csv", "confusion.csv", "confusion.png"})
        fs::remove(fs::path(a.out) / name);
}

void finish_model(const SVilm<float>& model, ClassificationTask& task, const FinetuneArgs& a) {
    save_model(model, fs::path(a.out) / "model.safetensors", {{"finetuned_task", a.task}});
    std::map<std::string, std::string> metadata = task.head_metadata();
    metadata["task"] = a.task;
    io::save_parameters(task.head(), fs::path(a.out) / "head.safetensors", metadata);
    say("wrote %s and %s", (fs::path(a.out) / "model.safetensors").c_str(), (fs::path(a.out) / "head.safetensors").c_str());
}

std::string training_words(const FinetuneArgs& a) {
    char text[240];
    if (a.freeze)
        std::snprintf(text, sizeof text, "frozen encoders, the head alone, %lld steps of %lld clips, peak lr %g",
                      (long long)a.steps, (long long)a.batch, a.head_lr);
    else if (a.probe_steps == 0)
        std::snprintf(text, sizeof text, "end to end, %lld steps of %lld clips, peak lr %g (model) / %g (head)",
                      (long long)a.steps, (long long)a.batch, a.lr, a.head_lr);
    else
        std::snprintf(text, sizeof text,
                      "end to end, %lld steps of %lld clips, peak lr %g, after %lld steps of the head alone at peak lr %g",
                      (long long)a.steps, (long long)a.batch, a.lr, (long long)a.probe_steps, a.head_lr);
    return text;
}

nlohmann::json qa_report(const char* name, const LabelledSplit& split, const Predictions& p) {
    std::vector<data::QaItem> items;
    data::QaLabels truth;
    for (const index_t i : p.items) {
        items.push_back(split.questions[std::size_t(i)]);
        truth.labels.push_back(index_t(split.labels[std::size_t(i)]));
        truth.out_of_vocabulary += split.labels[std::size_t(i)] < 0;
    }
    const data::QaAccuracy acc = data::qa_accuracy(items, truth, p.predicted);
    say("%s: top-1 %.1f%% of %zu questions (%zu with an answer outside the vocabulary, counted wrong)", name, acc.all.percent(),
        acc.all.total, acc.out_of_vocabulary);
    nlohmann::json per_type = nlohmann::json::object();
    for (const auto& [type, counts] : acc.by_type) {
        say("  %-8s %5.1f%% of %zu", type.c_str(), counts.percent(), counts.total);
        per_type[type] = counts.percent();
    }
    return {{"accuracy", acc.all.percent()}, {"count", acc.all.total}, {"per_type", per_type}};
}

void finetune_qa(const FinetuneArgs& a) {
    Loaded l = prepare(a);
    const std::vector<data::QaItem> train_items = read_questions("--train", a.train);
    const data::AnswerVocabulary answers = data::AnswerVocabulary::most_frequent(train_items, std::size_t(a.answers));
    LabelledSplit train_split = qa_split("train", "--train", a.train, a, answers);
    LabelledSplit val_split = qa_split("val", "--val", a.val, a, answers);
    LabelledSplit test_split = qa_split("test", "--test", a.test, a, answers);
    check_split_sizes(train_split, a.freeze ? 1 : a.batch);
    check_split_sizes(val_split, 1);
    check_split_sizes(test_split, 1);
    // the answer a model that ignores the video and the question would give: the most frequent
    const std::string majority = answers.answers().front();
    say("answers: the %zu most frequent of %s (chance %.1f%%, always '%s' on test: %.1f%%)", answers.size(), a.train.c_str(),
        100.0 / double(answers.size()), majority.c_str(), [&] {
            std::size_t hits = 0;
            for (const data::QaItem& q : test_split.questions) hits += q.answer == majority;
            return 100.0 * double(hits) / double(std::max<std::size_t>(test_split.questions.size(), 1));
        }());
    std::vector<Skip> skipped;
    std::size_t total_items = 0;
    for (const LabelledSplit* s : {&train_split, &val_split, &test_split}) {
        say("%s: %s, %zu questions", s->name.c_str(), s->source.c_str(), s->manifest.size());
        print_missing(*s, skipped);
        total_items += s->manifest.size() + s->missing.size();
    }
    QaTask task(l.model, l.tokenizer, index_t(answers.size()), a.hidden, a.seed);
    say("model: %s; head: MLP over [v, q, v*q], %lld -> %lld -> %lld", a.model.c_str(), (long long)(3 * l.model.config().embed_dim),
        (long long)a.hidden, (long long)answers.size());
    say("training: %s", training_words(a).c_str());
    nlohmann::json metrics{{"task", "qa"}, {"answers", answers.size()}, {"chance", 100.0 / double(answers.size())}};
    run_work([&] {
        fs::create_directories(a.out);
        remove_previous_outputs(a);
        task.read(train_split);
        train_classifier(task, l.model, train_split, a, skipped);
        for (auto [name, split] : {std::pair{"val", &val_split}, std::pair{"test", &test_split}}) {
            task.read(*split);
            const Predictions p = predict(task, *split, l.model.config().video);
            append_skipped(skipped, split->source, p.skipped);
            metrics[name] = qa_report(name, *split, p);
        }
        finish_model(l.model, task, a);
        report_skipped(a.out, skipped, total_items);
        write_metrics(a.metrics, metrics);
    });
}

nlohmann::json action_report(const char* name, const LabelledSplit& split, const Predictions& p,
                             const std::vector<std::string>& classes, const fs::path& out, bool figures) {
    std::vector<index_t> truth;
    for (const index_t i : p.items) truth.push_back(index_t(split.labels[std::size_t(i)]));
    const eval::ClassificationMetrics m = eval::classification_metrics(p.predicted, truth, index_t(classes.size()));
    say("%s: top-1 %.1f%% of %lld clips (chance %.1f%%)", name, 100 * m.accuracy, (long long)m.count, 100 * m.chance_uniform);
    if (figures) {
        std::fputs(eval::format_classification(m, classes).c_str(), stdout);
        write_confusion_csv(out / "confusion.csv", m, classes);
#if defined(SVILM_CLI_VIZ)
        write_confusion_png(out / "confusion.png", m);
#endif
    }
    return {{"top1", 100 * m.accuracy}, {"count", m.count}, {"mean_per_class", 100 * m.mean_per_class_accuracy}};
}

void finetune_action(const FinetuneArgs& a) {
    if (a.class_index.empty()) throw InputError("--class-index: --task action needs the class index (classInd.txt)");
    Loaded l = prepare(a);
    LabelledSplit train_split = action_split("train", "--train", a.train, a);
    LabelledSplit val_split = action_split("val", "--val", a.val, a);
    LabelledSplit test_split = action_split("test", "--test", a.test, a);
    check_split_sizes(train_split, a.freeze ? 1 : a.batch);
    check_split_sizes(val_split, 1);
    check_split_sizes(test_split, 1);
    const std::vector<std::string> classes = from_option("--class-index", [&] { return data::load_ucf101_classes(a.class_index); });
    std::vector<Skip> skipped;
    std::size_t total_items = 0;
    for (const LabelledSplit* s : {&train_split, &val_split, &test_split}) {
        say("%s: %s, %zu clips", s->name.c_str(), s->source.c_str(), s->manifest.size());
        print_missing(*s, skipped);
        total_items += s->manifest.size() + s->missing.size();
    }
    std::vector<std::string> names;
    for (const std::string& c : classes) names.push_back(eval::readable_class_name(c));
    const eval::ZeroShotClassifier prompts =
        eval::ZeroShotClassifier::build(names, a.templates, prompt_encoder(l.model, l.tokenizer));
    ActionTask task(l.model, prompts, a.seed);
    say("classes: %zu from %s; the classifier starts from their prompts (%s, ...)", classes.size(), a.class_index.c_str(),
        prompts.prompts(0).front().c_str());
    say("training: %s", training_words(a).c_str());
    nlohmann::json metrics{{"task", "action"}, {"classes", classes.size()}, {"chance", 100.0 / double(classes.size())}};
    run_work([&] {
        fs::create_directories(a.out);
        remove_previous_outputs(a);
        train_classifier(task, l.model, train_split, a, skipped);
        for (auto [name, split] : {std::pair{"val", &val_split}, std::pair{"test", &test_split}}) {
            const Predictions p = predict(task, *split, l.model.config().video);
            append_skipped(skipped, split->source, p.skipped);
            metrics[name] = action_report(name, *split, p, classes, a.out, split == &test_split);
        }
        finish_model(l.model, task, a);
        report_skipped(a.out, skipped, total_items);
        write_metrics(a.metrics, metrics);
    });
}

nlohmann::json rank_json(const eval::RankSummary& r) {
    return {{"r1", r.r1}, {"r5", r.r5}, {"r10", r.r10}, {"median_rank", r.median_rank}, {"mean_rank", r.mean_rank}};
}

// Text-to-video and video-to-text retrieval of the model on the test pairs; the videos that did
// not decode go to `skipped` when it is given (once: the second pass skips the same ones).
nlohmann::json retrieval_report(const char* name, const SVilm<float>& model, const text::Tokenizer& tokenizer,
                                const data::Manifest& test, const FinetuneArgs& a, std::vector<Skip>* skipped) {
    data::VideoLoader loader(test, clip_options(model.config().video, 32, false, 0));
    std::vector<float> videos, texts;
    index_t count = 0;
    const auto max_length = std::size_t(model.config().text.max_length);
    loader.start_epoch(0);
    while (std::optional<data::VideoBatch> b = loader.next()) {
        const Tensor<float, 2> v = model.encode_video(cpu_ctx, b->video);
        const text::BatchEncoding e = tokenizer.encode_batch(b->captions, max_length);
        const Tensor<float, 2> t = model.encode_text(cpu_ctx, e.ids, e.attention_mask);
        videos.insert(videos.end(), v.data(), v.data() + v.size());
        texts.insert(texts.end(), t.data(), t.data() + t.size());
        count += v.extent(0);
    }
    if (skipped) append_skipped(*skipped, a.test, loader.stats().skipped);
    if (count == 0) throw ValueError(a.test + ": no test video could be decoded");
    const index_t D = model.config().embed_dim;
    const TensorView<const float, 2> tv(texts.data(), {count, D}), vv(videos.data(), {count, D});
    const eval::RetrievalMetrics m = eval::retrieval_metrics<float>(tv, vv, {1024, a.dual_softmax});
    say("%s:\n%s", name, eval::format_retrieval(m).c_str());
    return {{"t2v", rank_json(m.text_to_video)}, {"v2t", rank_json(m.video_to_text)}, {"count", m.count},
            {"chance", rank_json(m.chance)}, {"protocol", m.protocol}};
}

void finetune_retrieval(const FinetuneArgs& a) {
    const LossSwitches losses = parse_losses(a.losses);
    Loaded l = prepare(a);
    std::vector<data::MsrvttVideo> train_videos =
        from_option("--videos", [&] {
            return data::resolve_video_files(from_option("--train", [&] { return data::load_msrvtt_data_json(a.train); }),
                                             a.videos, a.extension);
        }).items;
    const auto test_pairs = from_option("--videos", [&] {
        return data::resolve_video_files(from_option("--test", [&] { return data::load_msrvtt_test_csv(a.test); }), a.videos,
                                         a.extension);
    });
    std::vector<data::ManifestEntry> train_entries, test_entries;
    for (const data::MsrvttVideo& v : train_videos)
        for (const std::string& caption : v.captions)  // every caption is a training pair
            train_entries.push_back({v.video_id, v.path, caption, std::nullopt, std::nullopt, train_entries.size() + 1});
    for (const data::MsrvttPair& p : test_pairs.items)
        test_entries.push_back({p.video_id, p.path, p.caption, std::nullopt, std::nullopt, p.line});
    if (index_t(train_entries.size()) < a.batch)
        throw InputError("--train: " + a.train + ": " + std::to_string(train_entries.size()) +
                         " (video, caption) pairs with a video on disk, fewer than one batch of " + std::to_string(a.batch));
    if (test_entries.empty()) throw InputError("--test: " + a.test + ": no test video on disk under " + a.videos);
    const std::size_t total_items = train_entries.size() + test_entries.size();
    const data::Manifest test(std::move(test_entries), a.test);
    say("train: %s, %zu videos, %zu (video, caption) pairs", a.train.c_str(), train_videos.size(), train_entries.size());
    say("test: %s, %zu pairs%s", a.test.c_str(), test.size(),
        test_pairs.skipped.empty() ? "" : (", " + std::to_string(test_pairs.skipped.size()) + " without a video file left out").c_str());
    const text::NounExtractor nouns = text::NounExtractor::load();
    train::ManifestSource source(data::Manifest(std::move(train_entries), a.train),
                                 clip_options(l.model.config().video, a.batch, true, a.seed));
    train::TrainerOptions options;
    options.steps = a.steps;
    options.batch_size = a.batch;
    options.adamw.lr = a.lr;
    options.seed = a.seed;
    options.run_dir = a.out;
    options.losses = losses;
    say("training: %s, %lld steps of %lld clips, peak lr %g, as pre-training trains", a.losses.c_str(), (long long)a.steps,
        (long long)a.batch, a.lr);
    std::vector<Skip> skipped;
    nlohmann::json metrics{{"task", "retrieval"}};
    run_work([&] {
        fs::create_directories(a.out);
        remove_previous_outputs(a);
        metrics["zero_shot"] = retrieval_report("zero-shot", l.model, l.tokenizer, test, a, &skipped);
        train::Trainer<cpu> trainer(l.model, l.tokenizer, source, options, &nouns);
        trainer.run();
        append_skipped(skipped, a.train, source.skipped());
        metrics["fine_tuned"] = retrieval_report("fine-tuned", l.model, l.tokenizer, test, a, nullptr);
        save_model(l.model, fs::path(a.out) / "model.safetensors", {{"finetuned_task", "retrieval"}});
        say("wrote %s", (fs::path(a.out) / "model.safetensors").c_str());
        report_skipped(a.out, skipped, total_items);
        write_metrics(a.metrics, metrics);
    });
}

}  // namespace

std::vector<Subcommand> add_finetune_commands(CLI::App& app) {
    static FinetuneArgs a;
    auto* c = app.add_subcommand("finetune", "fine-tune a model on a downstream task: retrieval, video QA or actions");
    c->add_option("--task", a.task, "retrieval, qa or action")->check(one_of({"retrieval", "qa", "action"}))->required();
    c->add_option("--model", a.model, "the model to start from (a model file or checkpoint)")->check(a_path)->required();
    c->add_option("--out", a.out, "folder for the model, head, log and reports (new or empty)")->check(a_path)->required();
    c->add_option("--train", a.train,
                  "training annotations: MSR-VTT train JSON (retrieval), QA JSON (qa), a split list (action)")
        ->check(a_path)
        ->required();
    c->add_option("--val", a.val, "validation annotations (qa, action), the format of --train")->check(a_path);
    c->add_option("--test", a.test, "test annotations: the 1k-A test CSV (retrieval), QA JSON (qa), a split list (action)")
        ->check(a_path)
        ->required();
    c->add_option("--videos", a.videos, "folder of the videos (retrieval, qa: <id><extension>; action: the lists' paths)")
        ->check(a_path)
        ->required();
    c->add_option("--extension", a.extension, "appended to video ids (retrieval, qa)");
    c->add_option("--class-index", a.class_index, "action: classInd.txt (`1 ApplyEyeMakeup`)")->check(a_path);
    c->add_option("--steps", a.steps, "optimiser steps")->check(whole_number<index_t>(1));
    c->add_option("--batch", a.batch, "clips per step (2 to 4096)")->check(whole_number<index_t>(2, 4096));
    c->add_option("--lr", a.lr, "peak learning rate of the model's parameters")->check(real_number(0));
    c->add_option("--head-lr", a.head_lr, "peak learning rate of the head trained alone (qa, action; end to end without a probe)")
        ->check(real_number(0));
    c->add_flag("--freeze", a.freeze, "train the head alone on the frozen encoders' embeddings (qa, action)");
    c->add_option("--probe-steps", a.probe_steps,
                  "qa, action, end to end: first train the head alone this many steps on the starting model's embeddings")
        ->check(whole_number<index_t>(0));
    c->add_option("--answers", a.answers, "qa: the answer vocabulary, the most frequent training answers")
        ->check(whole_number<index_t>(1, 1 << 20));
    c->add_option("--hidden", a.hidden, "qa: the answer head's hidden width")->check(whole_number<index_t>(1, 1 << 16));
    c->add_option("--template", a.templates, "action: prompt templates of the classifier's start ({} is the class name; repeat for more)")
        ->default_str("classify's: \"a video of {}.\", \"something {}.\", \"an object that {}.\", \"a clip in which something {}.\"");
    c->add_option("--losses", a.losses, "retrieval: comma-separated subset of contrastive,temporal,grounding");
    c->add_option("--dual-softmax", a.dual_softmax, "retrieval: rank with the dual-softmax protocol at this temperature")
        ->check(real_number(0))
        ->default_str("0: off");
    c->add_option("--seed", a.seed, "seed of the head's initialisation and the data order")->check(whole_number<std::uint64_t>(0));
    c->add_option("--threads", a.threads, "threads (0: all cores)")->check(whole_number<int>(0, 1024));
    c->add_option("--metrics", a.metrics, "also write the numbers as JSON to this file")->check(a_path);
    c->add_flag("--overwrite", a.overwrite, "write into a non-empty --out folder");
    return {{c, [] {
                 if (a.task != "retrieval" && a.val.empty()) throw InputError("--val: --task " + a.task + " needs a validation split");
                 if (a.task == "retrieval") finetune_retrieval(a);
                 if (a.task == "qa") finetune_qa(a);
                 if (a.task == "action") finetune_action(a);
             }}};
}

}  // namespace svilm_cli
