// The svilm program's commands for a user's own videos, all through svilm::Pipeline
// (svilm/pipeline.hpp):
//
//   svilm embed     videos (files, folders, manifests, lists) -> one embedding per video, or per
//                   window of a long video; safetensors and .npy; resumable; bad videos skipped
//   svilm ground    a video and a caption -> each noun phrase's group map over the frames, as a
//                   figure (Figure 4) and as data
//   svilm features  sliding-window features of long videos for temporal localisation heads: one
//                   (num_windows, D) array per video and the times of its windows
//   svilm classify  (without --list) zero-shot classification of any videos against class names
//
// docs/programs/ has a page for each.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "svilm/io/embedding_file.hpp"
#include "svilm/pipeline.hpp"
#include "svilm/train/progress.hpp"
#if defined(SVILM_CLI_VIZ)
#include "svilm/pipeline/figure.hpp"
#endif

namespace svilm_cli {

namespace {

// ---- inputs: files, folders, manifests, lists ----------------------------------------------------

// A video to read and the id its outputs are named by.
struct VideoInput {
    fs::path path;
    std::string id;
};

const std::set<std::string> video_extensions = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg",
                                                ".wmv", ".flv", ".ts",  ".3gp", ".ogv", ".mts", ".m2ts"};

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool is_video_name(const fs::path& p) { return video_extensions.count(lower(p.extension().string())) > 0; }

// Each input is a video file, a folder (its video files, recursively, sorted), a manifest (.csv or
// .jsonl: its video column) or a list (.txt: one path per line, relative to the list's folder).
// Ids are file names without extension; a name met again gets _2, _3, ... in input order.
std::vector<VideoInput> collect_videos(const std::vector<std::string>& inputs) {
    std::vector<fs::path> paths;
    for (const std::string& input : inputs) {
        std::error_code error;
        const fs::file_status status = fs::status(input, error);
        if (status.type() == fs::file_type::not_found) {
            paths.emplace_back(input);  // reported as a skipped video with its reason, not a usage error
        } else if (fs::is_directory(status)) {
            std::vector<fs::path> found;
            for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, error);
                 !error && it != fs::recursive_directory_iterator(); it.increment(error))
                if (it->is_regular_file() && is_video_name(it->path())) found.push_back(it->path());
            if (error) throw InputError("VIDEOS: " + input + ": " + error.message());
            if (found.empty()) throw InputError("VIDEOS: " + input + " holds no video files (" + std::to_string(video_extensions.size()) +
                                                " extensions are looked for, .mp4, .avi, .mkv among them)");
            std::sort(found.begin(), found.end());
            paths.insert(paths.end(), found.begin(), found.end());
        } else {
            const std::string ext = lower(fs::path(input).extension().string());
            if (ext == ".csv" || ext == ".jsonl" || ext == ".ndjson") {
                const data::Manifest manifest = load_manifest(input);
                for (const data::ManifestEntry& e : manifest.entries()) paths.push_back(e.path);
            } else if (ext == ".txt") {
                const std::string text = from_option("VIDEOS", [&] { return data::read_text_file(input, "the list of videos"); });
                const fs::path base = fs::path(input).parent_path();
                data::for_each_line(text, [&](std::string_view line, std::size_t) {
                    const std::string name(data::trim(line));
                    if (!name.empty()) paths.push_back(fs::path(name).is_absolute() ? fs::path(name) : base / name);
                });
            } else {
                paths.emplace_back(input);
            }
        }
    }
    if (paths.empty()) throw InputError("VIDEOS: the inputs list no videos");
    // ids name output files (features/<id>.npy): a file name, never a path
    std::vector<VideoInput> videos;
    std::set<std::string> ids;
    for (const fs::path& p : paths) {
        std::string stem = p.stem().string();
        if (stem.empty() || stem == "." || stem == "..") stem = "video";
        std::string id = stem;
        for (int k = 2; ids.count(id); ++k) id = stem + "_" + std::to_string(k);
        ids.insert(id);
        videos.push_back({p, id});
    }
    return videos;
}

// ---- the pipeline --------------------------------------------------------------------------------

