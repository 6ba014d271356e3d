// svilm/model/video_encoder.hpp: the S-ViLM video encoder (docs/model.md §2 and 11).
//
// Tubelet tokens (B, L, C) plus spatial and temporal position embeddings, joined by M learnable
// group tokens: every pre-norm ViT layer attends over [video tokens (L) ; group tokens (M)] and
// updates both. After the layers listed in `grouping_after`, a grouping block replaces the group
// tokens; video tokens pass through unchanged. Outputs: the last layer's video tokens
// (B, N_t, N_s, C), the last grouping block's group tokens (B, M, C), every block's assignment
// maps, and the pooled feature LN(mean over L of the video tokens) (B, C) that `video_proj`
// turns into the global embedding.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/fwd.hpp"
#include "svilm/model/grouping_block.hpp"
#include "svilm/nn/patch_embed.hpp"
#include "svilm/nn/transformer_block.hpp"
#include "svilm/ops/pooling.hpp"

namespace svilm {

template <class T>
struct GroupingStepSaved {
    Tensor<T, 3> x, g;  // (B, L, C), (B, M, C): the block's inputs, copied out of the joint stream
    GroupingBlockSaved<T> block;
};

template <class T>
struct VideoEncoderSaved {
    nn::PatchEmbedSaved<T> patch;
    std::vector<Tensor<T, 3>> streams;  // (B, L + M, C): the input of each layer, then the output
    std::vector<nn::PreNormBlockSaved<T>> blocks;
    std::vector<GroupingStepSaved<T>> grouping;
    Tensor<T, 3> tokens;  // (B, L, C) last-layer video tokens, contiguous
    Tensor<T, 3> groups;  // (B, M, C) output of the last grouping block
    Tensor<T, 2> mean;    // (B, C) mean over L
    Tensor<T, 2> pooled;  // (B, C) LN(mean)
    LayerNormSaved<T> norm_stats;
    bool kept = false;  // activations kept for backward
};

template <class T>
class VideoEncoder<T, cpu> {
public:
    VideoEncoder() = default;
    // Registers every `video.*` parameter of docs/model.md §11 in `store` under `name`.
    VideoEncoder(nn::ParameterStore<T>& store, const VideoConfig& config, const std::string& name, double gumbel_tau)
        : config((config.validate(), config)),
          patch_embed(store, nn::join(name, "patch_embed.proj"), config.width, config.tubelet, config.patch_size),
          pos_embed_spatial(store.template add<2>(nn::join(name, "pos_embed_spatial"),
                                                  {config.spatial_positions(), config.width}, nn::Role::embedding)),
          pos_embed_temporal(store.template add<2>(nn::join(name, "pos_embed_temporal"),
                                                   {config.temporal_positions(), config.width}, nn::Role::zero_embedding)),
          group_token(store.template add<2>(nn::join(name, "group_token"), {config.num_group_tokens, config.width},
                                            nn::Role::embedding)) {
        for (index_t i = 0; i < config.depth; ++i)
            blocks.emplace_back(store, nn::join(nn::join(name, "blocks"), i), config.width, config.heads, config.mlp_hidden,
                                config.layer_norm_eps);
        for (std::size_t k = 0; k < config.grouping_after.size(); ++k)
            grouping.emplace_back(store, nn::join(nn::join(name, "grouping"), index_t(k)), config.width,
                                  config.num_group_tokens, config.heads, config.layer_norm_eps, gumbel_tau,
                                  config.hard_assignment);
        norm = nn::LayerNorm<T>(store, nn::join(name, "norm"), config.width, config.layer_norm_eps);
    }

