// svilm/model/cuda/video_encoder.cuh: the S-ViLM video encoder on the device,
// VideoEncoder<T, cuda>, the twin of svilm/model/video_encoder.hpp (docs/model.md §2 and 11): the same
// parameters (read from a DeviceParameters mirror of the host store), the same outputs, the
// same forward / backward contract; float only.
//
//   nn::DeviceParameters<float> params(ctx, host_model.store);
//   VideoEncoder<float, cuda> video(params, config.video, "video", config.gumbel_tau);
//   VideoEncoder<float, cuda>::Saved s;              // VideoEncoderSavedCuda<float>
//   video.forward(ctx, s, clips, noise);         // clips (B, T, 3, H, W) on the device
//   video.backward(ctx, d_tokens, d_groups, d_pooled, s);
#pragma once

#include <span>
#include <string>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/cuda/grouping_block.cuh"
#include "svilm/model/fwd.hpp"
#include "svilm/nn/cuda/patch_embed.cuh"
#include "svilm/nn/cuda/transformer_block.cuh"
#include "svilm/ops/cuda/elementwise.cuh"

namespace svilm {

namespace cuda_model::kernels {

// stream (B, L + M, C) = [tokens + pos_spatial[l % Ns] + pos_temporal[l / Ns] ; group tokens]
template <class T>
__global__ void embed_video(T* stream, const T* tokens, const T* spatial, const T* temporal, const T* group, index_t L,
                            index_t M, index_t C, index_t Ns, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const index_t c = i % C, row = (i / C) % (L + M), b = i / (C * (L + M));
        stream[i] = row < L ? tokens[(b * L + row) * C + c] + spatial[(row % Ns) * C + c] + temporal[(row / Ns) * C + c]
                            : group[(row - L) * C + c];
    }
}

// The position and group-token gradients: one thread per parameter element, summing over the
// clips and the other position axis in a fixed order.
template <class T>
__global__ void embed_video_backward(T* d_spatial, T* d_temporal, T* d_group, const T* d_stream, index_t B, index_t L,
                                     index_t M, index_t C, index_t Ns) {
    const index_t Nt = L / Ns, S = L + M;
    const index_t n_spatial = Ns * C, n_temporal = Nt * C, n_group = M * C;
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n_spatial + n_temporal + n_group;
         i += index_t(gridDim.x) * blockDim.x) {
        T sum = T(0);
        if (i < n_spatial) {
            const index_t s = i / C, c = i % C;
            for (index_t b = 0; b < B; ++b)
                for (index_t t = 0; t < Nt; ++t) sum += d_stream[(b * S + t * Ns + s) * C + c];
            d_spatial[i] += sum;
        } else if (i < n_spatial + n_temporal) {
            const index_t k = i - n_spatial, t = k / C, c = k % C;
            for (index_t b = 0; b < B; ++b)
                for (index_t s = 0; s < Ns; ++s) sum += d_stream[(b * S + t * Ns + s) * C + c];
            d_temporal[k] += sum;
        } else {
            const index_t k = i - n_spatial - n_temporal;
            for (index_t b = 0; b < B; ++b) sum += d_stream[(b * S + L) * C + k];
            d_group[k] += sum;
        }
    }
}

}  // namespace cuda_model::kernels

template <class T>
struct VideoEncoderSavedCuda {
    cuda_nn::PatchEmbedSaved<T> patch;
    std::vector<Tensor<T, 3, cuda>> streams;  // (B, L + M, C): each layer's input, then the output
    std::vector<cuda_nn::PreNormBlockSaved<T>> blocks;
    struct Grouping {
        Tensor<T, 3, cuda> x, g;  // the block's inputs, copied out of the joint stream
        cuda_model::GroupingBlockSaved<T> block;
    };
    std::vector<Grouping> grouping;
    Tensor<T, 3, cuda> tokens;  // (B, L, C)
    Tensor<T, 3, cuda> groups;  // (B, M, C)
    Tensor<T, 2, cuda> mean;    // (B, C)
    Tensor<T, 2, cuda> pooled;  // (B, C) LN(mean)
    cuda_ops::LayerNormSaved<T> norm_stats;
    bool kept = false;
};

template <class T>
class VideoEncoder<T, cuda> {
public:
    using Saved = VideoEncoderSavedCuda<T>;