struct InferenceOptions {
    std::string model, out, metrics, caption, video, classes, class_names;
    std::vector<std::string> inputs, templates;
    double window = 0, stride = 0;
    index_t batch = 8, chunk = 256, top = 3;
    int workers = 2, display_size = 224;
    bool overwrite = false, resume = false;
};

std::unique_ptr<Pipeline<>> open_pipeline(const InferenceOptions& o) {
    open_model(o.model);  // refused here, with what the file is, before the pipeline's other work
    PipelineOptions p;
    p.model = o.model;
    // found before the pipeline is built, so that its error names the data directory, not --model
    p.data_dir = data_directory(data_dir_option);
    p.batch = o.batch;
    p.workers = o.workers;
    p.display_size = o.display_size;
    p.precision = parse_precision(precision_option);
    auto pipeline = from_option("--model", [&] { return std::make_unique<Pipeline<>>(p, cpu_ctx); });
    const VideoConfig& v = pipeline->config().video;
    say("model: %s: clips of %lld frames at %lldx%lld, embeddings of %lld (%s, %s)", o.model.c_str(), (long long)v.frames,
        (long long)v.image_size, (long long)v.image_size, (long long)pipeline->embedding_dim(), cpu_device().c_str(),
        precision_option.c_str());
    quiet_libav();
    return pipeline;
}

// What produced the embeddings, kept with them so an index or a later run can tell.
nlohmann::json embedding_info(const InferenceOptions& o, const Pipeline<>& p, const std::string& kind) {
    const video::ClipOptions clip = p.clip_options();
    nlohmann::json preprocessing = {{"frames", clip.sampling.count},
                                    {"sampling", "uniform over the video or window"},
                                    {"size", clip.size},
                                    {"crop", "centre square"},
                                    {"mean", clip.normalization.mean},
                                    {"std", clip.normalization.std}};
    if (kind == "windows") preprocessing["window_seconds"] = o.window, preprocessing["stride_seconds"] = o.stride;
    return {{"kind", kind},
            {"model", fs::absolute(o.model).lexically_normal().string()},
            {"model_sha256", file_sha256(o.model)},
            {"precision", precision_option},
            {"embedding_dim", p.embedding_dim()},
            {"preprocessing", preprocessing},
            {"svilm_version", version_string}};
}

std::string time_id(const std::string& id, double start, double end) {
    char text[64];
    std::snprintf(text, sizeof text, "@%.3f-%.3f", start, end);
    return id + text;
}

// ---- svilm embed -----------------------------------------------------------------------------------

// The run is written in parts of --chunk videos (OUT/parts/NNNNN.safetensors, each with the
// skips of its videos): an interrupted run given again with --resume redoes only the parts that
// are missing. At the end the parts are joined into OUT/embeddings.safetensors and .npy.
struct Part {
    io::EmbeddingSet set;
    std::vector<Skip> skipped;
};

fs::path part_path(const fs::path& out, std::size_t part) {
    char name[48];
    std::snprintf(name, sizeof name, "%05zu.safetensors", part);
    return out / "parts" / name;
}

void save_part(const fs::path& path, Part& part) {
    nlohmann::json skipped = nlohmann::json::array();
    for (const Skip& s : part.skipped) skipped.push_back({{"video", s.video}, {"reason", s.reason}});
    part.set.info["skipped"] = skipped;
    io::save_embeddings(part.set, path);
}

Part load_part(const fs::path& path) {
    Part part;
    part.set = io::load_embeddings(path);
    for (const nlohmann::json& s : part.set.info.value("skipped", nlohmann::json::array()))
        part.skipped.push_back({"VIDEOS", s.at("video").get<std::string>(), s.at("reason").get<std::string>()});
    return part;
}

// The inputs a part covers, as saved in it: a part read back must cover exactly the same videos
// under the same ids (the inputs, their order or --chunk may have changed since).
nlohmann::json stretch_of(const std::vector<VideoInput>& videos, std::size_t first, std::size_t count) {
    nlohmann::json paths = nlohmann::json::array(), ids = nlohmann::json::array();
    for (std::size_t k = first; k < first + count; ++k) {
        paths.push_back(videos[k].path.string());
        ids.push_back(videos[k].id);
    }
    return {{"first", first}, {"videos", paths}, {"ids", ids}};
}

