// svilm/ops/attention.hpp: scaled dot-product multi-head attention with a key padding mask,
// blockwise with an online softmax (the FlashAttention recurrence on the CPU).
//
// Heads stay packed in the channel axis, (B, N, H * d), and every tensor may be a view with a
// row stride other than C (only the channel axis must be unit-stride): the fused qkv
// projection's (B, N, 3C) output is used in place through three narrowed views, and a head's
// rows are a strided GEMM operand whose leading dimension is that row stride.
// Forward never materialises the (B, H, Nq, Nk) scores: for each block of queries it walks the
// keys in blocks, keeping a running max and sum per row, and saves only the per-row
// logsumexp (B, H, Nq) for backward, which recomputes the probabilities block by block.
// Memory beyond inputs and output: O(Nq) per head plus one score block per range of tasks
// being worked on (svilm/core/parallel.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "svilm/core/profile.hpp"
#include "svilm/ops/attention_shape.hpp"
#include "svilm/ops/detail/vector_math.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/ops/gemm.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

template <class T>
struct AttentionSaved<T, cpu> {
    Tensor<T, 3> logsumexp;  // (B, H, Nq); -inf for a query whose keys are all masked
};

namespace detail {

// Tuned on ViT-B/16 shapes (N = 1568 and 3136, d = 64) on 2 cores: a 128 x 512 score block
// (256 KiB) keeps the GEMMs efficient and stays in L2; 64 x 256 was 1.2-1.6x slower.
inline constexpr index_t attention_query_block = 128;
inline constexpr index_t attention_key_block = 512;

// Row r of batch b of a (B, N, C) view with unit channel stride.
template <class T>
T* row_of(const TensorView<T, 3>& t, index_t b, index_t r) {
    return t.data() + b * t.stride(0) + r * t.stride(1);
}

}  // namespace detail