    // video (B, T, 3, H, W), normalised. noise: one (B, M, L) Gumbel tensor per grouping block
    // (training), or an empty span (inference: no noise). keep_activations = false saves memory
    // when no backward follows (one layer's activations live at a time).
    // ensures: s.tokens (B, L, C), s.groups (B, M, C), s.pooled (B, C); the maps in s.grouping.
    void forward(VideoEncoderSaved<T>& s, TensorView<const T, 5> video, std::span<const TensorView<const T, 3>> noise,
                 bool keep_activations = true) const {
        const char* op = "VideoEncoder::forward";
        const VideoConfig& c = config;
        check_video_input<T, cpu>(op, c, video, noise.size(), grouping.size());
        const index_t B = video.extent(0), L = c.tokens(), M = c.num_group_tokens, C = c.width, S = L + M;
        s.kept = keep_activations;
        const std::size_t depth = blocks.size();
        s.streams.resize(keep_activations ? depth + 1 : 2);
        s.blocks.resize(keep_activations ? depth : 1);
        s.grouping.resize(grouping.size());
        for (auto& t : s.streams) nn::ensure_shape(t, {B, S, C});
        embed(s.streams[0], s.patch, video);

        std::size_t next_grouping = 0;
        for (std::size_t i = 0; i < depth; ++i) {
            Tensor<T, 3>& in = s.streams[keep_activations ? i : i % 2];
            Tensor<T, 3>& out = s.streams[keep_activations ? i + 1 : (i + 1) % 2];
            blocks[i].forward(out, s.blocks[keep_activations ? i : 0], in);
            if (next_grouping < grouping.size() && c.grouping_after[next_grouping] == index_t(i + 1)) {
                GroupingStepSaved<T>& g = s.grouping[next_grouping];
                nn::ensure_shape(g.x, {B, L, C});
                nn::ensure_shape(g.g, {B, M, C});
                copy<T, 3>(g.x, out.view().narrow(1, 0, L));
                copy<T, 3>(g.g, out.view().narrow(1, L, S));
                Tensor<T, 3> new_groups({B, M, C}, uninitialized);
                grouping[next_grouping].forward(new_groups, g.block, g.x, g.g,
                                                noise.empty() ? TensorView<const T, 3>() : noise[next_grouping]);
                copy<T, 3>(out.view().narrow(1, L, S), new_groups);
                if (next_grouping + 1 == grouping.size()) {
                    nn::ensure_shape(s.groups, {B, M, C});
                    copy<T, 3>(s.groups, new_groups);
                }
                ++next_grouping;
            }
        }
        const Tensor<T, 3>& last = s.streams[keep_activations ? depth : depth % 2];
        nn::ensure_shape(s.tokens, {B, L, C});
        copy<T, 3>(s.tokens, last.view().narrow(1, 0, L));
        nn::ensure_shape(s.mean, {B, C});
        nn::ensure_shape(s.pooled, {B, C});
        mean_pool_forward<T>(s.mean, s.tokens);
        norm.forward(s.pooled, s.norm_stats, s.mean);
    }

    // From d_tokens (B, L, C), d_groups (B, M, C) and d_pooled (B, C) (any may be an empty
    // view: no gradient there), accumulates every parameter gradient. requires: a forward with
    // keep_activations.
    void backward(TensorView<const T, 3> d_tokens, TensorView<const T, 3> d_groups, TensorView<const T, 2> d_pooled,
                  const VideoEncoderSaved<T>& s) const {
        const char* op = "VideoEncoder::backward";
        if (!s.kept) throw ValueError(std::string(op) + ": the forward did not keep activations");
        const VideoConfig& c = config;
        const index_t B = s.tokens.extent(0), L = c.tokens(), M = c.num_group_tokens, C = c.width, S = L + M;
        Tensor<T, 3> d_stream({B, S, C}), d_prev({B, S, C}, uninitialized);
        Tensor<T, 3> d_video({B, L, C});
        if (d_tokens.data()) copy<T, 3>(d_video, d_tokens);
        if (d_pooled.data()) {
            Tensor<T, 2> d_mean({B, C}, uninitialized);
            norm.backward(d_mean, d_pooled, s.norm_stats, s.mean);
            Tensor<T, 3> d_from_mean({B, L, C}, uninitialized);
            mean_pool_backward<T>(d_from_mean, d_mean);
            add_into<T, 3>(d_video, d_from_mean);
        }
        copy<T, 3>(d_stream.view().narrow(1, 0, L), d_video);

        std::size_t k = grouping.size();
        for (std::size_t i = blocks.size(); i-- > 0;) {
            if (k > 0 && c.grouping_after[k - 1] == index_t(i + 1)) {
                --k;
                const GroupingStepSaved<T>& g = s.grouping[k];
                Tensor<T, 3> d_new({B, M, C}, uninitialized), dx({B, L, C}, uninitialized), dg({B, M, C}, uninitialized);
                copy<T, 3>(d_new, d_stream.view().narrow(1, L, S));
                if (k + 1 == grouping.size() && d_groups.data()) add_into<T, 3>(d_new, d_groups);
                grouping[k].backward(dx, dg, d_new, g.block, g.x, g.g);
                copy<T, 3>(d_video, d_stream.view().narrow(1, 0, L));
                add_into<T, 3>(d_video, dx);
                copy<T, 3>(d_stream.view().narrow(1, 0, L), d_video);
                copy<T, 3>(d_stream.view().narrow(1, L, S), dg);
            }
            blocks[i].backward(d_prev, d_stream, s.blocks[i], s.streams[i]);
            std::swap(d_stream, d_prev);
        }
        embed_backward(d_stream, s.patch);
    }

