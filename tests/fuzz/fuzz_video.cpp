// libFuzzer target: arbitrary bytes as a video held in memory (a custom AVIOContext, no file
// system): open, metadata, uniform sampling in the accurate and fast modes with preprocessing to
// 16 x 16, explicit frame requests, and a full decode. Any crash, sanitizer report, hang or
// exception other than svilm::Error is a bug.
//
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DSVILM_BUILD_FUZZERS=ON
//   cmake --build build/fuzz --target svilm_fuzz_video
//   bash tests/fuzz/make_video_seeds.sh build/fuzz/video_corpus     # small clips of several formats
//   ./build/fuzz/tests/fuzz/svilm_fuzz_video -max_total_time=600 -max_len=65536 -rss_limit_mb=4096 build/fuzz/video_corpus
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "svilm/video.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    svilm::video::set_libav_log_level(AV_LOG_QUIET);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace svilm;
    using namespace svilm::video;
    try {
        VideoReader reader(std::as_bytes(std::span(data, size)), "fuzz input", {1});
        const VideoInfo& info = reader.info();
        const FrameTable& table = reader.frames();
        // Invariants of the frame table.
        if (info.frame_count < 1 || table.size() != info.frame_count) __builtin_trap();
        for (index_t i = 1; i < table.size(); ++i)
            if (table.times[std::size_t(i)] <= table.times[std::size_t(i - 1)]) __builtin_trap();
        for (const index_t k : info.keyframes)
            if (k < 0 || k >= info.frame_count) __builtin_trap();
        // Frames are as large as the header says: the fuzzer's memory limit, not a bug, past this.
        if (std::int64_t(info.width) * info.height > (1 << 22)) return 0;

        ClipOptions options;
        options.size = 16;
        options.sampling.count = 4;
        for (const SeekMode mode : {SeekMode::accurate, SeekMode::fast}) {
            options.seek = mode;
            try {
                const Clip clip = load_clip(reader, options);
                for (std::size_t k = 0; k < clip.frames.size(); ++k)
                    if (clip.frames[k] < 0 || clip.frames[k] >= info.frame_count) __builtin_trap();
            } catch (const Error&) {
            }
        }
        const std::vector<index_t> requests = {info.frame_count - 1, 0, info.frame_count / 2};
        try {
            reader.decode(requests, [&](std::size_t k, const AVFrame&, index_t index) {
                if (index != requests[k]) __builtin_trap();
            });
        } catch (const Error&) {
        }
        if (info.frame_count <= 2000) {
            FrameConverter converter;
            reader.decode_all([&](const AVFrame& frame, index_t) { (void)converter.to_rgb(frame, "fuzz input"); });
        }
    } catch (const Error&) {
    }
    return 0;
}
