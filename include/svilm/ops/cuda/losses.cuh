// svilm/ops/cuda/losses.cuh: the three pre-training losses of docs/model.md §5 on the device, forward
// and backward: the CUDA twins of svilm/ops/losses.hpp, with the same math, argument meaning and
// signatures (Context<cuda>, device views; the host-side arguments below stay host views).
//
// Host and device:
// - Each forward returns its loss as a host value, which synchronises the stream once per loss per
//   step. The per-row terms come back and are summed on the host in row order, so the value is
//   deterministic; every device reduction runs in a fixed order too (no atomics).
// - The temporal mask and the noun validity are host tensors (cut-and-paste and noun extraction
//   run on the host), checked there like cross-entropy's targets; their upload synchronises too.
// - A log logit scale comes in as a host value (the scale is a GEMM's alpha); its gradient
//   accumulates into a device scalar, the parameter's slot in the device gradient buffer, so the
//   backwards never synchronise.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "svilm/ops/contracts.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/elementwise.cuh"
#include "svilm/ops/cuda/gemm.hpp"
#include "svilm/ops/cuda/launch.cuh"
#include "svilm/ops/cuda/reduce.cuh"
#include "svilm/ops/loss_common.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

namespace cuda_kernels {

// *target += factor * (sum of partial (n)), by one block in a fixed order: the logit scale's
// gradient from per-row partial sums.
template <class T>
__global__ void accumulate_sum(T* target, const T* partial, index_t n, T factor) {
    __shared__ T scratch[32];
    T sum = 0;
    for (index_t k = threadIdx.x; k < n; k += blockDim.x) sum += partial[k];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) *target += factor * sum;
}

// Block r < B: row r of logits (B, B), video r against every caption; block B + r: column r,
// caption r against every video. The target is the diagonal.
template <class T>
__global__ void contrastive_forward(T* loss, T* lse_out, const T* logits, index_t B) {
    __shared__ T scratch[32];
    const index_t block = blockIdx.x;
    const bool column = block >= B;
    const index_t r = column ? block - B : block, step = column ? B : 1;
    const T* line = logits + (column ? r : r * B);
    T top = T(-INFINITY);
    for (index_t k = threadIdx.x; k < B; k += blockDim.x) top = max(top, line[k * step]);
    top = block_max(top, scratch);
    T sum = 0;
    for (index_t k = threadIdx.x; k < B; k += blockDim.x) sum += exp(line[k * step] - top);
    const T lse = top + log(block_sum(sum, scratch));
    if (threadIdx.x == 0) {
        lse_out[block] = lse;
        loss[block] = lse - logits[r * B + r];
    }
}

// One block per row i: d_logits (i, j) = g (softmax_row_i(j) + softmax_column_j(i) - 2 [i == j]),
// and partial[i] = sum_j d_logits (i, j) logits (i, j) for the scale's gradient.
template <class T>
__global__ void contrastive_backward(T* d_logits, T* partial, const T* logits, const T* lse, index_t B, T g) {
    __shared__ T scratch[32];
    const index_t i = blockIdx.x;
    T acc = 0;
    for (index_t j = threadIdx.x; j < B; j += blockDim.x) {
        const T x = logits[i * B + j];
        const T d = g * (exp(x - lse[i]) + exp(x - lse[B + j]) - (i == j ? T(2) : T(0)));
        d_logits[i * B + j] = d;
        acc += d * x;
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) partial[i] = acc;
}

// One thread per clip: fg_count[i] = sum_t mask (i, t), in t order.
template <class T>
__global__ void mask_counts(T* fg_count, const T* mask, index_t B, index_t Nt) {
    const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= B) return;
    T count = 0;
    for (index_t t = 0; t < Nt; ++t) count += mask[i * Nt + t];
    fg_count[i] = count;
}

template <class T>
__device__ bool has_scene_change(T fg_count, index_t Nt) {
    return fg_count > T(0) && fg_count < T(Nt);
}