    VideoEncoder() = default;
    // Binds every `video.*` parameter of docs/model.md §11 under `name` in `params`; ValueError naming the
    // first one missing or mis-shaped.
    VideoEncoder(const nn::DeviceParameters<T>& params, const VideoConfig& config, const std::string& name, double gumbel_tau)
        : config((config.validate(), config)),
          patch_embed(params, nn::join(name, "patch_embed.proj"), config.width, config.tubelet, config.patch_size),
          pos_embed_spatial(params.template get<2>(nn::join(name, "pos_embed_spatial"),
                                                   {config.spatial_positions(), config.width})),
          pos_embed_temporal(params.template get<2>(nn::join(name, "pos_embed_temporal"),
                                                    {config.temporal_positions(), config.width})),
          group_token(params.template get<2>(nn::join(name, "group_token"), {config.num_group_tokens, config.width})),
          norm(params, nn::join(name, "norm"), config.width, config.layer_norm_eps) {
        for (index_t i = 0; i < config.depth; ++i)
            blocks.emplace_back(params, nn::join(nn::join(name, "blocks"), i), config.width, config.heads, config.mlp_hidden,
                                config.layer_norm_eps);
        for (std::size_t k = 0; k < config.grouping_after.size(); ++k)
            grouping.emplace_back(params, nn::join(nn::join(name, "grouping"), index_t(k)), config.width,
                                  config.num_group_tokens, config.heads, config.layer_norm_eps, gumbel_tau,
                                  config.hard_assignment);
    }

    // video (B, T, 3, H, W) on the device, normalised; noise: one (B, M, L) Gumbel tensor per
    // grouping block (training) or an empty span (inference). keep_activations = false keeps
    // two token streams instead of depth + 1 (inference).
    void forward(const CudaContext& ctx, Saved& s, TensorView<const T, 5, cuda> video,
                 std::span<const TensorView<const T, 3, cuda>> noise, bool keep_activations = true) const {
        const char* op = "cuda VideoEncoder::forward";
        const VideoConfig& c = config;
        check_video_input<T, cuda>(op, c, video, noise.size(), grouping.size());
        const index_t B = video.extent(0), L = c.tokens(), M = c.num_group_tokens, C = c.width, S = L + M;
        s.kept = keep_activations;
        const std::size_t depth = blocks.size();
        s.streams.resize(keep_activations ? depth + 1 : 2);
        s.blocks.resize(keep_activations ? depth : 1);
        s.grouping.resize(grouping.size());
        for (auto& t : s.streams) nn::ensure_shape(t, {B, S, C});
        embed(ctx, s.streams[0], s.patch, video);

        std::size_t next = 0;
        for (std::size_t i = 0; i < depth; ++i) {
            Tensor<T, 3, cuda>& in = s.streams[keep_activations ? i : i % 2];
            Tensor<T, 3, cuda>& out = s.streams[keep_activations ? i + 1 : (i + 1) % 2];
            blocks[i].forward(ctx, out, s.blocks[keep_activations ? i : 0], in);
            if (next < grouping.size() && c.grouping_after[next] == index_t(i + 1)) {
                auto& g = s.grouping[next];
                nn::ensure_shape(g.x, {B, L, C});
                nn::ensure_shape(g.g, {B, M, C});
                cuda_ops::copy_strided<T>(ctx, g.x, out.view().narrow(1, 0, L));
                cuda_ops::copy_strided<T>(ctx, g.g, out.view().narrow(1, L, S));
                Tensor<T, 3, cuda> new_groups({B, M, C}, uninitialized);
                grouping[next].forward(ctx, new_groups, g.block, g.x, g.g,
                                       noise.empty() ? TensorView<const T, 3, cuda>() : noise[next]);
                cuda_ops::copy_strided<T>(ctx, out.view().narrow(1, L, S), new_groups);
                if (next + 1 == grouping.size()) {
                    nn::ensure_shape(s.groups, {B, M, C});
                    copy(ctx, s.groups.view(), new_groups.view());
                }
                ++next;
            }
        }
        const Tensor<T, 3, cuda>& last = s.streams[keep_activations ? depth : depth % 2];
        nn::ensure_shape(s.tokens, {B, L, C});
        cuda_ops::copy_strided<T>(ctx, s.tokens, last.view().narrow(1, 0, L));
        nn::ensure_shape(s.mean, {B, C});
        nn::ensure_shape(s.pooled, {B, C});
        cuda_ops::mean_pool_forward<T>(ctx, s.mean, s.tokens);
        norm.forward(ctx, s.pooled, s.norm_stats, s.mean);
    }