void check_resumed_part(const Part& part, const fs::path& path, const nlohmann::json& info, const nlohmann::json& stretch) {
    const std::string start_again = "; start again with --overwrite";
    if (part.set.info.value("model_sha256", "") != info["model_sha256"])
        throw InputError("--resume: " + path.string() + " was written with another model" + start_again);
    if (part.set.info.value("precision", "fp32") != info["precision"])
        throw InputError("--resume: " + path.string() + " was written at --precision " +
                         part.set.info.value("precision", "fp32") + start_again);
    if (part.set.info.value("preprocessing", nlohmann::json()) != info["preprocessing"])
        throw InputError("--resume: " + path.string() + " was written with other frames, sizes or windows" + start_again);
    if (part.set.info.value("stretch", nlohmann::json()) != stretch)
        throw InputError("--resume: " + path.string() + " covers other videos than this run gives that part (the inputs, "
                         "their order or --chunk changed)" + start_again);
}

Part embed_part(const Pipeline<>& p, const InferenceOptions& o, const std::vector<VideoInput>& videos, std::size_t first,
                std::size_t count, const nlohmann::json& info, const std::function<void(std::size_t)>& done) {
    Part part;
    part.set.info = info;
    const index_t D = p.embedding_dim();
    std::vector<float> rows;
    auto add = [&](TensorView<const float, 2> e) { rows.insert(rows.end(), e.data(), e.data() + e.size()); };
    if (o.window > 0) {
        for (std::size_t k = first; k < first + count; ++k) {
            const VideoInput& v = videos[k];
            try {
                const WindowEmbeddings w = p.embed_windows(v.path, o.window, o.stride);
                add(w.embeddings.view());
                for (std::size_t i = 0; i < w.start.size(); ++i)
                    part.set.rows.push_back({time_id(v.id, w.start[i], w.end[i]), v.path.string(), w.start[i], w.end[i]});
            } catch (const Error& e) {
                part.skipped.push_back({"VIDEOS", v.path.string(), e.what()});
            }
            done(k - first + 1);
        }
    } else {
        std::vector<fs::path> paths;
        for (std::size_t k = first; k < first + count; ++k) paths.push_back(videos[k].path);
        const EmbeddedVideos e = p.embed_videos(paths, [&](index_t n, index_t) { done(std::size_t(n)); });
        add(e.embeddings.view());
        for (const std::size_t i : e.inputs) part.set.rows.push_back({videos[first + i].id, videos[first + i].path.string()});
        for (const SkippedVideo& s : e.skipped) part.skipped.push_back({"VIDEOS", s.path.string(), s.reason});
    }
    part.set.vectors = Tensor<float, 2>({index_t(part.set.rows.size()), D}, uninitialized);
    std::copy(rows.begin(), rows.end(), part.set.vectors.data());
    return part;
}

void write_items_csv(const fs::path& path, const std::vector<io::EmbeddingRow>& rows) {
    std::string text = "row,id,video,start,end\n";
    char times[64];
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const io::EmbeddingRow& row = rows[r];
        if (std::isnan(row.start)) times[0] = ',', times[1] = 0;
        else std::snprintf(times, sizeof times, "%.3f,%.3f", row.start, row.end);
        text += std::to_string(r) + ',' + csv_field(row.id) + ',' + csv_field(row.video) + ',' + times + '\n';
    }
    write_text(path, text);
}

