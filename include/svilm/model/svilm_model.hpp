// svilm/model/svilm_model.hpp: the whole S-ViLM model (docs/model.md §1-5): video encoder, text encoder,
// the four projection heads, the two logit scales, and the three pre-training losses, for either
// device.
//
//   svilm::Context<svilm::cpu> ctx;                       // or Context<cuda> with svilm/cuda.hpp
//   svilm::SVilm<float> model(ctx, svilm::preset("tiny"), seed);
//   svilm::SVilmState<float> state;
//   model.forward(ctx, state, batch, rng);   // all embeddings and losses of one batch
//   model.parameters().zero_grad();
//   model.backward(ctx, state);              // every parameter gradient of state.losses.total
//
// The state is what forward fills and backward consumes (it refers to the batch's tensors, which
// must outlive it). Parameters live in one flat store on the model's device with docs/model.md
// §11's names; the same seed gives the same initial values on every device, and the Gumbel noise
// is drawn on the host from the caller's generator, so a CPU and a CUDA run see the same noise.
//
// Data parallel (svilm/core/communicator.hpp): given a communicator, the batch is this rank's
// shard of a global batch. The losses' inputs are gathered from every rank, so each rank computes
// the losses of the whole global batch, as the paper's in-batch negatives span every device;
// backward keeps this rank's rows of their gradient (the logit scales' gradients on rank 0 only),
// so the ranks' gradients sum to the gradient of the global batch.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "svilm/core/communicator.hpp"
#include "svilm/model/batch.hpp"
#include "svilm/model/fwd.hpp"
#include "svilm/model/text_encoder.hpp"
#include "svilm/model/video_encoder.hpp"

namespace svilm {

// A projection head: y = L2(x W^T + b), (R, in) -> (R, D).
template <class T, class Device = cpu>
struct HeadSaved {
    Tensor<T, 2, Device> projected, embedded;  // (R, D)
    L2NormalizeSaved<T, Device> norm;
};

template <class T, class Device = cpu>
struct SVilmState {
    SVilmBatch<T, Device> batch;
    LossSwitches switches;
    std::vector<Tensor<T, 3, Device>> noise;  // (B, M, L) per grouping block, when drawn by forward
    VideoEncoderSaved<T, Device> video;
    TextEncoderSaved<T, Device> caption, prompt;
    Tensor<T, 2, Device> spatial_mean;  // (B * N_t, C) video tokens averaged over N_s
    HeadSaved<T, Device> video_head, text_head, temporal_head, group_head, noun_head;
    ContrastiveSaved<T, Device> contrastive;
    TemporalGroupingSaved<T, Device> temporal;
    GroundingSaved<T, Device> grounding;
    SVilmLosses<T> losses;
    bool has_prompts = false;
    bool complete = false;  // forward finished: backward may consume this state

    // With a communicator: this rank's rows of the global batch, and the losses' inputs of every
    // rank, (B_global, ...) in rank order (only those the switched-on losses read).
    Communicator<Device>* comm = nullptr;
    BatchShard shard;
    struct {
        Tensor<T, 2, Device> video, text;              // (B_global, D)
        Tensor<T, 3, Device> temporal, groups, nouns;  // (B_global, N_t | M | K, D)
        Tensor<T, 2> fg_mask;                          // (B_global, N_t) host
        Tensor<std::uint8_t, 2> noun_valid;            // (B_global, K) host
    } global;

