// Google Benchmark for the S-ViLM model on the CPU: the video encoder's forward (inference, no
// noise, one layer's activations alive at a time) and forward + backward (training: Gumbel
// noise, all activations kept) for the tiny, small and base presets at 8 frames of 224x224,
// tubelet 2, batch 1 (and base at 16 frames, the 1568-token clip); the text encoder's forward
// on 32 captions of 32 tokens (and both at the bf16 and int8 inference precisions: the *At
// cases); one full training step (forward, backward, AdamW) of `tiny` at
// its own 64x64 frames, batch 8, alone and next to busy processes (BM_TrainStepTinyUnderLoad;
// benchmarks/under_load.sh runs it under several OpenMP settings and prints the table).
// benchmarks/compare_model.py times the reference PyTorch model on the same cases and
// prints the ratio table.
//
// Counters: clips/s (or captions/s), GFLOP/s of the matrix products, saved_MB (activations
// kept for backward), peak_RSS_MB (the process's high-water mark; run one case per process,
// e.g. --benchmark_filter, for a per-case number).
// Threads: SVILM_NUM_THREADS (default: all cores), svilm::set_num_threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "svilm/svilm.hpp"

namespace {

using namespace svilm;

// CPU ops and modules take this context first (svilm/core/context.hpp).
const Context<cpu> cpu_ctx;

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

// With SVILM_PROFILE=1: the per-op profile of this run of the case, per iteration, on stderr
// (Google Benchmark may run a case more than once; the last table is the measured run's).
void print_profile(const benchmark::State& state, const std::string& name) {
    if (!profile::enabled() || state.iterations() == 0) return;
    std::fprintf(stderr, "\nprofile: %s, per iteration (%lld iterations)\n\n%s", name.c_str(),
                 static_cast<long long>(state.iterations()), profile::table(double(state.iterations())).c_str());
    profile::reset();
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
    const SVilm<float> model(cpu_ctx, config, 1);
    Tensor<float, 5> clip({1, config.video.frames, 3, config.video.image_size, config.video.image_size});
    Generator(2).normal<float, 5>(clip);
    profile::reset();  // what other cases' setup recorded
    for (auto _ : state) {
        Tensor<float, 2> embedding = model.encode_video(cpu_ctx, clip);
        benchmark::DoNotOptimize(embedding.data());
    }
    print_profile(state, "video encoder forward, " + std::string(preset_name(state.range(0))) + ", " + std::to_string(state.range(1)) + " frames");
    set_counters(state, video_encoder_flops(config.video, 1), 1, "clips/s");
}

// The inference cases at an inference precision (state.range(last): 0 fp32, 1 bf16, 2 int8).
// One forward before the timed ones makes the low-precision weight copies, as PyTorch's
// quantize_dynamic makes its packed weights before it is timed. Counter: lowp_MB, the copies.
Precision precision_arg(std::int64_t index) {
    static const Precision precisions[] = {Precision::fp32, Precision::bf16, Precision::int8};
    return precisions[index];
}

void BM_VideoEncoderForwardAt(benchmark::State& state) {
    const SVilmConfig config = bench_config(preset_name(state.range(0)), state.range(1));
    SVilm<float> model(cpu_ctx, config, 1);
    model.parameters().set_inference_precision(precision_arg(state.range(2)));
    Tensor<float, 5> clip({1, config.video.frames, 3, config.video.image_size, config.video.image_size});
    Generator(2).normal<float, 5>(clip);
    (void)model.encode_video(cpu_ctx, clip);
    for (auto _ : state) {
        Tensor<float, 2> embedding = model.encode_video(cpu_ctx, clip);
        benchmark::DoNotOptimize(embedding.data());
    }
    state.counters["lowp_MB"] = double(model.parameters().low_precision_bytes()) / (1 << 20);
    set_counters(state, video_encoder_flops(config.video, 1), 1, "clips/s");
}

void BM_TextEncoderForwardAt(benchmark::State& state) {
    const SVilmConfig config = preset(preset_name(state.range(0)));
    SVilm<float> model(cpu_ctx, config, 1);
    model.parameters().set_inference_precision(precision_arg(state.range(1)));
    const index_t B = 32, N = 32;
    Tensor<std::int64_t, 2> ids({B, N});
    const auto mask = Tensor<std::uint8_t, 2>::full({B, N}, 1);
    for (index_t i = 0; i < ids.size(); ++i) ids.data()[i] = (i * 7919) % config.text.vocab_size;
    (void)model.encode_text(cpu_ctx, ids, mask);
    for (auto _ : state) {
        Tensor<float, 2> embedding = model.encode_text(cpu_ctx, ids, mask);
        benchmark::DoNotOptimize(embedding.data());
    }
    state.counters["lowp_MB"] = double(model.parameters().low_precision_bytes()) / (1 << 20);
    set_counters(state, text_encoder_flops(config.text, B, N), double(B), "captions/s");
}

void BM_VideoEncoderTrain(benchmark::State& state) {
    const SVilmConfig config = bench_config(preset_name(state.range(0)), state.range(1));
    SVilm<float> model(cpu_ctx, config, 1);
    const VideoConfig& v = config.video;
    Tensor<float, 5> clip({1, v.frames, 3, v.image_size, v.image_size});
    Generator rng(2);
    rng.normal<float, 5>(clip);
    std::vector<Tensor<float, 3>> noise;
    std::vector<TensorView<const float, 3>> views;
    for (std::size_t k = 0; k < v.grouping.after.size(); ++k) {
        noise.emplace_back(Extents<3>{1, v.grouping.num_group_tokens, v.tokens()});
        rng.gumbel<float, 3>(noise.back());
    }
    for (const auto& n : noise) views.push_back(n);
    Tensor<float, 3> d_tokens({1, v.tokens(), v.width}), d_groups({1, v.grouping.num_group_tokens, v.width});
    Tensor<float, 2> d_pooled({1, v.width});
    rng.normal<float, 3>(d_tokens);
    rng.normal<float, 3>(d_groups);
    rng.normal<float, 2>(d_pooled);
    VideoEncoderSaved<float> saved;
    profile::reset();
    for (auto _ : state) {
        model.video.forward(cpu_ctx, saved, clip, views);
        model.video.backward(cpu_ctx, d_tokens, d_groups, d_pooled, saved);
    }
    print_profile(state, "video encoder training step, " + std::string(preset_name(state.range(0))) + ", " + std::to_string(v.frames) + " frames");
    state.counters["saved_MB"] = saved_bytes(saved) / (1 << 20);
    set_counters(state, 3 * video_encoder_flops(v, 1), 1, "clips/s");
}

void BM_TextEncoderForward(benchmark::State& state) {
    const SVilmConfig config = preset(preset_name(state.range(0)));
    const SVilm<float> model(cpu_ctx, config, 1);
    const index_t B = 32, N = 32;
    Tensor<std::int64_t, 2> ids({B, N});
    const auto mask = Tensor<std::uint8_t, 2>::full({B, N}, 1);
    for (index_t i = 0; i < ids.size(); ++i) ids.data()[i] = (i * 7919) % config.text.vocab_size;
    profile::reset();
    for (auto _ : state) {
        Tensor<float, 2> embedding = model.encode_text(cpu_ctx, ids, mask);
        benchmark::DoNotOptimize(embedding.data());
    }
    print_profile(state, "text encoder forward, " + std::string(preset_name(state.range(0))) + ", 32 x 32 tokens");
    set_counters(state, text_encoder_flops(config.text, B, N), double(B), "captions/s");
}

// One optimiser step of the whole tiny model at its own 64x64 frames: batch 8, captions and two
// noun prompts each of 16 tokens, all three losses.
struct TinyTrainStep {
    SVilmConfig config = preset("tiny");
    SVilm<float> model{cpu_ctx, config, 1};
    optim::AdamW<float> adamw{model.parameters(), {}};
    const VideoConfig& v = config.video;
    const index_t B = 8, K = config.num_nouns, N = 16, Nt = v.temporal_positions();
    Generator rng{3};
    Tensor<float, 5> video{Extents<5>{B, v.frames, 3, v.image_size, v.image_size}};
    Tensor<float, 2> mask{Extents<2>{B, Nt}};
    Tensor<std::uint8_t, 2> valid = Tensor<std::uint8_t, 2>::full({B, K}, 1);
    Tensor<std::int64_t, 2> ids{Extents<2>{B, N}}, pids{Extents<2>{B * K, N}};
    Tensor<std::uint8_t, 2> am = Tensor<std::uint8_t, 2>::full({B, N}, 1), pm = Tensor<std::uint8_t, 2>::full({B * K, N}, 1);
    SVilmState<float> s;