void embed(const InferenceOptions& o) {
    if (o.out.empty()) throw InputError("--out: name the folder for the embeddings");
    if (holds_files(o.out) && !o.overwrite && !o.resume) throw InputError(not_empty(o.out) + " (or --resume an interrupted run)");
    if ((o.window > 0) != (o.stride > 0)) throw InputError("--stride: give --window and --stride together (seconds)");
    const std::vector<VideoInput> videos = collect_videos(o.inputs);
    const auto pipeline = open_pipeline(o);
    const nlohmann::json info = embedding_info(o, *pipeline, o.window > 0 ? "windows" : "videos");
    const fs::path out = o.out;
    const std::size_t parts = (videos.size() + std::size_t(o.chunk) - 1) / std::size_t(o.chunk);
    say("videos: %zu in %zu part(s) of up to %lld%s", videos.size(), parts, (long long)o.chunk,
        o.window > 0 ? ", each cut into windows" : "");
    run_work([&] {
        if (o.overwrite && !o.resume) {
            for (const char* name : {"parts", "embeddings.safetensors", "embeddings.npy", "items.csv", "skipped.csv"})
                fs::remove_all(out / name);
        }
        fs::create_directories(out / "parts");
        train::ProgressLine progress;
        std::size_t done_before = 0, reused = 0;
        std::vector<Part> all;
        for (std::size_t part = 0; part < parts; ++part) {
            const std::size_t first = part * std::size_t(o.chunk), count = std::min(std::size_t(o.chunk), videos.size() - first);
            const fs::path path = part_path(out, part);
            if (o.resume && fs::exists(path)) {
                Part p = from_option("--resume", [&] { return load_part(path); });
                check_resumed_part(p, path, info, stretch_of(videos, first, count));
                all.push_back(std::move(p));
                done_before += count;
                ++reused;
                continue;
            }
            Part p = embed_part(*pipeline, o, videos, first, count, info, [&](std::size_t n) {
                const std::size_t done = first + n;
                progress.update(std::int64_t(done), std::int64_t(videos.size()), double(done - done_before), "videos",
                                "part " + std::to_string(part + 1) + "/" + std::to_string(parts));
            });
            p.set.info["stretch"] = stretch_of(videos, first, count);
            save_part(path, p);
            all.push_back(std::move(p));
        }
        if (reused) say("resumed: %zu part(s) were already written", reused);
        io::EmbeddingSet joined;
        joined.info = info;
        std::vector<Skip> skipped;
        index_t rows = 0;
        for (const Part& p : all) rows += p.set.vectors.extent(0);
        joined.vectors = Tensor<float, 2>({rows, pipeline->embedding_dim()}, uninitialized);
        index_t row = 0;
        for (const Part& p : all) {
            std::copy(p.set.vectors.data(), p.set.vectors.data() + p.set.vectors.size(), joined.vectors.data() + row * pipeline->embedding_dim());
            row += p.set.vectors.extent(0);
            joined.rows.insert(joined.rows.end(), p.set.rows.begin(), p.set.rows.end());
            skipped.insert(skipped.end(), p.skipped.begin(), p.skipped.end());
        }
        joined.info["videos"] = videos.size();
        joined.info["skipped"] = skipped.size();
        if (rows == 0) throw Error("none of the " + std::to_string(videos.size()) + " videos could be read" +
                                   (skipped.empty() ? "" : ": " + skipped.front().reason));
        io::save_embeddings(joined, out / "embeddings.safetensors");
        io::save_npy(joined.vectors.view(), out / "embeddings.npy");
        write_items_csv(out / "items.csv", joined.rows);
        report_skipped(o.out, skipped, videos.size());
        fs::remove_all(out / "parts");
        say("wrote %s/embeddings.safetensors and embeddings.npy: %lld x %lld (rows in items.csv: id, video, start, end)",
            o.out.c_str(), (long long)rows, (long long)pipeline->embedding_dim());
    });
}

// ---- svilm features ----------------------------------------------------------------------------------

