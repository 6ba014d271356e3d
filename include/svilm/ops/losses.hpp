// svilm/ops/losses.hpp: the three pre-training losses of docs/model.md §5 on the CPU, forward and
// backward (the CUDA ones, same signatures: svilm/ops/cuda/losses.cuh).
//
// All inputs are L2-normalised embeddings. Logit scales are stored as logs (docs/model.md §11); the scale
// used is exp(param) clamped at 100 (svilm/ops/loss_common.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "svilm/core/profile.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/loss_common.hpp"
#include "svilm/ops/cross_entropy.hpp"
#include "svilm/ops/detail/vector_math.hpp"
#include "svilm/ops/elementwise.hpp"
#include "svilm/ops/gemm.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

namespace detail {

// d cos(a, b) / d a, with cos = a.b / (max(|a|, eps) max(|b|, eps)) (docs/model.md §11, eps = 1e-8).
template <class T>
void cosine_grad_into(T* grad_a, T scale, const T* a, const T* b, index_t n, T cos, T norm_a, T norm_b, T eps) {
    const T na = std::max(norm_a, eps), nb = std::max(norm_b, eps);
    const T radial = norm_a > eps ? cos / (na * na) : T(0);
    for (index_t i = 0; i < n; ++i) grad_a[i] += scale * (b[i] / (na * nb) - radial * a[i]);
}

template <class T>
T norm_of(const T* a, index_t n) {
    return std::sqrt(dot(a, a, n));
}

}  // namespace detail

// ---------------------------------------------------------------- global contrastive (Eq. 7)

template <class T>
struct ContrastiveSaved<T, cpu> {
    Tensor<T, 2> logits;    // (B, B) scale * v c^T
    Tensor<T, 2> logits_t;  // (B, B) its transpose (caption -> video)
    CrossEntropySaved<T, cpu> video_to_text, text_to_video;
    Tensor<std::int64_t, 1> targets;  // (B) the diagonal
    T scale = 0, dscale_dlog = 0;
};

// L_c = (CE(s v c^T, I) + CE(s c v^T, I)) / 2 over v, c (B, D). requires B >= 1.
template <class T>
T contrastive_loss_forward(const Context<cpu>& ctx, ContrastiveSaved<T, cpu>& s, std::type_identity_t<TensorView<const T, 2>> v,
                           std::type_identity_t<TensorView<const T, 2>> c, T log_scale) {
    const profile::Scope profile_scope(__func__);
    const char* op = "contrastive_loss_forward";
    const index_t B = v.extent(0), D = v.extent(1);
    contract::contrastive_loss_forward(op, v, c);
    std::tie(s.scale, s.dscale_dlog) = detail::clamped_scale(log_scale);
    s.logits = Tensor<T, 2>({B, B}, uninitialized);
    s.logits_t = Tensor<T, 2>({B, B}, uninitialized);
    s.targets = Tensor<std::int64_t, 1>({B}, uninitialized);
    for (index_t i = 0; i < B; ++i) s.targets(i) = i;
    gemm<T>(ctx, Trans::no, Trans::yes, B, B, D, s.scale, v.data(), D, c.data(), D, T(0), s.logits.data(), B);
    for (index_t i = 0; i < B; ++i)
        for (index_t j = 0; j < B; ++j) s.logits_t(j, i) = s.logits(i, j);
    const T forward_loss = cross_entropy_forward<T>(ctx, s.video_to_text, s.logits, s.targets);
    const T backward_loss = cross_entropy_forward<T>(ctx, s.text_to_video, s.logits_t, s.targets);
    return (forward_loss + backward_loss) / T(2);
}

// dv, dc (B, D) assigned; d_log_scale (the logit scale's gradient, a parameter) accumulates.
template <class T>
void contrastive_loss_backward(const Context<cpu>& ctx, TensorView<T, 2> dv, TensorView<T, 2> dc, TensorView<T, 0> d_log_scale,
                               T dloss, const ContrastiveSaved<T, cpu>& s, std::type_identity_t<TensorView<const T, 2>> v,
                               std::type_identity_t<TensorView<const T, 2>> c) {
    const profile::Scope profile_scope(__func__);
    const index_t B = v.extent(0), D = v.extent(1);
    expect_shape("contrastive_loss_backward", "dv", dv, v.shape());
    expect_shape("contrastive_loss_backward", "dc", dc, c.shape());
    Tensor<T, 2> d_logits({B, B}, uninitialized), d_logits_t({B, B}, uninitialized);
    cross_entropy_backward<T>(ctx, d_logits, dloss / T(2), s.video_to_text, s.logits, s.targets);
    cross_entropy_backward<T>(ctx, d_logits_t, dloss / T(2), s.text_to_video, s.logits_t, s.targets);
    T d_scale = 0;
    for (index_t i = 0; i < B; ++i)
        for (index_t j = 0; j < B; ++j) {
            d_logits(i, j) += d_logits_t(j, i);
            d_scale += d_logits(i, j) * s.logits(i, j);  // logits = scale * (v c^T)
        }
    if (s.scale > T(0)) d_log_scale() += d_scale / s.scale * s.dscale_dlog;
    gemm<T>(ctx, Trans::no, Trans::no, B, D, B, s.scale, d_logits.data(), B, c.data(), D, T(0), dv.data(), D);
    gemm<T>(ctx, Trans::yes, Trans::no, B, D, B, s.scale, d_logits.data(), B, v.data(), D, T(0), dc.data(), D);
}

