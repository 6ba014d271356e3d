// svilm/search/index.hpp: nearest-neighbour search over unit vectors by inner product (cosine
// similarity), on FAISS; and an index folder: the FAISS index with a sidecar naming its rows.
// Needs the svilm::search target (FAISS; Debian: libfaiss-dev).
//
// Two kinds of index (docs/programs/index.md has the measured trade-off):
// - exact: faiss::IndexFlatIP, every query scored against every row (N D multiply-adds); the
//   results are the true top k.
// - ivf: faiss::IndexIVFFlat, the rows split into nlist cells by spherical k-means on a sample;
//   a query scores the rows of the nprobe cells whose centroids are nearest. Faster for large N,
//   approximate: a neighbour in a cell not probed is missed.
// auto_kind() picks exact below exact_below rows.
//
// FAISS reports errors as faiss::FaissException; every function here turns them into svilm
// errors naming the file or the operation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/io/embedding_file.hpp"
#include "svilm/io/mapped_file.hpp"

namespace svilm::search {

enum class IndexKind { exact, ivf };

inline const char* kind_name(IndexKind kind) { return kind == IndexKind::exact ? "exact" : "ivf"; }

// "exact" or "ivf"; anything else is a ValueError.
inline IndexKind parse_kind(const std::string& name) {
    if (name == "exact") return IndexKind::exact;
    if (name == "ivf") return IndexKind::ivf;
    throw ValueError("index kind '" + name + "' is not exact or ivf");
}

// Below this many rows auto_kind() builds an exact index. Measured (docs/programs/search.md,
// D = 256, 2 threads): an exact query costs N D multiply-adds, 27 ms at 10^5 rows, fast enough
// for a person waiting; below that an IVF index saves little time but costs a k-means training
// and misses neighbours (most of them on unclustered rows). At 10^6 rows an exact query takes
// 0.27 s, an IVF one 2 to 16 ms. The default 4 sqrt(N) cells also need N >= 39 nlist, about
// 25,000 rows, to train on FAISS's minimum of 39 points per cell.
inline constexpr index_t exact_below = 100'000;

inline IndexKind auto_kind(index_t rows) { return rows < exact_below ? IndexKind::exact : IndexKind::ivf; }

// FAISS warns (and clusters badly) with fewer than this many training points per cell.
inline constexpr index_t min_points_per_cell = 39;

// About 4 sqrt(N) cells (the rule of thumb of FAISS's guidelines), at most N / 39 so that every
// cell has its training points, at least 1.
inline index_t default_nlist(index_t rows) {
    const index_t by_rule = index_t(std::lround(4.0 * std::sqrt(double(std::max<index_t>(rows, 0)))));
    return std::max<index_t>(1, std::min(by_rule, rows / min_points_per_cell));
}

// Probing nlist / 16 cells (6%) scores about as many rows as 1/16 of an exact search plus the
// centroids; see the recall measured at each nprobe in docs/programs/search.md.
inline int default_nprobe(index_t nlist) { return int(std::clamp<index_t>(nlist / 16, 1, nlist)); }

struct BuildOptions {
    index_t nlist = 0;  // ivf: cells (0: default_nlist(N))
    int nprobe = 0;     // ivf: cells probed per query unless changed at search time (0: default_nprobe(nlist))
    // ivf: k-means on at most this many points per cell, sampled (FAISS's default is 256; 64
    // keeps training at 10^6 rows under a minute on two cores, with centroids as good for routing)
    int training_points_per_cell = 64;
    int training_iterations = 10;
    int seed = 1234;
    // called as rows are added (done, total), e.g. for a progress line
    std::function<void(index_t, index_t)> progress;
};

// Top-k results of Q queries, best first: scores (Q, k) inner products, rows (Q, k) row numbers
// of the indexed set; where fewer than k rows were found (k > N, or an ivf index whose probed
// cells hold fewer), the rest is row -1 and score -infinity.
struct SearchResult {
    Tensor<float, 2> scores;
    Tensor<std::int64_t, 2> rows;
};

namespace detail {

// FAISS's writer interface over io::write_file_atomically's append function.
class AppendWriter : public faiss::IOWriter {
public:
    explicit AppendWriter(const std::function<void(const void*, std::size_t)>& append) : append_(append) {}
    size_t operator()(const void* ptr, size_t size, size_t nitems) override {
        append_(ptr, size * nitems);
        return nitems;
    }

private:
    const std::function<void(const void*, std::size_t)>& append_;
};

// FAISS's reader interface over a memory-mapped file.
class SpanReader : public faiss::IOReader {
public:
    explicit SpanReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
    size_t operator()(void* ptr, size_t size, size_t nitems) override {
        if (size == 0) return nitems;
        const size_t items = std::min(nitems, (bytes_.size() - at_) / size);
        if (items) std::memcpy(ptr, bytes_.data() + at_, items * size);
        at_ += items * size;
        return items;
    }

private:
    std::span<const std::byte> bytes_;
    size_t at_ = 0;
};

}  // namespace detail

class VectorIndex {
public:
    // An index of the rows of `vectors` (N, D), N >= 1, rows L2-normalised (the caller's
    // promise: scores are cosines only then). ivf trains its cells on `vectors` first.
    static VectorIndex build(TensorView<const float, 2> vectors, IndexKind kind, const BuildOptions& options = {}) {
        const index_t n = vectors.extent(0), d = vectors.extent(1);
        if (n < 1 || d < 1)
            throw ShapeError("VectorIndex::build: vectors " + to_string<2>(vectors.shape()) + ": need at least one row and column");
        expect_contiguous("VectorIndex::build", "vectors", vectors);
        if (d > std::numeric_limits<int>::max()) throw ShapeError("VectorIndex::build: dimension " + std::to_string(d) + " is too large");
        VectorIndex out;
        try {
            if (kind == IndexKind::exact) {
                out.index_ = std::make_unique<faiss::IndexFlatIP>(int(d));
            } else {
                const index_t nlist = options.nlist > 0 ? options.nlist : default_nlist(n);
                if (nlist > n)
                    throw ValueError("VectorIndex::build: " + std::to_string(nlist) + " cells for " + std::to_string(n) +
                                     " rows: a cell needs at least one training row");
                auto quantizer = std::make_unique<faiss::IndexFlatIP>(int(d));
                auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), int(d), std::size_t(nlist),
                                                                 faiss::METRIC_INNER_PRODUCT);
                ivf->own_fields = true;
                quantizer.release();
                ivf->cp.spherical = true;  // centroids on the unit sphere, as the rows are
                ivf->cp.niter = options.training_iterations;
                ivf->cp.seed = options.seed;
                ivf->cp.max_points_per_centroid = options.training_points_per_cell;
                // a small --nlist on few rows still trains, with what there is
                ivf->cp.min_points_per_centroid = 1;
                ivf->nprobe = std::size_t(options.nprobe > 0 ? std::min<index_t>(options.nprobe, nlist) : default_nprobe(nlist));
                ivf->train(n, vectors.data());
                out.index_ = std::move(ivf);
            }
            // in chunks, so that a progress line can follow a large set
            const index_t chunk = 65536;
            for (index_t begin = 0; begin < n; begin += chunk) {
                const index_t count = std::min(chunk, n - begin);
                out.index_->add(count, vectors.data() + begin * d);
                if (options.progress) options.progress(begin + count, n);
            }
        } catch (const faiss::FaissException& e) {
            throw ValueError(std::string("VectorIndex::build: FAISS: ") + e.what());
        }
        return out;
    }

    // Reads an index written by save(): FormatError naming the file when it is not one (a
    // truncated file, another FAISS index type, a metric other than inner product), IoError when
    // it cannot be read.
    static VectorIndex load(const std::filesystem::path& path) {
        const io::MappedFile file(path);
        VectorIndex out;
        try {
            detail::SpanReader reader(file.bytes());
            out.index_.reset(faiss::read_index(&reader));
        } catch (const faiss::FaissException& e) {
            throw FormatError(path.string() + ": not a FAISS index svilm can read: " + e.what());
        } catch (const std::bad_alloc&) {
            throw FormatError(path.string() + ": not a FAISS index svilm can read: its sizes are implausible (damaged file?)");
        }
        if (out.index_->metric_type != faiss::METRIC_INNER_PRODUCT)
            throw FormatError(path.string() + ": the FAISS index does not rank by inner product");
        if (!dynamic_cast<const faiss::IndexFlat*>(out.index_.get()) && !dynamic_cast<const faiss::IndexIVFFlat*>(out.index_.get()))
            throw FormatError(path.string() + ": the FAISS index is neither a flat (exact) nor an IVF-Flat index");
        return out;
    }

    // Writes the index atomically.
    void save(const std::filesystem::path& path) const {
        io::write_file_atomically(path, [&](const std::function<void(const void*, std::size_t)>& append) {
            detail::AppendWriter writer(append);
            try {
                faiss::write_index(index_.get(), &writer);
            } catch (const faiss::FaissException& e) {
                throw IoError(path.string() + ": writing the FAISS index failed: " + e.what());
            }
        });
    }

    // Top k rows of every query (Q, D), D the index's dimension, k >= 1.
    SearchResult search(TensorView<const float, 2> queries, index_t k) const {
        if (queries.extent(1) != dim())
            throw ShapeError("VectorIndex::search: queries " + to_string<2>(queries.shape()) + " vs an index of dimension " +
                             std::to_string(dim()));
        if (k < 1) throw ValueError("VectorIndex::search: k must be at least 1 (got " + std::to_string(k) + ")");
        expect_contiguous("VectorIndex::search", "queries", queries);
        const index_t q = queries.extent(0);
        SearchResult out{Tensor<float, 2>({q, k}, uninitialized), Tensor<std::int64_t, 2>({q, k}, uninitialized)};
        if (q == 0) return out;
        try {
            static_assert(sizeof(faiss::Index::idx_t) == sizeof(std::int64_t));
            index_->search(q, queries.data(), k, out.scores.data(), reinterpret_cast<faiss::Index::idx_t*>(out.rows.data()));
        } catch (const faiss::FaissException& e) {
            throw ValueError(std::string("VectorIndex::search: FAISS: ") + e.what());
        }
        // FAISS leaves -inf or the lowest float beside row -1 depending on the index kind
        for (index_t i = 0; i < out.rows.size(); ++i)
            if (out.rows.data()[i] < 0) out.scores.data()[i] = -std::numeric_limits<float>::infinity();
        return out;
    }

    IndexKind kind() const { return ivf() ? IndexKind::ivf : IndexKind::exact; }
    index_t size() const { return index_t(index_->ntotal); }
    index_t dim() const { return index_t(index_->d); }
    index_t nlist() const { return ivf() ? index_t(ivf()->nlist) : 0; }
    int nprobe() const { return ivf() ? int(ivf()->nprobe) : 0; }
    // ivf: how many cells a query probes from now on, 1 to nlist (more: slower, fewer misses);
    // an exact index has nothing to set and ignores it.
    void set_nprobe(int nprobe) {
        if (!ivf()) return;
        if (nprobe < 1 || index_t(nprobe) > nlist())
            throw ValueError("nprobe must be from 1 to the index's " + std::to_string(nlist()) + " cells (got " +
                             std::to_string(nprobe) + ")");
        ivf()->nprobe = std::size_t(nprobe);
    }