// One (num_windows, D) array per video, named by its id, and what a localisation pipeline needs to
// place each row in time: OUT/features/<id>.npy, OUT/video_info.csv, OUT/features.json.
void features(const InferenceOptions& o) {
    if (o.out.empty()) throw InputError("--out: name the folder for the features");
    if (holds_files(o.out) && !o.overwrite) throw InputError(not_empty(o.out));
    const std::vector<VideoInput> videos = collect_videos(o.inputs);
    const auto pipeline = open_pipeline(o);
    const double stride = o.stride > 0 ? o.stride : o.window / 2;
    say("windows: %g s every %g s, %lld frames each (uniform), the global video embedding per window", o.window, stride,
        (long long)pipeline->config().video.frames);
    run_work([&] {
        const fs::path out = o.out;
        if (o.overwrite) fs::remove_all(out / "features");
        fs::create_directories(out / "features");
        train::ProgressLine progress;
        std::vector<Skip> skipped;
        nlohmann::json per_video = nlohmann::json::object();
        std::string info_csv = "id,video,fps,duration,windows,window,stride,feature_dim\n";
        index_t windows = 0;
        for (std::size_t k = 0; k < videos.size(); ++k) {
            const VideoInput& v = videos[k];
            std::optional<WindowEmbeddings> read;
            try {
                read = pipeline->embed_windows(v.path, o.window, stride);
            } catch (const Error& e) {
                skipped.push_back({"VIDEOS", v.path.string(), e.what()});
            }
            // a write that fails ends the run: the video was read, nothing is wrong with it
            if (read) {
                const WindowEmbeddings& w = *read;
                io::save_npy(w.embeddings.view(), out / "features" / (v.id + ".npy"));
                per_video[v.id] = {{"video", v.path.string()}, {"fps", w.fps},   {"duration", w.duration},
                                   {"start", w.start},         {"end", w.end}};
                char row[160];
                std::snprintf(row, sizeof row, ",%.6g,%.6g,%zu,%g,%g,%lld\n", w.fps, w.duration, w.start.size(), o.window,
                              stride, (long long)pipeline->embedding_dim());
                info_csv += csv_field(v.id) + ',' + csv_field(v.path.string()) + row;
                windows += index_t(w.start.size());
            }
            progress.update(std::int64_t(k + 1), std::int64_t(videos.size()), double(k + 1), "videos",
                            std::to_string(windows) + " windows");
        }
        if (per_video.empty()) throw Error("none of the " + std::to_string(videos.size()) + " videos could be read: " + skipped.front().reason);
        write_text(out / "video_info.csv", info_csv);
        nlohmann::json meta = embedding_info(o, *pipeline, "windows");
        meta["window_seconds"] = o.window;
        meta["stride_seconds"] = stride;
        meta["pooling"] = "global video embedding of each window (mean over tokens, LayerNorm, video_proj, L2)";
        meta["layout"] = "features/<id>.npy: float32 (num_windows, feature_dim), row i covers [start[i], end[i]) seconds";
        meta["videos"] = per_video;
        write_text(out / "features.json", meta.dump(1) + "\n");
        report_skipped(o.out, skipped, videos.size());
        say("wrote %zu feature arrays (%lld windows) to %s/features, times in features.json, one row per video in "
            "video_info.csv",
            std::size_t(per_video.size()), (long long)windows, o.out.c_str());
    });
}

// ---- svilm ground ------------------------------------------------------------------------------------

void ground(const InferenceOptions& o) {
    if (o.out.empty()) throw InputError("--out: name the folder for the figure and the maps");
    if (holds_files(o.out) && !o.overwrite) throw InputError(not_empty(o.out));
    if (o.caption.empty()) throw InputError("--caption: give the caption whose nouns are grounded");
    if (!fs::is_regular_file(o.video)) throw InputError("--video: " + o.video + " is not a file");
    const auto pipeline = open_pipeline(o);
    run_work([&] {
        const Grounding g = pipeline->ground(o.video, o.caption);
        const fs::path out = o.out;
        fs::create_directories(out);
        std::string times;
        for (const double t : g.times) {
            char text[32];
            std::snprintf(text, sizeof text, "%s%.2f", times.empty() ? "" : ", ", t);
            times += text;
        }
        say("frames: %zu at %s s (display %lldx%lld)", g.times.size(), times.c_str(), (long long)g.frames.extent(1),
            (long long)g.frames.extent(2));
        if (g.nouns.empty()) say("no groundable noun in \"%s\": the figure shows the frames alone", o.caption.c_str());
        nlohmann::json nouns = nlohmann::json::array();
        for (std::size_t k = 0; k < g.nouns.size(); ++k) {
            const GroundedNoun& n = g.nouns[k];
            say("  %-24s -> group %lld (cosine %.3f; runner-up %.3f)", ("\"" + n.phrase + "\"").c_str(), (long long)n.group,
                double(n.similarities[std::size_t(n.group)]), [&] {
                    float second = -2;
                    for (std::size_t m = 0; m < n.similarities.size(); ++m)
                        if (index_t(m) != n.group) second = std::max(second, n.similarities[m]);
                    return double(second);
                }());
            nouns.push_back({{"phrase", n.phrase}, {"prompt", n.prompt}, {"group", n.group}, {"similarities", n.similarities},
                             {"map", "map_" + std::to_string(k)}});
        }
        io::SafetensorsWriter writer;
        writer.add("frames", g.frames);
        for (std::size_t k = 0; k < g.nouns.size(); ++k) writer.add("map_" + std::to_string(k), g.nouns[k].map);
        nlohmann::json meta = {{"video", g.video.string()},   {"caption", g.caption},   {"frame_indices", g.frame_indices},
                               {"times", g.times},            {"nouns", nouns},
                               {"layout", "frames: uint8 (T, H, W, 3); map_k: float32 (T, H, W), the group's assignment "
                                          "probability per display pixel"}};
        writer.set_metadata("grounding", meta.dump());
        writer.write(out / "maps.safetensors");
        write_text(out / "grounding.json", meta.dump(1) + "\n");
#if defined(SVILM_CLI_VIZ)
        viz::write_png(out / "grounding.png", grounding_figure(g));
        say("wrote %s/grounding.png, maps.safetensors (frames and one map per noun) and grounding.json", o.out.c_str());
#else
        say("wrote %s/maps.safetensors and grounding.json (this svilm was built without PNG figures)", o.out.c_str());
#endif
    });
}

