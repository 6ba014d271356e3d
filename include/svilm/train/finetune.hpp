// svilm/train/finetune.hpp: fine-tuning S-ViLM on the downstream classification tasks of
// docs/model.md §8 and §13, on either device: video QA (the answer head of model/qa_head.hpp over
// the video and question embeddings) and action recognition (a linear classifier over the video
// embedding), end to end or with frozen encoders.
//
//   SVilm<float> model = ...;                                // pre-trained
//   nn::ParameterStore<float> head_store;
//   const nn::Linear<float> classifier(head_store, "action_head", D, K);
//   head_store.allocate(ctx, rng);
//   train::Finetuner<cpu> tuner(model, head_store, options);
//   for (each batch) tuner.step([&] { return train::action_loss_and_gradients<float, cpu>(ctx, &model, classifier, labels, clips); });
//
// The objectives below compute one batch's mean loss and accumulate the gradients of every
// parameter they reach: the head's always, the model's when it is given (a null model: the
// encoders are frozen and the embeddings come precomputed). The video is encoded without Gumbel
// noise, as at inference, so the model is fine-tuned on the features it is evaluated on; no clip
// is flipped or cropped here (the synthetic actions' "moves left" and "moves right" are labels).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "svilm/core/context.hpp"
#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/model/qa_head.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/nn/linear.hpp"
#include "svilm/optim/adamw.hpp"
#include "svilm/optim/schedule.hpp"
#include "svilm/train/diverged.hpp"

namespace svilm::train {

// The Finetuner reads steps, the rates, weight decay, warm-up, clipping and freeze_encoders;
// batch_size and seed are the caller's (how it draws its batches), kept here with the rest.
struct FinetuneOptions {
    std::int64_t steps = 300;      // optimiser steps
    index_t batch_size = 16;       // clips per step
    double lr = 5e-5;              // peak rate of the model's parameters (end to end)
    double head_lr = 1e-3;         // peak rate of the task head's parameters
    double weight_decay = 0.05;    // AdamW, on weight matrices only (both parameter groups)
    double warmup_fraction = 0.1;  // linear warm-up, then cosine decay to 0
    double clip_norm = 1.0;        // global gradient norm of each store; <= 0: no clipping
    bool freeze_encoders = false;  // train the head alone
    std::uint64_t seed = 0;        // data order
};

// Both stores' optimisers and the schedule. A step zeroes the gradients, lets `compute` accumulate
// them and return the batch loss, clips each store's gradient norm and updates. A loss or a
// gradient norm that is not finite stops the run (DivergedError naming the step and the term)
// before any parameter moves.
template <class Device, class T = float>
class Finetuner {
public:
    Finetuner(SVilm<T, Device>& model, nn::ParameterStore<T, Device>& head, const FinetuneOptions& options)
        : options_(checked(options)), model_(&model), head_(&head),
          model_optimizer_(model.parameters(), {options.lr, 0.9, 0.999, 1e-8, options.weight_decay}),
          head_optimizer_(head, {options.head_lr, 0.9, 0.999, 1e-8, options.weight_decay}) {}

    T step(const std::function<T()>& compute) {
        const bool train_model = !options_.freeze_encoders;
        if (train_model) model_->parameters().zero_grad();
        head_->zero_grad();
        const T loss = compute();
        if (!std::isfinite(double(loss)))
            throw DivergedError("fine-tuning step " + std::to_string(steps_ + 1) + ": the loss is " + std::to_string(double(loss)) +
                                " (diverged); lower --lr or --head-lr");
        const double model_norm = train_model ? clip(model_->parameters()) : 0.0, head_norm = clip(*head_);
        for (const auto& [norm, what] : {std::pair{model_norm, "the model's"}, std::pair{head_norm, "the head's"}})
            if (!std::isfinite(norm))
                throw DivergedError("fine-tuning step " + std::to_string(steps_ + 1) + ": " + what + " gradient norm is " +
                                    std::to_string(norm) + " (diverged); lower --lr or --head-lr");
        const double fraction = schedule(options_.lr)(steps_) / options_.lr;
        if (train_model) model_optimizer_.step(options_.lr * fraction);
        head_optimizer_.step(options_.head_lr * fraction);
        ++steps_;
        return loss;
    }

    std::int64_t steps_done() const { return steps_; }
    const FinetuneOptions& options() const { return options_; }

private:
    static const FinetuneOptions& checked(const FinetuneOptions& o) {
        if (o.steps < 1 || o.batch_size < 1 || !(o.lr > 0) || !(o.head_lr > 0) || o.weight_decay < 0 ||
            !(o.warmup_fraction >= 0 && o.warmup_fraction <= 1))
            throw ValueError("FinetuneOptions: steps and batch_size >= 1, lr and head_lr > 0, weight_decay >= 0, "
                             "warmup_fraction in [0, 1]");
        return o;
    }
    optim::WarmupCosine schedule(double peak) const {
        return {peak, 0.0, std::int64_t(std::llround(options_.warmup_fraction * double(options_.steps))), options_.steps};
    }
    // The store's gradient norm before clipping (clipped when clip_norm > 0).
    double clip(nn::ParameterStore<T, Device>& store) const {
        return optim::clip_grad_norm(store, options_.clip_norm > 0 ? options_.clip_norm : INFINITY);
    }

