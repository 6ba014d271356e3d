// svilm_bench_gpu: the CUDA backend's speed and memory on one GPU, Google Benchmark with manual
// time from CUDA events (warm-up first, then one timed region per iteration).
//
//   BM_GpuVideoEncoderForward/frames:F/batch:B/math:K   `base` video encoder + video_proj + L2,
//                                                       inference (no noise, two token streams)
//   BM_GpuVideoEncoderTrain/frames:F/batch:B/math:K     forward with Gumbel noise + backward from
//                                                       fixed random gradients on tokens, groups
//                                                       and the pooled feature (every parameter
//                                                       gradient; no optimiser step)
//   BM_GpuAttention/tokens:N/backward:P/math:K          the fused attention alone, ViT-B heads
//                                                       (tensor cores in the TF32 / bf16 modes)
//   BM_GpuGemm/math:K                                   one cuBLAS GEMM of the MLP's shape: the
//                                                       ceiling the encoder's GEMMs run against
//   BM_GpuOp/<op>/<pass>/<sizes>                        every op of the op table
//                                                       (tests/ops/op_table.hpp) at its default
//                                                       setting and benchmark sizes, fp32 math:
//                                                       the forward, or the backward after one
//                                                       forward (counters tflops, gb_per_s)
//
// K: 0 fp32, 1 TF32, 2 bf16 tensor-core GEMMs (storage and accumulation stay fp32). Counters:
// clips_per_s, tflops (the encoder's matrix-product FLOPs over the mean time; training counts
// 3x forward), peak_mib (the caching pool's peak of bytes in use during the case, parameters
// included). benchmarks/gpu/compare_torch_gpu.py runs PyTorch on the same cases.
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/op_table.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/cuda.hpp"
#include "svilm/model/flops.hpp"