// One thread per (i, d): the mask-weighted means f_i, b_i of z (B, N_t, D), in t order; 0 for a
// clip without a scene change.
template <class T>
__global__ void temporal_centres(T* fg, T* bg, const T* z, const T* mask, const T* fg_count, index_t B, index_t Nt,
                                 index_t D) {
    for (index_t k = index_t(blockIdx.x) * blockDim.x + threadIdx.x; k < B * D; k += index_t(gridDim.x) * blockDim.x) {
        const index_t i = k / D, d = k % D;
        const T count = fg_count[i];
        T f = 0, b = 0;
        if (has_scene_change(count, Nt))
            for (index_t t = 0; t < Nt; ++t) {
                const T m = mask[i * Nt + t], x = z[(i * Nt + t) * D + d];
                f += m * x / count;
                b += (T(1) - m) * x / (T(Nt) - count);
            }
        fg[k] = f;
        bg[k] = b;
    }
}

// One block per row of x (R, D): norm[r] = ||x_r||.
template <class T>
__global__ void row_norms(T* norm, const T* x, index_t D) {
    __shared__ T scratch[32];
    const index_t r = blockIdx.x;
    T sq = 0;
    for (index_t d = threadIdx.x; d < D; d += blockDim.x) sq += x[r * D + d] * x[r * D + d];
    sq = block_sum(sq, scratch);
    if (threadIdx.x == 0) norm[r] = sqrt(sq);
}

// One block per (i, t): the cosines of z_{i,t} with f_i and b_i (eps 1e-8), p = the two-way
// softmax (a logistic of their difference) and (p - m)^2; all 0 for a clip left out.
template <class T>
__global__ void temporal_probs(T* p, T* cos_fg, T* cos_bg, T* norm_z, T* sq_err, const T* z, const T* fg, const T* bg,
                               const T* norm_fg, const T* norm_bg, const T* mask, const T* fg_count, index_t Nt, index_t D,
                               T tau) {
    __shared__ T scratch[32];
    const index_t row = blockIdx.x, i = row / Nt;
    if (!has_scene_change(fg_count[i], Nt)) {  // the same branch for the whole block
        if (threadIdx.x == 0) p[row] = cos_fg[row] = cos_bg[row] = norm_z[row] = sq_err[row] = T(0);
        return;
    }
    const T* zt = z + row * D;
    T zz = 0, zf = 0, zb = 0;
    for (index_t d = threadIdx.x; d < D; d += blockDim.x) {
        const T x = zt[d];
        zz += x * x;
        zf += x * fg[i * D + d];
        zb += x * bg[i * D + d];
    }
    zz = block_sum(zz, scratch);
    zf = block_sum(zf, scratch);
    zb = block_sum(zb, scratch);
    if (threadIdx.x == 0) {
        const T eps = T(1e-8), nz = sqrt(zz);
        const T cf = zf / (max(nz, eps) * max(norm_fg[i], eps)), cb = zb / (max(nz, eps) * max(norm_bg[i], eps));
        const T prob = T(1) / (T(1) + exp((cb - cf) / tau));
        const T e = prob - mask[row];
        p[row] = prob;
        cos_fg[row] = cf;
        cos_bg[row] = cb;
        norm_z[row] = nz;
        sq_err[row] = e * e;
    }
}

// d loss / d (cos_fg - cos_bg) at (i, t), with g = 2 dloss / (valid clips * N_t).
template <class T>
__device__ T temporal_du(const T* p, const T* mask, index_t row, T g, T tau) {
    const T prob = p[row];
    return g * (prob - mask[row]) * prob * (T(1) - prob) / tau;
}

