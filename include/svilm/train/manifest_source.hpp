// svilm/train/manifest_source.hpp: the trainer's clips from a manifest of (video, caption),
// decoded and preprocessed ahead of the trainer by data::VideoLoader, epoch after epoch. Noun
// phrases come from the trainer's NounExtractor. Needs the svilm::video target (libav).
//
// Position: (epoch, batches consumed in it). Restoring starts that epoch and skips as many
// batches, so a resumed run sees the same clips (the loader's draws depend only on the seed,
// the epoch and the item, not on timing).
//
// Bad items are skipped by the loader; skipped() lists each one met so far, over all epochs.
// An epoch without one full batch is a ValueError that counts the skipped items and quotes the
// first reasons, so the failure says what is wrong with the data.
#pragma once

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

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
        if (!batch) throw ValueError(no_batch_message());
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

    // Every item skipped so far, each once (a bad video fails in every epoch), in the order met.
    std::vector<data::SkippedItem> skipped() const {
        std::vector<data::SkippedItem> all = skipped_;
        std::set<index_t> seen = skipped_items_;
        for (const data::SkippedItem& s : loader_->stats().skipped)
            if (seen.insert(s.item).second) all.push_back(s);
        return all;
    }

private:
    void begin(index_t epoch, index_t skip) {
        if (loader_)  // the finished epoch's skipped items outlive its loader
            for (const data::SkippedItem& s : loader_->stats().skipped)
                if (skipped_items_.insert(s.item).second) skipped_.push_back(s);
        loader_.emplace(manifest_, options_);
        loader_->start_epoch(epoch);
        epoch_ = epoch;
        consumed_ = 0;
        for (; consumed_ < skip; ++consumed_)
            if (!loader_->next()) throw ValueError("ManifestSource: the checkpoint's position is past the epoch's end");
    }

    std::string no_batch_message() const {
        const data::LoaderStats stats = loader_->stats();
        std::string message = "ManifestSource: no full batch of " + std::to_string(options_.batch_size) +
                              " clips in a whole epoch: " + std::to_string(stats.skipped_count) + " of " +
                              std::to_string(stats.items) + " items skipped";
        const std::size_t quoted = std::min<std::size_t>(stats.skipped.size(), 3);
        for (std::size_t k = 0; k < quoted; ++k)
            message += (k == 0 ? ", first: " : "; ") + stats.skipped[k].reason;
        if (stats.skipped.size() > quoted) message += "; ...";
        return message;
    }

    data::Manifest manifest_;
    data::VideoLoaderOptions options_;
    std::optional<data::VideoLoader> loader_;
    index_t epoch_ = 0, consumed_ = 0;
    std::vector<data::SkippedItem> skipped_;  // of the epochs before the current one
    std::set<index_t> skipped_items_;         // their manifest indices
};

}  // namespace svilm::train