// ---------------------------------------------------------------- temporal grouping (Eqs. 1-2)

template <class T>
struct TemporalGroupingSaved<T, cpu> {
    Tensor<T, 2> p;                 // (B, N_t) foreground probability; 0 for a clip left out
    Tensor<T, 2> fg, bg;            // (B, D) centres
    Tensor<T, 2> cos_fg, cos_bg;    // (B, N_t)
    Tensor<T, 2> mask;              // (B, N_t) the forward's mask
    Tensor<std::uint8_t, 1> valid;  // (B) the clip has a scene change
    index_t valid_count = 0;
};

// L_t = mean over clips with a scene change and all t of (p_{i,t} - m_{i,t})^2, where
// p = exp(cos(z, f) / tau) / (exp(cos(z, f) / tau) + exp(cos(z, b) / tau)), f and b the mask-
// weighted means of z (B, N_t, D). mask (B, N_t) holds 0 or 1. A clip whose mask is all 0 or all
// 1 has no scene change and is left out; 0 when none remains.
template <class T>
T temporal_grouping_loss_forward(const Context<cpu>&, TemporalGroupingSaved<T, cpu>& s, std::type_identity_t<TensorView<const T, 3>> z,
                                 TensorView<const T, 2> mask, T tau) {
    const profile::Scope profile_scope(__func__);
    const char* op = "temporal_grouping_loss_forward";
    const index_t B = z.extent(0), Nt = z.extent(1), D = z.extent(2);
    expect_shape(op, "mask", mask, {B, Nt});
    expect_contiguous(op, "z", z);
    const T eps = T(1e-8);
    s.p = Tensor<T, 2>({B, Nt});
    s.fg = Tensor<T, 2>({B, D});
    s.bg = Tensor<T, 2>({B, D});
    s.cos_fg = Tensor<T, 2>({B, Nt});
    s.cos_bg = Tensor<T, 2>({B, Nt});
    s.valid = Tensor<std::uint8_t, 1>({B});
    s.mask = Tensor<T, 2>({B, Nt}, uninitialized);
    s.valid_count = detail::scene_change_clips<T>(op, mask, s.valid);
    for (index_t i = 0; i < B; ++i)
        for (index_t t = 0; t < Nt; ++t) s.mask(i, t) = mask(i, t);
    T total = 0;
    for (index_t i = 0; i < B; ++i) {
        if (!s.valid(i)) continue;
        T fg_count = 0;
        for (index_t t = 0; t < Nt; ++t) fg_count += mask(i, t);
        for (index_t t = 0; t < Nt; ++t) {
            const T m = mask(i, t);
            for (index_t d = 0; d < D; ++d) {
                s.fg(i, d) += m * z(i, t, d) / fg_count;
                s.bg(i, d) += (T(1) - m) * z(i, t, d) / (T(Nt) - fg_count);
            }
        }
        const T nf = detail::norm_of(&s.fg(i, 0), D), nb = detail::norm_of(&s.bg(i, 0), D);
        for (index_t t = 0; t < Nt; ++t) {
            const T* zt = &z(i, t, 0);
            const T nz = detail::norm_of(zt, D);
            T dot_f = 0, dot_b = 0;
            for (index_t d = 0; d < D; ++d) {
                dot_f += zt[d] * s.fg(i, d);
                dot_b += zt[d] * s.bg(i, d);
            }
            s.cos_fg(i, t) = dot_f / (std::max(nz, eps) * std::max(nf, eps));
            s.cos_bg(i, t) = dot_b / (std::max(nz, eps) * std::max(nb, eps));
            // the two-way softmax is a logistic of the difference
            s.p(i, t) = T(1) / (T(1) + std::exp((s.cos_bg(i, t) - s.cos_fg(i, t)) / tau));
            const T e = s.p(i, t) - mask(i, t);
            total += e * e;
        }
    }
    return s.valid_count ? total / T(s.valid_count * Nt) : T(0);
}