// out (B, Nq, C) = softmax(q_h k_h^T / sqrt(d) + mask) v_h for each head h, C = H * d.
// key_mask (B, Nk): 1 keeps a key, 0 pads it; an empty view keeps every key.
// A query whose keys are all padded gets a zero output. out must not overlap q, k or v (other
// query blocks of the same head still read them while one block writes).
template <class T>
void attention_forward(const Context<cpu>& ctx, TensorView<T, 3> out, AttentionSaved<T>& saved, std::type_identity_t<TensorView<const T, 3>> q,
                       std::type_identity_t<TensorView<const T, 3>> k, std::type_identity_t<TensorView<const T, 3>> v,
                       TensorView<const std::uint8_t, 2> key_mask, index_t heads) {
    const profile::Scope profile_scope(__func__);
    const char* op = "attention_forward";
    const auto s = detail::check_attention<T, cpu>(op, q, k, v, key_mask, heads);
    expect_shape(op, "out", out, q.shape());
    detail::expect_unit_channel_stride(op, "out", out);
    if (saved.logsumexp.shape() != Extents<3>{s.batch, heads, s.queries})
        saved.logsumexp = Tensor<T, 3>({s.batch, heads, s.queries}, uninitialized);
    const index_t d = s.head_dim;
    const index_t ldq = q.stride(1), ldk = k.stride(1), ldv = v.stride(1);
    const index_t bq = detail::attention_query_block, bk = detail::attention_key_block;
    const index_t query_blocks = (s.queries + bq - 1) / bq;
    const index_t tasks = s.batch * heads * query_blocks;
    const T scale = T(1) / std::sqrt(T(d));

    // Ranges of tasks claimed one by one; scratch per range: a block of scores (rows sk apart),
    // the running output, max and sum.
    const index_t sk = std::min(bk, s.keys);
    parallel_for_ranges(
        tasks,
        [&](index_t first, index_t last) {
            std::vector<T> scores(static_cast<std::size_t>(std::min(bq, s.queries) * sk)),
                acc(static_cast<std::size_t>(bq * d)), row_max(static_cast<std::size_t>(bq)),
                row_sum(static_cast<std::size_t>(bq));
            for (index_t task = first; task < last; ++task) {
                const index_t b = task / (heads * query_blocks), h = (task / query_blocks) % heads;
                const index_t q0 = (task % query_blocks) * bq, nq = std::min(bq, s.queries - q0);
                const T* Q = detail::row_of(q, b, q0) + h * d;
                std::fill_n(acc.data(), nq * d, T(0));
                std::fill_n(row_max.data(), nq, T(-INFINITY));
                std::fill_n(row_sum.data(), nq, T(0));
                for (index_t k0 = 0; k0 < s.keys; k0 += bk) {
                    const index_t nk = std::min(bk, s.keys - k0);
                    const T* K = detail::row_of(k, b, k0) + h * d;
                    const T* V = detail::row_of(v, b, k0) + h * d;
                    gemm<T>(ctx, Trans::no, Trans::yes, nq, nk, d, scale, Q, ldq, K, ldk, T(0), scores.data(), sk);
                    if (key_mask.data()) {
                        const std::uint8_t* keep = key_mask.data() + b * s.keys + k0;
                        for (index_t i = 0; i < nq; ++i)
                            for (index_t j = 0; j < nk; ++j)
                                if (!keep[j]) scores[i * sk + j] = -INFINITY;
                    }
                    for (index_t i = 0; i < nq; ++i) {
                        T* row = scores.data() + i * sk;
                        const T new_max = std::max(row_max[i], detail::max_of(row, nk));
                        if (new_max == -INFINITY) {  // every key so far padded: nothing to add
                            std::fill_n(row, nk, T(0));
                            continue;
                        }
                        const T correction = detail::exp_approx(row_max[i] - new_max);  // 0 on the first live block
                        row_sum[i] = row_sum[i] * correction + detail::exp_shifted_sum(row, row, nk, new_max);
                        row_max[i] = new_max;
                        T* acc_row = acc.data() + i * d;
#pragma omp simd
                        for (index_t c = 0; c < d; ++c) acc_row[c] *= correction;
                    }
                    gemm<T>(ctx, Trans::no, Trans::no, nq, d, nk, T(1), scores.data(), sk, V, ldv, T(1), acc.data(), d);
                }
                for (index_t i = 0; i < nq; ++i) {
                    T* dst = detail::row_of(out, b, q0 + i) + h * d;
                    const T inv = row_sum[i] > T(0) ? T(1) / row_sum[i] : T(0);
#pragma omp simd
                    for (index_t c = 0; c < d; ++c) dst[c] = acc[i * d + c] * inv;
                    saved.logsumexp(b, h, q0 + i) = row_sum[i] > T(0) ? row_max[i] + std::log(row_sum[i]) : T(-INFINITY);
                }
            }
        },
        tasks > 1, 8);
}

