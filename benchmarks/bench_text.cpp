// Google Benchmark for the text component: BERT WordPiece encoding of captions (one thread, as
// the plain-Python reference tests/reference/wordpiece_reference.py --benchmark measures, and
// batched over all threads), and noun-phrase extraction.
//
// Captions: the file named by SVILM_BENCH_CAPTIONS (one per line; the Python reference writes
// the same 100k with --write-captions), otherwise 100k captions of the synthetic benchmark's
// grammar generated here.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "svilm/core.hpp"
#include "svilm/text.hpp"

namespace {

using namespace svilm;

const std::vector<std::string>& captions() {
    static const std::vector<std::string> all = [] {
        std::vector<std::string> out;
        if (const char* path = std::getenv("SVILM_BENCH_CAPTIONS")) {
            std::ifstream in(path);
            for (std::string line; std::getline(in, line);) out.push_back(line);
            if (!out.empty()) return out;
        }
        const char* colours[] = {"red", "green", "blue", "yellow", "purple", "orange", "white", "pink"};
        const char* shapes[] = {"circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon"};
        const char* motions[] = {"moves left", "moves right", "moves up", "moves down", "stays still", "grows", "shrinks"};
        Generator rng(0);
        for (int i = 0; i < 100000; ++i) {
            std::string c;
            const int objects = 1 + int(rng.uniform_int(3));
            for (int o = 0; o < objects; ++o) {
                c += o == 0 ? "" : (o + 1 == objects ? " and " : ", ");
                c += std::string("a ") + colours[rng.uniform_int(8)] + " " + shapes[rng.uniform_int(8)] + " " +
                     motions[rng.uniform_int(7)];
            }
            out.push_back(c);
        }
        return out;
    }();
    return all;
}

const text::Tokenizer& tokenizer() {
    static const text::Tokenizer t(text::Vocabulary::load(std::string(SVILM_DATA_DIR) + "/vocab/bert-base-uncased-vocab.txt"));
    return t;
}

void BM_EncodeCaptions(benchmark::State& state) {
    const auto& all = captions();
    const auto& tok = tokenizer();
    std::int64_t checksum = 0;
    for (auto _ : state)
        for (const auto& c : all) checksum += tok.encode(c, 32).ids[1];
    benchmark::DoNotOptimize(checksum);
    state.counters["captions/s"] = benchmark::Counter(double(all.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_EncodeCaptions)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_EncodeBatch(benchmark::State& state) {
    const auto& all = captions();
    for (auto _ : state) {
        const auto batch = tokenizer().encode_batch(all, 32);
        benchmark::DoNotOptimize(batch.ids.data());
    }
    state.counters["captions/s"] = benchmark::Counter(double(all.size()), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["threads"] = num_threads();
}
BENCHMARK(BM_EncodeBatch)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_NounPhrases(benchmark::State& state) {
    static const text::NounExtractor nouns = text::NounExtractor::load();
    const auto& all = captions();
    std::size_t found = 0;
    for (auto _ : state)
        for (std::size_t i = 0; i < 10000; ++i) found += nouns.extract(all[i % all.size()], 2).size();
    benchmark::DoNotOptimize(found);
    state.counters["captions/s"] = benchmark::Counter(10000.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_NounPhrases)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
    const char* env = std::getenv("SVILM_NUM_THREADS");
    svilm::set_num_threads(env ? std::atoi(env) : 0);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