    // Views of this rank's results, (B, D), (B, D), (B, N_t, D), (B, M, D), (B, K, D).
    TensorView<const T, 2, Device> video_embed() const { return video_head.embedded; }
    TensorView<const T, 2, Device> text_embed() const { return text_head.embedded; }
    TensorView<const T, 3, Device> temporal_embed() const { return rows3(temporal_head.embedded, batch_size()); }
    TensorView<const T, 3, Device> group_embed() const { return rows3(group_head.embedded, batch_size()); }
    TensorView<const T, 3, Device> noun_embed() const { return rows3(noun_head.embedded, batch_size()); }
    index_t batch_size() const { return video_head.embedded.extent(0); }

private:
    static TensorView<const T, 3, Device> rows3(const Tensor<T, 2, Device>& m, index_t batch) {
        return m.view().template reshape<3>({batch, batch ? m.extent(0) / batch : 0, m.extent(1)});
    }
};

// What SVilm::forward_video_embedding keeps for backward_video_embedding: the encoder's
// activations and the global head's outputs (embedded: (B, D)).
template <class T, class Device = cpu>
struct VideoEmbeddingSaved {
    VideoEncoderSaved<T, Device> encoder;
    HeadSaved<T, Device> head;
    TensorView<const T, 2, Device> embedding() const { return head.embedded; }
};

// What SVilm::forward_text_embedding keeps for backward_text_embedding (embedded: (B, D)).
template <class T, class Device = cpu>
struct TextEmbeddingSaved {
    TextEncoderSaved<T, Device> encoder;
    HeadSaved<T, Device> head;
    TensorView<const T, 2, Device> embedding() const { return head.embedded; }
};

template <class T, class Device = cpu>
struct VideoEmbeddings {
    Tensor<T, 2, Device> global;    // (B, D) the clip (docs/model.md §11: mean, LN, video_proj, L2)
    Tensor<T, 3, Device> temporal;  // (B, N_t, D) z_{i,t}
    Tensor<T, 3, Device> groups;    // (B, M, D) g_{j,m}
};

template <class T, class Device>
class SVilm {
public:
    // Random initialisation (docs/model.md §11) from `seed`, on ctx's device; the context must
    // outlive the model.
    SVilm(const Context<Device>& ctx, const SVilmConfig& config, std::uint64_t seed = 0) : SVilm(config, Unallocated{}) {
        Generator rng(seed);
        store_->allocate(ctx, rng);
    }
    // Zero parameters, for weights about to be loaded or copied in (load_model, a model moved
    // from another device with parameters().copy_values_from).
    static SVilm zeroed(const Context<Device>& ctx, const SVilmConfig& config) {
        SVilm model(config, Unallocated{});
        model.store_->allocate(ctx);
        return model;
    }
    // Moving keeps the parameter store in place, so the modules' handles stay valid. Assignment
    // would free a store that an optimiser or another model's modules may still point into.
    SVilm(SVilm&&) noexcept = default;
    SVilm& operator=(SVilm&&) = delete;
    SVilm(const SVilm&) = delete;
    SVilm& operator=(const SVilm&) = delete;

    const SVilmConfig& config() const { return config_; }
    nn::ParameterStore<T, Device>& parameters() { return *store_; }
    const nn::ParameterStore<T, Device>& parameters() const { return *store_; }

    // Training forward: draws one Gumbel tensor (B, M, L) per grouping block from `rng`, on the
    // host in the same order on every device. With a communicator (`global_batch` clips in all,
    // this batch being this rank's shard of them) every rank draws the global batch's noise and
    // keeps its rows, so the noise of a clip does not depend on the number of ranks.
    void forward(const Context<Device>& ctx, SVilmState<T, Device>& s, const SVilmBatch<T, Device>& batch, Generator& rng,
                 LossSwitches switches = {}, Communicator<Device>* comm = nullptr, index_t global_batch = 0) const {
        check_context(ctx, "SVilm::forward");
        validate_batch(config_, batch, switches, "SVilm::forward");  // before drawing: a bad batch leaves the generator untouched
        const index_t B = batch.video.extent(0), M = config_.video.grouping.num_group_tokens, L = config_.video.tokens();
        const BatchShard shard = comm ? shard_for(*comm, global_batch, B) : BatchShard{B};
        s.noise.resize(video.grouping.size());
        std::vector<TensorView<const T, 3, Device>> views;
        Tensor<T, 3> host;  // the global draws, unless a CPU model without a communicator draws in place
        for (auto& n : s.noise) {
            nn::ensure_shape(n, {B, M, L});
            bool drawn = false;
            if constexpr (is_cpu_v<Device>) {
                if (!comm) rng.gumbel<T, 3>(n);
                drawn = !comm;
            }
            if (!drawn) {
                nn::ensure_shape(host, {shard.global, M, L});
                rng.gumbel<T, 3>(host);
                upload<T, 3, Device>(ctx, n, host.view().narrow(0, shard.begin(), shard.begin() + B));
            }
            views.push_back(n);
        }
        forward(ctx, s, batch, views, switches, comm, global_batch);
    }

