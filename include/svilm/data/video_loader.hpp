// svilm/data/video_loader.hpp: batches of preprocessed clips from a manifest, decoded on worker
// threads ahead of the consumer. Needs svilm::video (libav).
//
//   VideoLoader loader(Manifest::load("train.csv"), options);
//   loader.start_epoch(0);
//   while (auto batch = loader.next()) train_step(batch->video, batch->captions);   // (B, T, 3, S, S)
//   for (const auto& s : loader.stats().skipped) std::cerr << s.reason << '\n';
//
// Order and randomness. The epoch's item order is the manifest's, or a shuffle drawn from the
// seed and the epoch. Each item's draws (random segments, crops) come from a Generator keyed by
// the seed at counter offset (epoch << 45) | (item << 20), item being its manifest index; the
// shuffle uses offset (epoch << 45) | (1 << 44). So batches are the same whatever the number of
// workers and their timing, and every (epoch, item) has its own stream. Limits: 2^24 items,
// 2^19 epochs, 2^20 draws an item.
//
// Memory is bounded: workers take items at most `prefetch` batches ahead of the consumer, so at
// most prefetch * batch_size clips wait (each T x 3 x S x S floats) besides the batch in hand.
//
// A bad item (missing, corrupt, too short, undecodable: any svilm::Error while loading it) is
// skipped, counted and reported with its path and reason, and the batch is filled with the next
// items; in strict mode next() rethrows its error instead. Other exceptions (std::bad_alloc)
// are always rethrown by next().
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <numeric>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/data/manifest.hpp"
#include "svilm/video/clip.hpp"

namespace svilm::data {

struct VideoLoaderOptions {
    index_t batch_size = 8;
    video::ClipOptions clip{};  // frames per clip (clip.sampling.count), size, sampling, seek mode, training crops
    int workers = 2;            // decoding threads
    int decoder_threads = 1;    // codec threads inside each worker (conceal only: rejecting decodes in one)
    index_t prefetch = 2;       // batches that may be ready ahead of the consumer
    std::uint64_t seed = 0;
    bool shuffle = false;
    bool drop_last = false;     // drop a final partial batch
    bool strict = false;        // a bad item is an error instead of being skipped
    video::CorruptFrames corrupt_frames = video::CorruptFrames::reject;
};

struct VideoBatch {
    Tensor<float, 5> video;                    // (B, T, 3, S, S)
    std::vector<std::string> captions;         // (B)
    std::vector<index_t> items;                // (B) manifest index of each clip
    std::vector<std::vector<index_t>> frames;  // (B, T) the frames decoded
    index_t epoch = 0;
    index_t number = 0;                        // batch number in the epoch
};

struct SkippedItem {
    index_t item;        // manifest index
    std::size_t line;    // manifest line
    std::string path;
    std::string reason;  // the error, naming the path
};

struct LoaderStats {
    index_t epoch = 0;
    index_t items = 0;          // in the epoch
    index_t loaded = 0;         // items delivered in batches so far
    index_t skipped_count = 0;  // bad items so far
    index_t batches = 0;
    index_t max_waiting = 0;    // most clips ever decoded and waiting for the consumer
    double seconds = 0;         // since start_epoch
    std::vector<SkippedItem> skipped;  // in epoch order
};

class VideoLoader {
public:
    VideoLoader(Manifest manifest, VideoLoaderOptions options) : manifest_(std::move(manifest)), options_(std::move(options)) {
        const auto& o = options_;
        if (o.batch_size < 1 || o.workers < 1 || o.prefetch < 1 || o.decoder_threads < 0 || o.clip.sampling.count < 1)
            throw ValueError(manifest_.source() + ": loader options need batch_size, workers, prefetch and frames >= 1");
        if (o.clip.sampling.method == video::Sampling::fixed_rate)
            throw ValueError(manifest_.source() + ": batches need a fixed frame count: use uniform or random_segment sampling");
        if (manifest_.size() >= (std::size_t(1) << 24))
            throw ValueError(manifest_.source() + ": more than 2^24 items");
    }
    VideoLoader(const VideoLoader&) = delete;
    VideoLoader& operator=(const VideoLoader&) = delete;
    ~VideoLoader() { stop(); }

    // Starts (or restarts) an epoch: stops the previous one's workers, orders the items, starts
    // the workers.
    void start_epoch(index_t epoch) {
        if (epoch < 0 || epoch >= (index_t(1) << 19)) throw ValueError(manifest_.source() + ": epoch out of range");
        stop();
        const index_t n = index_t(manifest_.size());
        order_.resize(std::size_t(n));
        std::iota(order_.begin(), order_.end(), index_t(0));
        if (options_.shuffle) {
            Generator rng(options_.seed);
            rng.set_state({options_.seed, (std::uint64_t(epoch) << 45) | (std::uint64_t(1) << 44)});
            for (index_t k = n - 1; k >= 1; --k)
                std::swap(order_[std::size_t(k)], order_[std::size_t(rng.uniform_int(std::uint64_t(k + 1)))]);
        }
        slots_.clear();
        slots_.resize(std::size_t(n));
        claimed_ = consumed_ = waiting_ = 0;
        stats_ = LoaderStats{};
        stats_.epoch = epoch;
        stats_.items = n;
        started_ = std::chrono::steady_clock::now();
        for (int w = 0; w < options_.workers; ++w)
            workers_.emplace_back([this, epoch](std::stop_token stop) { work(stop, epoch); });
    }

