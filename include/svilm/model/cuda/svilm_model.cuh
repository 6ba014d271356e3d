// svilm/model/cuda/svilm_model.cuh: the whole S-ViLM model on the device, SVilm<T, cuda>, the
// twin of svilm/model/svilm_model.hpp: the two encoders, the four projection heads, the two
// logit scales and the three pre-training losses, forward and backward, with every parameter in
// one device buffer mirrored from a host store (same names and layout, so checkpoints and the
// optimiser see one flat buffer).
//
//   SVilm<float> host(config, seed);                 // or load_model(...)
//   CudaContext ctx;
//   SVilm<float, cuda> model(ctx, host.parameters(), host.config());
//   SVilmStateCuda<float> state;
//   model.forward(ctx, state, batch, noise);          // batch.video on the device
//   model.parameters().zero_grad();
//   model.backward(ctx, state);
//   model.parameters().download(host.parameters()); // weights back for save_model
//
// The loss values come back to the host (one synchronisation per loss and step).
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/cuda/losses.cuh"
#include "svilm/model/cuda/text_encoder.cuh"
#include "svilm/model/cuda/video_encoder.cuh"
#include "svilm/ops/cuda/l2_normalize.cuh"

namespace svilm {

// A projection head on the device: y = L2(x W^T + b), (R, in) -> (R, D).
template <class T>
struct HeadSavedCuda {
    Tensor<T, 2, cuda> projected, embedded;
    cuda_ops::L2NormalizeSaved<T> norm;
};

template <class T>
struct SVilmStateCuda {
    LossSwitches switches;
    VideoEncoderSavedCuda<T> video;
    TextEncoderSavedCuda<T> caption, prompt;
    Tensor<T, 2, cuda> spatial_mean;  // (B * N_t, C)
    HeadSavedCuda<T> video_head, text_head, temporal_head, group_head, noun_head;
    cuda_ops::ContrastiveSaved<T> contrastive;
    cuda_ops::TemporalGroupingSaved<T> temporal;
    cuda_ops::GroundingSaved<T> grounding;
    SVilmLosses<T> losses;
    bool has_prompts = false;
    bool complete = false;

    index_t batch_size() const { return video_head.embedded.extent(0); }
    // (B, D), (B, D), (B, N_t, D), (B, M, D), (B, K, D) on the device
    TensorView<const T, 2, cuda> video_embed() const { return video_head.embedded; }
    TensorView<const T, 2, cuda> text_embed() const { return text_head.embedded; }
    TensorView<const T, 3, cuda> temporal_embed() const { return rows3(temporal_head.embedded); }
    TensorView<const T, 3, cuda> group_embed() const { return rows3(group_head.embedded); }
    TensorView<const T, 3, cuda> noun_embed() const { return rows3(noun_head.embedded); }

private:
    TensorView<const T, 3, cuda> rows3(const Tensor<T, 2, cuda>& m) const { return cuda_nn::rows3(m.view(), batch_size()); }
};

template <class T>
class SVilm<T, cuda> {
    static_assert(std::is_same_v<T, float>, "the CUDA model is compiled for float");

public:
    // The layout and values of `host` (a CPU model's parameters(), or a store with the layout
    // only: then the weights are zero until loaded) on the context's device.
    SVilm(const CudaContext& ctx, const nn::ParameterStore<T>& host, const SVilmConfig& config)
        : config_((config.validate(), config)), params_(std::make_unique<nn::DeviceParameters<T>>(ctx, host)),
          video(*params_, config.video, "video", config.gumbel_tau), text(*params_, config.text, "text"),
          video_proj(*params_, "video_proj", config.video.width, config.embed_dim),
          text_proj(*params_, "text_proj", config.text.width, config.embed_dim),
          temporal_proj(*params_, "temporal_proj", config.video.width, config.embed_dim),
          group_proj(*params_, "group_proj", config.video.width, config.embed_dim),
          logit_scale(params_->template get<0>("logit_scale", {})),
          grounding_logit_scale(params_->template get<0>("grounding_logit_scale", {})) {}
    SVilm(SVilm&&) noexcept = default;
    SVilm& operator=(SVilm&&) = delete;

    const SVilmConfig& config() const { return config_; }
    nn::DeviceParameters<T>& parameters() { return *params_; }
    const nn::DeviceParameters<T>& parameters() const { return *params_; }

