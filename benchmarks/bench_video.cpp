// Google Benchmark for the video component: open a video, sample 8 frames uniformly, decode
// them and preprocess to (8, 3, 224, 224), per clip, in the accurate and fast seek modes. The
// same work as the ffmpeg command of benchmarks/compare_ffmpeg.sh, which decodes every frame.
//
// Clips: a 10 s 640x360 H.264 clip at 30 fps made here with libx264 (preset medium, crf 23) with
// x264's default keyframe interval (250 frames) and with a 1 s interval (30), and vtest.avi of
// Debian's opencv-doc (768x576, 795 frames, 4 keyframes; scripts/fetch_test_media.sh). The
// clips are written to $SVILM_BENCH_DIR (default /tmp/svilm-bench) for compare_ffmpeg.sh.
// Counters: clips/s, frames/s (8 a clip), peak RSS of the process during the benchmark (MB).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "svilm/core.hpp"
#include "svilm/video.hpp"

namespace {

using namespace svilm;
using namespace svilm::video;

std::filesystem::path bench_dir() {
    const char* env = std::getenv("SVILM_BENCH_DIR");
    return env && *env ? env : "/tmp/svilm-bench";
}

// 10 s of 640x360 at 30 fps: a moving texture and a moving bar, so the encoder has real work.
std::filesystem::path h264_clip(int gop) {
    const auto path = bench_dir() / ("h264_640x360_10s_gop" + std::to_string(gop) + ".mp4");
    if (std::filesystem::exists(path)) return path;
    std::filesystem::create_directories(bench_dir());
    WriterOptions o;
    o.codec = "libx264";
    o.width = 640;
    o.height = 360;
    o.fps = {30, 1};
    o.gop = gop;
    o.max_b_frames = 3;
    o.threads = 0;
    o.codec_options = {{"preset", "medium"}, {"crf", "23"}};
    VideoWriter writer(path, o);
    Tensor<std::uint8_t, 3> rgb({360, 640, 3});
    for (int t = 0; t < 300; ++t) {
        for (int y = 0; y < 360; ++y)
            for (int x = 0; x < 640; ++x) {
                const bool bar = std::abs(x - (t * 7) % 640) < 20;
                rgb(y, x, 0) = std::uint8_t(bar ? 255 : (x + 2 * t) ^ (y + t));
                rgb(y, x, 1) = std::uint8_t(bar ? 255 : (x * y / 64 + 3 * t));
                rgb(y, x, 2) = std::uint8_t(bar ? 0 : (y * 2 + t));
            }
        writer.write(rgb.view());
    }
    writer.finish();
    return path;
}

std::filesystem::path vtest() {
    const char* env = std::getenv("SVILM_MEDIA_DIR");
    const char* home = std::getenv("HOME");
    return std::filesystem::path(env && *env ? env : std::string(home ? home : "/root") + "/.cache/svilm/media") / "vtest.avi";
}

// Peak resident memory of the process since reset_peak_rss() (Linux's VmHWM), so the clips
// encoded at start-up do not count.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

double peak_rss_mb() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
    return 0.0;
}

void clip(benchmark::State& state, const std::filesystem::path& path, SeekMode mode) {
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("missing " + path.string() + ": run scripts/fetch_test_media.sh").c_str());
        return;
    }
    ClipOptions options;
    options.seek = mode;
    reset_peak_rss();
    for (auto _ : state) {
        const Clip c = load_clip(path, options);  // open, frame table, seeks, decode, preprocess
        benchmark::DoNotOptimize(c.pixels.data());
    }
    state.counters["clips/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["frames/s"] =
        benchmark::Counter(double(options.sampling.count), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["peak_rss_MB"] = peak_rss_mb();
}

void BM_H264_Gop250_Accurate(benchmark::State& s) { clip(s, h264_clip(250), SeekMode::accurate); }
void BM_H264_Gop250_Fast(benchmark::State& s) { clip(s, h264_clip(250), SeekMode::fast); }
void BM_H264_Gop30_Accurate(benchmark::State& s) { clip(s, h264_clip(30), SeekMode::accurate); }
void BM_H264_Gop30_Fast(benchmark::State& s) { clip(s, h264_clip(30), SeekMode::fast); }
void BM_Vtest_Accurate(benchmark::State& s) { clip(s, vtest(), SeekMode::accurate); }
void BM_Vtest_Fast(benchmark::State& s) { clip(s, vtest(), SeekMode::fast); }
BENCHMARK(BM_H264_Gop250_Accurate)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_H264_Gop250_Fast)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_H264_Gop30_Accurate)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_H264_Gop30_Fast)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Vtest_Accurate)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Vtest_Fast)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
    svilm::video::set_libav_log_level(AV_LOG_ERROR);
    h264_clip(250);
    h264_clip(30);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
