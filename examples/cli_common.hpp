// examples/cli_common.hpp: what the svilm program's C++ translation units share (svilm_cli.cpp,
// cli_downstream.cpp, cli_finetune.cpp, cli_search.cpp): the exit statuses and the error that means a failed run, the option
// validators, opening model files and inputs, the folders a command writes, and the way a
// subcommand defined in another translation unit is registered. Host code only: nvcc never reads
// this header (cli_device.hpp is what both devices share).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "svilm/svilm.hpp"
#if defined(SVILM_CLI_PIPELINE)
#include "svilm/eval/classification.hpp"
#include "svilm/eval/zero_shot.hpp"
#include "svilm/pipeline/clip.hpp"  // inference_clip: the model's input of a video
#include "svilm/text.hpp"
#include "svilm/video.hpp"
#endif
#if defined(SVILM_CLI_VIZ)
#include "svilm/viz.hpp"
#endif
// after svilm/svilm.hpp: the CPU ops its templates call here
#include "cli_device.hpp"
#if defined(SVILM_CLI_CUDA)
#include "cli_cuda.hpp"
#endif

namespace svilm_cli {

namespace fs = std::filesystem;

// CPU ops and modules take this context first (svilm/core/context.hpp).
inline const Context<cpu> cpu_ctx;

inline constexpr int exit_failed = 1, exit_usage = 2;

// A subcommand whose options and work live in another translation unit: `run` does its work
// once the command line is parsed and names it.
struct Subcommand {
    CLI::App* command = nullptr;
    std::function<void()> run;
};

// The command failed after it started its work (exit 1).
class RunFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Runs the work itself, once every input is checked: an error from here on is a failed run,
// and `left_behind` (when given) adds what the run leaves for the user.
inline void run_work(const std::function<void()>& work, const std::function<std::string()>& left_behind = {}) {
    try {
        work();
    } catch (const std::exception& e) {
        throw RunFailure(e.what() + (left_behind ? left_behind() : std::string()));
    }
}

// Numbers are checked on their text, before CLI11 converts it: CLI11's own messages print the
// type's numeric_limits, and it would wrap -1 into an unsigned seed. A message continues the
// option's name ("--count: must be at least 1 (got -5)").
template <class T>
CLI::Validator whole_number(T min, T max = std::numeric_limits<T>::max()) {
    return CLI::Validator(
        [min, max](std::string& text) -> std::string {
            const char *first = text.data(), *last = first + text.size();
            const bool negative = first != last && *first == '-';
            T value{};
            // from_chars reads no minus sign into an unsigned type: skip it, the number is below 0 anyway
            const auto [end, error] = std::from_chars(first + (std::is_unsigned_v<T> && negative), last, value);
            if (end != last || error == std::errc::invalid_argument) return "must be a whole number (got '" + text + "')";
            const bool out_of_type = error == std::errc::result_out_of_range;
            if ((negative && (std::is_unsigned_v<T> || out_of_type)) || (!out_of_type && value < min))
                return "must be at least " + std::to_string(min) + " (got " + text + ")";
            if (out_of_type) return "is too large (got " + text + ")";
            if (value > max) return "must be at most " + std::to_string(max) + " (got " + text + ")";
            return {};
        },
        "");
}

// A finite number above `min`, or from `min` to `max` when max is given.
inline CLI::Validator real_number(double min, double max = NAN) {
    const bool bounded = !std::isnan(max);
    std::ostringstream lower, upper;
    lower << min;
    upper << max;
    return CLI::Validator(
        [=, min_text = lower.str(), max_text = upper.str()](std::string& text) -> std::string {
            double value = 0;
            const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
                return "must be a finite number (got '" + text + "')";
            if (bounded && (value < min || value > max))
                return "must be from " + min_text + " to " + max_text + " (got " + text + ")";
            if (!bounded && !(value > min)) return "must be greater than " + min_text + " (got " + text + ")";
            return {};
        },
        "");
}

inline std::string in_words(const std::vector<std::string>& names) {
    std::string list;
    for (std::size_t k = 0; k < names.size(); ++k)
        list += (k == 0 ? "" : k + 1 == names.size() ? " or " : ", ") + names[k];
    return list;
}

inline CLI::Validator one_of(const std::vector<std::string>& names) {
    return CLI::Validator(
        [names](std::string& text) -> std::string {
            for (const std::string& name : names)
                if (text == name) return {};
            return "must be " + in_words(names) + " (got '" + text + "')";
        },
        "");
}

// A path option given as "" would write into the current folder or fail on an empty name.
inline const CLI::Validator a_path(
    [](std::string& text) -> std::string { return text.empty() ? "must name a file or folder (got an empty string)" : ""; },
    "");


// A file of another kind is named as such before the parser's detail ("header length ...
// exceeds the file size").
inline io::SafetensorsFile open_safetensors(const std::string& option, const std::string& path) {
    try {
        return io::SafetensorsFile(path);
    } catch (const FormatError& e) {
        throw InputError(option + ": not a safetensors file: " + e.what());
    } catch (const Error& e) {
        throw InputError(option + ": " + e.what());
    }
}

// --device cuda needs a build with CUDA and a GPU the CUDA runtime can use: refused, with the
// reason, before any work.
inline void check_device(const std::string& device) {
    if (device != "cuda") return;
#if defined(SVILM_CLI_CUDA)
    if (const std::string reason = cuda_unavailable_reason(); !reason.empty())
        throw InputError("--device: cuda: no GPU can be used (" + reason + ")");
#else
    throw InputError("--device: cuda: this svilm was built without CUDA; configure it with -DSVILM_CUDA=ON on a "
                     "machine where nvcc (the CUDA Toolkit) is found, and build it again");
#endif
}


// The CPU as pretrain and info --device cpu describe it.
inline std::string cpu_device() {
    return "CPU, " + std::to_string(num_threads()) + " threads, float32, " + blas_backend_name() + " GEMM";
}


// --model: a model file (svilm init, pretrain's model.safetensors) or a training checkpoint, with
// its configuration.
struct ModelFile {
    io::SafetensorsFile file;
    SVilmConfig config;
};

inline ModelFile open_model(const std::string& path) {
    io::SafetensorsFile file = open_safetensors("--model", path);
    SVilmConfig config = from_option("--model", [&] { return load_model_config(file); });
    return {std::move(file), std::move(config)};
}


// The SHA-256 of a file's bytes in lowercase hex (as sha256sum prints it), read from its memory
// map: what names a model in an embeddings file's info, so that search can tell it is the same.
inline std::string file_sha256(const fs::path& path) {
    const io::MappedFile file(path);
    const std::span<const std::byte> bytes = file.bytes();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1)
        throw IoError(path.string() + ": computing its SHA-256 failed (OpenSSL)");
    static const char hex[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < length; ++i) text += {hex[digest[i] >> 4], hex[digest[i] & 15]};
    return text;
}


