// Google Benchmark for data-parallel training over MPI: one training step (forward, backward,
// gradient sums, AdamW) of the tiny preset (64x64, 8 frames, global batch 8) and of the small
// preset (224x224, 8 frames, global batch 4), on every rank of the job.
//
//   svilm_bench_distributed                                       # 1 process, all cores
//   mpirun -np 2 -x SVILM_NUM_THREADS=1 svilm_bench_distributed   # 2 processes, 1 thread each
//   benchmarks/compare_distributed.sh                             # both, and the table of ratios
//
// Each case runs a fixed number of steps (every rank must take the same number: a step is a
// collective), after one unmeasured warm-up step. Rank 0 reports; its counters: clips/s of the
// whole job, comm_MB (bytes this rank sent per step), comm_share (the share of the step this rank
// waited for collectives), ranks and threads.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "svilm/distributed/mpi.hpp"
#include "svilm/svilm.hpp"
#include "svilm/text/tokenizer.hpp"
#include "svilm/train.hpp"
#include "support/indexed_source.hpp"

namespace {

using namespace svilm;

const Context<cpu> cpu_ctx;
dist::MpiCommunicator* world = nullptr;

void BM_DataParallelStep(benchmark::State& state, const std::string& name, index_t image_size, index_t global_batch) {
    SVilmConfig config = preset(name);
    config.video.image_size = image_size;
    config.video.frames = 8;
    SVilm<float> model(cpu_ctx, config, 1);
    testing::IndexedSource source(config, 0);  // clip i a function of i: any shard, any order
    train::TrainerOptions options;
    options.steps = 1000;
    options.batch_size = global_batch;
    options.show_progress = false;
    train::Trainer<cpu> trainer(model, testing::test_tokenizer(), source, options, nullptr, world);
    trainer.step();  // warm-up: buffers sized, the reduction thread started
    double seconds = 0, comm_seconds = 0, bytes = 0;
    for (auto _ : state) {
        const train::StepResult r = trainer.step();
        seconds += r.seconds;
        comm_seconds += r.comm_seconds;
        bytes += double(r.comm_bytes);
    }
    const double steps = double(state.iterations());
    state.counters["clips/s"] = benchmark::Counter(double(global_batch), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["comm_MB"] = bytes / steps / 1e6;
    state.counters["comm_share"] = seconds > 0 ? comm_seconds / seconds : 0;
    state.counters["ranks"] = world->size();
    state.counters["threads"] = num_threads();
    state.counters["parameters_M"] = double(model.parameters().parameter_count()) / 1e6;
}

BENCHMARK_CAPTURE(BM_DataParallelStep, tiny, std::string("tiny"), 64, 8)->Iterations(10)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DataParallelStep, small, std::string("small"), 224, 4)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

// Rank 0 reports; the others run the same cases silently.
class Silent : public benchmark::BenchmarkReporter {
public:
    bool ReportContext(const Context&) override { return true; }
    void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
    dist::MpiSession mpi(argc, argv);
    return dist::run_or_abort([&] {
        dist::MpiCommunicator communicator;
        world = &communicator;
        if (const char* threads = std::getenv("SVILM_NUM_THREADS")) set_num_threads(std::atoi(threads));
        benchmark::AddCustomContext("ranks", std::to_string(world->size()));
        benchmark::AddCustomContext("threads", std::to_string(num_threads()));
        benchmark::AddCustomContext("gemm", gemm_backend_description());
        bool file_output = false;  // --benchmark_out: rank 0 writes the file, the others must not
        for (int i = 1; i < argc; ++i) file_output = file_output || std::string(argv[i]).rfind("--benchmark_out=", 0) == 0;
        benchmark::Initialize(&argc, argv);
        if (world->rank() == 0) {
            benchmark::RunSpecifiedBenchmarks();
        } else {
            Silent silent;
            benchmark::RunSpecifiedBenchmarks(&silent, file_output ? &silent : nullptr);
        }
        benchmark::Shutdown();
    });
}