    // Forward with explicit noise (one (B, M, L) tensor per grouping block), or an empty span for
    // the noise-free assignment of inference; a communicator as above.
    void forward(const Context<Device>& ctx, SVilmState<T, Device>& s, const SVilmBatch<T, Device>& batch,
                 std::span<const TensorView<const T, 3, Device>> noise, LossSwitches switches = {},
                 Communicator<Device>* comm = nullptr, index_t global_batch = 0) const {
        check_context(ctx, "SVilm::forward");
        validate_batch(config_, batch, switches, "SVilm::forward");
        const index_t B = batch.video.extent(0), Nt = config_.video.temporal_positions(), K = config_.num_nouns;
        const index_t C = config_.video.width, Ns = config_.video.spatial_positions();
        s.complete = false;
        s.batch = batch;
        s.switches = switches;
        s.has_prompts = switches.grounding && K > 0;
        s.comm = comm;
        s.shard = comm ? shard_for(*comm, global_batch, B) : BatchShard{B};

        video.forward(ctx, s.video, batch.video, noise, true);
        head_forward(ctx, video_proj, s.video_head, s.video.pooled);
        nn::ensure_shape(s.spatial_mean, {B * Nt, C});
        mean_pool_forward(ctx, s.spatial_mean.view(), s.video.tokens.view().template reshape<3>({B * Nt, Ns, C}));
        head_forward(ctx, temporal_proj, s.temporal_head, s.spatial_mean);
        head_forward(ctx, group_proj, s.group_head, as_matrix(s.video.groups.view()));
        text.forward(ctx, s.caption, batch.caption_ids, batch.caption_mask);
        head_forward(ctx, text_proj, s.text_head, s.caption.cls);
        if (s.has_prompts) {
            text.forward(ctx, s.prompt, batch.prompt_ids, batch.prompt_mask);
            head_forward(ctx, text_proj, s.noun_head, s.prompt.cls);
        }

        if (comm) gather_loss_inputs(ctx, s);
        SVilmLosses<T>& l = s.losses;
        l = {};
        if (switches.contrastive)
            l.contrastive = contrastive_loss_forward(ctx, s.contrastive, loss_input(s, s.global.video, s.video_embed()),
                                                     loss_input(s, s.global.text, s.text_embed()),
                                                     read_scalar<T, Device>(ctx, logit_scale.value()));
        if (switches.temporal)
            l.temporal = temporal_grouping_loss_forward(ctx, s.temporal, loss_input(s, s.global.temporal, s.temporal_embed()),
                                                        comm ? s.global.fg_mask.view() : batch.fg_mask,
                                                        T(config_.tau_temporal));
        if (s.has_prompts)
            l.grounding = grounding_loss_forward(ctx, s.grounding, loss_input(s, s.global.nouns, s.noun_embed()),
                                                 comm ? s.global.noun_valid.view() : batch.noun_valid,
                                                 loss_input(s, s.global.groups, s.group_embed()),
                                                 read_scalar<T, Device>(ctx, grounding_logit_scale.value()),
                                                 T(config_.tau_assign));
        l.total = l.contrastive + l.temporal + l.grounding;
        s.complete = true;
    }