// The device a command runs on, in words; refuses --device cuda where it cannot run (check_device).
inline std::string describe_device(const std::string& device) {
    check_device(device);
#if defined(SVILM_CLI_CUDA)
    if (device == "cuda") return "CUDA, " + cuda_device_description() + ", float32";
#endif
    return cpu_device();
}


inline void check_new_file(const std::string& option, const std::string& path, bool overwrite) {
    if (fs::is_directory(path)) throw InputError(option + ": " + path + " is a folder, not a file");
    if (fs::exists(path) && !overwrite)
        throw InputError(option + ": " + path + " exists (pass --overwrite to replace it)");
}


#if defined(SVILM_CLI_PIPELINE)

// Whether the --out folder holds files: an earlier command's output, not to be written into
// again without --overwrite (or, for a run, --resume).
inline bool holds_files(const std::string& folder) {
    std::error_code error;
    const fs::file_status status = fs::status(folder, error);
    if (status.type() == fs::file_type::not_found) return false;
    if (error) throw InputError("--out: " + folder + ": " + error.message());
    if (!fs::is_directory(status)) throw InputError("--out: " + folder + " is a file, not a folder");
    return !fs::is_empty(folder, error);
}

inline std::string not_empty(const std::string& folder) {
    return "--out: " + folder + " is not empty: choose a new or empty folder, or pass --overwrite";
}


inline data::Manifest load_manifest(const std::string& path, const data::ManifestColumns& columns = {}) {
    data::Manifest manifest = from_option("--manifest", [&] {
        if (fs::is_directory(path)) throw IoError(path + " is a folder: give its manifest (.csv or .jsonl)");
        // a FIFO would block the read until someone writes to it
        if (fs::exists(path) && !fs::is_regular_file(path)) throw IoError(path + " is not a regular file");
        return data::Manifest::load(path, columns);
    });
    if (manifest.size() == 0) throw InputError("--manifest: " + path + " lists no videos");
    return manifest;
}

