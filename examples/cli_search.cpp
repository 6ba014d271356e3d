// examples/cli_search.cpp: `svilm index` and `svilm search`, nearest-neighbour search of videos by
// text over the embeddings of `svilm embed` (docs/programs/index.md, docs/programs/search.md):
//
//   svilm index --embeddings FILE.safetensors --out DIR [--kind auto|exact|ivf] [--nlist N]
//               [--nprobe N] [--overwrite]
//       a FAISS index of the embeddings (DIR/index.faiss) and its sidecar (DIR/index.json: every
//       row's id, video and time range, the embeddings' info with the model's sha256)
//   svilm search --index DIR --model MODEL (--query TEXT ... | --queries MANIFEST) [--k 10]
//                [--nprobe N] [--allow-other-model] [--results FILE] [--metrics FILE]
//                [--write-query-embeddings FILE.npy] [--overwrite]
//       the top k rows of each query text under the model; with --queries, each caption's own
//       video is the right answer: R@1, R@5, R@10 and the median rank
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "svilm/data/manifest.hpp"
#include "svilm/io/embedding_file.hpp"
#include "svilm/search/index.hpp"
#include "svilm/train/progress.hpp"

namespace svilm_cli {
namespace {

struct IndexArgs {
    std::string embeddings, out, kind = "auto";
    index_t nlist = 0;
    int nprobe = 0;
    bool overwrite = false;
};

struct SearchArgs {
    std::string index, model, queries, results, metrics, query_embeddings;
    std::vector<std::string> query;
    index_t k = 10;
    int nprobe = 0;
    bool allow_other_model = false, overwrite = false;
};

// Text queries are embedded this many at a time (one forward pass of the text encoder).
constexpr std::size_t query_batch = 32;
// --queries ranks each caption's video among this many results at least (R@10 needs 10; the
// median rank is known while half the right videos are found this deep).
constexpr index_t evaluation_depth = 100;

// "  2.00-4.00 s" for a window, nothing for a whole video.
std::string time_range(const io::EmbeddingRow& row) {
    if (std::isnan(row.start)) return "";
    char text[64];
    std::snprintf(text, sizeof text, "  %.2f-%.2f s", row.start, row.end);
    return text;
}

void build_index(const IndexArgs& a) {
    if (holds_files(a.out) && !a.overwrite) throw InputError(not_empty(a.out));
    const io::EmbeddingSet set = from_option("--embeddings", [&] { return io::load_embeddings(a.embeddings); });
    const index_t n = set.vectors.extent(0), d = set.vectors.extent(1);
    if (n == 0) throw InputError("--embeddings: " + a.embeddings + " holds no embeddings");
    const search::IndexKind kind = a.kind == "auto" ? search::auto_kind(n) : search::parse_kind(a.kind);
    if (kind == search::IndexKind::exact && (a.nlist > 0 || a.nprobe > 0))
        throw InputError("--nlist and --nprobe set an ivf index; this one is exact (--kind " + a.kind + ", " +
                         std::to_string(n) + " rows)");
    if (a.nlist > n)
        throw InputError("--nlist: " + std::to_string(a.nlist) + " cells for " + std::to_string(n) +
                         " rows: each cell needs a row to train on");
    const index_t nlist = a.nlist > 0 ? a.nlist : search::default_nlist(n);
    if (a.nprobe > nlist)
        throw InputError("--nprobe: " + std::to_string(a.nprobe) + " is more than the " + std::to_string(nlist) + " cells");
    const std::string sha = set.info.value("model_sha256", std::string("not recorded"));
    say("embeddings: %s, %lld rows of dimension %lld (model sha256 %s)", a.embeddings.c_str(), (long long)n, (long long)d,
        sha.c_str());
    run_work([&] {
        // a progress line where adding the rows takes a while (more than one chunk of 65536)
        train::ProgressLine progress(n > 65536 ? stderr : nullptr);
        search::BuildOptions options;
        options.nlist = a.nlist;
        options.nprobe = a.nprobe;
        options.progress = [&](index_t done, index_t total) { progress.update(done, total, double(done), "rows", "adding rows"); };
        if (kind == search::IndexKind::ivf)
            say("index: ivf, %lld cells; training its cells by k-means on a sample", (long long)nlist);
        search::IndexFolder folder{search::VectorIndex::build(set.vectors, kind, options), set.rows, set.info, a.embeddings};
        search::save_index_folder(a.out, folder);
        if (kind == search::IndexKind::exact)
            say("index: exact, %lld rows, built in %.1f s", (long long)n, progress.elapsed());
        else
            say("index: ivf, %lld rows in %lld cells, %d probed per query, built in %.1f s", (long long)n,
                (long long)folder.index.nlist(), folder.index.nprobe(), progress.elapsed());
        say("wrote %s and %s", (fs::path(a.out) / search::index_file_name).c_str(),
            (fs::path(a.out) / search::sidecar_file_name).c_str());
    });
}

// A path as a key for matching a query's video with the index's rows: absolute and without
// "." or "..", so "videos/a.mp4" run from here and "./videos/a.mp4" are the same video.
std::string path_key(const fs::path& p) {
    std::error_code error;
    const fs::path absolute = fs::absolute(p, error);
    return (error ? p : absolute).lexically_normal().string();
}

struct Query {
    std::string text;
    std::optional<std::size_t> video;  // --queries: the right video's number (as in video_of_row)
};

void run_search(const SearchArgs& a) {
    for (const auto& [option, file] : {std::pair("--results", &a.results), std::pair("--metrics", &a.metrics),
                                       std::pair("--write-query-embeddings", &a.query_embeddings)})
        if (!file->empty()) check_new_file(option, *file, a.overwrite);
    search::IndexFolder index = from_option("--index", [&] { return search::load_index_folder(a.index); });
    if (a.nprobe > 0) {
        if (index.index.kind() != search::IndexKind::ivf) throw InputError("--nprobe: the index in " + a.index + " is exact");
        from_option("--nprobe", [&] { index.index.set_nprobe(a.nprobe); });
    }

    const ModelFile model_file = open_model(a.model);
    if (model_file.config.embed_dim != index.index.dim())
        throw InputError("--model: " + a.model + " embeds in " + std::to_string(model_file.config.embed_dim) +
                         " dimensions, the index in " + a.index + " holds " + std::to_string(index.index.dim()));
    const std::string model_sha = from_option("--model", [&] { return file_sha256(a.model); });
    const nlohmann::json& recorded = index.info.contains("model_sha256") ? index.info["model_sha256"] : nlohmann::json();
    if (!a.allow_other_model) {
        if (!recorded.is_string())
            throw InputError("--index: " + a.index + " does not record the sha256 of the model its embeddings were made with " +
                             "(info.model_sha256): pass --allow-other-model to search it with " + a.model + " anyway");
        if (recorded.get<std::string>() != model_sha)
            throw InputError("--model: " + a.model + " (sha256 " + model_sha + ") is not the model the embeddings of " + a.index +
                             " were made with (sha256 " + recorded.get<std::string>() +
                             (index.info.contains("model") ? ", " + index.info["model"].dump() : std::string()) +
                             "): its text embeddings do not compare with them; give that model, or pass --allow-other-model");
    }

    // The queries, and with --queries the video each one should find.
    std::vector<Query> queries;
    std::vector<std::string> skipped;
    std::vector<std::size_t> video_of_row;  // --queries: each row's video, numbered from 0
    std::size_t video_count = 0;
    if (!a.queries.empty()) {
        const data::Manifest manifest = from_option("--queries", [&] {
            if (fs::is_directory(a.queries)) throw IoError(a.queries + " is a folder: give a manifest (.csv or .jsonl)");
            return data::Manifest::load(a.queries);
        });
        // rows by video (windows: several rows of one video); a video is known by its absolute
        // path and by its path as written
        std::map<std::string, std::size_t> video_of_key;
        for (const io::EmbeddingRow& row : index.rows) {
            const auto it = video_of_key.emplace(path_key(row.video), video_count).first;
            if (it->second == video_count) ++video_count;
            video_of_key.emplace(row.video, it->second);
            video_of_row.push_back(it->second);
        }
        for (const data::ManifestEntry& e : manifest.entries()) {
            auto it = video_of_key.find(path_key(e.path));
            if (it == video_of_key.end()) it = video_of_key.find(e.video);
            if (it == video_of_key.end()) {
                skipped.push_back("line " + std::to_string(e.line) + ": " + e.video);
                continue;
            }
            queries.push_back({e.caption, it->second});
        }
        if (queries.empty())
            throw InputError("--queries: none of the " + std::to_string(manifest.size()) + " videos of " + a.queries +
                             " is in the index " + a.index + " (videos are matched by path)");
    } else {
        for (const std::string& q : a.query) queries.push_back({q, std::nullopt});
    }
    const bool evaluating = !a.queries.empty();
    const index_t depth = std::min<index_t>(index.index.size(), evaluating ? std::max(a.k, evaluation_depth) : a.k);

    say("index: %s, %s, %lld rows%s", a.index.c_str(), search::kind_name(index.index.kind()), (long long)index.index.size(),
        index.index.kind() == search::IndexKind::ivf
            ? (", " + std::to_string(index.index.nlist()) + " cells, " + std::to_string(index.index.nprobe()) + " probed").c_str()
            : "");
    say("model: %s (sha256 %s%s)", a.model.c_str(), model_sha.c_str(),
        recorded.is_string() && recorded.get<std::string>() == model_sha ? ", the index's" : ", NOT the index's model");
    if (!skipped.empty()) {
        say("left out %zu of %zu queries whose video is not in the index, e.g.:", skipped.size(), skipped.size() + queries.size());
        for (std::size_t i = 0; i < std::min<std::size_t>(3, skipped.size()); ++i) say("  %s", skipped[i].c_str());
    }

    run_work([&] {
        const SVilm<float> model = make_inference_model(model_file.config, model_file.file);
        const text::Tokenizer tokenizer = load_tokenizer();
        const auto encode = prompt_encoder(model, tokenizer);
        const index_t q_count = index_t(queries.size()), d = index.index.dim();
        Tensor<float, 2> embedded({q_count, d}, uninitialized);
        search::SearchResult found{Tensor<float, 2>({q_count, depth}, uninitialized),
                                   Tensor<std::int64_t, 2>({q_count, depth}, uninitialized)};
        // a progress line for many queries: embedding them is the slow part
        train::ProgressLine progress(q_count > index_t(query_batch) ? stderr : nullptr);
        for (std::size_t begin = 0; begin < queries.size(); begin += query_batch) {
            const std::size_t end = std::min(queries.size(), begin + query_batch);
            std::vector<std::string> texts;
            for (std::size_t i = begin; i < end; ++i) texts.push_back(queries[i].text);
            const Tensor<float, 2> batch = encode(texts);
            std::copy_n(batch.data(), batch.size(), embedded.data() + index_t(begin) * d);
            const search::SearchResult r = index.index.search(batch, depth);
            std::copy_n(r.scores.data(), r.scores.size(), found.scores.data() + index_t(begin) * depth);
            std::copy_n(r.rows.data(), r.rows.size(), found.rows.data() + index_t(begin) * depth);
            progress.update(index_t(end), q_count, double(end), "queries", "embedding and searching");
        }
        if (!a.query_embeddings.empty()) {
            io::save_npy(embedded, a.query_embeddings);
            say("wrote %s (%lld query embeddings of dimension %lld)", a.query_embeddings.c_str(), (long long)q_count, (long long)d);
        }

        // 1-based rank of each query's video: the first result row of that video; depth + 1
        // where it is not among the `depth` results
        std::vector<index_t> ranks;
        if (evaluating) {
            for (index_t i = 0; i < q_count; ++i) {
                index_t rank = depth + 1;
                for (index_t j = 0; j < depth && rank > depth; ++j) {
                    const std::int64_t row = found.rows(i, j);
                    if (row >= 0 && video_of_row[std::size_t(row)] == *queries[std::size_t(i)].video) rank = j + 1;
                }
                ranks.push_back(rank);
            }
        }

        const index_t shown = std::min(a.k, depth);
        if (!a.results.empty()) {
            std::string csv = "query,text,rank,score,id,video,start,end" + std::string(evaluating ? ",right" : "") + "\n";
            for (index_t i = 0; i < q_count; ++i)
                for (index_t j = 0; j < shown && found.rows(i, j) >= 0; ++j) {
                    const std::int64_t row = found.rows(i, j);
                    const io::EmbeddingRow& r = index.rows[std::size_t(row)];
                    char score[32];
                    std::snprintf(score, sizeof score, "%.6f", found.scores(i, j));
                    csv += std::to_string(i + 1) + ',' + csv_field(queries[std::size_t(i)].text) + ',' + std::to_string(j + 1) +
                           ',' + score + ',' + csv_field(r.id) + ',' + csv_field(r.video) + ',' +
                           (std::isnan(r.start) ? "" : std::to_string(r.start)) + ',' +
                           (std::isnan(r.end) ? "" : std::to_string(r.end));
                    if (evaluating) csv += ranks[std::size_t(i)] == j + 1 ? ",1" : ",0";
                    csv += '\n';
                }
            write_text(a.results, csv);
        }

        if (!evaluating) {
            for (index_t i = 0; i < q_count; ++i) {
                say("query %lld: \"%s\"", (long long)(i + 1), queries[std::size_t(i)].text.c_str());
                say("  rank   score  id  video  [time range]");
                for (index_t j = 0; j < shown && found.rows(i, j) >= 0; ++j) {
                    const io::EmbeddingRow& r = index.rows[std::size_t(found.rows(i, j))];
                    say("  %4lld  %.4f  %s  %s%s", (long long)(j + 1), found.scores(i, j), r.id.c_str(), r.video.c_str(),
                        time_range(r).c_str());
                }
            }
            if (!a.results.empty()) say("wrote %s", a.results.c_str());
            return;
        }

        // R@k over the queries, and the median rank (numpy's: the mean of the two middle ranks)
        // when both middle ranks lie within the depth searched
        const auto recall = [&](index_t k) {
            return 100.0 * double(std::count_if(ranks.begin(), ranks.end(), [&](index_t r) { return r <= k; })) / double(ranks.size());
        };
        std::vector<index_t> sorted = ranks;
        std::sort(sorted.begin(), sorted.end());
        const std::size_t m = sorted.size();
        const index_t low = sorted[(m - 1) / 2], high = sorted[m / 2];
        const bool median_known = high <= depth;
        const double median = 0.5 * double(low + high);
        const double r1 = recall(1), r5 = recall(5), r10 = recall(10);
        char median_text[48];
        if (median_known) std::snprintf(median_text, sizeof median_text, "%.1f", median);
        else std::snprintf(median_text, sizeof median_text, "> %lld", (long long)depth);
        say("text->video over %lld queries, %lld videos (%lld rows), each caption's own video the right answer:",
            (long long)q_count, (long long)video_count, (long long)index.index.size());
        say("  R@1 %.1f  R@5 %.1f  R@10 %.1f  median rank %s", r1, r5, r10, median_text);
        if (index.index.kind() == search::IndexKind::ivf)
            say("  (an ivf index probing %d of %lld cells: a right video in a cell not probed counts as not found)",
                index.index.nprobe(), (long long)index.index.nlist());
        nlohmann::json metrics = {{"queries", q_count},
                                  {"skipped_queries", skipped.size()},
                                  {"videos", video_count},
                                  {"rows", index.index.size()},
                                  {"r1", r1},
                                  {"r5", r5},
                                  {"r10", r10},
                                  {"median_rank", median_known ? nlohmann::json(median) : nlohmann::json(nullptr)},
                                  {"depth", depth},
                                  {"index", {{"kind", search::kind_name(index.index.kind())},
                                             {"nlist", index.index.nlist()},
                                             {"nprobe", index.index.nprobe()}}},
                                  {"model_sha256", model_sha}};
        if (!a.results.empty()) say("wrote %s", a.results.c_str());
        write_metrics(a.metrics, metrics);
    });
}

}  // namespace

std::vector<Subcommand> add_search_commands(CLI::App& app) {
    static IndexArgs i;
    auto* index_command = app.add_subcommand("index", "build a nearest-neighbour index (FAISS) of an embeddings file");
    index_command->add_option("--embeddings", i.embeddings, "embeddings file (.safetensors, from svilm embed)")->check(a_path)->required();
    index_command->add_option("--out", i.out, "index folder (new or empty): index.faiss and index.json")->check(a_path)->required();
    index_command->add_option("--kind", i.kind,
                      "exact (every row scored), ivf (approximate: rows in cells, the nearest cells probed) or auto "
                      "(exact below " + std::to_string(search::exact_below) + " rows)")
        ->check(one_of({"auto", "exact", "ivf"}));
    index_command->add_option("--nlist", i.nlist, "ivf: cells")->check(whole_number<index_t>(1, index_t(1) << 24))->default_str("4 sqrt(N), at most N / 39");
    index_command->add_option("--nprobe", i.nprobe, "ivf: cells probed per query (search --nprobe overrides)")
        ->check(whole_number<int>(1, 1 << 24))
        ->default_str("nlist / 16");
    index_command->add_flag("--overwrite", i.overwrite, "write into a non-empty --out folder");

    static SearchArgs s;
    auto* search_command = app.add_subcommand("search", "the videos nearest to text queries in an index (svilm index)");
    search_command->add_option("--index", s.index, "index folder (svilm index --out)")->check(a_path)->required();
    search_command->add_option("--model", s.model, "the model the embeddings were made with (a model file or checkpoint)")
        ->check(a_path)
        ->required();
    auto* query = search_command->add_option("--query", s.query, "a text query (repeat for more)");
    auto* queries = search_command->add_option("--queries", s.queries,
                                               "evaluate: a manifest (.csv or .jsonl); each caption is a query, its video the right answer")
                        ->check(a_path)
                        ->excludes(query);
    query->excludes(queries);
    search_command->add_option("--k", s.k, "results per query")->check(whole_number<index_t>(1, 100000));
    search_command->add_option("--nprobe", s.nprobe, "ivf: cells probed per query")
        ->check(whole_number<int>(1, 1 << 24))
        ->default_str("the index's");
    search_command->add_flag("--allow-other-model", s.allow_other_model,
                             "search even when the model is not the one the index's embeddings were made with");
    search_command->add_option("--results", s.results, "also write every query's top k as CSV to this file")->check(a_path);
    search_command->add_option("--metrics", s.metrics, "--queries: also write the metrics as JSON to this file")->check(a_path);
    search_command->add_option("--write-query-embeddings", s.query_embeddings, "also write the queries' embeddings (Q, D) as .npy")
        ->check(a_path);
    search_command->add_flag("--overwrite", s.overwrite, "replace existing --results, --metrics and --write-query-embeddings files");
    return {{index_command, [] { build_index(i); }},
            {search_command, [] {
                 if (s.query.empty() && s.queries.empty()) throw InputError("search: give --query TEXT or --queries MANIFEST");
                 if (!s.metrics.empty() && s.queries.empty()) throw InputError("--metrics: needs --queries (an evaluation)");
                 run_search(s);
             }}};
}

}  // namespace svilm_cli