// dq (B, Nq, C), dk, dv (B, Nk, C), all assigned, from dout (B, Nq, C) and the forward's out and
// saved logsumexp. Probabilities are recomputed per block: P = exp(q k^T / sqrt(d) - lse).
// Parallel over (batch, head) pairs, which own disjoint column slices of dq, dk and dv.
template <class T>
void attention_backward(const Context<cpu>& ctx, TensorView<T, 3> dq, TensorView<T, 3> dk, TensorView<T, 3> dv,
                        std::type_identity_t<TensorView<const T, 3>> dout, const AttentionSaved<T>& saved,
                        std::type_identity_t<TensorView<const T, 3>> q, std::type_identity_t<TensorView<const T, 3>> k,
                        std::type_identity_t<TensorView<const T, 3>> v, std::type_identity_t<TensorView<const T, 3>> out,
                        TensorView<const std::uint8_t, 2> key_mask, index_t heads) {
    const profile::Scope profile_scope(__func__);
    const char* op = "attention_backward";
    const auto s = detail::check_attention<T, cpu>(op, q, k, v, key_mask, heads);
    detail::check_attention_backward<T, cpu>(op, s, dq, dk, dv, dout, out, saved.logsumexp);
    const index_t d = s.head_dim;
    const index_t ldq = q.stride(1), ldk = k.stride(1), ldv = v.stride(1), ldo = out.stride(1), ldgo = dout.stride(1);
    const index_t ldgq = dq.stride(1), ldgk = dk.stride(1), ldgv = dv.stride(1);
    const index_t bq = detail::attention_query_block, bk = detail::attention_key_block;
    const index_t pairs = s.batch * heads;
    const T scale = T(1) / std::sqrt(T(d));

    // Ranges of (batch, head) pairs claimed one by one; scratch per range (rows of the probability
    // blocks sk apart).
    const index_t sk = std::min(bk, s.keys), sq = std::min(bq, s.queries);
    parallel_for_ranges(
        pairs,
        [&](index_t first, index_t last) {
            std::vector<T> probs(static_cast<std::size_t>(sq * sk)), dprobs(static_cast<std::size_t>(sq * sk)),
                dq_acc(static_cast<std::size_t>(bq * d)), row_dot(static_cast<std::size_t>(bq));
            for (index_t pair = first; pair < last; ++pair) {
                const index_t b = pair / heads, h = pair % heads;
                for (index_t j = 0; j < s.keys; ++j) {
                    std::fill_n(detail::row_of(dk, b, j) + h * d, d, T(0));
                    std::fill_n(detail::row_of(dv, b, j) + h * d, d, T(0));
                }
                for (index_t q0 = 0; q0 < s.queries; q0 += bq) {
                    const index_t nq = std::min(bq, s.queries - q0);
                    const T* Q = detail::row_of(q, b, q0) + h * d;
                    const T* dO = detail::row_of(dout, b, q0) + h * d;
                    const T* O = detail::row_of(out, b, q0) + h * d;
                    const T* lse = saved.logsumexp.data() + (b * heads + h) * s.queries + q0;
                    for (index_t i = 0; i < nq; ++i) row_dot[i] = detail::dot(dO + i * ldgo, O + i * ldo, d);
                    std::fill_n(dq_acc.data(), nq * d, T(0));
                    for (index_t k0 = 0; k0 < s.keys; k0 += bk) {
                        const index_t nk = std::min(bk, s.keys - k0);
                        const T* K = detail::row_of(k, b, k0) + h * d;
                        const T* V = detail::row_of(v, b, k0) + h * d;
                        T* dK = detail::row_of(dk, b, k0) + h * d;
                        T* dV = detail::row_of(dv, b, k0) + h * d;
                        gemm<T>(ctx, Trans::no, Trans::yes, nq, nk, d, scale, Q, ldq, K, ldk, T(0), probs.data(), sk);
                        const std::uint8_t* keep = key_mask.data() ? key_mask.data() + b * s.keys + k0 : nullptr;
                        for (index_t i = 0; i < nq; ++i) {
                            T* row = probs.data() + i * sk;
                            if (lse[i] == -INFINITY) {
                                std::fill_n(row, nk, T(0));
                                continue;
                            }
                            detail::exp_shifted_sum(row, row, nk, lse[i]);
                            if (keep)
                                for (index_t j = 0; j < nk; ++j)
                                    if (!keep[j]) row[j] = T(0);
                        }
                        // dV += P^T dO;  dP = dO V^T
                        gemm<T>(ctx, Trans::yes, Trans::no, nk, d, nq, T(1), probs.data(), sk, dO, ldgo, T(1), dV, ldgv);
                        gemm<T>(ctx, Trans::no, Trans::yes, nq, nk, d, T(1), dO, ldgo, V, ldv, T(0), dprobs.data(), sk);
                        // dS = P (dP - rowdot) * scale, folded into dprobs
                        for (index_t i = 0; i < nq; ++i) {
                            const T* p = probs.data() + i * sk;
                            T* g = dprobs.data() + i * sk;
#pragma omp simd
                            for (index_t j = 0; j < nk; ++j) g[j] = p[j] * (g[j] - row_dot[i]) * scale;
                        }
                        // dQ += dS K;  dK += dS^T Q
                        gemm<T>(ctx, Trans::no, Trans::no, nq, d, nk, T(1), dprobs.data(), sk, K, ldk, T(1), dq_acc.data(), d);
                        gemm<T>(ctx, Trans::yes, Trans::no, nk, d, nq, T(1), dprobs.data(), sk, Q, ldq, T(1), dK, ldgk);
                    }
                    T* dQ = detail::row_of(dq, b, q0) + h * d;
                    for (index_t i = 0; i < nq; ++i) std::copy_n(dq_acc.data() + i * d, d, dQ + i * ldgq);
                }
            }
        },
        pairs > 1, 8);
}

}  // namespace svilm