    // Accumulates d losses.total / d parameter into parameters().grads(). requires: s from forward.
    // `video_done`, when given, is called once every "video." parameter's gradient is final (after
    // the video encoder, before the text encoder): a data-parallel trainer starts summing them
    // over the ranks while the text encoder's backward runs.
    void backward(const Context<Device>& ctx, const SVilmState<T, Device>& s, const std::function<void()>& video_done = {}) const {
        check_context(ctx, "SVilm::backward");
        if (!s.complete) throw ValueError("SVilm::backward: the state is not from a completed forward");
        const index_t B = s.batch_size(), Nt = config_.video.temporal_positions(), K = config_.num_nouns;
        const index_t C = config_.video.width, Ns = config_.video.spatial_positions(), D = config_.embed_dim;
        const index_t M = config_.video.grouping.num_group_tokens, L = config_.video.tokens();
        // the losses' gradients over the whole (global) batch; this rank's rows go on
        const index_t Bg = s.shard.global, first = s.shard.begin();
        Tensor<T, 2, Device> d_video_all = zeros<T, 2, Device>(ctx, {Bg, D}), d_text_all = zeros<T, 2, Device>(ctx, {Bg, D});
        Tensor<T, 3, Device> d_temporal_all = zeros<T, 3, Device>(ctx, {Bg, Nt, D});
        Tensor<T, 3, Device> d_groups_all = zeros<T, 3, Device>(ctx, {Bg, M, D}), d_nouns_all = zeros<T, 3, Device>(ctx, {Bg, K, D});
        // the scales' gradients come from the whole batch on every rank: rank 0's count once
        Tensor<T, 0, Device> discarded;
        const bool keep_scales = !s.comm || s.comm->rank() == 0;
        if (!keep_scales) discarded = zeros<T, 0, Device>(ctx, {});
        const TensorView<T, 0, Device> d_logit_scale = keep_scales ? logit_scale.grad() : discarded.view();
        const TensorView<T, 0, Device> d_grounding_scale = keep_scales ? grounding_logit_scale.grad() : discarded.view();
        if (s.switches.contrastive)
            contrastive_loss_backward(ctx, d_video_all.view(), d_text_all.view(), d_logit_scale, T(1), s.contrastive,
                                      loss_input(s, s.global.video, s.video_embed()),
                                      loss_input(s, s.global.text, s.text_embed()));
        if (s.switches.temporal)
            temporal_grouping_loss_backward(ctx, d_temporal_all.view(), T(1), s.temporal,
                                            loss_input(s, s.global.temporal, s.temporal_embed()), T(config_.tau_temporal));
        if (s.has_prompts)
            grounding_loss_backward(ctx, d_nouns_all.view(), d_groups_all.view(), d_grounding_scale, T(1), s.grounding,
                                    loss_input(s, s.global.nouns, s.noun_embed()),
                                    loss_input(s, s.global.groups, s.group_embed()), T(config_.tau_assign));
        const auto d_video_embed = d_video_all.view().narrow(0, first, first + B);
        const auto d_text_embed = d_text_all.view().narrow(0, first, first + B);
        const auto d_temporal = d_temporal_all.view().narrow(0, first, first + B);
        const auto d_groups = d_groups_all.view().narrow(0, first, first + B);
        const auto d_nouns = d_nouns_all.view().narrow(0, first, first + B);

        // heads back to the encoders' outputs
        Tensor<T, 2, Device> d_pooled({B, C}, uninitialized), d_spatial_mean({B * Nt, C}, uninitialized);
        Tensor<T, 3, Device> d_group_tokens({B, M, C}, uninitialized), d_tokens({B, L, C}, uninitialized);
        head_backward(ctx, video_proj, d_pooled, d_video_embed, s.video_head, s.video.pooled);
        head_backward(ctx, temporal_proj, d_spatial_mean, as_matrix(d_temporal), s.temporal_head, s.spatial_mean);
        mean_pool_backward(ctx, d_tokens.view().template reshape<3>({B * Nt, Ns, C}), d_spatial_mean.view());
        head_backward(ctx, group_proj, as_matrix(d_group_tokens.view()), as_matrix(d_groups), s.group_head,
                      as_matrix(s.video.groups.view()));
        video.backward(ctx, d_tokens, d_group_tokens, d_pooled, s.video);
        if (video_done) video_done();

        if (s.switches.contrastive) {  // captions reach the loss only through the contrastive term
            Tensor<T, 2, Device> d_cls({B, config_.text.width}, uninitialized);
            head_backward(ctx, text_proj, d_cls, d_text_embed, s.text_head, s.caption.cls);
            text.backward(ctx, d_cls, s.caption);
        }
        if (s.has_prompts) {
            Tensor<T, 2, Device> d_prompt_cls({B * K, config_.text.width}, uninitialized);
            head_backward(ctx, text_proj, d_prompt_cls, as_matrix(d_nouns), s.noun_head, s.prompt.cls);
            text.backward(ctx, d_prompt_cls, s.prompt);
        }
    }