// --data-dir, svilm's global option (empty: svilm::data_directory()'s search, docs/install.md).
inline std::string data_dir_option;

// --precision, svilm's global option: the precision of the Linear layers in the commands that
// only run the model (svilm/ops/precision.hpp); the training commands refuse anything but fp32.
inline std::string precision_option = "fp32";

// A model file's model on the CPU for a command that only runs it, at --precision.
inline SVilm<float, cpu> make_inference_model(const SVilmConfig& config, const io::SafetensorsFile& file) {
    SVilm<float, cpu> model = make_model(cpu_ctx, config, &file, 0);
    model.parameters().set_inference_precision(parse_precision(precision_option));
    return model;
}

// --video-column, --caption-column, --start-column, --end-column: the manifest's own names.
inline void add_manifest_column_options(CLI::App* command, data::ManifestColumns& columns) {
    command->add_option("--video-column", columns.video, "the manifest's column (CSV) or key (JSON Lines) of video paths");
    command->add_option("--caption-column", columns.caption, "the manifest's column or key of captions");
    command->add_option("--start-column", columns.start, "the manifest's column or key of start times (seconds; optional)");
    command->add_option("--end-column", columns.end, "the manifest's column or key of end times (seconds; optional)");
}

inline text::Tokenizer load_tokenizer() {
    // data_directory()'s error names the place at fault itself (--data-dir, SVILM_DATA_DIR, or all of them)
    return text::Tokenizer(text::Vocabulary::load(vocabulary_path(data_directory(data_dir_option))));
}


inline std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + '"';
}


// libav's own lines about a bad video would repeat, between the progress lines, what the
// program reports with each skipped video's reason.
inline void quiet_libav() { video::set_libav_log_level(AV_LOG_FATAL); }


// --losses: a comma-separated subset of contrastive, temporal, grounding; anything else is named.
inline LossSwitches parse_losses(const std::string& list) {
    LossSwitches losses{false, false, false};
    std::stringstream names(list);
    for (std::string name; std::getline(names, name, ',');) {
        if (name == "contrastive") losses.contrastive = true;
        else if (name == "temporal") losses.temporal = true;
        else if (name == "grounding") losses.grounding = true;
        else throw InputError("--losses: '" + name + "' is not contrastive, temporal or grounding");
    }
    if (!losses.contrastive && !losses.temporal && !losses.grounding)
        throw InputError("--losses: name at least one of contrastive, temporal, grounding");
    return losses;
}

// Prompts for class names written as words ("moves left"): each says the name as what happens in
// the video, and the ensemble averages away the wording of any one.
inline const std::vector<std::string> default_templates = {"a video of {}.", "something {}.", "an object that {}.",
                                                    "a clip in which something {}."};

// --template: a prompt template must say where the class name goes.
inline void check_template(const std::string& t) {
    if (t.find("{}") == std::string::npos) throw InputError("--template: '" + t + "' has no {} for the class name");
}

// A whole file written at once (io::write_file_atomically): never half a file.
inline void write_text(const fs::path& path, const std::string& text) {
    io::write_file_atomically(path, [&](const auto& append) { append(text.data(), text.size()); });
}

// --metrics: the numbers of a command as JSON, when a path is given.
inline void write_metrics(const std::string& path, const nlohmann::json& metrics) {
    if (path.empty()) return;
    write_text(path, metrics.dump(2) + "\n");
    say("wrote %s", path.c_str());
}

inline void write_confusion_csv(const fs::path& path, const eval::ClassificationMetrics& m, const std::vector<std::string>& classes) {
    std::string text = csv_field("true \\ predicted");
    for (const std::string& name : classes) text += ',' + csv_field(name);
    text += '\n';
    for (index_t r = 0; r < m.classes; ++r) {
        text += csv_field(classes[std::size_t(r)]);
        for (index_t c = 0; c < m.classes; ++c) text += ',' + std::to_string(m.confusion(r, c));
        text += '\n';
    }
    write_text(path, text);
}

