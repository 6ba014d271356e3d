// svilm/ops/gumbel_assign.hpp: the grouping block's assignment (docs/model.md §2.1, step 4).
//
// Each video token distributes over the M groups: softmax over the group axis of (B, M, L).
// Training adds Gumbel noise and uses a hard one-hot with the straight-through estimator:
// the forward value is one_hot(argmax_m y_soft), the backward is the gradient of y_soft.
// Then every group's row is normalised over the tokens: A = Y / (sum_l Y + eps), eps = 1.
#pragma once

#include <cmath>
#include <vector>

#include "svilm/core/profile.hpp"
#include "svilm/ops/detail/vector_math.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

// y (B, M, L) = softmax over M of (logits + noise) / tau. noise may be an empty view (inference).
template <class T>
void group_softmax_forward(const Context<cpu>&, TensorView<T, 3> y, std::type_identity_t<TensorView<const T, 3>> logits,
                           std::type_identity_t<TensorView<const T, 3>> noise, T tau) {
    const profile::Scope profile_scope(__func__);
    const char* op = "group_softmax_forward";
    const index_t batch = logits.extent(0), groups = logits.extent(1), tokens = logits.extent(2);
    expect_shape(op, "y", y, logits.shape());
    expect_contiguous(op, "logits", logits);
    expect_contiguous(op, "y", y);
    if (noise.data()) {
        expect_shape(op, "noise", noise, logits.shape());
        expect_contiguous(op, "noise", noise);
    }
    if (!(tau > T(0))) throw ValueError(std::string(op) + ": tau must be positive");
    const T inv_tau = T(1) / tau;
    parallel_for(
        batch,
        [&](index_t b) {
            std::vector<T> column_max(std::size_t(tokens), -INFINITY), column_sum(std::size_t(tokens), T(0));
            T* yb = y.data() + b * groups * tokens;
            const T* lb = logits.data() + b * groups * tokens;
            const T* nb = noise.data() ? noise.data() + b * groups * tokens : nullptr;
            for (index_t m = 0; m < groups; ++m) {
                T* row = yb + m * tokens;
                for (index_t l = 0; l < tokens; ++l) {
                    row[l] = (lb[m * tokens + l] + (nb ? nb[m * tokens + l] : T(0))) * inv_tau;
                    column_max[l] = std::max(column_max[l], row[l]);
                }
            }
            for (index_t m = 0; m < groups; ++m) {
                T* row = yb + m * tokens;
#pragma omp simd
                for (index_t l = 0; l < tokens; ++l) {
                    row[l] = detail::exp_approx(row[l] - column_max[l]);
                    column_sum[l] += row[l];
                }
            }
            for (index_t m = 0; m < groups; ++m) {
                T* row = yb + m * tokens;
#pragma omp simd
                for (index_t l = 0; l < tokens; ++l) row[l] /= column_sum[l];
            }
        },
        batch * groups * tokens > 16384);
}

// dlogits (B, M, L) = softmax backward along M of dy, divided by tau; assigned.
template <class T>
void group_softmax_backward(const Context<cpu>&, TensorView<T, 3> dlogits, std::type_identity_t<TensorView<const T, 3>> dy,
                            std::type_identity_t<TensorView<const T, 3>> y, T tau) {
    const profile::Scope profile_scope(__func__);
    const char* op = "group_softmax_backward";
    const index_t batch = y.extent(0), groups = y.extent(1), tokens = y.extent(2);
    expect_shape(op, "dy", dy, y.shape());
    expect_shape(op, "dlogits", dlogits, y.shape());
    expect_contiguous(op, "dlogits", dlogits);
    expect_contiguous(op, "dy", dy);
    expect_contiguous(op, "y", y);
    const T inv_tau = T(1) / tau;
    parallel_for(
        batch,
        [&](index_t b) {
            std::vector<T> inner(std::size_t(tokens), T(0));
            const index_t base = b * groups * tokens;
            for (index_t m = 0; m < groups; ++m)
#pragma omp simd
                for (index_t l = 0; l < tokens; ++l) inner[l] += dy.data()[base + m * tokens + l] * y.data()[base + m * tokens + l];
            for (index_t m = 0; m < groups; ++m)
#pragma omp simd
                for (index_t l = 0; l < tokens; ++l) {
                    const index_t i = base + m * tokens + l;
                    dlogits.data()[i] = inv_tau * y.data()[i] * (dy.data()[i] - inner[l]);
                }
        },
        batch * groups * tokens > 16384);
}