// One thread per (i, d): the gradients of f_i and b_i through every cosine of clip i.
template <class T>
__global__ void temporal_centres_backward(T* d_fg, T* d_bg, const T* z, const T* fg, const T* bg, const T* norm_fg,
                                          const T* norm_bg, const T* p, const T* cos_fg, const T* cos_bg, const T* norm_z,
                                          const T* mask, const T* fg_count, index_t B, index_t Nt, index_t D, T g, T tau) {
    const T eps = T(1e-8);
    for (index_t k = index_t(blockIdx.x) * blockDim.x + threadIdx.x; k < B * D; k += index_t(gridDim.x) * blockDim.x) {
        const index_t i = k / D, d = k % D;
        T df = 0, db = 0;
        if (has_scene_change(fg_count[i], Nt)) {
            const T nf = max(norm_fg[i], eps), nb = max(norm_bg[i], eps);
            for (index_t t = 0; t < Nt; ++t) {
                const index_t row = i * Nt + t;
                const T du = temporal_du(p, mask, row, g, tau), nz = max(norm_z[row], eps), x = z[row * D + d];
                const T radial_f = norm_fg[i] > eps ? cos_fg[row] / (nf * nf) : T(0);
                const T radial_b = norm_bg[i] > eps ? cos_bg[row] / (nb * nb) : T(0);
                df += du * (x / (nf * nz) - radial_f * fg[k]);
                db -= du * (x / (nb * nz) - radial_b * bg[k]);
            }
        }
        d_fg[k] = df;
        d_bg[k] = db;
    }
}

// One thread per (i, t, d): dz through the two cosines of z_{i,t} and through the centres.
template <class T>
__global__ void temporal_backward(T* dz, const T* z, const T* fg, const T* bg, const T* norm_fg, const T* norm_bg,
                                  const T* d_fg, const T* d_bg, const T* p, const T* cos_fg, const T* cos_bg, const T* norm_z,
                                  const T* mask, const T* fg_count, index_t B, index_t Nt, index_t D, T g, T tau) {
    const T eps = T(1e-8);
    for (index_t k = index_t(blockIdx.x) * blockDim.x + threadIdx.x; k < B * Nt * D; k += index_t(gridDim.x) * blockDim.x) {
        const index_t row = k / D, i = row / Nt, c = i * D + k % D;
        const T count = fg_count[i];
        if (!has_scene_change(count, Nt)) {
            dz[k] = T(0);
            continue;
        }
        const T du = temporal_du(p, mask, row, g, tau), x = z[k];
        const T nz = max(norm_z[row], eps), nf = max(norm_fg[i], eps), nb = max(norm_bg[i], eps);
        const T radial_f = norm_z[row] > eps ? cos_fg[row] / (nz * nz) : T(0);
        const T radial_b = norm_z[row] > eps ? cos_bg[row] / (nz * nz) : T(0);
        const T m = mask[row];
        dz[k] = du * (fg[c] / (nz * nf) - radial_f * x) - du * (bg[c] / (nz * nb) - radial_b * x) + m * d_fg[c] / count +
                (T(1) - m) * d_bg[c] / (T(Nt) - count);
    }
}

// One block per (i, k, j): weights over m = softmax(dots / tau_a), score = sum_m weights * dots.
template <class T>
__global__ void grounding_assign(T* weights, T* scores, const T* dots, index_t M, T tau) {
    __shared__ T scratch[32];
    const index_t row = blockIdx.x;
    const T* d = dots + row * M;
    T* w = weights + row * M;
    T top = T(-INFINITY);
    for (index_t m = threadIdx.x; m < M; m += blockDim.x) top = max(top, d[m]);
    top = block_max(top, scratch);
    T sum = 0;
    for (index_t m = threadIdx.x; m < M; m += blockDim.x) sum += (w[m] = exp((d[m] - top) / tau));
    sum = block_sum(sum, scratch);
    T score = 0;
    for (index_t m = threadIdx.x; m < M; m += blockDim.x) score += (w[m] /= sum) * d[m];
    score = block_sum(score, scratch);
    if (threadIdx.x == 0) scores[row] = score;
}