    // Fine-tuning (docs/model.md §13): the global video embedding (B, D) of clips (B, T, 3, H, W),
    // keeping what backward_video_embedding needs. Without noise (an empty span) the grouping
    // assigns as at inference, so a fine-tuned model is trained on the features it is evaluated
    // on; with noise, one (B, M, L) tensor per grouping block as in pre-training.
    void forward_video_embedding(const Context<Device>& ctx, VideoEmbeddingSaved<T, Device>& s,
                                 TensorView<const T, 5, Device> clips,
                                 std::span<const TensorView<const T, 3, Device>> noise = {}) const {
        check_context(ctx, "SVilm::forward_video_embedding");
        video.forward(ctx, s.encoder, clips, noise, true);
        head_forward(ctx, video_proj, s.head, s.encoder.pooled);
    }

    // Accumulates the video encoder's and video_proj's gradients from d_embedding (B, D), the
    // gradient of the caller's loss with respect to s.embedding(). requires: s from
    // forward_video_embedding.
    void backward_video_embedding(const Context<Device>& ctx, TensorView<const T, 2, Device> d_embedding,
                                  const VideoEmbeddingSaved<T, Device>& s) const {
        check_context(ctx, "SVilm::backward_video_embedding");
        expect_shape("SVilm::backward_video_embedding", "d_embedding", d_embedding, s.head.embedded.shape());
        Tensor<T, 2, Device> d_pooled(s.encoder.pooled.shape(), uninitialized);
        head_backward(ctx, video_proj, d_pooled, d_embedding, s.head, s.encoder.pooled);
        video.backward(ctx, {}, {}, d_pooled, s.encoder);
    }

    // Fine-tuning: the text embedding (B, D) of token ids (B, N) with their attention mask (host),
    // keeping what backward_text_embedding needs.
    void forward_text_embedding(const Context<Device>& ctx, TextEmbeddingSaved<T, Device>& s,
                                TensorView<const std::int64_t, 2> ids, TensorView<const std::uint8_t, 2> mask) const {
        check_context(ctx, "SVilm::forward_text_embedding");
        check_text_input("SVilm::forward_text_embedding", config_.text, ids, mask);
        text.forward(ctx, s.encoder, ids, mask);
        head_forward(ctx, text_proj, s.head, s.encoder.cls);
    }

    // Accumulates the text encoder's and text_proj's gradients from d_embedding (B, D).
    void backward_text_embedding(const Context<Device>& ctx, TensorView<const T, 2, Device> d_embedding,
                                 const TextEmbeddingSaved<T, Device>& s) const {
        check_context(ctx, "SVilm::backward_text_embedding");
        expect_shape("SVilm::backward_text_embedding", "d_embedding", d_embedding, s.head.embedded.shape());
        Tensor<T, 2, Device> d_cls(s.encoder.cls.shape(), uninitialized);
        head_backward(ctx, text_proj, d_cls, d_embedding, s.head, s.encoder.cls);
        text.backward(ctx, d_cls, s.encoder);
    }

    // Inference: global video embeddings (B, D) without noise, keeping one layer's activations.
    Tensor<T, 2, Device> encode_video(const Context<Device>& ctx, TensorView<const T, 5, Device> clips) const {
        check_context(ctx, "SVilm::encode_video");
        if (clips.extent(0) < 1) throw ShapeError("SVilm::encode_video: empty batch");
        VideoEncoderSaved<T, Device> s;
        video.forward(ctx, s, clips, {}, false);
        HeadSaved<T, Device> head;
        head_forward(ctx, video_proj, head, s.pooled);
        return std::move(head.embedded);
    }