// ---- svilm classify (videos and class names) ---------------------------------------------------------

// --classes "a,b,c" or --class-names FILE: the class names as prompts say them.
std::vector<std::string> given_classes(const InferenceOptions& o) {
    std::vector<std::string> names;
    if (!o.classes.empty()) {
        std::stringstream list(o.classes);
        for (std::string name; std::getline(list, name, ',');)
            if (const std::string n(data::trim(name)); !n.empty()) names.push_back(n);
    } else {
        const std::string text = from_option("--class-names", [&] { return data::read_text_file(o.class_names, "the class names"); });
        data::for_each_line(text, [&](std::string_view line, std::size_t) {
            if (const std::string n(data::trim(line)); !n.empty()) names.push_back(n);
        });
    }
    std::set<std::string> seen;
    for (const std::string& n : names)
        if (!seen.insert(n).second) throw InputError("--classes: '" + n + "' is given twice");
    if (names.size() < 2) throw InputError("--classes: give two or more class names (got " + std::to_string(names.size()) + ")");
    return names;
}

}  // namespace

void classify_videos(const std::string& model, const std::vector<std::string>& inputs,
                     const std::string& classes, const std::string& class_names, const std::vector<std::string>& templates,
                     const std::string& out, const std::string& metrics, bool overwrite) {
    InferenceOptions o;
    o.model = model, o.inputs = inputs, o.classes = classes, o.class_names = class_names;
    if (!out.empty() && holds_files(out) && !overwrite) throw InputError(not_empty(out));
    if (!metrics.empty()) check_new_file("--metrics", metrics, overwrite);
    if (classes.empty() == class_names.empty())
        throw InputError("--classes: give the class names, as --classes \"a,b,c\" or --class-names FILE (one per line)");
    const std::vector<std::string> names = given_classes(o);
    const std::vector<std::string>& used = templates.empty() ? default_templates : templates;
    for (const std::string& t : used) check_template(t);
    const std::vector<VideoInput> videos = collect_videos(inputs);
    const auto pipeline = open_pipeline(o);
    say("classes: %zu (%s)", names.size(), in_words(names).c_str());
    for (const std::string& t : used) say("template: \"%s\"", t.c_str());
    say("the %zu templates are ensembled: a class is the mean of its prompts' L2-normalised embeddings", used.size());
    run_work([&] {
        // (K, D): each class's prompts embedded, averaged, normalised
        const eval::ZeroShotClassifier classifier = eval::ZeroShotClassifier::build(
            names, used, [&](const std::vector<std::string>& prompts) { return pipeline->embed_text(prompts); });
        const index_t K = classifier.classes();
        std::vector<fs::path> paths;
        for (const VideoInput& v : videos) paths.push_back(v.path);
        train::ProgressLine progress;
        const EmbeddedVideos e = pipeline->embed_videos(paths, [&](index_t n, index_t total) {
            progress.update(n, total, double(n), "videos", "classifying");
        });
        const Tensor<float, 2> scores = classifier.scores(e.embeddings);  // (N, K) cosines
        std::string csv = "id,video,class,score";
        for (const std::string& n : names) csv += ',' + csv_field(n);
        csv += '\n';
        nlohmann::json counts = nlohmann::json::object();
        const index_t shown = std::min<index_t>(o.top, K);
        for (index_t i = 0; i < scores.extent(0); ++i) {
            std::vector<index_t> order(static_cast<std::size_t>(K));
            std::iota(order.begin(), order.end(), index_t(0));
            std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return scores(i, a) > scores(i, b); });
            const VideoInput& v = videos[e.inputs[std::size_t(i)]];
            std::string line = v.id + ":";
            for (index_t r = 0; r < shown; ++r) {
                char cell[32];
                std::snprintf(cell, sizeof cell, " %.3f", double(scores(i, order[std::size_t(r)])));
                line += (r ? ", " : " ") + names[std::size_t(order[std::size_t(r)])] + cell;
            }
            say("%s", line.c_str());
            counts[names[std::size_t(order[0])]] = counts.value(names[std::size_t(order[0])], 0) + 1;
            char top[32];
            std::snprintf(top, sizeof top, "%.6f", double(scores(i, order[0])));
            csv += csv_field(v.id) + ',' + csv_field(v.path.string()) + ',' + csv_field(names[std::size_t(order[0])]) + ',' + top;
            for (index_t k = 0; k < K; ++k) {
                std::snprintf(top, sizeof top, ",%.6f", double(scores(i, k)));
                csv += top;
            }
            csv += '\n';
        }
        std::vector<Skip> skipped;
        for (const SkippedVideo& s : e.skipped) skipped.push_back({"VIDEOS", s.path.string(), s.reason});
        if (!out.empty()) {
            fs::create_directories(out);
            write_text(fs::path(out) / "predictions.csv", csv);
            say("wrote %s/predictions.csv (each video's class, its cosine, and the cosine of every class)", out.c_str());
        }
        report_skipped(out, skipped, videos.size());
        write_metrics(metrics, {{"task", "classify"}, {"videos", scores.extent(0)}, {"skipped", skipped.size()},
                                {"classes", names}, {"templates", used}, {"predicted", counts}});
        if (scores.extent(0) == 0) throw Error("none of the " + std::to_string(videos.size()) + " videos could be read");
    });
}