// dz (B, N_t, D) assigned; the mask is the forward's (kept in s).
template <class T>
void temporal_grouping_loss_backward(const Context<cpu>&, TensorView<T, 3> dz, T dloss, const TemporalGroupingSaved<T, cpu>& s,
                                     std::type_identity_t<TensorView<const T, 3>> z, T tau) {
    const profile::Scope profile_scope(__func__);
    const index_t B = z.extent(0), Nt = z.extent(1), D = z.extent(2);
    expect_shape("temporal_grouping_loss_backward", "dz", dz, z.shape());
    expect_contiguous("temporal_grouping_loss_backward", "dz", dz);
    std::fill_n(dz.data(), dz.size(), T(0));
    if (!s.valid_count) return;
    const T eps = T(1e-8);
    std::vector<T> d_fg(D), d_bg(D);
    for (index_t i = 0; i < B; ++i) {
        if (!s.valid(i)) continue;
        std::fill(d_fg.begin(), d_fg.end(), T(0));
        std::fill(d_bg.begin(), d_bg.end(), T(0));
        const T* fg = &s.fg(i, 0);
        const T* bg = &s.bg(i, 0);
        const T nf = detail::norm_of(fg, D), nb = detail::norm_of(bg, D);
        T fg_count = 0;
        for (index_t t = 0; t < Nt; ++t) fg_count += s.mask(i, t);
        for (index_t t = 0; t < Nt; ++t) {
            const T p = s.p(i, t);
            const T dp = dloss * T(2) * (p - s.mask(i, t)) / T(s.valid_count * Nt);
            const T du = dp * p * (T(1) - p) / tau;  // u = cos_fg - cos_bg
            const T* zt = &z(i, t, 0);
            T* dzt = &dz(i, t, 0);
            const T nz = detail::norm_of(zt, D);
            detail::cosine_grad_into(dzt, du, zt, fg, D, s.cos_fg(i, t), nz, nf, eps);
            detail::cosine_grad_into(dzt, -du, zt, bg, D, s.cos_bg(i, t), nz, nb, eps);
            detail::cosine_grad_into(d_fg.data(), du, fg, zt, D, s.cos_fg(i, t), nf, nz, eps);
            detail::cosine_grad_into(d_bg.data(), -du, bg, zt, D, s.cos_bg(i, t), nb, nz, eps);
        }
        for (index_t t = 0; t < Nt; ++t) {
            const T m = s.mask(i, t);
            T* dzt = &dz(i, t, 0);
            for (index_t d = 0; d < D; ++d)
                dzt[d] += m * d_fg[d] / fg_count + (T(1) - m) * d_bg[d] / (T(Nt) - fg_count);
        }
    }
}

// ---------------------------------------------------------------- spatial grounding (Eq. 3 on)

template <class T>
struct GroundingSaved<T, cpu> {
    Tensor<T, 4> dots;     // (B, K, B, M) <n_{i,k}, g_{j,m}>
    Tensor<T, 4> weights;  // (B, K, B, M) softmax over m of dots / tau_a
    Tensor<T, 3> scores;   // (B, K, B) s(i, k, j)
    Tensor<T, 3> probs;    // (B, K, B) softmax over j of scale * s, valid nouns only
    Tensor<std::uint8_t, 2> valid;  // (B, K) the forward's validity
    index_t valid_count = 0;
    T scale = 0, dscale_dlog = 0;
};