private:
    faiss::IndexIVFFlat* ivf() const { return dynamic_cast<faiss::IndexIVFFlat*>(index_.get()); }

    std::unique_ptr<faiss::Index> index_;
};

// An index folder (svilm index --out): index.faiss, the FAISS index, and index.json, the sidecar:
//   {"format": "svilm-index", "kind": "exact" | "ivf", "count": N, "dim": D, "nlist": ..., "nprobe": ...,
//    "embeddings": the embeddings file it was built from, "info": that file's info (model, model_sha256, ...),
//    "rows": [{"id", "video", "start", "end"}, ...]}   (start and end null for whole videos)
// Row i of the sidecar is row i of the index.
inline constexpr const char* index_format = "svilm-index";
inline constexpr const char* index_file_name = "index.faiss";
inline constexpr const char* sidecar_file_name = "index.json";

struct IndexFolder {
    VectorIndex index;
    std::vector<io::EmbeddingRow> rows;
    nlohmann::json info = nlohmann::json::object();
    std::string embeddings;  // the file the index was built from
};

// Writes index.faiss, then index.json (each atomically) into `folder`, creating it. An earlier
// index.json is removed first: were the run stopped between the two files, a new index.faiss
// must not sit beside the old rows (same kind, count and size would pass the load's checks), so
// the folder is then refused for its missing sidecar instead.
inline void save_index_folder(const std::filesystem::path& folder, const IndexFolder& f) {
    if (index_t(f.rows.size()) != f.index.size())
        throw ValueError(folder.string() + ": " + std::to_string(f.rows.size()) + " rows for an index of " +
                         std::to_string(f.index.size()));
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    if (error) throw IoError(folder.string() + ": cannot create the folder: " + error.message());
    std::filesystem::remove(folder / sidecar_file_name, error);
    if (error) throw IoError((folder / sidecar_file_name).string() + ": cannot remove the earlier sidecar: " + error.message());
    f.index.save(folder / index_file_name);
    nlohmann::json rows = nlohmann::json::array();
    for (const io::EmbeddingRow& r : f.rows) {
        nlohmann::json row = {{"id", r.id}, {"video", r.video}, {"start", nullptr}, {"end", nullptr}};
        if (!std::isnan(r.start)) row["start"] = r.start, row["end"] = r.end;
        rows.push_back(std::move(row));
    }
    const nlohmann::json sidecar = {{"format", index_format},         {"kind", kind_name(f.index.kind())},
                                    {"count", f.index.size()},        {"dim", f.index.dim()},
                                    {"nlist", f.index.nlist()},       {"nprobe", f.index.nprobe()},
                                    {"embeddings", f.embeddings},     {"info", f.info},
                                    {"rows", std::move(rows)}};
    const std::string text = sidecar.dump(1) + "\n";
    io::write_file_atomically(folder / sidecar_file_name, [&](const auto& append) { append(text.data(), text.size()); });
}

