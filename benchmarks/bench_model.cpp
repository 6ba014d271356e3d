// Google Benchmark for the S-ViLM model on the CPU: the video encoder's forward (inference, no
// noise, one layer's activations alive at a time) and forward + backward (training: Gumbel
// noise, all activations kept) for the tiny, small and base presets at 8 frames of 224x224,
// tubelet 2, batch 1 (and base at 16 frames, the 1568-token clip); the text encoder's forward
// on 32 captions of 32 tokens; one full training step (forward, backward, AdamW) of `tiny` at
// its own 64x64 frames, batch 8.
// benchmarks/compare_model.py times the reference PyTorch model on the same cases and
// prints the ratio table.
//
// Counters: clips/s (or captions/s), GFLOP/s of the matrix products, saved_MB (activations
// kept for backward), peak_RSS_MB (the process's high-water mark; run one case per process,
// e.g. --benchmark_filter, for a per-case number).
// Threads: SVILM_NUM_THREADS (default: all cores), one setting for OpenMP and BLAS.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "svilm/svilm.hpp"

namespace {

using namespace svilm;

// A preset at 224x224 and `frames` frames (tubelet 2: 8 frames are 784 tokens, 16 are 1568).
SVilmConfig bench_config(const std::string& name, index_t frames) {
    SVilmConfig c = preset(name);
    c.video.image_size = 224;
    c.video.frames = frames;
    return c;
}

const char* preset_name(std::int64_t index) {
    static const char* names[] = {"tiny", "small", "base"};
    return names[index];
}

void set_counters(benchmark::State& state, double flops, double items, const char* unit) {
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters[unit] = benchmark::Counter(items, benchmark::Counter::kIsIterationInvariantRate);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    state.counters["peak_RSS_MB"] = double(usage.ru_maxrss) / 1024.0;
}

template <class T, int Rank>
double bytes_of(const Tensor<T, Rank>& t) {
    return double(t.bytes());
}

double saved_bytes(const VideoEncoderSaved<float>& s) {
    double total = bytes_of(s.patch.patches) + bytes_of(s.tokens) + bytes_of(s.groups);
    for (const auto& t : s.streams) total += bytes_of(t);
    for (const auto& b : s.blocks)
        total += bytes_of(b.ln1) + bytes_of(b.x1) + bytes_of(b.ln2) + bytes_of(b.attn.qkv) + bytes_of(b.attn.attended) +
                 bytes_of(b.attn.attention.logsumexp) + bytes_of(b.mlp.hidden_pre) + bytes_of(b.mlp.hidden);
    for (const auto& g : s.grouping) {
        const auto& k = g.block;
        total += bytes_of(g.x) + bytes_of(g.g) + bytes_of(k.x_ln) + bytes_of(k.assign_k) + bytes_of(k.assign_v) +
                 bytes_of(k.attn.k) + bytes_of(k.attn.v) + 4 * bytes_of(k.logits);
    }
    return total;
}

void BM_VideoEncoderForward(benchmark::State& state) {
    const SVilmConfig config = bench_config(preset_name(state.range(0)), state.range(1));
    const SVilm<float> model(config, 1);
    Tensor<float, 5> clip({1, config.video.frames, 3, config.video.image_size, config.video.image_size});
    Generator(2).normal<float, 5>(clip);
    for (auto _ : state) {
        Tensor<float, 2> embedding = model.encode_video(clip);
        benchmark::DoNotOptimize(embedding.data());
    }
    set_counters(state, video_encoder_flops(config.video, 1), 1, "clips/s");
}

void BM_VideoEncoderTrain(benchmark::State& state) {
    const SVilmConfig config = bench_config(preset_name(state.range(0)), state.range(1));
    SVilm<float> model(config, 1);
    const VideoConfig& v = config.video;
    Tensor<float, 5> clip({1, v.frames, 3, v.image_size, v.image_size});
    Generator rng(2);
    rng.normal<float, 5>(clip);
    std::vector<Tensor<float, 3>> noise;
    std::vector<TensorView<const float, 3>> views;
    for (std::size_t k = 0; k < v.grouping_after.size(); ++k) {
        noise.emplace_back(Extents<3>{1, v.num_group_tokens, v.tokens()});
        rng.gumbel<float, 3>(noise.back());
    }
    for (const auto& n : noise) views.push_back(n);
    Tensor<float, 3> d_tokens({1, v.tokens(), v.width}), d_groups({1, v.num_group_tokens, v.width});
    Tensor<float, 2> d_pooled({1, v.width});
    rng.normal<float, 3>(d_tokens);
    rng.normal<float, 3>(d_groups);
    rng.normal<float, 2>(d_pooled);
    VideoEncoderSaved<float> saved;
    for (auto _ : state) {
        model.video.forward(saved, clip, views);
        model.video.backward(d_tokens, d_groups, d_pooled, saved);
    }
    state.counters["saved_MB"] = saved_bytes(saved) / (1 << 20);
    set_counters(state, 3 * video_encoder_flops(v, 1), 1, "clips/s");
}

void BM_TextEncoderForward(benchmark::State& state) {
    const SVilmConfig config = preset(preset_name(state.range(0)));
    const SVilm<float> model(config, 1);
    const index_t B = 32, N = 32;
    Tensor<std::int64_t, 2> ids({B, N});
    const auto mask = Tensor<std::uint8_t, 2>::full({B, N}, 1);
    for (index_t i = 0; i < ids.size(); ++i) ids.data()[i] = (i * 7919) % config.text.vocab_size;
    for (auto _ : state) {
        Tensor<float, 2> embedding = model.encode_text(ids, mask);
        benchmark::DoNotOptimize(embedding.data());
    }
    set_counters(state, text_encoder_flops(config.text, B, N), double(B), "captions/s");
}

// One optimiser step of the whole tiny model at its own 64x64 frames: batch 8, captions and two
// noun prompts each of 16 tokens, all three losses.
void BM_TrainStepTiny(benchmark::State& state) {
    const SVilmConfig config = preset("tiny");
    SVilm<float> model(config, 1);
    optim::AdamW<float> adamw(model.parameters(), {});
    const VideoConfig& v = config.video;
    const index_t B = 8, K = config.num_nouns, N = 16, Nt = v.temporal_positions();
    Generator rng(3);
    Tensor<float, 5> video({B, v.frames, 3, v.image_size, v.image_size});
    rng.normal<float, 5>(video);
    Tensor<float, 2> mask({B, Nt});
    const auto valid = Tensor<std::uint8_t, 2>::full({B, K}, 1);
    for (index_t i = 0; i < B; ++i) mask(i, 1 + i % 2) = 1;
    Tensor<std::int64_t, 2> ids({B, N}), pids({B * K, N});
    const auto am = Tensor<std::uint8_t, 2>::full({B, N}, 1), pm = Tensor<std::uint8_t, 2>::full({B * K, N}, 1);
    for (index_t i = 0; i < ids.size(); ++i) ids.data()[i] = (i * 7919) % config.text.vocab_size;
    for (index_t i = 0; i < pids.size(); ++i) pids.data()[i] = (i * 104729) % config.text.vocab_size;
    const SVilmBatch<float> batch{video, mask, ids, am, pids, pm, valid};
    SVilmState<float> s;
    for (auto _ : state) {
        model.forward(s, batch, rng);
        model.parameters().zero_grad();
        model.backward(s);
        optim::clip_grad_norm(model.parameters(), 1.0);
        adamw.step();
    }
    const double flops = 3 * (video_encoder_flops(v, B) + text_encoder_flops(config.text, B * (1 + K), N));
    set_counters(state, flops, double(B), "clips/s");
}

// (preset, frames): tiny, small, base at 8 frames, and base at 16 (the 1568-token clip).
void presets(benchmark::internal::Benchmark* b) {
    b->ArgNames({"preset", "frames"})->Args({0, 8})->Args({1, 8})->Args({2, 8})->Args({2, 16});
    b->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_VideoEncoderForward)->Apply(presets);
BENCHMARK(BM_VideoEncoderTrain)->Apply(presets);
BENCHMARK(BM_TextEncoderForward)->ArgNames({"preset"})->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrainStepTiny)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    if (const char* threads = std::getenv("SVILM_NUM_THREADS")) set_num_threads(std::atoi(threads));
    benchmark::AddCustomContext("threads", std::to_string(num_threads()));
    benchmark::AddCustomContext("gemm", gemm_backend_description());
    // the presets as JSON: benchmarks/compare_model.py builds the PyTorch model from these
    for (const char* name : {"tiny", "small", "base"}) benchmark::AddCustomContext(std::string("config.") + name, to_json(preset(name)).dump());
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