    // The next batch of the epoch, or nothing at its end.
    std::optional<VideoBatch> next() {
        const auto& o = options_;
        const index_t frames = o.clip.sampling.count, size = o.clip.size;
        std::vector<Tensor<float, 4>> clips;
        VideoBatch batch;
        std::unique_lock lock(mutex_);
        while (index_t(clips.size()) < o.batch_size && consumed_ < index_t(order_.size())) {
            Slot& slot = slots_[std::size_t(consumed_)];
            ready_.wait(lock, [&] { return slot.done; });
            const index_t item = order_[std::size_t(consumed_)];
            ++consumed_;
            --waiting_;
            space_.notify_all();
            if (slot.error) {
                if (o.strict || !slot.svilm_error) std::rethrow_exception(slot.error);
                const ManifestEntry& e = manifest_[std::size_t(item)];
                stats_.skipped.push_back({item, e.line, e.path.string(), slot.reason});
                ++stats_.skipped_count;
                slot = Slot{};
                continue;
            }
            clips.push_back(std::move(slot.clip));
            batch.items.push_back(item);
            batch.captions.push_back(manifest_[std::size_t(item)].caption);
            batch.frames.push_back(std::move(slot.frames));
            slot = Slot{};
        }
        if (clips.empty() || (o.drop_last && index_t(clips.size()) < o.batch_size)) return std::nullopt;
        batch.epoch = stats_.epoch;
        batch.number = stats_.batches++;
        stats_.loaded += index_t(clips.size());
        lock.unlock();
        const index_t count = index_t(clips.size());
        batch.video = Tensor<float, 5>({count, frames, 3, size, size}, uninitialized);
        for (index_t b = 0; b < count; ++b)
            std::copy(clips[std::size_t(b)].data(), clips[std::size_t(b)].data() + clips[std::size_t(b)].size(),
                      batch.video.data() + b * clips[std::size_t(b)].size());
        return batch;
    }

    LoaderStats stats() const {
        std::lock_guard lock(mutex_);
        LoaderStats s = stats_;
        s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        return s;
    }

    const Manifest& manifest() const { return manifest_; }

private:
    struct Slot {
        bool done = false;
        Tensor<float, 4> clip;
        std::vector<index_t> frames;
        std::exception_ptr error;
        bool svilm_error = false;
        std::string reason;
    };

    void work(std::stop_token stop, index_t epoch) {
        const auto& o = options_;
        const index_t capacity = o.prefetch * o.batch_size;
        video::FrameConverter converter;
        for (;;) {
            index_t position;
            {
                std::unique_lock lock(mutex_);
                if (!space_.wait(lock, stop, [&] { return claimed_ >= index_t(order_.size()) || claimed_ < consumed_ + capacity; }))
                    return;
                if (claimed_ >= index_t(order_.size())) return;
                position = claimed_++;
            }
            const index_t item = order_[std::size_t(position)];
            Slot result;
            result.done = true;
            try {
                load(item, epoch, result, converter);
            } catch (const Error& e) {
                result.error = std::current_exception();
                result.svilm_error = true;
                result.reason = e.what();
            } catch (...) {
                result.error = std::current_exception();
            }
            std::lock_guard lock(mutex_);
            slots_[std::size_t(position)] = std::move(result);
            stats_.max_waiting = std::max(stats_.max_waiting, ++waiting_);
            ready_.notify_all();
        }
    }

    void load(index_t item, index_t epoch, Slot& result, video::FrameConverter& converter) const {
        const ManifestEntry& e = manifest_[std::size_t(item)];
        video::ClipOptions clip = options_.clip;
        if (e.start) clip.sampling.range.start = *e.start;
        if (e.end) clip.sampling.range.end = *e.end;
        Generator rng(options_.seed);
        rng.set_state({options_.seed, (std::uint64_t(epoch) << 45) | (std::uint64_t(item) << 20)});
        video::VideoReader reader(e.path, {options_.decoder_threads, options_.corrupt_frames});
        result.clip = Tensor<float, 4>({clip.sampling.count, 3, clip.size, clip.size}, uninitialized);
        result.frames = video::load_clip_into(reader, clip, &rng, result.clip, converter);
    }

    void stop() {
        for (auto& w : workers_) w.request_stop();
        space_.notify_all();
        workers_.clear();  // joins
    }

    Manifest manifest_;
    VideoLoaderOptions options_;
    std::vector<index_t> order_;
    std::vector<Slot> slots_;
    index_t claimed_ = 0;   // positions handed to workers
    index_t consumed_ = 0;  // positions taken by next()
    index_t waiting_ = 0;   // items done and not yet consumed
    LoaderStats stats_;
    std::chrono::steady_clock::time_point started_{};
    mutable std::mutex mutex_;
    std::condition_variable_any space_;  // workers wait for room ahead of the consumer
    std::condition_variable ready_;      // the consumer waits for its next item
    std::vector<std::jthread> workers_;  // last: joined before the state they use is destroyed
};

}  // namespace svilm::data
