// Google Benchmark for nearest-neighbour search (svilm/search/index.hpp): building an exact and an
// IVF index over N unit vectors (D = 256), and the latency of searching them for the top 10 of a
// batch of 1 or 100 queries, with recall@10 against the exact top 10 as a counter.
//
// Two data sets. `random`: unit vectors uniform on the sphere, at N = 10^4 and 10^6. They have no
// cluster structure, the worst case for IVF (a query's true neighbours are hardly nearer than
// any other row, so they lie in any cell). `clustered`, at N = 10^5: rows and queries drawn
// around 1000 random unit centres (each coordinate plus noise of deviation 1/16, so a row's cosine
// with its centre is about 0.7), as embeddings of videos on a limited number of topics cluster.
// FAISS runs on OMP_NUM_THREADS threads. docs/programs/search.md holds a run's numbers and its
// command.
//
// Arguments: N (rows); for searches the batch and, for IVF, nprobe.
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "svilm/core.hpp"
#include "svilm/search/index.hpp"

namespace {

using namespace svilm;
using search::IndexKind;
using search::VectorIndex;

constexpr index_t dim = 256, k = 10, query_count = 100;

void normalise_rows(Tensor<float, 2>& x) {
    for (index_t i = 0; i < x.extent(0); ++i) {
        float* row = x.data() + i * dim;
        double s = 0;
        for (index_t j = 0; j < dim; ++j) s += double(row[j]) * row[j];
        const float scale = float(1 / std::sqrt(s));
        for (index_t j = 0; j < dim; ++j) row[j] *= scale;
    }
}

Tensor<float, 2> random_unit_rows(index_t n, std::uint64_t seed) {
    Tensor<float, 2> x({n, dim}, uninitialized);
    Generator(seed).normal<float, 2>(x);
    normalise_rows(x);
    return x;
}

constexpr index_t centre_count = 1000;

// n unit vectors around the 1000 centres drawn from seed 3, row i around centre (i * 7919) mod 1000.
Tensor<float, 2> clustered_unit_rows(index_t n, std::uint64_t seed) {
    const Tensor<float, 2> centres = random_unit_rows(centre_count, 3);
    Tensor<float, 2> x({n, dim}, uninitialized);
    Generator(seed).normal<float, 2>(x, 0.0f, 1.0f / 16);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < dim; ++j) x(i, j) += centres((i * 7919) % centre_count, j);
    normalise_rows(x);
    return x;
}

// One data set and its indexes per N, made once and shared by the benchmarks (10^6 rows are 1 GB).
struct Fixture {
    Tensor<float, 2> rows, queries;
    std::map<IndexKind, VectorIndex> indexes;
    search::SearchResult truth;  // the exact top k of the queries
};

Fixture& fixture(index_t n, bool clustered) {
    static std::map<std::pair<index_t, bool>, std::unique_ptr<Fixture>> all;
    std::unique_ptr<Fixture>& f = all[{n, clustered}];
    if (!f) {
        f = std::make_unique<Fixture>();
        f->rows = clustered ? clustered_unit_rows(n, 1) : random_unit_rows(n, 1);
        f->queries = clustered ? clustered_unit_rows(query_count, 2) : random_unit_rows(query_count, 2);
    }
    return *f;
}

VectorIndex& index_of(Fixture& f, IndexKind kind) {
    auto it = f.indexes.find(kind);
    if (it == f.indexes.end()) it = f.indexes.emplace(kind, VectorIndex::build(f.rows, kind)).first;
    return it->second;
}

// The exact top k of the queries, computed once.
const search::SearchResult& truth_of(Fixture& f) {
    if (f.truth.rows.empty()) f.truth = index_of(f, IndexKind::exact).search(f.queries, k);
    return f.truth;
}

double recall_at_k(const search::SearchResult& found, const search::SearchResult& truth, index_t queries) {
    double hits = 0;
    for (index_t i = 0; i < queries; ++i) {
        std::set<std::int64_t> exact;
        for (index_t j = 0; j < k; ++j) exact.insert(truth.rows(i, j));
        for (index_t j = 0; j < k; ++j) hits += double(exact.count(found.rows(i, j)));
    }
    return hits / double(queries * k);
}

// Building an index of N rows (the IVF index: k-means on a sample, then assigning every row).
// Timed once: at 10^6 rows a build takes most of a minute.
void build(benchmark::State& state, IndexKind kind, bool clustered) {
    Fixture& f = fixture(state.range(0), clustered);
    for (auto _ : state) {
        if (kind == IndexKind::exact) f.truth = {};
        f.indexes.erase(kind);
        benchmark::DoNotOptimize(index_of(f, kind).size());
    }
    const VectorIndex& index = f.indexes.at(kind);
    state.counters["rows/s"] = benchmark::Counter(double(state.range(0)), benchmark::Counter::kIsRate);
    if (kind == IndexKind::ivf) state.counters["nlist"] = double(index.nlist());
}

// Searching the top 10 of `batch` queries; range(2): IVF's nprobe.
void query(benchmark::State& state, IndexKind kind, bool clustered) {
    Fixture& f = fixture(state.range(0), clustered);
    const index_t batch = state.range(1);
    const search::SearchResult& truth = truth_of(f);
    VectorIndex& index = index_of(f, kind);
    if (kind == IndexKind::ivf) index.set_nprobe(int(state.range(2)));
    // the batches cycle through the 100 queries
    index_t next = 0;
    for (auto _ : state) {
        const TensorView<const float, 2> q = f.queries.view().narrow(0, next, next + batch);
        benchmark::DoNotOptimize(index.search(q, k).rows.data());
        next = (next + batch) % query_count;
    }
    state.counters["queries/s"] = benchmark::Counter(double(state.iterations() * batch), benchmark::Counter::kIsRate);
    state.counters["recall@10"] = recall_at_k(index.search(f.queries, k), truth, query_count);
    if (kind == IndexKind::ivf) state.counters["nlist"] = double(index.nlist());
}

void BM_BuildExact(benchmark::State& state, bool clustered) { build(state, IndexKind::exact, clustered); }
void BM_BuildIvf(benchmark::State& state, bool clustered) { build(state, IndexKind::ivf, clustered); }
void BM_SearchExact(benchmark::State& state, bool clustered) { query(state, IndexKind::exact, clustered); }
void BM_SearchIvf(benchmark::State& state, bool clustered) { query(state, IndexKind::ivf, clustered); }

BENCHMARK_CAPTURE(BM_BuildExact, random, false)->Arg(10'000)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_BuildIvf, random, false)->Arg(10'000)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_SearchExact, random, false)
    ->ArgsProduct({{10'000, 1'000'000}, {1, 100}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// nprobe: 16 (the default at 10^4 rows, 256 cells) and 64; at 10^6 (4000 cells) also 250, the default
BENCHMARK_CAPTURE(BM_SearchIvf, random, false)
    ->ArgsProduct({{10'000}, {1, 100}, {16, 64}})
    ->ArgsProduct({{1'000'000}, {1, 100}, {16, 64, 250}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// 10^5 clustered rows: 1265 cells, 79 probed by default
BENCHMARK_CAPTURE(BM_BuildExact, clustered, true)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_BuildIvf, clustered, true)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_SearchExact, clustered, true)->ArgsProduct({{100'000}, {1, 100}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_SearchIvf, clustered, true)
    ->ArgsProduct({{100'000}, {1, 100}, {8, 79}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