namespace svilm::bench {
namespace {

Context<cuda>& context() {
    static Context<cuda> ctx;
    return ctx;
}

MathMode math_mode(std::int64_t k) { return k == 0 ? MathMode::fp32 : k == 1 ? MathMode::tf32 : MathMode::bf16; }

SVilmConfig base_config(index_t frames) {
    SVilmConfig c = preset("base");
    c.video.frames = frames;
    return c;
}

// One device model per frame count (the temporal position table depends on it), built once.
SVilm<float, cuda>& device_model(index_t frames) {
    static std::map<index_t, std::unique_ptr<SVilm<float, cuda>>> models;
    auto& slot = models[frames];
    if (!slot) slot = std::make_unique<SVilm<float, cuda>>(context(), base_config(frames), 0);
    return *slot;
}

template <int Rank>
Tensor<float, Rank, cuda> random_device(const Extents<Rank>& shape, std::uint64_t seed) {
    Tensor<float, Rank> host(shape, uninitialized);
    Generator(seed).normal<float, Rank>(host);
    return to_device<float, Rank>(context(), host);
}

// Times `work` with CUDA events: two untimed warm-up runs, then one timed run per iteration.
template <class Work>
void time_on_device(benchmark::State& state, Work&& work) {
    Context<cuda>& ctx = context();
    cudaEvent_t start, stop;
    SVILM_CUDA_CHECK(cudaEventCreate(&start));
    SVILM_CUDA_CHECK(cudaEventCreate(&stop));
    work();
    work();
    ctx.synchronize();
    double total = 0;
    for (auto _ : state) {
        SVILM_CUDA_CHECK(cudaEventRecord(start, ctx.stream()));
        work();
        SVILM_CUDA_CHECK(cudaEventRecord(stop, ctx.stream()));
        SVILM_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        SVILM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        state.SetIterationTime(double(ms) * 1e-3);
        total += double(ms) * 1e-3;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    state.counters["mean_s"] = total / double(state.iterations());
}

void set_counters(benchmark::State& state, double flops, double clips) {
    const double seconds = state.counters["mean_s"];
    state.counters["clips_per_s"] = clips / seconds;
    state.counters["tflops"] = flops / seconds * 1e-12;
    state.counters["peak_mib"] = double(cuda_memory::Pool::instance().stats().peak) / double(1 << 20);
}

// A number that is not finite makes the case an error: speed of a broken result means nothing.
template <int Rank>
void expect_finite(benchmark::State& state, const Tensor<float, Rank>& t, const char* what) {
    for (index_t i = 0; i < t.size(); ++i)
        if (!std::isfinite(t.data()[i])) {
            state.SkipWithError((std::string(what) + " are not finite").c_str());
            return;
        }
}

// A failed case (out of memory, a CUDA error) is reported as an error, and the run goes on.
template <class Body>
void guarded(benchmark::State& state, Body&& body) {
    try {
        body();
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
}

void BM_GpuVideoEncoderForward(benchmark::State& state) {
    guarded(state, [&] {
        const index_t frames = state.range(0), B = state.range(1);
        Context<cuda>& ctx = context();
        ctx.set_math(math_mode(state.range(2)));
        const SVilm<float, cuda>& model = device_model(frames);
        const VideoConfig& v = model.config().video;
        const Tensor<float, 5, cuda> clips = random_device<5>({B, frames, 3, v.image_size, v.image_size}, 1);
        cuda_memory::Pool::instance().reset_peak();
        time_on_device(state, [&] { benchmark::DoNotOptimize(model.encode_video(ctx, clips).data()); });
        set_counters(state, video_encoder_flops(v, B), double(B));
        expect_finite(state, to_host<float, 2>(ctx, model.encode_video(ctx, clips)), "embeddings");
    });
}

void BM_GpuVideoEncoderTrain(benchmark::State& state) {
    guarded(state, [&] {
        const index_t frames = state.range(0), B = state.range(1);
        Context<cuda>& ctx = context();
        ctx.set_math(math_mode(state.range(2)));
        SVilm<float, cuda>& model = device_model(frames);
        const VideoConfig& v = model.config().video;
        const index_t L = v.tokens(), M = v.grouping.num_group_tokens, C = v.width;
        const Tensor<float, 5, cuda> clips = random_device<5>({B, frames, 3, v.image_size, v.image_size}, 2);
        std::vector<Tensor<float, 3, cuda>> noise;
        for (std::size_t k = 0; k < v.grouping.after.size(); ++k) {
            Tensor<float, 3> host({B, M, L}, uninitialized);
            Generator(10 + k).gumbel<float, 3>(host);
            noise.push_back(to_device<float, 3>(ctx, host));
        }
        const std::vector<TensorView<const float, 3, cuda>> noise_views(noise.begin(), noise.end());
        const Tensor<float, 3, cuda> d_tokens = random_device<3>({B, L, C}, 3), d_groups = random_device<3>({B, M, C}, 4);
        const Tensor<float, 2, cuda> d_pooled = random_device<2>({B, C}, 5);
        model.parameters().grads();  // the gradient buffer exists before the peak restarts
        cuda_memory::Pool::instance().reset_peak();
        VideoEncoderSaved<float, cuda> saved;
        time_on_device(state, [&] {
            model.video.forward(ctx, saved, clips, noise_views, true);
            model.video.backward(ctx, d_tokens, d_groups, d_pooled, saved);
        });
        set_counters(state, 3 * video_encoder_flops(v, B), double(B));
        expect_finite(state, to_host<float, 1>(ctx, model.parameters().grads()), "gradients");
    });
}

void BM_GpuAttention(benchmark::State& state) {
    guarded(state, [&] {
        const index_t N = state.range(0), B = 16, H = 12, C = 768;
        const bool backward = state.range(1) != 0;
        Context<cuda>& ctx = context();
        ctx.set_math(math_mode(state.range(2)));
        const Tensor<float, 3, cuda> qkv = random_device<3>({B, N, 3 * C}, 6), d_out = random_device<3>({B, N, C}, 7);
        const auto q = qkv.view().narrow(2, 0, C), k = qkv.view().narrow(2, C, 2 * C), v = qkv.view().narrow(2, 2 * C, 3 * C);
        Tensor<float, 3, cuda> out({B, N, C}, uninitialized), dq({B, N, C}, uninitialized), dk({B, N, C}, uninitialized),
            dv({B, N, C}, uninitialized);
        AttentionSaved<float, cuda> saved;
        attention_forward<float>(ctx, out, saved, q, k, v, {}, H);
        time_on_device(state, [&] {
            if (backward)
                attention_backward<float>(ctx, dq, dk, dv, d_out, saved, q, k, v, out, {}, H);
            else
                attention_forward<float>(ctx, out, saved, q, k, v, {}, H);
        });
        // forward: QK^T and PV; backward: QK^T recomputed twice, dV, dP twice, dQ, dK
        const double flops = double(B) * 4.0 * double(N) * double(N) * double(C) * (backward ? 3.5 : 1.0);
        set_counters(state, flops, double(B));
    });
}

void BM_GpuGemm(benchmark::State& state) {
    guarded(state, [&] {
        const index_t M = 16 * 792, N = 3072, K = 768;
        Context<cuda>& ctx = context();
        ctx.set_math(math_mode(state.range(0)));
        const Tensor<float, 2, cuda> a = random_device<2>({M, K}, 8), b = random_device<2>({N, K}, 9);
        Tensor<float, 2, cuda> c({M, N}, uninitialized);
        time_on_device(state, [&] { matmul<float>(ctx, c, a, b.view().transpose(0, 1)); });
        set_counters(state, 2.0 * double(M) * double(N) * double(K), 1);
    });
}

using OpCase = optest::OpCase<float, cuda>;

void BM_GpuOp(benchmark::State& state, const OpCase& c, const optest::Sizes& sizes, bool backward) {
    guarded(state, [&] {
        Context<cuda>& ctx = context();
        ctx.set_math(MathMode::fp32);
        const optest::Signature sig = c.signature(sizes);
        optest::OpRun<float, cuda> run(ctx, sizes, sig, optest::fill_args(sig, 1));
        if (backward) {  // backward reads the forward's outputs and saved state, as in a module
            c.forward(run);
            run.set_output_grads(optest::draw_output_grads(sig, 2));
        }
        const OpCase::Step& step = backward ? c.backward : c.forward;
        time_on_device(state, [&] { step(run); });
        if (!c.cost) return;
        const optest::Cost cost = c.cost(sizes, backward);
        const double seconds = state.counters["mean_s"];
        if (cost.flops) state.counters["tflops"] = cost.flops / seconds * 1e-12;
        if (cost.bytes) state.counters["gb_per_s"] = cost.bytes / seconds * 1e-9;
        for (const auto& [counter, value] : cost.counters) state.counters[counter] = value;
    });
}

void register_op_benchmarks() {
    static const std::vector<OpCase> table = optest::op_table<float, cuda>();
    for (const OpCase& c : table) {
        if (!c.is_default()) continue;
        for (const optest::Sizes& sizes : c.bench)
            for (const bool backward : {false, true}) {
                if (backward && !c.backward) continue;
                const std::string name = "BM_GpuOp/" + c.op + (backward ? "/backward/" : "/forward/") + sizes.label();
                benchmark::RegisterBenchmark(name.c_str(), [&c, sizes, backward](benchmark::State& state) {
                    BM_GpuOp(state, c, sizes, backward);
                })->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);
            }
    }
}

void encoder_cases(benchmark::internal::Benchmark* b) {
    b->ArgNames({"frames", "batch", "math"});
    for (const std::int64_t math : {0, 1, 2}) {
        b->Args({8, 16, math});
        b->Args({32, 4, math});
    }
    b->UseManualTime()->Iterations(10)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_GpuVideoEncoderForward)->Apply(encoder_cases);
BENCHMARK(BM_GpuVideoEncoderTrain)->Apply(encoder_cases);
BENCHMARK(BM_GpuAttention)
    ->ArgNames({"tokens", "backward", "math"})
    ->ArgsProduct({{792, 3144}, {0, 1}, {0, 1, 2}})
    ->UseManualTime()
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GpuGemm)->ArgNames({"math"})->DenseRange(0, 2)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace svilm::bench

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (!svilm::Context<svilm::cuda>::available()) {
        std::printf("svilm_bench_gpu: no usable GPU (%s); nothing to measure\n",
                    svilm::Context<svilm::cuda>::unavailable_reason().c_str());
        return 0;
    }
    benchmark::AddCustomContext("device", svilm::bench::context().description());
    svilm::bench::register_op_benchmarks();
    for (const char* name : {"tiny", "small", "base"})
        benchmark::AddCustomContext(std::string("config.") + name, svilm::to_json(svilm::preset(name)).dump());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