    // Inference: every video embedding without noise, for evaluation and figures: global (B, D),
    // per time step (B, N_t, D) and per group (B, M, D). `encoder` receives the encoder's state
    // (last-layer tokens, each grouping block's soft and hard maps); activations are not kept.
    VideoEmbeddings<T, Device> embed_video(const Context<Device>& ctx, TensorView<const T, 5, Device> clips,
                                           VideoEncoderSaved<T, Device>& encoder) const {
        check_context(ctx, "SVilm::embed_video");
        if (clips.extent(0) < 1) throw ShapeError("SVilm::embed_video: empty batch");
        const index_t B = clips.extent(0), Nt = config_.video.temporal_positions(), D = config_.embed_dim;
        const index_t Ns = config_.video.spatial_positions(), C = config_.video.width;
        const index_t M = config_.video.grouping.num_group_tokens;
        video.forward(ctx, encoder, clips, {}, false);
        HeadSaved<T, Device> global, temporal, groups;
        head_forward(ctx, video_proj, global, encoder.pooled);
        Tensor<T, 2, Device> spatial_mean({B * Nt, C}, uninitialized);
        mean_pool_forward(ctx, spatial_mean.view(), encoder.tokens.view().template reshape<3>({B * Nt, Ns, C}));
        head_forward(ctx, temporal_proj, temporal, spatial_mean);
        head_forward(ctx, group_proj, groups, as_matrix(encoder.groups.view()));
        VideoEmbeddings<T, Device> out;
        out.global = std::move(global.embedded);
        out.temporal = Tensor<T, 3, Device>({B, Nt, D}, uninitialized);
        out.groups = Tensor<T, 3, Device>({B, M, D}, uninitialized);
        copy(ctx, as_matrix(out.temporal.view()), temporal.embedded.view());
        copy(ctx, as_matrix(out.groups.view()), groups.embedded.view());
        return out;
    }

    // Inference: text embeddings (B, D) of token ids (B, N) with their attention mask (host).
    Tensor<T, 2, Device> encode_text(const Context<Device>& ctx, TensorView<const std::int64_t, 2> ids,
                                     TensorView<const std::uint8_t, 2> mask) const {
        check_context(ctx, "SVilm::encode_text");
        if (ids.extent(0) < 1) throw ShapeError("SVilm::encode_text: empty batch");
        TextEncoderSaved<T, Device> s;
        text.forward(ctx, s, ids, mask, false);
        HeadSaved<T, Device> head;
        head_forward(ctx, text_proj, head, s.cls);
        return std::move(head.embedded);
    }

private:
    // This rank's shard of a global batch of `global` clips, which must hold `local` of them.
    static BatchShard shard_for(const Communicator<Device>& comm, index_t global, index_t local) {
        if (global < 1) throw ValueError("SVilm::forward: with a communicator, pass the global batch size (all ranks' clips)");
        const BatchShard shard = shard_of(comm, global);
        if (shard.count() != local)
            throw ShapeError("SVilm::forward: rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) +
                             " holds " + std::to_string(shard.count()) + " of a global batch of " + std::to_string(global) +
                             " clips, the batch has " + std::to_string(local));
        return shard;
    }

    // The loss reads every rank's rows with a communicator, this rank's otherwise.
    template <int Rank>
    static TensorView<const T, Rank, Device> loss_input(const SVilmState<T, Device>& s, const Tensor<T, Rank, Device>& global,
                                                       TensorView<const T, Rank, Device> local) {
        return s.comm ? global.view() : local;
    }