    FinetuneOptions options_;
    SVilm<T, Device>* model_;
    nn::ParameterStore<T, Device>* head_;
    optim::AdamW<T, Device> model_optimizer_, head_optimizer_;
    std::int64_t steps_ = 0;
};

// A fixed per-column standardisation x' = (x - mean) / std of the embeddings a head reads, with
// statistics of the training set's embeddings under the starting model. A briefly trained (or
// untrained) encoder maps every input to nearly one direction (cosine 0.9999 between the text
// embeddings of "how many objects are there?" and "what colour is the star?"): a head whose
// Adam steps have a fixed size in weight space then moves the logits by almost nothing, and
// zero-shot rows that coincide even block the gradient into the encoder. Standardised, the
// embeddings' differences are what the head sees. A constant column is scaled to 0: one whose
// std is 0, or below 1e-6 of its magnitude (float rounding, not a signal to amplify a million fold).
template <class T, class Device = cpu>
struct Standardisation {
    Tensor<T, 1, Device> shift, scale;  // (D): -mean and 1 / std
};

// From host rows (N, D), N >= 1.
template <class T, class Device>
Standardisation<T, Device> standardisation_of(const Context<Device>& ctx, TensorView<const float, 2> rows) {
    const index_t N = rows.extent(0), D = rows.extent(1);
    if (N < 1) throw ValueError("standardisation_of: no rows");
    Tensor<T, 1> shift({D}, uninitialized), scale({D}, uninitialized);
    for (index_t d = 0; d < D; ++d) {
        double sum = 0, squares = 0;
        for (index_t n = 0; n < N; ++n) sum += rows(n, d);
        const double mean = sum / double(N);
        for (index_t n = 0; n < N; ++n) squares += (rows(n, d) - mean) * (rows(n, d) - mean);
        const double std = std::sqrt(squares / double(N));
        shift(d) = T(-mean);
        scale(d) = std > 1e-6 * std::max(1.0, std::abs(mean)) ? T(1 / std) : T(0);
    }
    Standardisation<T, Device> s;
    s.shift = to_device<T, 1, Device>(ctx, shift);
    s.scale = to_device<T, 1, Device>(ctx, scale);
    return s;
}

// x standardised by s (a copy of x when s is null), (R, D) contiguous.
template <class T, class Device>
Tensor<T, 2, Device> standardised(const Context<Device>& ctx, const Standardisation<T, Device>* s,
                                  std::type_identity_t<TensorView<const T, 2, Device>> x) {
    Tensor<T, 2, Device> y(x.shape(), uninitialized);
    if (s)
        column_affine_forward(ctx, y.view(), x, s->shift.view(), s->scale.view());
    else
        copy(ctx, y.view(), x);
    return y;
}

// Video QA, one batch: logits = head(v, q) (B, K) with v the clips' embeddings (B, D) and q the
// questions' (B, D); loss = qa_loss_forward (questions labelled -1, answers outside the
// vocabulary, left out). With a model, v and q are computed here from clips (B, T, 3, H, W) and
// question ids / mask (B, N) and the model's gradients accumulate; without one (frozen encoders),
// `v` and `q` are the precomputed embeddings and only the head's gradients accumulate.
// `sv` and `sq`, when given, standardise v and q before the head.
template <class T, class Device>
T qa_loss_and_gradients(const Context<Device>& ctx, const SVilm<T, Device>* model, const QaHead<T, Device>& head,
                        TensorView<const std::int64_t, 1> labels, TensorView<const T, 5, Device> clips,
                        TensorView<const std::int64_t, 2> ids, TensorView<const std::uint8_t, 2> mask,
                        TensorView<const T, 2, Device> v = {}, TensorView<const T, 2, Device> q = {},
                        const Standardisation<T, Device>* sv = nullptr, const Standardisation<T, Device>* sq = nullptr) {
    VideoEmbeddingSaved<T, Device> video;
    TextEmbeddingSaved<T, Device> text;
    if (model) {
        model->forward_video_embedding(ctx, video, clips);
        model->forward_text_embedding(ctx, text, ids, mask);
        v = video.embedding();
        q = text.embedding();
    } else if (!v.data() || !q.data()) {
        throw ValueError("qa_loss_and_gradients: without a model, give the precomputed embeddings v and q");
    }
    const index_t B = v.extent(0), D = v.extent(1), K = head.config().answers;
    const Tensor<T, 2, Device> v_in = standardised(ctx, sv, v), q_in = standardised(ctx, sq, q);
    Tensor<T, 2, Device> logits({B, K}, uninitialized), d_logits({B, K}, uninitialized);
    QaHeadSaved<T, Device> hs;
    head.forward(ctx, logits, hs, v_in, q_in);
    QaLossSaved<T, Device> ls;
    const T loss = qa_loss_forward<T, Device>(ctx, ls, logits, labels);
    qa_loss_backward<T, Device>(ctx, d_logits, T(1), ls, logits);
    if (!model) {
        head.backward(ctx, {}, {}, d_logits, hs, v_in, q_in);
        return loss;
    }
    Tensor<T, 2, Device> dv({B, D}, uninitialized), dq({B, D}, uninitialized);
    head.backward(ctx, dv, dq, d_logits, hs, v_in, q_in);
    if (sv) column_affine_backward(ctx, dv.view(), dv.view(), sv->scale.view());
    if (sq) column_affine_backward(ctx, dq.view(), dq.view(), sq->scale.view());
    model->backward_video_embedding(ctx, dv, video);
    model->backward_text_embedding(ctx, dq, text);
    return loss;
}

// Action recognition, one batch: logits = classifier(v) (B, K), mean cross-entropy against labels
// in [0, K) (host, (B)). With a model, v is the clips' embedding (B, D) computed here and the
// model's gradients accumulate; without one, v is the precomputed embedding.
// `sv`, when given, standardises v before the classifier.
template <class T, class Device>
T action_loss_and_gradients(const Context<Device>& ctx, const SVilm<T, Device>* model, const nn::Linear<T, Device>& classifier,
                            TensorView<const std::int64_t, 1> labels, TensorView<const T, 5, Device> clips,
                            TensorView<const T, 2, Device> v = {}, const Standardisation<T, Device>* sv = nullptr) {
    VideoEmbeddingSaved<T, Device> video;
    if (model) {
        model->forward_video_embedding(ctx, video, clips);
        v = video.embedding();
    } else if (!v.data()) {
        throw ValueError("action_loss_and_gradients: without a model, give the precomputed embeddings v");
    }
    const index_t B = v.extent(0), D = v.extent(1), K = classifier.out_features;
    const Tensor<T, 2, Device> v_in = standardised(ctx, sv, v);
    Tensor<T, 2, Device> logits({B, K}, uninitialized), d_logits({B, K}, uninitialized);
    classifier.forward(ctx, logits, v_in);
    CrossEntropySaved<T, Device> saved;
    const T loss = cross_entropy_forward(ctx, saved, TensorView<const T, 2, Device>(logits), labels);
    cross_entropy_backward(ctx, d_logits.view(), T(1), saved, TensorView<const T, 2, Device>(logits), labels);
    if (!model) {
        classifier.backward(ctx, {}, d_logits, v_in);
        return loss;
    }
    Tensor<T, 2, Device> dv({B, D}, uninitialized);
    classifier.backward(ctx, dv, d_logits, v_in);
    if (sv) column_affine_backward(ctx, dv.view(), dv.view(), sv->scale.view());
    model->backward_video_embedding(ctx, dv, video);
    return loss;
}

// The classifier set to the zero-shot one: logits = scale * (Z v) with Z (K, D) the L2-normalised
// text embeddings of the classes' prompts (host), so that fine-tuning starts from the zero-shot
// classifier instead of from chance. With a standardisation s of v (v' = (v + shift) * s.scale),
// the same logits in terms of v': W = scale * Z / s.scale per column (0 where s.scale is 0, a
// constant column) and b = scale * Z (-shift).
template <class T, class Device>
void initialise_from_prompts(const Context<Device>& ctx, const nn::Linear<T, Device>& classifier,
                             TensorView<const float, 2> class_embeddings, double scale,
                             const Standardisation<T, Device>* s = nullptr) {
    const index_t K = classifier.out_features, D = classifier.in_features;
    expect_shape("initialise_from_prompts", "class_embeddings", class_embeddings, {K, D});
    Tensor<T, 1> shift({D}), column_scale({D});
    if (s) {
        shift = to_host<T, 1, Device>(ctx, s->shift);
        column_scale = to_host<T, 1, Device>(ctx, s->scale);
    } else {
        for (index_t d = 0; d < D; ++d) column_scale(d) = T(1);
    }
    Tensor<T, 2> weight({K, D}, uninitialized);
    Tensor<T, 1> bias({K}, uninitialized);
    for (index_t k = 0; k < K; ++k) {
        double b = 0;
        for (index_t d = 0; d < D; ++d) {
            const double z = scale * double(class_embeddings(k, d));
            weight(k, d) = column_scale(d) != T(0) ? T(z / double(column_scale(d))) : T(0);
            b -= z * double(shift(d));
        }
        bias(k) = T(b);
    }
    upload<T, 2, Device>(ctx, classifier.weight.value(), weight);
    upload<T, 1, Device>(ctx, classifier.bias.value(), bias);
}

}  // namespace svilm::train
