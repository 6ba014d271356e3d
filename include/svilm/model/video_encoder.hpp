// svilm/model/video_encoder.hpp: the S-ViLM video encoder (docs/model.md §2 and 11), for either
// device.
//
// Tubelet tokens (B, L, C) plus spatial and temporal position embeddings, joined by M learnable
// group tokens: every pre-norm ViT layer attends over [video tokens (L) ; group tokens (M)] and
// updates both. After the layers listed in `grouping.after`, a grouping block replaces the group
// tokens; video tokens pass through unchanged. Outputs: the last layer's video tokens
// (B, N_t, N_s, C), the last grouping block's group tokens (B, M, C), every block's assignment
// maps, and the pooled feature LN(mean over L of the video tokens) (B, C) that `video_proj`
// turns into the global embedding.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/fwd.hpp"
#include "svilm/model/grouping_block.hpp"
#include "svilm/nn/patch_embed.hpp"
#include "svilm/nn/transformer_block.hpp"

namespace svilm {

template <class T, class Device = cpu>
struct GroupingStepSaved {
    Tensor<T, 3, Device> x, g;  // (B, L, C), (B, M, C): the block's inputs, copied out of the joint stream
    GroupingBlockSaved<T, Device> block;
};

template <class T, class Device = cpu>
struct VideoEncoderSaved {
    nn::PatchEmbedSaved<T, Device> patch;
    std::vector<Tensor<T, 3, Device>> streams;  // (B, L + M, C): the input of each layer, then the output
    std::vector<nn::PreNormBlockSaved<T, Device>> blocks;
    std::vector<GroupingStepSaved<T, Device>> grouping;
    Tensor<T, 3, Device> tokens;  // (B, L, C) last-layer video tokens, contiguous
    Tensor<T, 3, Device> groups;  // (B, M, C) output of the last grouping block
    Tensor<T, 2, Device> mean;    // (B, C) mean over L
    Tensor<T, 2, Device> pooled;  // (B, C) LN(mean)
    LayerNormSaved<T, Device> norm_stats;
    bool kept = false;  // activations kept for backward
};

template <class T, class Device>
class VideoEncoder {
public:
    VideoEncoder() = default;
    // Registers every `video.*` parameter of docs/model.md §11 in `store` under `name`.
    VideoEncoder(nn::ParameterStore<T, Device>& store, const VideoConfig& config, const std::string& name)
        : config((config.validate(), config)),
          patch_embed(store, nn::join(name, "patch_embed.proj"), config.width, config.tubelet, config.patch_size),
          pos_embed_spatial(store.template add<2>(nn::join(name, "pos_embed_spatial"),
                                                  {config.spatial_positions(), config.width}, nn::Role::embedding)),
          pos_embed_temporal(store.template add<2>(nn::join(name, "pos_embed_temporal"),
                                                   {config.temporal_positions(), config.width}, nn::Role::zero_embedding)),
          group_token(store.template add<2>(nn::join(name, "group_token"), {config.grouping.num_group_tokens, config.width},
                                            nn::Role::embedding)) {
        for (index_t i = 0; i < config.depth; ++i)
            blocks.emplace_back(store, nn::join(nn::join(name, "blocks"), i), config.width, config.heads, config.mlp_hidden,
                                config.layer_norm_eps);
        for (std::size_t k = 0; k < config.grouping.after.size(); ++k)
            grouping.emplace_back(store, nn::join(nn::join(name, "grouping"), index_t(k)), config.width, config.heads,
                                  config.layer_norm_eps, config.grouping);
        norm = nn::LayerNorm<T, Device>(store, nn::join(name, "norm"), config.width, config.layer_norm_eps);
    }

    // video (B, T, 3, H, W), normalised, on the encoder's device. noise: one (B, M, L) Gumbel
    // tensor per grouping block (training), or an empty span (inference: no noise).
    // keep_activations = false saves memory when no backward follows (two token streams live
    // instead of depth + 1).
    // ensures: s.tokens (B, L, C), s.groups (B, M, C), s.pooled (B, C); the maps in s.grouping.
    void forward(const Context<Device>& ctx, VideoEncoderSaved<T, Device>& s, TensorView<const T, 5, Device> video,
                 std::span<const TensorView<const T, 3, Device>> noise, bool keep_activations = true) const {
        const char* op = "VideoEncoder::forward";
        const VideoConfig& c = config;
        check_video_input<T, Device>(op, c, video, noise.size(), grouping.size());
        const index_t B = video.extent(0), L = c.tokens(), M = c.grouping.num_group_tokens, C = c.width, S = L + M;
        s.kept = keep_activations;
        const std::size_t depth = blocks.size();
        s.streams.resize(keep_activations ? depth + 1 : 2);
        s.blocks.resize(keep_activations ? depth : 1);
        s.grouping.resize(grouping.size());
        for (auto& t : s.streams) nn::ensure_shape(t, {B, S, C});
        embed(ctx, s.streams[0], s.patch, video);

        std::size_t next = 0;
        for (std::size_t i = 0; i < depth; ++i) {
            Tensor<T, 3, Device>& in = s.streams[keep_activations ? i : i % 2];
            Tensor<T, 3, Device>& out = s.streams[keep_activations ? i + 1 : (i + 1) % 2];
            blocks[i].forward(ctx, out, s.blocks[keep_activations ? i : 0], in);
            if (next < grouping.size() && c.grouping.after[next] == index_t(i + 1)) {
                GroupingStepSaved<T, Device>& g = s.grouping[next];
                nn::ensure_shape(g.x, {B, L, C});
                nn::ensure_shape(g.g, {B, M, C});
                copy(ctx, g.x.view(), out.view().narrow(1, 0, L));
                copy(ctx, g.g.view(), out.view().narrow(1, L, S));
                Tensor<T, 3, Device> new_groups({B, M, C}, uninitialized);
                grouping[next].forward(ctx, new_groups, g.block, g.x, g.g,
                                       noise.empty() ? TensorView<const T, 3, Device>() : noise[next]);
                copy(ctx, out.view().narrow(1, L, S), new_groups.view());
                if (next + 1 == grouping.size()) s.groups = std::move(new_groups);
                ++next;
            }
        }
        const Tensor<T, 3, Device>& last = s.streams[keep_activations ? depth : depth % 2];
        nn::ensure_shape(s.tokens, {B, L, C});
        copy(ctx, s.tokens.view(), last.view().narrow(1, 0, L));
        nn::ensure_shape(s.mean, {B, C});
        nn::ensure_shape(s.pooled, {B, C});
        mean_pool_forward(ctx, s.mean.view(), s.tokens.view());
        norm.forward(ctx, s.pooled, s.norm_stats, s.mean);
    }