    TinyTrainStep() {
        rng.normal<float, 5>(video);
        for (index_t i = 0; i < B; ++i) mask(i, 1 + i % 2) = 1;
        for (index_t i = 0; i < ids.size(); ++i) ids.data()[i] = (i * 7919) % config.text.vocab_size;
        for (index_t i = 0; i < pids.size(); ++i) pids.data()[i] = (i * 104729) % config.text.vocab_size;
    }
    void run() {
        const SVilmBatch<float> batch{video, mask, ids, am, pids, pm, valid};
        model.forward(cpu_ctx, s, batch, rng);
        model.parameters().zero_grad();
        model.backward(cpu_ctx, s);
        optim::clip_grad_norm(model.parameters(), 1.0);
        adamw.step();
    }
    double flops() const { return 3 * (video_encoder_flops(v, B) + text_encoder_flops(config.text, B * (1 + K), N)); }
};

void BM_TrainStepTiny(benchmark::State& state) {
    TinyTrainStep step;
    profile::reset();
    for (auto _ : state) step.run();
    print_profile(state, "whole training step, tiny, batch 8");
    set_counters(state, step.flops(), double(step.B), "clips/s");
}

// Processes that only burn CPU, next to the benchmark: forked, then stopped (SIGSTOP) or let run
// (SIGCONT) between steps. Each dies with the benchmark (PR_SET_PDEATHSIG) and after 10 minutes
// at most (alarm), and the destructor kills and reaps them: none outlives the case.
class BusyProcesses {
public:
    explicit BusyProcesses(int count) {
        const pid_t parent = getpid();
        for (int i = 0; i < count; ++i) {
            const pid_t pid = fork();
            if (pid < 0) break;
            if (pid == 0) {  // async-signal-safe calls only: the parent has threads
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent) _exit(0);
                alarm(600);
                raise(SIGSTOP);  // wait for the first resume()
                volatile unsigned long spin = 0;
                for (;;) spin = spin + 1;
            }
            pids_.push_back(pid);
            int status = 0;
            waitpid(pid, &status, WUNTRACED);  // stopped before its first resume()
        }
    }
    ~BusyProcesses() {
        for (const pid_t pid : pids_) kill(pid, SIGKILL);
        for (const pid_t pid : pids_) waitpid(pid, nullptr, 0);
    }
    BusyProcesses(const BusyProcesses&) = delete;
    BusyProcesses& operator=(const BusyProcesses&) = delete;

