// tests/support/indexed_source.hpp: a deterministic train::ClipSource for trainer tests, on the
// host only (device-free: the CPU and the CUDA trainer tests draw the same clips from it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/rng.hpp"
#include "svilm/model/config.hpp"
#include "svilm/train/trainer.hpp"

namespace svilm::testing {

// Clip i is a pure function of (seed, i): pixels from its own Philox stream, a caption and
// nouns from a small vocabulary. The position is the next clip index.
class IndexedSource : public train::ClipSource {
public:
    IndexedSource(const SVilmConfig& config, std::uint64_t seed) : config_(config), seed_(seed) {}

    train::ClipBatch next(index_t batch_size) override { return next_shard(batch_size, 0, batch_size); }

    // Only the shard's clips are made (a data-parallel rank's share).
    train::ClipBatch next_shard(index_t batch_size, index_t begin, index_t count) override {
        const VideoConfig& v = config_.video;
        train::ClipBatch out;
        out.clips = Tensor<float, 5>({count, v.frames, 3, v.image_size, v.image_size});
        static const char* colours[] = {"red", "green", "blue", "white"};
        static const char* shapes[] = {"circle", "square", "star"};
        for (index_t b = 0; b < count; ++b) {
            const index_t item = next_ + begin + b;
            Generator rng(seed_ + std::uint64_t(item));
            const auto clip = out.clips.view().select(0, b);
            rng.normal<float, 4>(clip);
            const std::string noun = std::string(colours[item % 4]) + " " + shapes[item % 3];
            out.captions.push_back("a " + noun + " moves left");
            out.nouns.push_back(item % 5 == 4 ? std::vector<std::string>{} : std::vector<std::string>{noun});
        }
        next_ += batch_size;
        return out;
    }
    nlohmann::json state() const override { return {{"next", next_}}; }
    void restore(const nlohmann::json& state) override { next_ = state.at("next").get<index_t>(); }

private:
    SVilmConfig config_;
    std::uint64_t seed_;
    index_t next_ = 0;
};

// A model small enough for a few training steps in a test: 16x16 frames, two grouping blocks.
inline SVilmConfig small_trainer_config() {
    SVilmConfig c;
    c.video = {16, 8, 8, 2, 16, 2, 2, 32, 1e-6, {4, {1, 2}, 1.0, true}};
    c.text = {30522, 12, 16, 1, 2, 32, 1e-12};
    c.embed_dim = 8;
    return c;
}

// A short run for small_trainer_config(): `steps` steps of 3 clips in 2 micro-batches, a warm-up
// quarter, learning rate 1e-3, seed 9, no progress line; logs and checkpoints in `run_dir` if given.
inline train::TrainerOptions small_trainer_options(std::int64_t steps, std::filesystem::path run_dir = {}) {
    train::TrainerOptions o;
    o.steps = steps;
    o.batch_size = 3;
    o.micro_batches = 2;
    o.adamw.lr = 1e-3;
    o.warmup_fraction = 0.25;
    o.seed = 9;
    o.run_dir = std::move(run_dir);
    o.show_progress = false;
    return o;
}

inline const text::Tokenizer& test_tokenizer() {
    static const text::Tokenizer t(text::Vocabulary::load(std::string(SVILM_DATA_DIR) + "/vocab/bert-base-uncased-vocab.txt"));
    return t;
}

}  // namespace svilm::testing
