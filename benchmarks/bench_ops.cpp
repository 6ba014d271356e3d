// Google Benchmark for the CPU ops. Every op of the op table (tests/ops/op_table.hpp) at its
// default setting and its benchmark sizes (ViT-B/16 video shapes: 1568 tokens = 8 frames /
// tubelet 2 x 196 patches, width 768, 12 heads of 64): BM_<Op>/<sizes> times the forward,
// BM_<Op>Backward/<sizes> the backward after one forward, the op name in CamelCase (BM_Gemm,
// BM_LayerNorm, BM_Attention, BM_AttentionBackward...). By hand: the references a user would
// otherwise pick at the table's GEMM shapes (OpenBLAS's cblas_sgemm, Eigen's product), and the
// attention block as nn.MultiheadAttention computes it. PyTorch runs the same names in
// benchmarks/compare_torch.py; benchmarks/ratio_table.py joins the two.
//
// Threads: SVILM_NUM_THREADS (default: all cores): svilm's pool, and the references' own
// threads (OpenBLAS's and Eigen's, which svilm does not use: it splits products over its pool).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "ops/op_table.hpp"
#include "svilm/svilm.hpp"

namespace {

using namespace svilm;

// CPU ops and modules take this context first (svilm/core/context.hpp).
const Context<cpu> cpu_ctx;

template <int Rank>
Tensor<float, Rank> random_tensor(const Extents<Rank>& shape, std::uint64_t seed) {
    Tensor<float, Rank> t(shape, uninitialized);
    Generator(seed).normal<float, Rank>(t);
    return t;
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void set_bytes(benchmark::State& state, double bytes_per_iteration) {
    state.counters["GB/s"] = benchmark::Counter(bytes_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

#if defined(SVILM_HAVE_OPENBLAS)
// OpenBLAS threaded its own way, as a program calling it would have it. svilm sets OpenBLAS to
// one thread (svilm/ops/gemm.hpp): this case sets it to svilm's count for its duration (the
// OpenMP build's setter also changes this thread's OpenMP count: put back afterwards).
class OpenBlasThreads {
public:
    explicit OpenBlasThreads(int n) { openblas_set_num_threads(n); }
    ~OpenBlasThreads() {
        openblas_set_num_threads(1);
#if defined(_OPENMP)
        omp_set_num_threads(openmp_before_);
#endif
    }

private:
#if defined(_OPENMP)
    int openmp_before_ = omp_get_max_threads();
#endif
};

void BM_OpenBlasSgemm(benchmark::State& state) {
    const index_t M = state.range(0), K = state.range(1), N = state.range(2);
    const auto a = random_tensor<2>({M, K}, 1), b = random_tensor<2>({K, N}, 2);
    Tensor<float, 2> c({M, N});
    const OpenBlasThreads threads(num_threads());
    for (auto _ : state) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(M), int(N), int(K), 1.0f, a.data(), int(K), b.data(),
                    int(N), 0.0f, c.data(), int(N));
        benchmark::DoNotOptimize(c.data());
    }
    set_flops(state, 2.0 * M * N * K);
}
#endif

void BM_EigenGemm(benchmark::State& state) {
    const index_t M = state.range(0), K = state.range(1), N = state.range(2);
    using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Matrix a = Matrix::Random(M, K), b = Matrix::Random(K, N);
    Matrix c(M, N);
    Eigen::setNbThreads(num_threads());  // Eigen's own OpenMP threads
    for (auto _ : state) {
        c.noalias() = a * b;
        benchmark::DoNotOptimize(c.data());
    }
    set_flops(state, 2.0 * M * N * K);
}

// The machine's fp32 multiply-add peak: 12 independent chains of 8-float fused multiply-adds
// per thread (enough to cover the FMA latency on two pipes), on svilm's pool. A GEMM's
// GFLOP/s divided by this is its efficiency. With -march=native the vectors are AVX2 (or
// AVX-512 halves); without FMA instructions the number is the compiler's mul + add.
void BM_FmaPeak(benchmark::State& state) {
    using Vec = float __attribute__((vector_size(32)));
    constexpr int chains = 12;
    constexpr std::int64_t steps = 1 << 22;
    const int threads = num_threads();
    std::vector<float> sink(std::size_t(threads), 0.0f);
    for (auto _ : state) {
        parallel_for(threads, [&](index_t t) {
            Vec acc[chains], x, y;
            for (int l = 0; l < 8; ++l) x[l] = 0.999f, y[l] = 1e-6f * float(t + 1);
            for (int c = 0; c < chains; ++c) acc[c] = x * float(c + 1);
            for (std::int64_t i = 0; i < steps; ++i)
                for (int c = 0; c < chains; ++c) acc[c] = acc[c] * x + y;
            float total = 0;
            for (int c = 0; c < chains; ++c)
                for (int l = 0; l < 8; ++l) total += acc[c][l];
            sink[std::size_t(t)] = total;
        }, true, 1);
        benchmark::DoNotOptimize(sink.data());
    }
    set_flops(state, 2.0 * 8 * chains * double(steps) * threads);
}
BENCHMARK(BM_FmaPeak)->UseRealTime()->Unit(benchmark::kMillisecond);

// Self-attention as nn.MultiheadAttention computes it: fused qkv projection, attention read in
// place from the (N, 3C) buffer, output projection.
void BM_MhaBlock(benchmark::State& state) {
    const index_t N = state.range(0), C = state.range(1), H = state.range(2);
    const auto x = random_tensor<2>({N, C}, 1);
    const auto w_qkv = random_tensor<2>({3 * C, C}, 2), w_out = random_tensor<2>({C, C}, 3);
    const auto b_qkv = random_tensor<1>({3 * C}, 4), b_out = random_tensor<1>({C}, 5);
    Tensor<float, 3> qkv({1, N, 3 * C}), attended({1, N, C});
    Tensor<float, 2> y({N, C});
    AttentionSaved<float> saved;
    for (auto _ : state) {
        linear_forward<float>(cpu_ctx, as_matrix(qkv.view()), x, w_qkv, b_qkv);
        attention_forward<float>(cpu_ctx, attended, saved, qkv.view().narrow(2, 0, C), qkv.view().narrow(2, C, 2 * C),
                                 qkv.view().narrow(2, 2 * C, 3 * C), {}, H);
        linear_forward<float>(cpu_ctx, y, as_matrix(attended.view()), w_out, b_out);
        benchmark::DoNotOptimize(y.data());
    }
    set_flops(state, 4.0 * N * N * C + 2.0 * N * C * 3 * C + 2.0 * N * C * C);
}
BENCHMARK(BM_MhaBlock)->ArgNames({"N", "C", "H"})->Args({1568, 768, 12})->UseRealTime()->Unit(benchmark::kMillisecond);

using Case = optest::OpCase<float, cpu>;
using Run = optest::OpRun<float, cpu>;

// The buffers of the case being measured. Google Benchmark calls a case several times (to pick
// its iteration count) and filling ViT-B-sized arguments costs more than most ops: they are made
// once per case, and the previous case's are released.
Run& prepared(const std::string& name, const Case& c, const optest::Sizes& sizes, bool backward) {
    static std::string current;
    static std::unique_ptr<Run> run;
    if (current != name) {
        run.reset();
        const optest::Signature sig = c.signature(sizes);
        run = std::make_unique<Run>(cpu_ctx, sizes, sig, optest::fill_args(sig, 1));
        if (backward) {  // backward reads the forward's outputs and saved state, as in a module
            c.forward(*run);
            run->set_output_grads(optest::draw_output_grads(sig, 2));
        }
        current = name;
    }
    return *run;
}

void BM_Op(benchmark::State& state, const std::string& name, const Case& c, const optest::Sizes& sizes, bool backward) {
    Run& run = prepared(name, c, sizes, backward);
    const Case::Step& step = backward ? c.backward : c.forward;
    for (auto _ : state) {
        step(run);
        benchmark::ClobberMemory();
    }
    if (!c.cost) return;
    const optest::Cost cost = c.cost(sizes, backward);
    if (cost.flops) set_flops(state, cost.flops);
    if (cost.bytes) set_bytes(state, cost.bytes);
    for (const auto& [counter, value] : cost.counters) state.counters[counter] = value;
}

// Every op of the table at its default setting, forward and backward; the GEMM references at
// the GEMM's shapes.
void register_op_benchmarks() {
    static const std::vector<Case> table = optest::op_table<float, cpu>();
    for (const Case& c : table) {
        if (!c.is_default()) continue;
        for (const optest::Sizes& sizes : c.bench) {
            for (const bool backward : {false, true}) {
                if (backward && !c.backward) continue;
                const std::string name = "BM_" + c.benchmark_stem() + (backward ? "Backward/" : "/") + sizes.label();
                benchmark::RegisterBenchmark(name.c_str(), [name, &c, sizes, backward](benchmark::State& state) {
                    BM_Op(state, name, c, sizes, backward);
                })->UseRealTime()->Unit(benchmark::kMillisecond);
            }
            if (c.op != "gemm") continue;
            const std::vector<std::int64_t> mkn = {sizes["M"], sizes["K"], sizes["N"]};
#if defined(SVILM_HAVE_OPENBLAS)
            benchmark::RegisterBenchmark("BM_OpenBlasSgemm", BM_OpenBlasSgemm)->ArgNames({"M", "K", "N"})->Args(mkn)->UseRealTime()
                ->Unit(benchmark::kMillisecond);
#endif
            benchmark::RegisterBenchmark("BM_EigenGemm", BM_EigenGemm)->ArgNames({"M", "K", "N"})->Args(mkn)->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* env = std::getenv("SVILM_NUM_THREADS");
    svilm::set_num_threads(env ? std::atoi(env) : 0);
    benchmark::AddCustomContext("svilm_threads", std::to_string(svilm::num_threads()));
    benchmark::AddCustomContext("svilm_gemm", svilm::gemm_backend_description());
    register_op_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