    int count() const { return int(pids_.size()); }
    void resume() {
        for (const pid_t pid : pids_) kill(pid, SIGCONT);
    }
    void pause() {
        for (const pid_t pid : pids_) {
            kill(pid, SIGSTOP);
            int status = 0;
            waitpid(pid, &status, WUNTRACED);
        }
    }
    // CPU seconds the busy processes have used.
    double cpu_seconds() const {
        double total = 0;
        for (const pid_t pid : pids_) total += process_cpu_seconds(pid);
        return total;
    }

    static double process_cpu_seconds(pid_t pid) {
        const std::string path = "/proc/" + std::to_string(pid) + "/stat";
        std::FILE* f = std::fopen(path.c_str(), "r");
        if (!f) return 0;
        char buffer[1024] = {};
        const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
        std::fclose(f);
        const std::string text(buffer, n);
        const std::size_t close = text.rfind(')');  // fields after the command name
        if (close == std::string::npos) return 0;
        unsigned long long utime = 0, stime = 0;
        // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        if (std::sscanf(text.c_str() + close + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                        &stime) != 2)
            return 0;
        return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
    }

private:
    std::vector<pid_t> pids_;
};

// Busy CPU seconds of the whole machine so far (/proc/stat), to see how much other work ran.
double machine_busy_seconds() {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait,
                              &irq, &softirq, &steal);
    std::fclose(f);
    if (n < 7) return 0;
    return double(user + nice + system + irq + softirq + steal) / double(sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + 1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// The tiny training step with state.range(0) busy processes competing for the cores. Each
// iteration runs one step alone and one step with the busy processes running, so that both see
// the same machine; the reported time is the loaded step's. Counters: unloaded_ms and loaded_ms
// (medians), slowdown (their ratio), busy_cpus (cores' worth of CPU the busy processes got
// during the loaded steps), other_cpus (cores' worth of CPU time used by processes other than
// this benchmark and its busy processes while the case ran: above about 0.1 the machine was not
// quiet and the numbers are noisy).
void BM_TrainStepTinyUnderLoad(benchmark::State& state) {
    TinyTrainStep step;
    BusyProcesses busy(int(state.range(0)));
    if (busy.count() != state.range(0)) {
        state.SkipWithError("fork failed");
        return;
    }
    step.run();  // warm-up: the pool's threads, allocations
    std::vector<double> unloaded, loaded;
    double loaded_total = 0;
    const double busy_start = machine_busy_seconds(), own_start = own_cpu_seconds(), burn_start = busy.cpu_seconds();
    const auto wall_start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        auto t0 = std::chrono::steady_clock::now();
        step.run();
        unloaded.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        busy.resume();
        t0 = std::chrono::steady_clock::now();
        step.run();
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        busy.pause();
        loaded.push_back(t);
        loaded_total += t;
        state.SetIterationTime(t);
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    const double burnt = busy.cpu_seconds() - burn_start;
    const double others = (machine_busy_seconds() - busy_start) - (own_cpu_seconds() - own_start) - burnt;
    state.counters["unloaded_ms"] = 1e3 * median(unloaded);
    state.counters["loaded_ms"] = 1e3 * median(loaded);
    state.counters["slowdown"] = median(loaded) / median(unloaded);
    state.counters["other_cpus"] = wall > 0 ? std::max(0.0, others / wall) : 0.0;
    state.counters["busy_processes"] = double(busy.count());
    // cores' worth of CPU the busy processes got while the loaded steps ran (10 ms ticks)
    state.counters["busy_cpus"] = loaded_total > 0 ? burnt / loaded_total : 0.0;
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
BENCHMARK(BM_VideoEncoderForwardAt)
    ->ArgNames({"preset", "frames", "precision"})
    ->ArgsProduct({{2}, {8, 16}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TextEncoderForwardAt)->ArgNames({"preset", "precision"})->ArgsProduct({{2}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrainStepTinyUnderLoad)->ArgName("busy")->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    if (const char* threads = std::getenv("SVILM_NUM_THREADS")) set_num_threads(std::atoi(threads));
    benchmark::AddCustomContext("threads", std::to_string(num_threads()));
    benchmark::AddCustomContext("gemm", gemm_backend_description());
    benchmark::AddCustomContext("int8_gemm", detail::int8_gemm_description());
    // the presets as JSON: benchmarks/compare_model.py builds the PyTorch model from these
    for (const char* name : {"tiny", "small", "base"}) benchmark::AddCustomContext(std::string("config.") + name, to_json(preset(name)).dump());
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