namespace {

const char* const embed_help =
    "One embedding per video (the global video embedding: T frames uniformly over the video, the centre square, no\n"
    "augmentation), or with --window/--stride one per window of each video (T frames uniformly inside the window).\n"
    "VIDEOS are video files, folders (their video files, recursively, sorted), manifests (.csv, .jsonl: the video\n"
    "column) or lists (.txt: one path per line). Writes OUT/embeddings.safetensors (tensor `embeddings` (N, D),\n"
    "`start`/`end` seconds for windows; metadata: each row's id and video, the model file and its SHA-256, the\n"
    "preprocessing), OUT/embeddings.npy (N, D) float32, OUT/items.csv (row, id, video, start, end) and OUT/skipped.csv\n"
    "for videos that could not be read. Work is saved in parts of --chunk videos: --resume finishes an interrupted run.\n"
    "Example: svilm embed --model model.safetensors --out emb videos/\n";

const char* const features_help =
    "Sliding-window features for temporal localisation heads (G-TAD, BMN style pipelines): windows of --window seconds\n"
    "every --stride seconds (default half a window; a last window ends at the video's end), each the global video\n"
    "embedding of T frames spread uniformly inside it. Writes OUT/features/<id>.npy (num_windows, D) float32 per video,\n"
    "OUT/video_info.csv (id, video, fps, duration, windows, window, stride, feature_dim) and OUT/features.json (the\n"
    "settings, the model's SHA-256, and each video's window start and end times).\n"
    "Example: svilm features --model model.safetensors --window 2 --stride 1 --out feats long_videos/\n";

const char* const ground_help =
    "Where each noun phrase of the caption is in the video (the paper's Figure 4): the video's T frames (uniformly over\n"
    "it, the centre square) go through the video encoder; each noun phrase (WordNet, as the grounding loss finds them)\n"
    "is put in the prompt \"a video of a {}.\" and matched to the group token of highest cosine; that group's soft\n"
    "assignment over the video tokens is upsampled to the display frames. Writes OUT/grounding.png (a row per noun, its\n"
    "map over the frames), OUT/maps.safetensors (frames (T, H, W, 3) uint8, map_k (T, H, W) float32) and\n"
    "OUT/grounding.json (nouns, chosen groups, every group's cosine, frame indices and times).\n"
    "Example: svilm ground --model model.safetensors --video clip.mp4 --caption \"a red ball rolls past a blue cube\" --out g\n";

void add_model_options(CLI::App* command, InferenceOptions& o) {
    command->add_option("--model", o.model, "model file (svilm init, svilm pretrain's model.safetensors) or training checkpoint")->check(a_path)->required();
    command->add_option("--out", o.out, "folder for the outputs (new or empty, unless --overwrite)")->check(a_path)->required();
    command->add_flag("--overwrite", o.overwrite, "write into a non-empty --out, replacing what it holds");
}

void add_loading_options(CLI::App* command, InferenceOptions& o) {
    command->add_option("--batch", o.batch, "clips per model call")->check(whole_number<index_t>(1, 4096))->capture_default_str();
    command->add_option("--workers", o.workers, "decoding threads")->check(whole_number<int>(1, 64))->capture_default_str();
}

}  // namespace