// L_g = -mean over valid (i, k) of log softmax_j(scale * s(i, k, j))[i], with
// s(i, k, j) = sum_m softmax_m(<n_ik, g_jm> / tau_a) <n_ik, g_jm>.
// nouns (B, K, D), valid (B, K) nonzero for a real noun, groups (B, M, D). 0 when no noun is valid.
template <class T>
T grounding_loss_forward(const Context<cpu>& ctx, GroundingSaved<T, cpu>& s, std::type_identity_t<TensorView<const T, 3>> nouns,
                         TensorView<const std::uint8_t, 2> valid, std::type_identity_t<TensorView<const T, 3>> groups, T log_scale,
                         T tau_assign) {
    const profile::Scope profile_scope(__func__);
    const char* op = "grounding_loss_forward";
    const index_t B = nouns.extent(0), K = nouns.extent(1), D = nouns.extent(2), M = groups.extent(1);
    expect_shape(op, "valid", valid, {B, K});
    expect_shape(op, "groups", groups, {B, M, D});
    expect_contiguous(op, "nouns", nouns);
    expect_contiguous(op, "groups", groups);
    std::tie(s.scale, s.dscale_dlog) = detail::clamped_scale(log_scale);
    s.dots = Tensor<T, 4>({B, K, B, M});
    s.weights = Tensor<T, 4>({B, K, B, M});
    s.scores = Tensor<T, 3>({B, K, B});
    s.probs = Tensor<T, 3>({B, K, B});
    s.valid_count = 0;
    // all dots in one GEMM: (B K, D) x (B M, D)^T
    s.valid = Tensor<std::uint8_t, 2>({B, K}, uninitialized);
    copy<std::uint8_t, 2>(ctx, s.valid, valid);
    gemm<T>(ctx, Trans::no, Trans::yes, B * K, B * M, D, T(1), nouns.data(), D, groups.data(), D, T(0), s.dots.data(), B * M);
    T total = 0;
    for (index_t i = 0; i < B; ++i)
        for (index_t k = 0; k < K; ++k) {
            for (index_t j = 0; j < B; ++j) {
                const T* d = &s.dots(i, k, j, 0);
                T* w = &s.weights(i, k, j, 0);
                const T top = *std::max_element(d, d + M);
                T sum = 0;
                for (index_t m = 0; m < M; ++m) sum += (w[m] = std::exp((d[m] - top) / tau_assign));
                T score = 0;
                for (index_t m = 0; m < M; ++m) score += (w[m] /= sum) * d[m];
                s.scores(i, k, j) = score;
            }
            if (!valid(i, k)) continue;
            ++s.valid_count;
            T top = -INFINITY;
            for (index_t j = 0; j < B; ++j) top = std::max(top, s.scale * s.scores(i, k, j));
            T sum = 0;
            for (index_t j = 0; j < B; ++j) sum += (s.probs(i, k, j) = std::exp(s.scale * s.scores(i, k, j) - top));
            for (index_t j = 0; j < B; ++j) s.probs(i, k, j) /= sum;
            total += -(s.scale * s.scores(i, k, i) - top - std::log(sum));
        }
    return s.valid_count ? total / T(s.valid_count) : T(0);
}

// d_nouns (B, K, D), d_groups (B, M, D) assigned; d_log_scale accumulates; the validity is the
// forward's (kept in s).
template <class T>
void grounding_loss_backward(const Context<cpu>& ctx, TensorView<T, 3> d_nouns, TensorView<T, 3> d_groups,
                             TensorView<T, 0> d_log_scale, T dloss, const GroundingSaved<T, cpu>& s,
                             std::type_identity_t<TensorView<const T, 3>> nouns, std::type_identity_t<TensorView<const T, 3>> groups,
                             T tau_assign) {
    const profile::Scope profile_scope(__func__);
    const index_t B = nouns.extent(0), K = nouns.extent(1), D = nouns.extent(2), M = groups.extent(1);
    expect_shape("grounding_loss_backward", "d_nouns", d_nouns, nouns.shape());
    expect_shape("grounding_loss_backward", "d_groups", d_groups, groups.shape());
    Tensor<T, 4> d_dots({B, K, B, M});
    T d_scale = 0;
    if (s.valid_count)
        for (index_t i = 0; i < B; ++i)
            for (index_t k = 0; k < K; ++k) {
                if (!s.valid(i, k)) continue;
                for (index_t j = 0; j < B; ++j) {
                    const T d_logit = dloss * (s.probs(i, k, j) - T(i == j)) / T(s.valid_count);
                    d_scale += d_logit * s.scores(i, k, j);
                    const T d_score = d_logit * s.scale;
                    const T score = s.scores(i, k, j);
                    for (index_t m = 0; m < M; ++m) {
                        const T w = s.weights(i, k, j, m);
                        d_dots(i, k, j, m) = d_score * w * (T(1) + (s.dots(i, k, j, m) - score) / tau_assign);
                    }
                }
            }
    if (s.scale > T(0)) d_log_scale() += d_scale * s.dscale_dlog;
    gemm<T>(ctx, Trans::no, Trans::no, B * K, D, B * M, T(1), d_dots.data(), B * M, groups.data(), D, T(0), d_nouns.data(), D);
    gemm<T>(ctx, Trans::yes, Trans::no, B * M, D, B * K, T(1), d_dots.data(), B * M, nouns.data(), D, T(0), d_groups.data(), D);
}

}  // namespace svilm