    // Forward with explicit noise: one (B, M, L) device tensor per grouping block, or an empty
    // span for the noise-free assignment of inference.
    void forward(const CudaContext& ctx, SVilmStateCuda<T>& s, const SVilmBatch<T, cuda>& batch,
                 std::span<const TensorView<const T, 3, cuda>> noise, LossSwitches switches = {}) const {
        validate_batch(config_, batch, switches, "cuda SVilm::forward");
        const index_t B = batch.video.extent(0), Nt = config_.video.temporal_positions(), K = config_.num_nouns;
        const index_t C = config_.video.width, Ns = config_.video.spatial_positions();
        s.complete = false;
        s.switches = switches;
        s.has_prompts = switches.grounding && K > 0;

        video.forward(ctx, s.video, batch.video, noise, true);
        head_forward(ctx, video_proj, s.video_head, s.video.pooled);
        nn::ensure_shape(s.spatial_mean, {B * Nt, C});
        cuda_ops::mean_pool_forward<T>(ctx, s.spatial_mean, s.video.tokens.view().template reshape<3>({B * Nt, Ns, C}));
        head_forward(ctx, temporal_proj, s.temporal_head, s.spatial_mean);
        head_forward(ctx, group_proj, s.group_head, as_matrix(s.video.groups.view()));
        text.forward(ctx, s.caption, batch.caption_ids, batch.caption_mask);
        head_forward(ctx, text_proj, s.text_head, s.caption.cls);
        if (s.has_prompts) {
            text.forward(ctx, s.prompt, batch.prompt_ids, batch.prompt_mask);
            head_forward(ctx, text_proj, s.noun_head, s.prompt.cls);
        }

        SVilmLosses<T>& l = s.losses;
        l = {};
        if (switches.contrastive)
            l.contrastive = cuda_ops::contrastive_loss_forward<T>(ctx, s.contrastive, s.video_embed(), s.text_embed(),
                                                                  host_scalar(ctx, logit_scale));
        if (switches.temporal)
            l.temporal = cuda_ops::temporal_grouping_loss_forward<T>(ctx, s.temporal, s.temporal_embed(), batch.fg_mask,
                                                                     T(config_.tau_temporal));
        if (s.has_prompts)
            l.grounding = cuda_ops::grounding_loss_forward<T>(ctx, s.grounding, s.noun_embed(), batch.noun_valid,
                                                              s.group_embed(), host_scalar(ctx, grounding_logit_scale),
                                                              T(config_.tau_assign));
        l.total = l.contrastive + l.temporal + l.grounding;
        s.complete = true;
    }

    // Accumulates d losses.total / d parameter into parameters().grads().
    void backward(const CudaContext& ctx, SVilmStateCuda<T>& s) const {
        if (!s.complete) throw ValueError("cuda SVilm::backward: the state is not from a completed forward");
        const index_t B = s.batch_size(), Nt = config_.video.temporal_positions(), K = config_.num_nouns;
        const index_t C = config_.video.width, Ns = config_.video.spatial_positions(), D = config_.embed_dim;
        const index_t M = config_.video.num_group_tokens, L = config_.video.tokens();
        Tensor<T, 2, cuda> d_video_embed({B, D}, uninitialized), d_text_embed({B, D}, uninitialized);
        Tensor<T, 3, cuda> d_temporal({B, Nt, D}, uninitialized), d_groups({B, M, D}, uninitialized);
        Tensor<T, 3, cuda> d_nouns({B, K, D}, uninitialized);
        for (const auto& t : {d_video_embed.view(), d_text_embed.view()}) zero(ctx, t);
        for (const auto& t : {d_temporal.view(), d_groups.view(), d_nouns.view()}) zero(ctx, t);
        if (s.switches.contrastive)
            cuda_ops::contrastive_loss_backward<T>(ctx, d_video_embed, d_text_embed, logit_scale.grad(), T(1), s.contrastive,
                                                   s.video_embed(), s.text_embed());
        if (s.switches.temporal)
            cuda_ops::temporal_grouping_loss_backward<T>(ctx, d_temporal, T(1), s.temporal, s.temporal_embed(),
                                                         T(config_.tau_temporal));
        if (s.has_prompts)
            cuda_ops::grounding_loss_backward<T>(ctx, d_nouns, d_groups, grounding_logit_scale.grad(), T(1), s.grounding,
                                                 s.noun_embed(), s.group_embed(), T(config_.tau_assign));

        Tensor<T, 2, cuda> d_pooled({B, C}, uninitialized), d_spatial_mean({B * Nt, C}, uninitialized);
        Tensor<T, 3, cuda> d_group_tokens({B, M, C}, uninitialized), d_tokens({B, L, C}, uninitialized);
        head_backward(ctx, video_proj, d_pooled, d_video_embed, s.video_head, s.video.pooled);
        head_backward(ctx, temporal_proj, d_spatial_mean, as_matrix(d_temporal.view()), s.temporal_head, s.spatial_mean);
        cuda_ops::mean_pool_backward<T>(ctx, d_tokens.view().template reshape<3>({B * Nt, Ns, C}), d_spatial_mean);
        head_backward(ctx, group_proj, as_matrix(d_group_tokens.view()), as_matrix(d_groups.view()), s.group_head,
                      as_matrix(s.video.groups.view()));
        video.backward(ctx, d_tokens, d_group_tokens, d_pooled, s.video);

        if (s.switches.contrastive) {  // captions reach the loss only through the contrastive term
            Tensor<T, 2, cuda> d_cls({B, config_.text.width}, uninitialized);
            head_backward(ctx, text_proj, d_cls, d_text_embed, s.text_head, s.caption.cls);
            text.backward(ctx, d_cls, s.caption);
        }
        if (s.has_prompts) {
            Tensor<T, 2, cuda> d_prompt_cls({B * K, config_.text.width}, uninitialized);
            head_backward(ctx, text_proj, d_prompt_cls, as_matrix(d_nouns.view()), s.noun_head, s.prompt.cls);
            text.backward(ctx, d_prompt_cls, s.prompt);
        }
    }

