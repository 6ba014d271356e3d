// svilm/train/manifest_source.hpp: the trainer's clips from a manifest of (video, caption),
// decoded and preprocessed ahead of the trainer by data::VideoLoader, epoch after epoch. Noun
// phrases come from the trainer's NounExtractor. Needs the svilm::video target (libav).
//
// Position: (epoch, batches consumed in it). Restoring starts that epoch and skips as many
// batches, so a resumed run sees the same clips (the loader's draws depend only on the seed,
// the epoch and the item, not on timing).
#pragma once

#include <optional>
#include <utility>

#include "svilm/data/video_loader.hpp"
#include "svilm/train/trainer.hpp"

namespace svilm::train {

class ManifestSource : public ClipSource {
public:
    // options.batch_size is the trainer's batch_size; drop_last is forced on (cut-and-paste and
    // the contrastive loss want full batches).
    ManifestSource(data::Manifest manifest, data::VideoLoaderOptions options)
        : manifest_(std::move(manifest)), options_(std::move(options)) {
        options_.drop_last = true;
        if (index_t(manifest_.size()) < options_.batch_size)
            throw ValueError("ManifestSource: the manifest has " + std::to_string(manifest_.size()) +
                             " entries, fewer than one batch of " + std::to_string(options_.batch_size));
        begin(0, 0);
    }

    ClipBatch next(index_t batch_size) override {
        if (batch_size != options_.batch_size)
            throw ValueError("ManifestSource: batches of " + std::to_string(options_.batch_size) + ", asked for " +
                             std::to_string(batch_size));
        std::optional<data::VideoBatch> batch = loader_->next();
        for (int attempt = 0; !batch && attempt < 2; ++attempt) {  // epoch over: the next one
            begin(epoch_ + 1, 0);
            batch = loader_->next();
        }
        if (!batch) throw ValueError("ManifestSource: no usable batch in a whole epoch (every item was skipped?)");
        ++consumed_;
        ClipBatch out;
        out.clips = std::move(batch->video);
        out.captions = std::move(batch->captions);
        return out;
    }

    nlohmann::json state() const override { return {{"epoch", epoch_}, {"batches", consumed_}}; }
    void restore(const nlohmann::json& state) override {
        begin(state.at("epoch").get<index_t>(), state.at("batches").get<index_t>());
    }
    data::LoaderStats stats() const { return loader_->stats(); }

private:
    void begin(index_t epoch, index_t skip) {
        loader_.emplace(manifest_, options_);
        loader_->start_epoch(epoch);
        epoch_ = epoch;
        consumed_ = 0;
        for (; consumed_ < skip; ++consumed_)
            if (!loader_->next()) throw ValueError("ManifestSource: the checkpoint's position is past the epoch's end");
    }

    data::Manifest manifest_;
    data::VideoLoaderOptions options_;
    std::optional<data::VideoLoader> loader_;
    index_t epoch_ = 0, consumed_ = 0;
};

}  // namespace svilm::train