// One block per noun (i, k): probs over clips j = softmax(scale * scores), the noun's term
// -log probs[i]; both 0 for a missing noun.
template <class T>
__global__ void grounding_nouns(T* probs, T* loss, const T* scores, const std::uint8_t* valid, index_t B, index_t K, T scale) {
    __shared__ T scratch[32];
    const index_t noun = blockIdx.x, i = noun / K;
    const T* s = scores + noun * B;
    T* p = probs + noun * B;
    if (!valid[noun]) {  // the same branch for the whole block
        for (index_t j = threadIdx.x; j < B; j += blockDim.x) p[j] = T(0);
        if (threadIdx.x == 0) loss[noun] = T(0);
        return;
    }
    T top = T(-INFINITY);
    for (index_t j = threadIdx.x; j < B; j += blockDim.x) top = max(top, scale * s[j]);
    top = block_max(top, scratch);
    T sum = 0;
    for (index_t j = threadIdx.x; j < B; j += blockDim.x) sum += (p[j] = exp(scale * s[j] - top));
    sum = block_sum(sum, scratch);
    for (index_t j = threadIdx.x; j < B; j += blockDim.x) p[j] /= sum;
    if (threadIdx.x == 0) loss[noun] = -(scale * s[i] - top - log(sum));
}

// One block per (i, k, j): d_dots over m through the score and its softmax weights, with
// g = dloss / valid nouns; partial[(i, k, j)] = d_logit * score for the scale's gradient.
template <class T>
__global__ void grounding_backward(T* d_dots, T* partial, const T* dots, const T* weights, const T* scores, const T* probs,
                                   const std::uint8_t* valid, index_t B, index_t K, index_t M, T g, T scale, T tau) {
    const index_t row = blockIdx.x, noun = row / B, i = noun / K, j = row % B;
    const T d_logit = valid[noun] ? g * (probs[row] - (i == j ? T(1) : T(0))) : T(0);
    const T d_score = d_logit * scale, score = scores[row];
    for (index_t m = threadIdx.x; m < M; m += blockDim.x) {
        const index_t k = row * M + m;
        d_dots[k] = valid[noun] ? d_score * weights[k] * (T(1) + (dots[k] - score) / tau) : T(0);
    }
    if (threadIdx.x == 0) partial[row] = d_logit * score;
}

}  // namespace cuda_kernels