// y_hard (B, M, L) = one_hot over M of argmax_m y_soft (ties to the lowest m), the forward value
// of the straight-through estimator. noise: Gumbel(0, 1) draws (training) or empty (inference).
template <class T>
void gumbel_assign_forward(const Context<cpu>& ctx, TensorView<T, 3> y_hard, GumbelAssignSaved<T>& saved,
                           std::type_identity_t<TensorView<const T, 3>> logits,
                           std::type_identity_t<TensorView<const T, 3>> noise, T tau = T(1)) {
    const profile::Scope profile_scope(__func__);
    const char* op = "gumbel_assign_forward";
    expect_shape(op, "y_hard", y_hard, logits.shape());
    expect_contiguous(op, "y_hard", y_hard);
    if (saved.y_soft.shape() != logits.shape()) saved.y_soft = Tensor<T, 3>(logits.shape(), uninitialized);
    group_softmax_forward<T>(ctx, saved.y_soft, logits, noise, tau);
    const index_t batch = logits.extent(0), groups = logits.extent(1), tokens = logits.extent(2);
    const T* soft = saved.y_soft.data();
    T* hard = y_hard.data();
    parallel_for(
        batch,
        [&](index_t b) {
            const index_t base = b * groups * tokens;
            for (index_t l = 0; l < tokens; ++l) {
                index_t best = 0;
                for (index_t m = 1; m < groups; ++m)
                    if (soft[base + m * tokens + l] > soft[base + best * tokens + l]) best = m;
                for (index_t m = 0; m < groups; ++m) hard[base + m * tokens + l] = m == best ? T(1) : T(0);
            }
        },
        batch * groups * tokens > 16384);
}

// Straight-through: dlogits (B, M, L) is the gradient of y_soft; assigned.
template <class T>
void gumbel_assign_backward(const Context<cpu>& ctx, TensorView<T, 3> dlogits, std::type_identity_t<TensorView<const T, 3>> dy,
                            const GumbelAssignSaved<T>& saved, T tau = T(1)) {
    const profile::Scope profile_scope(__func__);
    expect_shape("gumbel_assign_backward", "dy", dy, saved.y_soft.shape());
    group_softmax_backward<T>(ctx, dlogits, dy, saved.y_soft, tau);
}

// a (B, M, L) = y / (sum over L of y + eps): each group's share of every token, eps = 1 as
// GroupViT, so a group that receives almost nothing stays near zero instead of blowing up.
template <class T>
void assign_normalize_forward(const Context<cpu>&, TensorView<T, 3> a, std::type_identity_t<TensorView<const T, 3>> y, T eps = T(1)) {
    const profile::Scope profile_scope(__func__);
    const char* op = "assign_normalize_forward";
    expect_shape(op, "a", a, y.shape());
    expect_contiguous(op, "a", a);
    expect_contiguous(op, "y", y);
    const index_t rows = y.extent(0) * y.extent(1), tokens = y.extent(2);
    parallel_for(
        rows,
        [&](index_t r) {
            const T* in = y.data() + r * tokens;
            T* out = a.data() + r * tokens;
            T sum = 0;
#pragma omp simd reduction(+ : sum)
            for (index_t l = 0; l < tokens; ++l) sum += in[l];
            const T inv = T(1) / (sum + eps);
#pragma omp simd
            for (index_t l = 0; l < tokens; ++l) out[l] = in[l] * inv;
        },
        rows * tokens > 65536);
}

// dy (B, M, L) = (da - sum_l(da * y) / s) / s with s = sum_l y + eps; assigned.
template <class T>
void assign_normalize_backward(const Context<cpu>&, TensorView<T, 3> dy, std::type_identity_t<TensorView<const T, 3>> da,
                               std::type_identity_t<TensorView<const T, 3>> y, T eps = T(1)) {
    const profile::Scope profile_scope(__func__);
    const char* op = "assign_normalize_backward";
    expect_shape(op, "da", da, y.shape());
    expect_shape(op, "dy", dy, y.shape());
    expect_contiguous(op, "dy", dy);
    expect_contiguous(op, "da", da);
    expect_contiguous(op, "y", y);
    const index_t rows = y.extent(0) * y.extent(1), tokens = y.extent(2);
    parallel_for(
        rows,
        [&](index_t r) {
            const T* in = y.data() + r * tokens;
            const T* g = da.data() + r * tokens;
            T* out = dy.data() + r * tokens;
            T sum = 0;
#pragma omp simd reduction(+ : sum)
            for (index_t l = 0; l < tokens; ++l) sum += in[l];
            const T s = sum + eps;
            const T inner = detail::dot(g, in, tokens) / s;
#pragma omp simd
            for (index_t l = 0; l < tokens; ++l) out[l] = (g[l] - inner) / s;
        },
        rows * tokens > 65536);
}

}  // namespace svilm