    VideoConfig config;
    nn::PatchEmbed<T> patch_embed;
    nn::Param<T, 2> pos_embed_spatial, pos_embed_temporal, group_token;
    std::vector<nn::PreNormBlock<T>> blocks;
    std::vector<GroupingBlock<T>> grouping;
    nn::LayerNorm<T> norm;

private:
    // stream (B, L + M, C) = [patch tokens + pos_spatial[s] + pos_temporal[n_t] ; group tokens]
    void embed(TensorView<T, 3> stream, nn::PatchEmbedSaved<T>& patch, TensorView<const T, 5> video) const {
        const index_t B = stream.extent(0), L = config.tokens(), M = config.num_group_tokens, C = config.width;
        const index_t Ns = config.spatial_positions();
        Tensor<T, 3> tokens({B, L, C}, uninitialized);
        patch_embed.forward(tokens, patch, video);
        const T* spatial = pos_embed_spatial.value().data();
        const T* temporal = pos_embed_temporal.value().data();
        for (index_t b = 0; b < B; ++b) {
            for (index_t l = 0; l < L; ++l) {
                const T* src = &tokens(b, l, 0);
                const T* ps = spatial + (l % Ns) * C;
                const T* pt = temporal + (l / Ns) * C;
                T* dst = &stream(b, l, 0);
#pragma omp simd
                for (index_t ch = 0; ch < C; ++ch) dst[ch] = src[ch] + ps[ch] + pt[ch];
            }
            std::copy_n(group_token.value().data(), M * C, &stream(b, L, 0));
        }
    }

    // Parameter gradients of embed() from d_stream (B, L + M, C).
    void embed_backward(TensorView<const T, 3> d_stream, const nn::PatchEmbedSaved<T>& patch) const {
        const index_t B = d_stream.extent(0), L = config.tokens(), M = config.num_group_tokens, C = config.width;
        const index_t Ns = config.spatial_positions();
        Tensor<T, 3> d_tokens({B, L, C}, uninitialized);
        copy<T, 3>(d_tokens, d_stream.narrow(1, 0, L));
        patch_embed.backward(d_tokens, patch);
        T* d_spatial = pos_embed_spatial.grad().data();
        T* d_temporal = pos_embed_temporal.grad().data();
        T* d_group = group_token.grad().data();
        for (index_t b = 0; b < B; ++b) {
            for (index_t l = 0; l < L; ++l) {
                const T* g = &d_tokens(b, l, 0);
                T* ps = d_spatial + (l % Ns) * C;
                T* pt = d_temporal + (l / Ns) * C;
#pragma omp simd
                for (index_t ch = 0; ch < C; ++ch) {
                    ps[ch] += g[ch];
                    pt[ch] += g[ch];
                }
            }
            const T* g = &d_stream(b, L, 0);
#pragma omp simd
            for (index_t i = 0; i < M * C; ++i) d_group[i] += g[i];
        }
    }
};

}  // namespace svilm
