#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <faiss/IndexFlat.h>
#include <faiss/index_io.h>

#include "support/temp_dir.hpp"
#include "svilm/core.hpp"
#include "svilm/search/index.hpp"

namespace svilm {
namespace {

namespace fs = std::filesystem;
using search::IndexKind;
using search::VectorIndex;
using testing::TempDir;

void normalise_rows(TensorView<float, 2> x) {
    for (index_t i = 0; i < x.extent(0); ++i) {
        double norm2 = 0;
        for (index_t j = 0; j < x.extent(1); ++j) norm2 += double(x(i, j)) * x(i, j);
        for (index_t j = 0; j < x.extent(1); ++j) x(i, j) = float(x(i, j) / std::sqrt(norm2));
    }
}

// n unit vectors around `clusters` random unit centres (embeddings of similar videos lie close),
// noise of standard deviation `spread` per coordinate before normalising.
Tensor<float, 2> clustered(index_t n, index_t d, index_t clusters, float spread, std::uint64_t seed) {
    Tensor<float, 2> centres({clusters, d}), x({n, d});
    Generator(seed).normal<float, 2>(centres);
    normalise_rows(centres);
    Generator(seed + 1).normal<float, 2>(x, 0.0f, spread);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < d; ++j) x(i, j) += centres((i * 7919) % clusters, j);
    normalise_rows(x);
    return x;
}

// Mean over queries of |approximate top k ∩ exact top k| / k.
double recall(const search::SearchResult& approximate, const search::SearchResult& exact) {
    const index_t q = exact.rows.extent(0), k = exact.rows.extent(1);
    double found = 0;
    for (index_t i = 0; i < q; ++i) {
        std::set<std::int64_t> truth;
        for (index_t j = 0; j < k; ++j) truth.insert(exact.rows(i, j));
        for (index_t j = 0; j < k; ++j) found += truth.count(approximate.rows(i, j));
    }
    return found / double(q * k);
}

TEST_CASE("an exact index returns the known nearest rows by inner product, best first") {
    // rows: the axes e0..e3 and (e0 + e1) / sqrt(2)
    Tensor<float, 2> rows({5, 4});
    for (index_t i = 0; i < 4; ++i) rows(i, i) = 1;
    rows(4, 0) = rows(4, 1) = float(1 / std::sqrt(2.0));
    const VectorIndex index = VectorIndex::build(rows, IndexKind::exact);
    CHECK(index.kind() == IndexKind::exact);
    CHECK(index.size() == 5);
    CHECK(index.dim() == 4);

    // a query along e0 (cos 1 with row 0, 1/sqrt 2 with row 4); one between e2 and e3, nearer e3
    Tensor<float, 2> queries({2, 4});
    queries(0, 0) = 1;
    queries(1, 2) = 0.6f;
    queries(1, 3) = 0.8f;
    const search::SearchResult r = index.search(queries, 3);
    CHECK(r.rows(0, 0) == 0);
    CHECK(r.scores(0, 0) == doctest::Approx(1.0));
    CHECK(r.rows(0, 1) == 4);
    CHECK(r.scores(0, 1) == doctest::Approx(1 / std::sqrt(2.0)));
    CHECK(r.scores(0, 2) == doctest::Approx(0.0));
    CHECK(r.rows(1, 0) == 3);
    CHECK(r.scores(1, 0) == doctest::Approx(0.8));
    CHECK(r.rows(1, 1) == 2);
    CHECK(r.scores(1, 1) == doctest::Approx(0.6));

    // more neighbours asked for than there are rows: the rest is row -1, score -inf
    const search::SearchResult all = index.search(queries, 7);
    CHECK(all.rows(0, 4) >= 0);
    CHECK(all.rows(0, 5) == -1);
    CHECK(all.rows(0, 6) == -1);
    CHECK(std::isinf(all.scores(0, 6)));
    CHECK(all.scores(0, 6) < 0);

    CHECK_THROWS_WITH_AS(index.search(Tensor<float, 2>({1, 3}), 1), doctest::Contains("dimension 4"), ShapeError);
    CHECK_THROWS_AS(index.search(queries, 0), ValueError);
    CHECK_THROWS_AS(VectorIndex::build(Tensor<float, 2>({0, 4}), IndexKind::exact), ShapeError);
}

TEST_CASE("an IVF index finds most of the exact neighbours, and all of them when it probes every cell") {
    const index_t n = 6000, d = 32, k = 10;
    const Tensor<float, 2> rows = clustered(n, d, 60, 0.08f, 11);
    const Tensor<float, 2> queries = clustered(200, d, 60, 0.08f, 21);
    const VectorIndex exact = VectorIndex::build(rows, IndexKind::exact);
    VectorIndex ivf = VectorIndex::build(rows, IndexKind::ivf);
    CHECK(ivf.kind() == IndexKind::ivf);
    CHECK(ivf.size() == n);
    CHECK(ivf.nlist() == search::default_nlist(n));
    CHECK(ivf.nlist() == 153);  // 4 sqrt(6000) = 310 cells would have fewer than 39 training rows each
    CHECK(ivf.nprobe() == 9);   // 153 / 16
    const search::SearchResult truth = exact.search(queries, k);
    const double at_default = recall(ivf.search(queries, k), truth);
    MESSAGE("IVF recall@10 at nprobe " << ivf.nprobe() << " of " << ivf.nlist() << ": " << at_default);
    CHECK(at_default >= 0.9);
    ivf.set_nprobe(int(ivf.nlist()));
    CHECK(recall(ivf.search(queries, k), truth) == doctest::Approx(1.0));
    CHECK_THROWS_WITH_AS(ivf.set_nprobe(int(ivf.nlist()) + 1), doctest::Contains("from 1 to the index's 153 cells"), ValueError);

    // an explicit cell count, and more cells than rows refused
    search::BuildOptions options;
    options.nlist = 4;
    options.nprobe = 2;
    const VectorIndex small = VectorIndex::build(rows, IndexKind::ivf, options);
    CHECK(small.nlist() == 4);
    CHECK(small.nprobe() == 2);
    options.nlist = 10;
    CHECK_THROWS_WITH_AS(VectorIndex::build(rows.view().narrow(0, 0, 5), IndexKind::ivf, options),
                         doctest::Contains("10 cells for 5 rows"), ValueError);
    CHECK(search::auto_kind(search::exact_below - 1) == IndexKind::exact);
    CHECK(search::auto_kind(search::exact_below) == IndexKind::ivf);
    CHECK(search::default_nlist(1'000'000) == 4000);
    CHECK(search::default_nlist(10) == 1);
}

TEST_CASE("indexes are saved atomically and read back; other files are FormatError naming them") {
    TempDir dir;
    const Tensor<float, 2> rows = clustered(2000, 16, 20, 0.1f, 5);
    const Tensor<float, 2> queries = clustered(20, 16, 20, 0.1f, 6);
    for (const IndexKind kind : {IndexKind::exact, IndexKind::ivf}) {
        INFO(search::kind_name(kind));
        VectorIndex index = VectorIndex::build(rows, kind);
        if (kind == IndexKind::ivf) index.set_nprobe(3);
        const fs::path path = dir.path / (std::string(search::kind_name(kind)) + ".faiss");
        index.save(path);
        const VectorIndex back = VectorIndex::load(path);
        CHECK(back.kind() == kind);
        CHECK(back.size() == 2000);
        CHECK(back.nprobe() == index.nprobe());
        const search::SearchResult a = index.search(queries, 5), b = back.search(queries, 5);
        CHECK(std::equal(a.rows.data(), a.rows.data() + a.rows.size(), b.rows.data()));
        CHECK(std::equal(a.scores.data(), a.scores.data() + a.scores.size(), b.scores.data()));

        // the same file cut short
        std::ifstream in(path, std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), {}};
        const fs::path cut = dir.path / "cut.faiss";
        std::ofstream(cut, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
        CHECK_THROWS_WITH_AS(VectorIndex::load(cut), doctest::Contains((cut.string() + ": not a FAISS index").c_str()), FormatError);
    }
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 3);  // no temporary left