// Reads a folder written by save_index_folder. The sidecar must describe the index it sits
// beside (kind, row count, dimension), else a FormatError names both files.
inline IndexFolder load_index_folder(const std::filesystem::path& folder) {
    if (!std::filesystem::is_directory(folder)) throw IoError(folder.string() + ": not a folder (an index folder written by svilm index)");
    const std::filesystem::path sidecar_path = folder / sidecar_file_name;
    const io::MappedFile sidecar_file(sidecar_path);
    const auto bytes = sidecar_file.bytes();
    const nlohmann::json sidecar =
        nlohmann::json::parse(reinterpret_cast<const char*>(bytes.data()), reinterpret_cast<const char*>(bytes.data()) + bytes.size(),
                              nullptr, false);
    const auto fail = [&](const std::string& what) { throw FormatError(sidecar_path.string() + ": " + what); };
    if (sidecar.is_discarded()) fail("not valid JSON");
    if (!sidecar.is_object() || sidecar.value("format", "") != index_format)
        fail(std::string("not an index sidecar: 'format' is not '") + index_format + "'");
    for (const char* key : {"kind", "embeddings"})
        if (!sidecar.contains(key) || !sidecar[key].is_string()) fail(std::string("no string '") + key + "'");
    for (const char* key : {"count", "dim"})
        if (!sidecar.contains(key) || !sidecar[key].is_number_integer()) fail(std::string("no integer '") + key + "'");
    if (!sidecar.contains("rows") || !sidecar["rows"].is_array()) fail("no array 'rows'");
    if (!sidecar.contains("info") || !sidecar["info"].is_object()) fail("no object 'info'");

    IndexFolder out{VectorIndex::load(folder / index_file_name), {}, sidecar["info"], sidecar["embeddings"].get<std::string>()};
    const std::string disagree = " disagree: " + (folder / index_file_name).string() + " was not written with " +
                                 sidecar_path.string() + " (write the folder again with svilm index --overwrite)";
    if (sidecar["kind"] != kind_name(out.index.kind())) fail("the kinds of index" + disagree);
    if (sidecar["count"].get<index_t>() != out.index.size() || index_t(sidecar["rows"].size()) != out.index.size())
        fail("the row counts (" + std::to_string(sidecar["rows"].size()) + " rows, index of " + std::to_string(out.index.size()) + ")" +
             disagree);
    if (sidecar["dim"].get<index_t>() != out.index.dim()) fail("the dimensions" + disagree);
    out.rows.reserve(sidecar["rows"].size());
    for (std::size_t i = 0; i < sidecar["rows"].size(); ++i) {
        const nlohmann::json& row = sidecar["rows"][i];
        const std::string where = "row " + std::to_string(i) + ": ";
        if (!row.is_object() || !row.contains("id") || !row["id"].is_string() || !row.contains("video") || !row["video"].is_string())
            fail(where + "no string 'id' and 'video'");
        io::EmbeddingRow r{row["id"].get<std::string>(), row["video"].get<std::string>()};
        const auto time = [&](const char* key) {
            if (!row.contains(key) || row[key].is_null()) return std::numeric_limits<double>::quiet_NaN();
            if (!row[key].is_number()) fail(where + "'" + key + "' is not a number or null");
            return row[key].get<double>();
        };
        r.start = time("start");
        r.end = time("end");
        if (std::isnan(r.start) != std::isnan(r.end)) fail(where + "'start' and 'end' must both be numbers or both null");
        out.rows.push_back(std::move(r));
    }
    return out;
}

}  // namespace svilm::search
