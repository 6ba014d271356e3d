// svilm/model/svilm_model.hpp: the whole S-ViLM model (docs/model.md §1-5): video encoder, text encoder,
// the four projection heads, the two logit scales, and the three pre-training losses.
//
//   auto model = svilm::SVilm<float>(svilm::preset("tiny"), seed);
//   svilm::SVilmState<float> state;
//   model.forward(state, batch, rng);   // all embeddings and losses of one batch
//   model.parameters().zero_grad();
//   model.backward(state);              // every parameter gradient of state.losses.total
//
// The state is the context forward fills and backward consumes (it refers to the batch's
// tensors, which must outlive it). Parameters live in one flat store with docs/model.md §11's names.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/fwd.hpp"
#include "svilm/model/losses.hpp"
#include "svilm/model/text_encoder.hpp"
#include "svilm/model/video_encoder.hpp"
#include "svilm/ops/l2_normalize.hpp"

namespace svilm {

// A projection head: y = L2(x W^T + b), (R, in) -> (R, D).
template <class T>
struct HeadSaved {
    Tensor<T, 2> projected, embedded;  // (R, D)
    L2NormalizeSaved<T> norm;
};

template <class T>
struct SVilmState {
    SVilmBatch<T> batch;
    LossSwitches switches;
    std::vector<Tensor<T, 3>> noise;  // (B, M, L) per grouping block, when drawn by forward
    VideoEncoderSaved<T> video;
    TextEncoderSaved<T> caption, prompt;
    Tensor<T, 2> spatial_mean;  // (B * N_t, C) video tokens averaged over N_s
    HeadSaved<T> video_head, text_head, temporal_head, group_head, noun_head;
    ContrastiveSaved<T> contrastive;
    TemporalGroupingSaved<T> temporal;
    GroundingSaved<T> grounding;
    SVilmLosses<T> losses;
    bool has_prompts = false;
    bool complete = false;  // forward finished: backward may consume this state

    // Views of the results, (B, D), (B, D), (B, N_t, D), (B, M, D), (B, K, D).
    TensorView<const T, 2> video_embed() const { return video_head.embedded; }
    TensorView<const T, 2> text_embed() const { return text_head.embedded; }
    TensorView<const T, 3> temporal_embed() const { return rows3(temporal_head.embedded, batch_size()); }
    TensorView<const T, 3> group_embed() const { return rows3(group_head.embedded, batch_size()); }
    TensorView<const T, 3> noun_embed() const { return rows3(noun_head.embedded, batch_size()); }
    index_t batch_size() const { return video_head.embedded.extent(0); }

private:
    static TensorView<const T, 3> rows3(const Tensor<T, 2>& m, index_t batch) {
        return m.view().template reshape<3>({batch, batch ? m.extent(0) / batch : 0, m.extent(1)});
    }
};

template <class T>
struct VideoEmbeddings {
    Tensor<T, 2> global;    // (B, D) the clip (docs/model.md §11: mean, LN, video_proj, L2)
    Tensor<T, 3> temporal;  // (B, N_t, D) z_{i,t}
    Tensor<T, 3> groups;    // (B, M, D) g_{j,m}
};

template <class T>
class SVilm<T, cpu> {
public:
    // Random initialisation (docs/model.md §11) from `seed`.
    explicit SVilm(const SVilmConfig& config, std::uint64_t seed = 0)
        : config_((config.validate(), config)), store_(std::make_unique<nn::ParameterStore<T>>()),
          video(*store_, config.video, "video", config.gumbel_tau), text(*store_, config.text, "text"),
          video_proj(*store_, "video_proj", config.video.width, config.embed_dim),
          text_proj(*store_, "text_proj", config.text.width, config.embed_dim),
          temporal_proj(*store_, "temporal_proj", config.video.width, config.embed_dim),
          group_proj(*store_, "group_proj", config.video.width, config.embed_dim),
          logit_scale(store_->template add<0>("logit_scale", {}, nn::Role::scalar, std::log(1 / 0.07))),
          grounding_logit_scale(
              store_->template add<0>("grounding_logit_scale", {}, nn::Role::scalar, std::log(1 / 0.07))) {
        Generator rng(seed);
        store_->allocate(rng);
    }
    // Moving keeps the parameter store in place, so the modules' handles stay valid. Assignment
    // would free a store that an optimiser or another model's modules may still point into.
    SVilm(SVilm&&) noexcept = default;
    SVilm& operator=(SVilm&&) = delete;
    SVilm(const SVilm&) = delete;
    SVilm& operator=(const SVilm&) = delete;

    const SVilmConfig& config() const { return config_; }
    nn::ParameterStore<T>& parameters() { return *store_; }
    const nn::ParameterStore<T>& parameters() const { return *store_; }