    // From d_tokens (B, L, C), d_groups (B, M, C), d_pooled (B, C) (each may be empty),
    // accumulates every parameter gradient. requires: a forward with keep_activations.
    void backward(const CudaContext& ctx, TensorView<const T, 3, cuda> d_tokens, TensorView<const T, 3, cuda> d_groups,
                  TensorView<const T, 2, cuda> d_pooled, Saved& s) const {
        const char* op = "cuda VideoEncoder::backward";
        if (!s.kept) throw ValueError(std::string(op) + ": the forward did not keep activations");
        const VideoConfig& c = config;
        const index_t B = s.tokens.extent(0), L = c.tokens(), M = c.num_group_tokens, C = c.width, S = L + M;
        Tensor<T, 3, cuda> d_stream({B, S, C}, uninitialized), d_prev({B, S, C}, uninitialized);
        Tensor<T, 3, cuda> d_video({B, L, C}, uninitialized);
        zero(ctx, d_stream.view());
        zero(ctx, d_video.view());
        if (d_tokens.data()) copy(ctx, d_video.view(), d_tokens);
        if (d_pooled.data()) {
            Tensor<T, 2, cuda> d_mean({B, C}, uninitialized);
            norm.backward(ctx, d_mean, d_pooled, s.norm_stats, s.mean);
            Tensor<T, 3, cuda> d_from_mean({B, L, C}, uninitialized);
            cuda_ops::mean_pool_backward<T>(ctx, d_from_mean, d_mean);
            cuda_ops::add_into<T, 3>(ctx, d_video, d_from_mean);
        }
        cuda_ops::copy_strided<T>(ctx, d_stream.view().narrow(1, 0, L), d_video);

        std::size_t k = grouping.size();
        for (std::size_t i = blocks.size(); i-- > 0;) {
            if (k > 0 && c.grouping_after[k - 1] == index_t(i + 1)) {
                --k;
                auto& g = s.grouping[k];
                Tensor<T, 3, cuda> d_new({B, M, C}, uninitialized), dx({B, L, C}, uninitialized), dg({B, M, C}, uninitialized);
                cuda_ops::copy_strided<T>(ctx, d_new, d_stream.view().narrow(1, L, S));
                if (k + 1 == grouping.size() && d_groups.data()) cuda_ops::add_into<T, 3>(ctx, d_new, d_groups);
                grouping[k].backward(ctx, dx, dg, d_new, g.block, g.x, g.g);
                cuda_ops::copy_strided<T>(ctx, d_video, d_stream.view().narrow(1, 0, L));
                cuda_ops::add_into<T, 3>(ctx, d_video, dx);
                cuda_ops::copy_strided<T>(ctx, d_stream.view().narrow(1, 0, L), d_video);
                cuda_ops::copy_strided<T>(ctx, d_stream.view().narrow(1, L, S), dg);
            }
            blocks[i].backward(ctx, d_prev, d_stream, s.blocks[i], s.streams[i]);
            std::swap(d_stream, d_prev);
        }
        embed_backward(ctx, d_stream, s.patch);
    }

    VideoConfig config;
    cuda_nn::PatchEmbed<T> patch_embed;
    nn::DeviceParam<T, 2> pos_embed_spatial, pos_embed_temporal, group_token;
    std::vector<cuda_nn::PreNormBlock<T>> blocks;
    std::vector<cuda_model::GroupingBlock<T>> grouping;
    cuda_nn::LayerNorm<T> norm;

private:
    void embed(const CudaContext& ctx, TensorView<T, 3, cuda> stream, cuda_nn::PatchEmbedSaved<T>& patch,
               TensorView<const T, 5, cuda> video) const {
        const index_t B = stream.extent(0), L = config.tokens(), M = config.num_group_tokens, C = config.width;
        Tensor<T, 3, cuda> tokens({B, L, C}, uninitialized);
        patch_embed.forward(ctx, tokens, patch, video);
        cuda_model::kernels::embed_video<T><<<cuda_ops::kernels::grid_cover(stream.size()), 256, 0, ctx.stream()>>>(
            stream.data(), tokens.data(), pos_embed_spatial.value().data(), pos_embed_temporal.value().data(),
            group_token.value().data(), L, M, C, config.spatial_positions(), stream.size());
        SVILM_CUDA_CHECK(cudaGetLastError());
    }

    void embed_backward(const CudaContext& ctx, TensorView<const T, 3, cuda> d_stream,
                        const cuda_nn::PatchEmbedSaved<T>& patch) const {
        const index_t B = d_stream.extent(0), L = config.tokens(), M = config.num_group_tokens, C = config.width;
        const index_t Ns = config.spatial_positions(), Nt = L / Ns;
        Tensor<T, 3, cuda> d_tokens({B, L, C}, uninitialized);
        cuda_ops::copy_strided<T>(ctx, d_tokens, d_stream.narrow(1, 0, L));
        patch_embed.backward(ctx, d_tokens, patch);
        cuda_model::kernels::embed_video_backward<T><<<cuda_ops::kernels::grid_cover((Ns + Nt + M) * C), 256, 0, ctx.stream()>>>(
            pos_embed_spatial.grad().data(), pos_embed_temporal.grad().data(), group_token.grad().data(), d_stream.data(), B, L,
            M, C, Ns);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
};

}  // namespace svilm