    const fs::path text = dir.path / "text.faiss";
    std::ofstream(text) << "not an index at all";
    CHECK_THROWS_WITH_AS(VectorIndex::load(text), doctest::Contains(text.string().c_str()), FormatError);
    const fs::path l2 = dir.path / "l2.faiss";
    faiss::IndexFlatL2 euclidean(16);
    faiss::write_index(&euclidean, l2.c_str());
    CHECK_THROWS_WITH_AS(VectorIndex::load(l2), doctest::Contains("does not rank by inner product"), FormatError);
    CHECK_THROWS_AS(VectorIndex::load(dir.path / "missing.faiss"), IoError);
}

TEST_CASE("an index folder keeps its rows, time ranges and info, and refuses a sidecar of another index") {
    TempDir dir;
    const Tensor<float, 2> rows = clustered(3, 8, 3, 0.1f, 9);
    search::IndexFolder folder{VectorIndex::build(rows, IndexKind::exact),
                               {{"a", "v/a.mp4"}, {"b@0.0-2.0", "v/b.mp4", 0.0, 2.0}, {"b@2.0-4.0", "v/b.mp4", 2.0, 4.0}},
                               {{"model_sha256", "abc"}},
                               "e.safetensors"};
    const fs::path out = dir.path / "idx";
    search::save_index_folder(out, folder);
    const search::IndexFolder back = search::load_index_folder(out);
    CHECK(back.index.size() == 3);
    REQUIRE(back.rows.size() == 3);
    CHECK(back.rows[0].id == "a");
    CHECK(std::isnan(back.rows[0].start));
    CHECK(back.rows[2].video == "v/b.mp4");
    CHECK(back.rows[2].start == 2.0);
    CHECK(back.rows[2].end == 4.0);
    CHECK(back.info["model_sha256"] == "abc");
    CHECK(back.embeddings == "e.safetensors");

    // an index of another size written over index.faiss
    VectorIndex::build(clustered(4, 8, 2, 0.1f, 10), IndexKind::exact).save(out / "index.faiss");
    CHECK_THROWS_WITH_AS(search::load_index_folder(out), doctest::Contains("the row counts (3 rows, index of 4) disagree"), FormatError);
    CHECK_THROWS_AS(search::load_index_folder(dir.path / "none"), IoError);
    folder.rows.pop_back();
    CHECK_THROWS_WITH_AS(search::save_index_folder(out, folder), doctest::Contains("2 rows for an index of 3"), ValueError);
}

}  // namespace
}  // namespace svilm