    // Training forward: draws one Gumbel tensor (B, M, L) per grouping block from `rng`.
    void forward(SVilmState<T>& s, const SVilmBatch<T>& batch, Generator& rng, LossSwitches switches = {}) const {
        validate_batch(config_, batch, switches, "SVilm::forward");  // before drawing: a bad batch leaves the generator untouched
        const index_t B = batch.video.extent(0);
        s.noise.resize(video.grouping.size());
        std::vector<TensorView<const T, 3>> views;
        for (auto& n : s.noise) {
            nn::ensure_shape(n, {B, config_.video.num_group_tokens, config_.video.tokens()});
            rng.gumbel<T, 3>(n);
            views.push_back(n);
        }
        forward(s, batch, views, switches);
    }

    // Forward with explicit noise (one (B, M, L) tensor per grouping block), or an empty span for
    // the noise-free assignment of inference.
    void forward(SVilmState<T>& s, const SVilmBatch<T>& batch, std::span<const TensorView<const T, 3>> noise,
                 LossSwitches switches = {}) const {
        validate_batch(config_, batch, switches, "SVilm::forward");
        const index_t B = batch.video.extent(0), Nt = config_.video.temporal_positions(), K = config_.num_nouns;
        const index_t C = config_.video.width, Ns = config_.video.spatial_positions();
        s.complete = false;
        s.batch = batch;
        s.switches = switches;
        s.has_prompts = switches.grounding && K > 0;

        video.forward(s.video, batch.video, noise, true);
        head_forward(video_proj, s.video_head, s.video.pooled);
        nn::ensure_shape(s.spatial_mean, {B * Nt, C});
        mean_pool_forward<T>(s.spatial_mean, s.video.tokens.view().template reshape<3>({B * Nt, Ns, C}));
        head_forward(temporal_proj, s.temporal_head, s.spatial_mean);
        head_forward(group_proj, s.group_head, as_matrix(s.video.groups.view()));
        text.forward(s.caption, batch.caption_ids, batch.caption_mask);
        head_forward(text_proj, s.text_head, s.caption.cls);
        if (s.has_prompts) {
            text.forward(s.prompt, batch.prompt_ids, batch.prompt_mask);
            head_forward(text_proj, s.noun_head, s.prompt.cls);
        }

        SVilmLosses<T>& l = s.losses;
        l = {};
        if (switches.contrastive)
            l.contrastive = contrastive_loss_forward<T>(s.contrastive, s.video_embed(), s.text_embed(), logit_scale.value()());
        if (switches.temporal)
            l.temporal = temporal_grouping_loss_forward<T>(s.temporal, s.temporal_embed(), batch.fg_mask,
                                                           T(config_.tau_temporal));
        if (s.has_prompts)
            l.grounding = grounding_loss_forward<T>(s.grounding, s.noun_embed(), batch.noun_valid, s.group_embed(),
                                                    grounding_logit_scale.value()(), T(config_.tau_assign));
        l.total = l.contrastive + l.temporal + l.grounding;
        s.complete = true;
    }

    // Accumulates d losses.total / d parameter into parameters().grads(). requires: s from forward.
    void backward(const SVilmState<T>& s) const {
        if (!s.complete) throw ValueError("SVilm::backward: the state is not from a completed forward");
        const index_t B = s.batch_size(), Nt = config_.video.temporal_positions(), K = config_.num_nouns;
        const index_t C = config_.video.width, Ns = config_.video.spatial_positions(), D = config_.embed_dim;
        const index_t M = config_.video.num_group_tokens;
        Tensor<T, 2> d_video_embed({B, D}), d_text_embed({B, D});
        Tensor<T, 3> d_temporal({B, Nt, D}), d_groups({B, M, D}), d_nouns({B, K, D});
        if (s.switches.contrastive)
            contrastive_loss_backward<T>(d_video_embed, d_text_embed, logit_scale.grad()(), T(1), s.contrastive,
                                         s.video_embed(), s.text_embed());
        if (s.switches.temporal)
            temporal_grouping_loss_backward<T>(d_temporal, T(1), s.temporal, s.temporal_embed(), s.batch.fg_mask,
                                               T(config_.tau_temporal));
        if (s.has_prompts)
            grounding_loss_backward<T>(d_nouns, d_groups, grounding_logit_scale.grad()(), T(1), s.grounding,
                                       s.noun_embed(), s.batch.noun_valid, s.group_embed(), T(config_.tau_assign));

        // heads back to the encoders' outputs
        Tensor<T, 2> d_pooled({B, C}, uninitialized), d_spatial_mean({B * Nt, C}, uninitialized);
        Tensor<T, 3> d_group_tokens({B, M, C}, uninitialized), d_tokens({B, B ? s.video.tokens.extent(1) : 0, C});
        head_backward(video_proj, d_pooled, d_video_embed, s.video_head, s.video.pooled);
        head_backward(temporal_proj, d_spatial_mean, as_matrix(d_temporal.view()), s.temporal_head, s.spatial_mean);
        mean_pool_backward<T>(d_tokens.view().template reshape<3>({B * Nt, Ns, C}), d_spatial_mean);
        head_backward(group_proj, as_matrix(d_group_tokens.view()), as_matrix(d_groups.view()), s.group_head,
                      as_matrix(s.video.groups.view()));
        video.backward(d_tokens, d_group_tokens, d_pooled, s.video);

        if (s.switches.contrastive) {  // captions reach the loss only through the contrastive term
            Tensor<T, 2> d_cls({B, config_.text.width}, uninitialized);
            head_backward(text_proj, d_cls, d_text_embed, s.text_head, s.caption.cls);
            text.backward(d_cls, s.caption);
        }
        if (s.has_prompts) {
            Tensor<T, 2> d_prompt_cls({B * K, config_.text.width}, uninitialized);
            head_backward(text_proj, d_prompt_cls, as_matrix(d_nouns.view()), s.noun_head, s.prompt.cls);
            text.backward(d_prompt_cls, s.prompt);
        }
    }

