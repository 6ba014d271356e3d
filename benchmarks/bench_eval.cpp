// Google Benchmark for the synthetic benchmark and the evaluation metrics: drawing and rendering
// one 64x64, 8-frame video (the data loader's per-item cost), converting it to the model's input,
// and scoring retrieval over 1000 pairs and one noun's grounding.
#include <benchmark/benchmark.h>

#include "svilm/core.hpp"
#include "svilm/data/synthetic.hpp"
#include "svilm/eval.hpp"

namespace {

using namespace svilm;

data::SyntheticConfig video_config(double textured) {
    data::SyntheticConfig c;
    c.scene_change_probability = 0.5;
    c.textured_background_probability = textured;
    return c;
}

// Script + rendering + caption + ground truth: SyntheticDataset::item. range(0): 1 = textured
// backgrounds only, 0 = plain only.
void BM_SyntheticItem(benchmark::State& state) {
    const data::SyntheticDataset dataset(video_config(double(state.range(0))));
    index_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(dataset.item(i++ % 10000).frames.data());
    state.counters["videos/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SyntheticItem)->Arg(0)->Arg(1);

void BM_SampleScript(benchmark::State& state) {
    const data::SyntheticConfig config = video_config(0.5);
    index_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(data::sample_script(config, i++).objects.data());
}
BENCHMARK(BM_SampleScript);

void BM_NormalizeFrames(benchmark::State& state) {
    const data::SyntheticVideo v = data::SyntheticDataset(video_config(0.5)).item(0);
    Tensor<float, 4> out({8, 3, 64, 64}, uninitialized);
    for (auto _ : state) {
        data::normalize_frames<float>(out, v.frames);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(BM_NormalizeFrames);

void BM_RetrievalMetrics(benchmark::State& state) {
    const index_t N = state.range(0), D = 256;
    Tensor<float, 2> text({N, D}), video({N, D});
    Generator rng(1);
    rng.normal<float, 2>(text);
    rng.normal<float, 2>(video);
    for (Tensor<float, 2>* m : {&text, &video})
        for (index_t i = 0; i < N; ++i) {
            double s = 0;
            for (index_t d = 0; d < D; ++d) s += double((*m)(i, d)) * (*m)(i, d);
            for (index_t d = 0; d < D; ++d) (*m)(i, d) = float((*m)(i, d) / std::sqrt(s));
        }
    for (auto _ : state) benchmark::DoNotOptimize(eval::retrieval_metrics<float>(text, video).text_to_video.r1);
}
BENCHMARK(BM_RetrievalMetrics)->Arg(1000)->Unit(benchmark::kMillisecond);

// One noun against M = 32 groups over (N_t, h, w) = (4, 4, 4) tokens on 8 frames of 64x64: the
// chosen group plus the 32-group random baseline.
void BM_GroundNoun(benchmark::State& state) {
    const index_t M = 32, D = 256;
    const eval::TokenGrid grid{4, 4, 4};
    Tensor<float, 2> groups({M, D}), assignment({M, grid.tokens()});
    Tensor<float, 1> noun({D});
    Generator rng(2);
    rng.normal<float, 2>(groups);
    rng.uniform<float, 2>(assignment);
    rng.normal<float, 1>(noun);
    const data::SyntheticVideo v = data::SyntheticDataset(video_config(0.5)).item(0);
    const Tensor<std::uint8_t, 3> mask = v.mask(0);
    for (auto _ : state) benchmark::DoNotOptimize(eval::ground_noun<float>(noun, groups, assignment, grid, mask).group);
}
BENCHMARK(BM_GroundNoun)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