    // Inference: global video embeddings (B, D) on the device, no noise, two token streams kept.
    Tensor<T, 2, cuda> encode_video(const CudaContext& ctx, TensorView<const T, 5, cuda> clips) const {
        if (clips.extent(0) < 1) throw ShapeError("cuda SVilm::encode_video: empty batch");
        VideoEncoderSavedCuda<T> s;
        video.forward(ctx, s, clips, {}, false);
        HeadSavedCuda<T> head;
        head_forward(ctx, video_proj, head, s.pooled);
        return std::move(head.embedded);
    }

    // Inference: text embeddings (B, D) on the device of host token ids (B, N) and their mask.
    Tensor<T, 2, cuda> encode_text(const CudaContext& ctx, TensorView<const std::int64_t, 2> ids,
                                   TensorView<const std::uint8_t, 2> mask) const {
        if (ids.extent(0) < 1) throw ShapeError("cuda SVilm::encode_text: empty batch");
        TextEncoderSavedCuda<T> s;
        text.forward(ctx, s, ids, mask);
        HeadSavedCuda<T> head;
        head_forward(ctx, text_proj, head, s.cls);
        return std::move(head.embedded);
    }

private:
    SVilmConfig config_;
    std::unique_ptr<nn::DeviceParameters<T>> params_;

public:
    VideoEncoder<T, cuda> video;
    TextEncoder<T, cuda> text;
    cuda_nn::Linear<T> video_proj, text_proj, temporal_proj, group_proj;
    nn::DeviceParam<T, 0> logit_scale, grounding_logit_scale;

private:
    static T host_scalar(const CudaContext& ctx, const nn::DeviceParam<T, 0>& p) {
        return to_host<T, 0>(ctx, p.value())();
    }
    static void head_forward(const CudaContext& ctx, const cuda_nn::Linear<T>& proj, HeadSavedCuda<T>& s,
                             TensorView<const T, 2, cuda> x) {
        const index_t R = x.extent(0), D = proj.out_features;
        nn::ensure_shape(s.projected, {R, D});
        nn::ensure_shape(s.embedded, {R, D});
        proj.forward(ctx, s.projected, x);
        cuda_ops::l2_normalize_forward<T>(ctx, s.embedded, s.norm, s.projected);
    }
    static void head_backward(const CudaContext& ctx, const cuda_nn::Linear<T>& proj, TensorView<T, 2, cuda> dx,
                              TensorView<const T, 2, cuda> d_embedded, const HeadSavedCuda<T>& s,
                              TensorView<const T, 2, cuda> x) {
        Tensor<T, 2, cuda> d_projected(s.projected.shape(), uninitialized);
        cuda_ops::l2_normalize_backward<T>(ctx, d_projected, d_embedded, s.embedded, s.norm);
        proj.backward(ctx, dx, d_projected, x);
    }
};

}  // namespace svilm