    // Inference: global video embeddings (B, D) without noise, keeping one layer's activations.
    Tensor<T, 2> encode_video(TensorView<const T, 5> clips) const {
        if (clips.extent(0) < 1) throw ShapeError("SVilm::encode_video: empty batch");
        VideoEncoderSaved<T> s;
        video.forward(s, clips, {}, false);
        HeadSaved<T> head;
        head_forward(video_proj, head, s.pooled);
        return std::move(head.embedded);
    }

    // Inference: every video embedding without noise, for evaluation and figures: global (B, D),
    // per time step (B, N_t, D) and per group (B, M, D). `encoder` receives the encoder's state
    // (last-layer tokens, each grouping block's soft and hard maps); activations are not kept.
    VideoEmbeddings<T> embed_video(TensorView<const T, 5> clips, VideoEncoderSaved<T>& encoder) const {
        if (clips.extent(0) < 1) throw ShapeError("SVilm::embed_video: empty batch");
        const index_t B = clips.extent(0), Nt = config_.video.temporal_positions();
        const index_t Ns = config_.video.spatial_positions(), C = config_.video.width, M = config_.video.num_group_tokens;
        video.forward(encoder, clips, {}, false);
        HeadSaved<T> global, temporal, groups;
        head_forward(video_proj, global, encoder.pooled);
        Tensor<T, 2> spatial_mean({B * Nt, C}, uninitialized);
        mean_pool_forward<T>(spatial_mean, encoder.tokens.view().template reshape<3>({B * Nt, Ns, C}));
        head_forward(temporal_proj, temporal, spatial_mean);
        head_forward(group_proj, groups, as_matrix(encoder.groups.view()));
        VideoEmbeddings<T> out;
        out.global = std::move(global.embedded);
        out.temporal = Tensor<T, 3>({B, Nt, config_.embed_dim}, uninitialized);
        out.groups = Tensor<T, 3>({B, M, config_.embed_dim}, uninitialized);
        std::copy_n(temporal.embedded.data(), out.temporal.size(), out.temporal.data());
        std::copy_n(groups.embedded.data(), out.groups.size(), out.groups.data());
        return out;
    }

    // Inference: text embeddings (B, D) of token ids (B, N) with their attention mask.
    Tensor<T, 2> encode_text(TensorView<const std::int64_t, 2> ids, TensorView<const std::uint8_t, 2> mask) const {
        if (ids.extent(0) < 1) throw ShapeError("SVilm::encode_text: empty batch");
        TextEncoderSaved<T> s;
        text.forward(s, ids, mask);
        HeadSaved<T> head;
        head_forward(text_proj, head, s.cls);
        return std::move(head.embedded);
    }

private:
    SVilmConfig config_;
    std::unique_ptr<nn::ParameterStore<T>> store_;

public:
    VideoEncoder<T> video;
    TextEncoder<T> text;
    nn::Linear<T> video_proj, text_proj, temporal_proj, group_proj;
    nn::Param<T, 0> logit_scale, grounding_logit_scale;

private:
    static void head_forward(const nn::Linear<T>& proj, HeadSaved<T>& s, TensorView<const T, 2> x) {
        const index_t R = x.extent(0), D = proj.out_features;
        nn::ensure_shape(s.projected, {R, D});
        nn::ensure_shape(s.embedded, {R, D});
        proj.forward(s.projected, x);
        l2_normalize_forward<T>(s.embedded, s.norm, s.projected);
    }
    // dx (R, in) assigned from d_embedded (R, D).
    static void head_backward(const nn::Linear<T>& proj, TensorView<T, 2> dx, TensorView<const T, 2> d_embedded,
                              const HeadSaved<T>& s, TensorView<const T, 2> x) {
        Tensor<T, 2> d_projected(s.projected.shape(), uninitialized);
        l2_normalize_backward<T>(d_projected, d_embedded, s.embedded, s.norm);
        proj.backward(dx, d_projected, x);
    }
};

}  // namespace svilm