#if defined(SVILM_CLI_VIZ)
// The confusion matrix with each true class's row as fractions of its samples (grey: a class
// without samples), one square of viridis per cell, no text: the CSV names the rows and columns.
inline void write_confusion_png(const fs::path& path, const eval::ClassificationMetrics& m) {
    const index_t K = m.classes;
    Tensor<double, 2> rows({K, K});
    for (index_t r = 0; r < K; ++r) {
        index_t samples = 0;
        for (index_t c = 0; c < K; ++c) samples += m.confusion(r, c);
        for (index_t c = 0; c < K; ++c)
            rows(r, c) = samples ? double(m.confusion(r, c)) / double(samples) : std::nan("");
    }
    const index_t cell = std::max<index_t>(4, 256 / K);
    viz::write_png(path, viz::heat_map<double>(rows, cell, {0.0, 1.0}));
}
#endif

// A video left out, with where it was listed (a split list, a ground truth subset) and why.
struct Skip {
    std::string source, video, reason;
};

// The count and the first reasons, every skip in OUT/skipped.csv when there is an --out. A video
// skipped by two steps of one command (retrieval, then grounding) is one video in the count and
// a line per step in the file. With nothing skipped, an earlier run's OUT/skipped.csv (a run
// given --overwrite or --resume) is removed, so the folder describes this run only.
inline void report_skipped(const std::string& out, const std::vector<Skip>& skipped, std::size_t total) {
    if (skipped.empty()) {
        if (!out.empty()) {
            std::error_code ignored;
            fs::remove(fs::path(out) / "skipped.csv", ignored);
        }
        return;
    }
    std::string where = " (give --out to list them all in a file)";
    if (!out.empty()) {
        std::string text = "source,video,reason\n";
        for (const Skip& s : skipped) text += csv_field(s.source) + ',' + csv_field(s.video) + ',' + csv_field(s.reason) + '\n';
        const fs::path report = fs::path(out) / "skipped.csv";
        write_text(report, text);
        where = ", each with its reason in " + report.string();
    }
    std::set<std::string> videos;
    for (const Skip& s : skipped) videos.insert(s.video);
    say("skipped %zu of %zu videos%s:", videos.size(), total, where.c_str());
    const std::size_t shown = std::min<std::size_t>(skipped.size(), 3);
    for (std::size_t k = 0; k < shown; ++k) say("  %s", skipped[k].reason.c_str());
    if (skipped.size() > shown) say("  ... and %zu more", skipped.size() - shown);
}

// Prompts -> their text embeddings (P, D) under the model, all at once (for eval::ZeroShotClassifier).
inline eval::ZeroShotClassifier::TextEncoder prompt_encoder(const SVilm<float, cpu>& model, const text::Tokenizer& tokenizer) {
    return [&model, &tokenizer](const std::vector<std::string>& prompts) {
        const text::BatchEncoding encoded = tokenizer.encode_batch(prompts, std::size_t(model.config().text.max_length));
        return model.encode_text(cpu_ctx, encoded.ids, encoded.attention_mask);
    };
}

// The downstream tasks' programs (docs/downstream.md), each in its own translation unit:
// cli_downstream.cpp registers probe, classify and localize and writes the synthetic downstream
// datasets for `svilm synth --task`; cli_finetune.cpp registers finetune.
std::vector<Subcommand> add_downstream_commands(CLI::App& app);
// svilm synth --task retrieval|qa|action|localisation: the task's synthetic dataset in its real
// dataset's layout under `out`, `counts` ("TRAIN,VAL,TEST,TEST_UNSEEN"; empty: the task's
// defaults) items per split; prints the annotation files it wrote.
void synth_downstream(const std::string& task, const std::string& counts, std::uint64_t seed, const std::string& out,
                      bool overwrite);
std::vector<Subcommand> add_finetune_commands(CLI::App& app);
// cli_inference.cpp: embed, features and ground, on the user's own videos through svilm::Pipeline.
std::vector<Subcommand> add_inference_commands(CLI::App& app);
// svilm classify without --list: each of the videos (files, folders, manifests, lists) against
// the class names (--classes "a,b" or a --class-names file), prompt templates ensembled.
void classify_videos(const std::string& model, const std::vector<std::string>& inputs,
                     const std::string& classes, const std::string& class_names, const std::vector<std::string>& templates,
                     const std::string& out, const std::string& metrics, bool overwrite);

// cli_evaluate.cpp: svilm evaluate (retrieval, grounding and temporal scores on a manifest).
Subcommand add_evaluate_command(CLI::App& app);

#if defined(SVILM_CLI_SEARCH)
// cli_search.cpp: index (a FAISS index of an embeddings file) and search (text queries against it).
std::vector<Subcommand> add_search_commands(CLI::App& app);
#endif

#endif

}  // namespace svilm_cli