    // From d_tokens (B, L, C), d_groups (B, M, C) and d_pooled (B, C) (any may be an empty
    // view: no gradient there), accumulates every parameter gradient. requires: a forward with
    // keep_activations.
    void backward(const Context<Device>& ctx, TensorView<const T, 3, Device> d_tokens, TensorView<const T, 3, Device> d_groups,
                  TensorView<const T, 2, Device> d_pooled, const VideoEncoderSaved<T, Device>& s) const {
        const char* op = "VideoEncoder::backward";
        if (!s.kept) throw ValueError(std::string(op) + ": the forward did not keep activations");
        const VideoConfig& c = config;
        const index_t B = s.tokens.extent(0), L = c.tokens(), M = c.grouping.num_group_tokens, C = c.width, S = L + M;
        Tensor<T, 3, Device> d_stream = zeros<T, 3, Device>(ctx, {B, S, C}), d_prev({B, S, C}, uninitialized);
        Tensor<T, 3, Device> d_video = zeros<T, 3, Device>(ctx, {B, L, C});
        if (d_tokens.data()) copy(ctx, d_video.view(), d_tokens);
        if (d_pooled.data()) {
            Tensor<T, 2, Device> d_mean({B, C}, uninitialized);
            norm.backward(ctx, d_mean, d_pooled, s.norm_stats, s.mean);
            Tensor<T, 3, Device> d_from_mean({B, L, C}, uninitialized);
            mean_pool_backward(ctx, d_from_mean.view(), d_mean.view());
            add_into(ctx, d_video.view(), d_from_mean.view());
        }
        copy(ctx, d_stream.view().narrow(1, 0, L), d_video.view());

        std::size_t k = grouping.size();
        for (std::size_t i = blocks.size(); i-- > 0;) {
            if (k > 0 && c.grouping.after[k - 1] == index_t(i + 1)) {
                --k;
                const GroupingStepSaved<T, Device>& g = s.grouping[k];
                Tensor<T, 3, Device> d_new({B, M, C}, uninitialized), dx({B, L, C}, uninitialized);
                Tensor<T, 3, Device> dg({B, M, C}, uninitialized);
                copy(ctx, d_new.view(), d_stream.view().narrow(1, L, S));
                if (k + 1 == grouping.size() && d_groups.data()) add_into(ctx, d_new.view(), d_groups);
                grouping[k].backward(ctx, dx, dg, d_new, g.block, g.x, g.g);
                copy(ctx, d_video.view(), d_stream.view().narrow(1, 0, L));
                add_into(ctx, d_video.view(), dx.view());
                copy(ctx, d_stream.view().narrow(1, 0, L), d_video.view());
                copy(ctx, d_stream.view().narrow(1, L, S), dg.view());
            }
            blocks[i].backward(ctx, d_prev, d_stream, s.blocks[i], s.streams[i]);
            std::swap(d_stream, d_prev);
        }
        embed_backward(ctx, d_stream, s.patch);
    }

    VideoConfig config;
    nn::PatchEmbed<T, Device> patch_embed;
    nn::Param<T, 2, Device> pos_embed_spatial, pos_embed_temporal, group_token;
    std::vector<nn::PreNormBlock<T, Device>> blocks;
    std::vector<GroupingBlock<T, Device>> grouping;
    nn::LayerNorm<T, Device> norm;

private:
    // stream (B, L + M, C) = [patch tokens + pos_spatial[s] + pos_temporal[n_t] ; group tokens]
    void embed(const Context<Device>& ctx, TensorView<T, 3, Device> stream, nn::PatchEmbedSaved<T, Device>& patch,
               TensorView<const T, 5, Device> video) const {
        const index_t B = stream.extent(0), L = config.tokens(), C = config.width;
        Tensor<T, 3, Device> tokens({B, L, C}, uninitialized);
        patch_embed.forward(ctx, tokens, patch, video);
        video_embed_forward(ctx, stream, tokens.view(), pos_embed_spatial.value(), pos_embed_temporal.value(),
                            group_token.value());
    }

    // Parameter gradients of embed() from d_stream (B, L + M, C).
    void embed_backward(const Context<Device>& ctx, TensorView<const T, 3, Device> d_stream,
                        const nn::PatchEmbedSaved<T, Device>& patch) const {
        const index_t B = d_stream.extent(0), L = config.tokens(), C = config.width;
        Tensor<T, 3, Device> d_tokens({B, L, C}, uninitialized);
        copy(ctx, d_tokens.view(), d_stream.narrow(1, 0, L));
        patch_embed.backward(ctx, d_tokens, patch);
        video_embed_backward(ctx, pos_embed_spatial.grad(), pos_embed_temporal.grad(), group_token.grad(), d_stream);
    }
};

}  // namespace svilm
