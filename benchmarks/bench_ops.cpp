// Google Benchmark for the CPU ops on ViT-B/16 video shapes (1568 tokens = 8 frames / tubelet 2
// x 196 patches, width 768, 12 heads of 64), with the references a user would otherwise pick
// in the same run: OpenBLAS's cblas_sgemm and Eigen's product for GEMM. PyTorch runs the same
// names in benchmarks/compare_torch.py; benchmarks/ratio_table.py joins the two.
//
// Threads: SVILM_NUM_THREADS (default: all cores): svilm's pool, and the references' own
// threads (OpenBLAS's and Eigen's, which svilm does not use: it splits products over its pool).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include <Eigen/Core>
#if defined(_OPENMP)
#include <omp.h>
#endif

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

void gemm_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"M", "K", "N"});
    for (const auto& [m, k, n] : {std::tuple{1568, 768, 768}, {1568, 768, 2304}, {1568, 768, 3072}, {1568, 3072, 768}})
        b->Args({m, k, n});
    b->UseRealTime()->Unit(benchmark::kMillisecond);
}

// svilm's matmul: the one GEMM entry point every layer uses.
void BM_Gemm(benchmark::State& state) {
    const index_t M = state.range(0), K = state.range(1), N = state.range(2);
    const auto a = random_tensor<2>({M, K}, 1), b = random_tensor<2>({K, N}, 2);
    Tensor<float, 2> c({M, N});
    for (auto _ : state) {
        matmul<float>(cpu_ctx, c, a, b);
        benchmark::DoNotOptimize(c.data());
    }
    set_flops(state, 2.0 * M * N * K);
}
BENCHMARK(BM_Gemm)->Apply(gemm_args);

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
BENCHMARK(BM_OpenBlasSgemm)->Apply(gemm_args);
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
BENCHMARK(BM_EigenGemm)->Apply(gemm_args);

void attention_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"B", "H", "N", "d"})->Args({1, 12, 1568, 64})->Args({1, 12, 3136, 64});
    b->UseRealTime()->Unit(benchmark::kMillisecond);
}

// Extra memory beyond inputs and output: ours keeps the logsumexp (B, H, N); a materialised
// implementation keeps the (B, H, N, N) probabilities.
void set_attention_memory(benchmark::State& state, index_t B, index_t H, index_t N) {
    state.counters["saved_MB"] = double(B * H * N) * sizeof(float) / 1e6;
    state.counters["materialised_MB"] = double(B * H * N * N) * sizeof(float) / 1e6;
}

void BM_Attention(benchmark::State& state) {
    const index_t B = state.range(0), H = state.range(1), N = state.range(2), d = state.range(3), C = H * d;
    const auto q = random_tensor<3>({B, N, C}, 1), k = random_tensor<3>({B, N, C}, 2), v = random_tensor<3>({B, N, C}, 3);
    Tensor<float, 3> out({B, N, C});
    AttentionSaved<float> saved;
    for (auto _ : state) {
        attention_forward<float>(cpu_ctx, out, saved, q, k, v, {}, H);
        benchmark::DoNotOptimize(out.data());
    }
    set_flops(state, 4.0 * B * H * N * N * d);
    set_attention_memory(state, B, H, N);
}
BENCHMARK(BM_Attention)->Apply(attention_args);

void BM_AttentionBackward(benchmark::State& state) {
    const index_t B = state.range(0), H = state.range(1), N = state.range(2), d = state.range(3), C = H * d;
    const auto q = random_tensor<3>({B, N, C}, 1), k = random_tensor<3>({B, N, C}, 2), v = random_tensor<3>({B, N, C}, 3);
    const auto dout = random_tensor<3>({B, N, C}, 4);
    Tensor<float, 3> out({B, N, C}), dq({B, N, C}), dk({B, N, C}), dv({B, N, C});
    AttentionSaved<float> saved;
    attention_forward<float>(cpu_ctx, out, saved, q, k, v, {}, H);
    for (auto _ : state) {
        attention_backward<float>(cpu_ctx, dq, dk, dv, dout, saved, q, k, v, out, {}, H);
        benchmark::DoNotOptimize(dq.data());
    }
    set_flops(state, 8.0 * B * H * N * N * d);  // nominal: the recomputed scores are not counted
    set_attention_memory(state, B, H, N);
}
BENCHMARK(BM_AttentionBackward)->ArgNames({"B", "H", "N", "d"})->Args({1, 12, 1568, 64})->UseRealTime()->Unit(benchmark::kMillisecond);

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

void BM_LayerNorm(benchmark::State& state) {
    const index_t R = state.range(0), C = state.range(1);
    const auto x = random_tensor<2>({R, C}, 1);
    const auto w = random_tensor<1>({C}, 2), b = random_tensor<1>({C}, 3);
    Tensor<float, 2> y({R, C});
    LayerNormSaved<float> saved;
    for (auto _ : state) {
        layer_norm_forward<float>(cpu_ctx, y, saved, x, w, b, 1e-6f);
        benchmark::DoNotOptimize(y.data());
    }
    set_bytes(state, 2.0 * R * C * sizeof(float));
}
BENCHMARK(BM_LayerNorm)->ArgNames({"R", "C"})->Args({1568, 768})->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Gelu(benchmark::State& state) {
    const index_t R = state.range(0), C = state.range(1);
    const auto x = random_tensor<1>({R * C}, 1);
    Tensor<float, 1> y({R * C});
    for (auto _ : state) {
        gelu_forward<float>(cpu_ctx, y, x);
        benchmark::DoNotOptimize(y.data());
    }
    set_bytes(state, 2.0 * R * C * sizeof(float));
}
BENCHMARK(BM_Gelu)->ArgNames({"R", "C"})->Args({1568, 3072})->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Softmax(benchmark::State& state) {
    const index_t R = state.range(0), N = state.range(1);
    const auto x = random_tensor<3>({1, R, N}, 1);
    Tensor<float, 3> y({1, R, N});
    for (auto _ : state) {
        softmax_forward<float>(cpu_ctx, y, x, {});
        benchmark::DoNotOptimize(y.data());
    }
    set_bytes(state, 2.0 * R * N * sizeof(float));
}
BENCHMARK(BM_Softmax)->ArgNames({"R", "N"})->Args({1568, 1568})->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    const char* env = std::getenv("SVILM_NUM_THREADS");
    svilm::set_num_threads(env ? std::atoi(env) : 0);
    benchmark::AddCustomContext("svilm_threads", std::to_string(svilm::num_threads()));
    benchmark::AddCustomContext("svilm_gemm", svilm::gemm_backend_description());
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