std::vector<Subcommand> add_inference_commands(CLI::App& app) {
    const auto o = std::make_shared<InferenceOptions>();
    std::vector<Subcommand> commands;

    auto* embed_command = app.add_subcommand("embed", "video embeddings (per video, or per window) for search and other tools");
    add_model_options(embed_command, *o);
    add_loading_options(embed_command, *o);
    embed_command->add_option("VIDEOS", o->inputs, "video files, folders, manifests (.csv, .jsonl) or lists (.txt)")->required();
    embed_command->add_option("--window", o->window, "seconds per window: one embedding per window instead of per video")
        ->check(real_number(0));
    embed_command->add_option("--stride", o->stride, "seconds between window starts (with --window)")->check(real_number(0));
    embed_command->add_option("--chunk", o->chunk, "videos per saved part (what --resume keeps)")
        ->check(whole_number<index_t>(1, 1 << 20))
        ->capture_default_str();
    embed_command->add_flag("--resume", o->resume, "finish an interrupted run in --out, keeping its saved parts");
    embed_command->footer([] { return std::string(embed_help); });
    commands.push_back({embed_command, [o] { embed(*o); }});

    auto* features_command = app.add_subcommand("features", "sliding-window features of long videos for temporal localisation");
    add_model_options(features_command, *o);
    add_loading_options(features_command, *o);
    features_command->add_option("VIDEOS", o->inputs, "video files, folders, manifests (.csv, .jsonl) or lists (.txt)")->required();
    features_command->add_option("--window", o->window, "seconds per window")->check(real_number(0))->required();
    features_command->add_option("--stride", o->stride, "seconds between window starts")->check(real_number(0))->default_str("half --window");
    features_command->footer([] { return std::string(features_help); });
    commands.push_back({features_command, [o] { features(*o); }});

    auto* ground_command = app.add_subcommand("ground", "where each noun of a caption is in a video: a figure and the maps");
    add_model_options(ground_command, *o);
    ground_command->add_option("--video", o->video, "the video file")->check(a_path)->required();
    ground_command->add_option("--caption", o->caption, "a caption of the video; its noun phrases are grounded")->required();
    ground_command->add_option("--size", o->display_size, "pixels per side of the display frames and maps")
        ->check(whole_number<int>(16, 1024))
        ->capture_default_str();
    ground_command->footer([] { return std::string(ground_help); });
    commands.push_back({ground_command, [o] { ground(*o); }});
    return commands;
}

}  // namespace svilm_cli