    // Every rank's rows of what the switched-on losses read, into s.global.
    static void gather_loss_inputs(const Context<Device>& ctx, SVilmState<T, Device>& s) {
        if (s.switches.contrastive) {
            gather_rows(ctx, s, s.global.video, s.video_embed());
            gather_rows(ctx, s, s.global.text, s.text_embed());
        }
        if (s.switches.temporal) {
            gather_rows(ctx, s, s.global.temporal, s.temporal_embed());
            gather_host_rows(s, s.global.fg_mask, s.batch.fg_mask);
        }
        if (s.has_prompts) {
            gather_rows(ctx, s, s.global.groups, s.group_embed());
            gather_rows(ctx, s, s.global.nouns, s.noun_embed());
            gather_host_rows(s, s.global.noun_valid, s.batch.noun_valid);
        }
    }
    template <int Rank>
    static void gather_rows(const Context<Device>& ctx, SVilmState<T, Device>& s, Tensor<T, Rank, Device>& all,
                            TensorView<const T, Rank, Device> local) {
        Extents<Rank> shape = local.shape();
        shape[0] = s.shard.global;
        nn::ensure_shape(all, shape);
        s.comm->all_gather(ctx, local.data(), all.data(), s.shard.counts(), local.size() / std::max<index_t>(local.extent(0), 1));
    }
    template <class U>
    static void gather_host_rows(SVilmState<T, Device>& s, Tensor<U, 2>& all, TensorView<const U, 2> local) {
        expect_contiguous("SVilm::forward", "a host mask", local);
        nn::ensure_shape(all, {s.shard.global, local.extent(1)});
        s.comm->all_gather_host(local.data(), all.data(), s.shard.counts(), std::size_t(local.extent(1)) * sizeof(U));
    }

    struct Unallocated {};
    // Registers every parameter; the store is allocated by the caller.
    SVilm(const SVilmConfig& config, Unallocated)
        : config_((config.validate(), config)), store_(std::make_unique<nn::ParameterStore<T, Device>>()),
          video(*store_, config.video, "video"), text(*store_, config.text, "text"),
          video_proj(*store_, "video_proj", config.video.width, config.embed_dim),
          text_proj(*store_, "text_proj", config.text.width, config.embed_dim),
          temporal_proj(*store_, "temporal_proj", config.video.width, config.embed_dim),
          group_proj(*store_, "group_proj", config.video.width, config.embed_dim),
          logit_scale(store_->template add<0>("logit_scale", {}, nn::Role::scalar, std::log(1 / 0.07))),
          grounding_logit_scale(
              store_->template add<0>("grounding_logit_scale", {}, nn::Role::scalar, std::log(1 / 0.07))) {}

    SVilmConfig config_;
    std::unique_ptr<nn::ParameterStore<T, Device>> store_;

public:
    VideoEncoder<T, Device> video;
    TextEncoder<T, Device> text;
    nn::Linear<T, Device> video_proj, text_proj, temporal_proj, group_proj;
    nn::Param<T, 0, Device> logit_scale, grounding_logit_scale;

private:
    // The model's work runs on the context its parameters live on: on CUDA another context is
    // another stream, unordered with the one that zeroes and updates the parameters.
    void check_context(const Context<Device>& ctx, const char* op) const {
        if (&ctx != &store_->context())
            throw ValueError(std::string(op) + ": called with another context than the one the model's parameters were "
                                               "allocated with");
    }

    static void head_forward(const Context<Device>& ctx, const nn::Linear<T, Device>& proj, HeadSaved<T, Device>& s,
                             TensorView<const T, 2, Device> x) {
        const index_t R = x.extent(0), D = proj.out_features;
        nn::ensure_shape(s.projected, {R, D});
        nn::ensure_shape(s.embedded, {R, D});
        proj.forward(ctx, s.projected, x);
        l2_normalize_forward(ctx, s.embedded.view(), s.norm, s.projected.view());
    }
    // dx (R, in) assigned from d_embedded (R, D).
    static void head_backward(const Context<Device>& ctx, const nn::Linear<T, Device>& proj, TensorView<T, 2, Device> dx,
                              TensorView<const T, 2, Device> d_embedded, const HeadSaved<T, Device>& s,
                              TensorView<const T, 2, Device> x) {
        Tensor<T, 2, Device> d_projected(s.projected.shape(), uninitialized);
        l2_normalize_backward(ctx, d_projected.view(), d_embedded, s.embedded.view(), s.norm);
        proj.backward(ctx, dx, d_projected, x);
    }
};

}  // namespace svilm