namespace cuda_detail {

template <class T>
T host_sum(const Context<cuda>& ctx, const Tensor<T, 1, cuda>& terms) {
    const Tensor<T, 1> host = to_host<T, 1>(ctx, terms);
    T total = 0;
    for (index_t r = 0; r < host.size(); ++r) total += host(r);
    return total;
}

// d_log_scale += factor * sum(partial), queued; nothing when the clamp or an empty sum leaves 0.
template <class T>
void accumulate_scale_grad(const Context<cuda>& ctx, const char* op, TensorView<T, 0, cuda> d_log_scale,
                           const Tensor<T, 1, cuda>& partial, T factor) {
    if (!d_log_scale.data()) throw ShapeError(std::string(op) + ": d_log_scale views no device scalar");
    if (factor == T(0) || partial.size() == 0) return;
    cuda_kernels::accumulate_sum<T><<<1, 256, 0, ctx.stream()>>>(d_log_scale.data(), partial.data(), partial.size(), factor);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda_detail

// ---------------------------------------------------------------- global contrastive (Eq. 7)

template <class T>
struct ContrastiveSaved<T, cuda> {
    Tensor<T, 2, cuda> logits;     // (B, B) scale * v c^T
    Tensor<T, 1, cuda> logsumexp;  // (2 B) of logits' rows (video -> text), then of its columns
    T scale = 0, dscale_dlog = 0;
};

// L_c = (CE(s v c^T, I) + CE(s c v^T, I)) / 2 over v, c (B, D) on the device; the caption ->
// video direction reads the columns of the same logits. requires B >= 1. Synchronises.
template <class T>
T contrastive_loss_forward(const Context<cuda>& ctx, ContrastiveSaved<T, cuda>& s,
                           std::type_identity_t<TensorView<const T, 2, cuda>> v,
                           std::type_identity_t<TensorView<const T, 2, cuda>> c, T log_scale) {
    const char* op = "contrastive_loss_forward";
    const index_t B = v.extent(0), D = v.extent(1);
    contract::contrastive_loss_forward(op, v, c);
    std::tie(s.scale, s.dscale_dlog) = svilm::detail::clamped_scale(log_scale);
    s.logits = Tensor<T, 2, cuda>({B, B}, uninitialized);
    s.logsumexp = Tensor<T, 1, cuda>({2 * B}, uninitialized);
    gemm<T>(ctx, Trans::no, Trans::yes, B, B, D, s.scale, v.data(), D, c.data(), D, T(0), s.logits.data(), B,
            MathMode::fp32);
    Tensor<T, 1, cuda> terms({2 * B}, uninitialized);
    cuda_kernels::contrastive_forward<T><<<unsigned(2 * B), 256, 0, ctx.stream()>>>(
        terms.data(), s.logsumexp.data(), s.logits.data(), B);
    SVILM_CUDA_CHECK(cudaGetLastError());
    // each direction averages over B rows; the loss averages the two directions
    return cuda_detail::host_sum(ctx, terms) / T(2 * B);
}

// dv, dc (B, D) assigned; d_log_scale (a device scalar) accumulates.
template <class T>
void contrastive_loss_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dv, TensorView<T, 2, cuda> dc,
                               TensorView<T, 0, cuda> d_log_scale, T dloss, const ContrastiveSaved<T, cuda>& s,
                               std::type_identity_t<TensorView<const T, 2, cuda>> v,
                               std::type_identity_t<TensorView<const T, 2, cuda>> c) {
    const char* op = "contrastive_loss_backward";
    const index_t B = v.extent(0), D = v.extent(1);
    expect_shape(op, "dv", dv, v.shape());
    expect_shape(op, "dc", dc, c.shape());
    expect_shape(op, "saved.logits", s.logits.view(), {B, B});
    expect_contiguous(op, "dv", dv);
    expect_contiguous(op, "dc", dc);
    expect_contiguous(op, "v", v);
    expect_contiguous(op, "c", c);
    Tensor<T, 2, cuda> d_logits({B, B}, uninitialized);
    Tensor<T, 1, cuda> partial({B}, uninitialized);
    cuda_kernels::contrastive_backward<T><<<unsigned(B), 256, 0, ctx.stream()>>>(
        d_logits.data(), partial.data(), s.logits.data(), s.logsumexp.data(), B, dloss / T(2) / T(B));
    SVILM_CUDA_CHECK(cudaGetLastError());
    // logits = scale * (v c^T): d scale = sum d_logits * logits / scale
    if (s.scale > T(0)) cuda_detail::accumulate_scale_grad<T>(ctx, op, d_log_scale, partial, s.dscale_dlog / s.scale);
    gemm<T>(ctx, Trans::no, Trans::no, B, D, B, s.scale, d_logits.data(), B, c.data(), D, T(0), dv.data(), D, MathMode::fp32);
    gemm<T>(ctx, Trans::yes, Trans::no, B, D, B, s.scale, d_logits.data(), B, v.data(), D, T(0), dc.data(), D, MathMode::fp32);
}

// ---------------------------------------------------------------- temporal grouping (Eqs. 1-2)

template <class T>
struct TemporalGroupingSaved<T, cuda> {
    Tensor<T, 2, cuda> p;               // (B, N_t) foreground probability; 0 for a clip left out
    Tensor<T, 2, cuda> fg, bg;          // (B, D) centres
    Tensor<T, 2, cuda> cos_fg, cos_bg;  // (B, N_t)
    Tensor<T, 2, cuda> norm_z;          // (B, N_t) ||z_{i,t}||
    Tensor<T, 2, cuda> norm_centres;    // (2, B) ||f_i||, then ||b_i||
    Tensor<T, 2, cuda> mask;            // (B, N_t) the checked host mask
    Tensor<T, 1, cuda> fg_count;        // (B) sum_t m_{i,t}; a scene change when 0 < count < N_t
    Tensor<std::uint8_t, 1> valid;      // (B) on the host: the clip has a scene change
    index_t valid_count = 0;
};

// L_t = mean over clips with a scene change and all t of (p_{i,t} - m_{i,t})^2 over z (B, N_t, D)
// on the device; mask (B, N_t) on the host holds 0 or 1 (ValueError otherwise). A clip whose
// mask is all 0 or all 1 is left out; 0 when none remains. Synchronises.
template <class T>
T temporal_grouping_loss_forward(const Context<cuda>& ctx, TemporalGroupingSaved<T, cuda>& s,
                                 std::type_identity_t<TensorView<const T, 3, cuda>> z, TensorView<const T, 2> mask, T tau) {
    const char* op = "temporal_grouping_loss_forward";
    const index_t B = z.extent(0), Nt = z.extent(1), D = z.extent(2);
    expect_shape(op, "mask", mask, {B, Nt});
    expect_contiguous(op, "z", z);
    s.valid = Tensor<std::uint8_t, 1>({B});
    s.valid_count = svilm::detail::scene_change_clips<T>(op, mask, s.valid);
    Tensor<T, 2> host_mask({B, Nt}, uninitialized);  // contiguous, whatever the view's strides
    for (index_t i = 0; i < B; ++i)
        for (index_t t = 0; t < Nt; ++t) host_mask(i, t) = mask(i, t);
    s.mask = to_device<T, 2>(ctx, host_mask);
    s.fg_count = Tensor<T, 1, cuda>({B}, uninitialized);
    s.p = Tensor<T, 2, cuda>({B, Nt}, uninitialized);
    s.fg = Tensor<T, 2, cuda>({B, D}, uninitialized);
    s.bg = Tensor<T, 2, cuda>({B, D}, uninitialized);
    s.cos_fg = Tensor<T, 2, cuda>({B, Nt}, uninitialized);
    s.cos_bg = Tensor<T, 2, cuda>({B, Nt}, uninitialized);
    s.norm_z = Tensor<T, 2, cuda>({B, Nt}, uninitialized);
    s.norm_centres = Tensor<T, 2, cuda>({2, B}, uninitialized);
    Tensor<T, 1, cuda> sq_err({B * Nt}, uninitialized);
    if (B > 0) {
        // the same exact integer counts as on the host, without a second upload
        cuda_kernels::mask_counts<T><<<cuda_detail::blocks_for(B, 256), 256, 0, ctx.stream()>>>(
            s.fg_count.data(), s.mask.data(), B, Nt);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
    if (B * D > 0) {
        cuda_kernels::temporal_centres<T><<<cuda_detail::grid_cover(B * D), 256, 0, ctx.stream()>>>(
            s.fg.data(), s.bg.data(), z.data(), s.mask.data(), s.fg_count.data(), B, Nt, D);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
    if (B > 0) {
        cuda_kernels::row_norms<T><<<unsigned(B), 256, 0, ctx.stream()>>>(s.norm_centres.data(), s.fg.data(), D);
        SVILM_CUDA_CHECK(cudaGetLastError());
        cuda_kernels::row_norms<T><<<unsigned(B), 256, 0, ctx.stream()>>>(s.norm_centres.data() + B, s.bg.data(), D);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
    if (B * Nt > 0) {
        cuda_kernels::temporal_probs<T><<<unsigned(B * Nt), 256, 0, ctx.stream()>>>(
            s.p.data(), s.cos_fg.data(), s.cos_bg.data(), s.norm_z.data(), sq_err.data(), z.data(), s.fg.data(), s.bg.data(),
            s.norm_centres.data(), s.norm_centres.data() + B, s.mask.data(), s.fg_count.data(), Nt, D, tau);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
    if (!s.valid_count) return T(0);
    return cuda_detail::host_sum(ctx, sq_err) / T(s.valid_count * Nt);
}

// dz (B, N_t, D) assigned; 0 for a clip left out.
template <class T>
void temporal_grouping_loss_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> dz, T dloss,
                                     const TemporalGroupingSaved<T, cuda>& s,
                                     std::type_identity_t<TensorView<const T, 3, cuda>> z, T tau) {
    const char* op = "temporal_grouping_loss_backward";
    const index_t B = z.extent(0), Nt = z.extent(1), D = z.extent(2);
    expect_shape(op, "dz", dz, z.shape());
    expect_shape(op, "saved.p", s.p.view(), {B, Nt});
    expect_shape(op, "saved.fg", s.fg.view(), {B, D});
    expect_contiguous(op, "dz", dz);
    expect_contiguous(op, "z", z);
    if (!s.valid_count) {
        zero<T, 3>(ctx, dz);
        return;
    }
    if (D == 0) return;  // dz is empty
    const T g = dloss * T(2) / T(s.valid_count * Nt);
    Tensor<T, 2, cuda> d_fg({B, D}, uninitialized), d_bg({B, D}, uninitialized);
    const T* norm_fg = s.norm_centres.data();
    const T* norm_bg = s.norm_centres.data() + B;
    cuda_kernels::temporal_centres_backward<T><<<cuda_detail::grid_cover(B * D), 256, 0, ctx.stream()>>>(
        d_fg.data(), d_bg.data(), z.data(), s.fg.data(), s.bg.data(), norm_fg, norm_bg, s.p.data(), s.cos_fg.data(),
        s.cos_bg.data(), s.norm_z.data(), s.mask.data(), s.fg_count.data(), B, Nt, D, g, tau);
    SVILM_CUDA_CHECK(cudaGetLastError());
    cuda_kernels::temporal_backward<T><<<cuda_detail::grid_cover(B * Nt * D), 256, 0, ctx.stream()>>>(
        dz.data(), z.data(), s.fg.data(), s.bg.data(), norm_fg, norm_bg, d_fg.data(), d_bg.data(), s.p.data(), s.cos_fg.data(),
        s.cos_bg.data(), s.norm_z.data(), s.mask.data(), s.fg_count.data(), B, Nt, D, g, tau);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// ---------------------------------------------------------------- spatial grounding (Eq. 3 on)

template <class T>
struct GroundingSaved<T, cuda> {
    Tensor<T, 4, cuda> dots;              // (B, K, B, M) <n_{i,k}, g_{j,m}>
    Tensor<T, 4, cuda> weights;           // (B, K, B, M) softmax over m of dots / tau_a
    Tensor<T, 3, cuda> scores;            // (B, K, B) s(i, k, j)
    Tensor<T, 3, cuda> probs;             // (B, K, B) softmax over j of scale * s, valid nouns only
    Tensor<std::uint8_t, 2, cuda> valid;  // (B, K) the host's validity, 0 or 1
    index_t valid_count = 0;
    T scale = 0, dscale_dlog = 0;
};

// L_g = -mean over valid (i, k) of log softmax_j(scale * s(i, k, j))[i], with
// s(i, k, j) = sum_m softmax_m(<n_ik, g_jm> / tau_a) <n_ik, g_jm>. nouns (B, K, D) and groups
// (B, M, D) on the device, M >= 1; valid (B, K) on the host, nonzero for a real noun. 0 when no
// noun is valid. Synchronises.
template <class T>
T grounding_loss_forward(const Context<cuda>& ctx, GroundingSaved<T, cuda>& s,
                         std::type_identity_t<TensorView<const T, 3, cuda>> nouns, TensorView<const std::uint8_t, 2> valid,
                         std::type_identity_t<TensorView<const T, 3, cuda>> groups, T log_scale, T tau_assign) {
    const char* op = "grounding_loss_forward";
    const index_t B = nouns.extent(0), K = nouns.extent(1), D = nouns.extent(2), M = groups.extent(1);
    expect_shape(op, "valid", valid, {B, K});
    expect_shape(op, "groups", groups, {B, M, D});
    expect_contiguous(op, "nouns", nouns);
    expect_contiguous(op, "groups", groups);
    if (M < 1) throw ShapeError(std::string(op) + ": groups " + to_string<3>(groups.shape()) + " has no group");
    std::tie(s.scale, s.dscale_dlog) = svilm::detail::clamped_scale(log_scale);
    Tensor<std::uint8_t, 2> host_valid({B, K}, uninitialized);
    s.valid_count = 0;
    for (index_t i = 0; i < B; ++i)
        for (index_t k = 0; k < K; ++k) s.valid_count += (host_valid(i, k) = valid(i, k) ? 1 : 0);
    s.valid = to_device<std::uint8_t, 2>(ctx, host_valid);
    s.dots = Tensor<T, 4, cuda>({B, K, B, M}, uninitialized);
    s.weights = Tensor<T, 4, cuda>({B, K, B, M}, uninitialized);
    s.scores = Tensor<T, 3, cuda>({B, K, B}, uninitialized);
    s.probs = Tensor<T, 3, cuda>({B, K, B}, uninitialized);
    if (B * K == 0) return T(0);
    // all dots in one GEMM: (B K, D) x (B M, D)^T
    gemm<T>(ctx, Trans::no, Trans::yes, B * K, B * M, D, T(1), nouns.data(), D, groups.data(), D, T(0), s.dots.data(), B * M,
            MathMode::fp32);
    // a group softmax of M = 32 entries: one warp each
    cuda_kernels::grounding_assign<T><<<unsigned(B * K * B), 32, 0, ctx.stream()>>>(
        s.weights.data(), s.scores.data(), s.dots.data(), M, tau_assign);
    SVILM_CUDA_CHECK(cudaGetLastError());
    Tensor<T, 1, cuda> terms({B * K}, uninitialized);
    cuda_kernels::grounding_nouns<T><<<unsigned(B * K), 128, 0, ctx.stream()>>>(
        s.probs.data(), terms.data(), s.scores.data(), s.valid.data(), B, K, s.scale);
    SVILM_CUDA_CHECK(cudaGetLastError());
    if (!s.valid_count) return T(0);
    return cuda_detail::host_sum(ctx, terms) / T(s.valid_count);
}

// d_nouns (B, K, D), d_groups (B, M, D) assigned; d_log_scale (a device scalar) accumulates.
template <class T>
void grounding_loss_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> d_nouns, TensorView<T, 3, cuda> d_groups,
                             TensorView<T, 0, cuda> d_log_scale, T dloss, const GroundingSaved<T, cuda>& s,
                             std::type_identity_t<TensorView<const T, 3, cuda>> nouns,
                             std::type_identity_t<TensorView<const T, 3, cuda>> groups, T tau_assign) {
    const char* op = "grounding_loss_backward";
    const index_t B = nouns.extent(0), K = nouns.extent(1), D = nouns.extent(2), M = groups.extent(1);
    expect_shape(op, "d_nouns", d_nouns, nouns.shape());
    expect_shape(op, "d_groups", d_groups, groups.shape());
    expect_shape(op, "saved.dots", s.dots.view(), {B, K, B, M});
    expect_contiguous(op, "d_nouns", d_nouns);
    expect_contiguous(op, "d_groups", d_groups);
    expect_contiguous(op, "nouns", nouns);
    expect_contiguous(op, "groups", groups);
    if (!s.valid_count) {  // no noun: no gradient, and the GEMMs would only multiply zeros
        zero<T, 3>(ctx, d_nouns);
        zero<T, 3>(ctx, d_groups);
        return;
    }
    Tensor<T, 4, cuda> d_dots({B, K, B, M}, uninitialized);
    Tensor<T, 1, cuda> partial({B * K * B}, uninitialized);
    cuda_kernels::grounding_backward<T><<<unsigned(B * K * B), 32, 0, ctx.stream()>>>(
        d_dots.data(), partial.data(), s.dots.data(), s.weights.data(), s.scores.data(), s.probs.data(), s.valid.data(), B, K, M,
        dloss / T(s.valid_count), s.scale, tau_assign);
    SVILM_CUDA_CHECK(cudaGetLastError());
    if (s.scale > T(0)) cuda_detail::accumulate_scale_grad<T>(ctx, op, d_log_scale, partial, s.dscale_dlog);
    gemm<T>(ctx, Trans::no, Trans::no, B * K, D, B * M, T(1), d_dots.data(), B * M, groups.data(), D, T(0), d_nouns.data(), D,
            MathMode::fp32);
    gemm<T>(ctx, Trans::yes, Trans::no, B * M, D, B * K, T(1), d_dots.data(), B * M, nouns.data(), D, T(0), d_groups.data(), D,
            MathMode::fp32);
}

}  // namespace svilm
