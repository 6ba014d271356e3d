// svilm/ops/cuda/attention_tensor_core.cuh: attention forward and backward on the tensor cores,
// for the TF32 and bf16 math modes (Context<cuda>::set_math), head size 64. Same contract and saved
// logsumexp as the fp32 kernel in attention.cuh; the products q k^T and P v round their operands
// to TF32 or bf16 and accumulate in fp32, like the GEMMs of the same mode.
//
// A block owns 64 query rows of one (batch, head), 16 per warp, and streams 64-key tiles of k and
// v through shared memory (converted once to the operand type). Two passes over the keys: the
// first finds each row's max and sum, the second forms the normalised probabilities P and
// accumulates P v in the warp's WMMA accumulators. Recomputing q k^T costs a third more matrix
// work but needs no rescaling of the accumulators, whose element layout WMMA does not expose.
// Memory stays O(N): no (B, H, Nq, Nk) tensor.
//
// Backward is FlashAttention-2's on the same tiles, recomputing P from the saved logsumexp: one
// kernel gives each warp 16 key rows and accumulates their dK and dV over every query tile, the
// other gives each warp 16 query rows and accumulates dQ over every key tile. Every gradient row
// belongs to one warp, so the sums run in a fixed order (deterministic, no atomics).
#pragma once

#include <cuda_bf16.h>
#include <mma.h>

#include <cstdint>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"

namespace svilm::cuda_kernels {

struct Bf16Operands {
    using storage = __nv_bfloat16;
    using precision = __nv_bfloat16;
    static constexpr int k_step = 16;
    static constexpr int pad = 8;  // row stride 72 elements (144 B): fragment rows fall in different banks
    static __device__ storage convert(float x) { return __float2bfloat16(x); }
};

struct Tf32Operands {
    using storage = float;
    using precision = nvcuda::wmma::precision::tf32;
    static constexpr int k_step = 8;
    static constexpr int pad = 4;
    static __device__ storage convert(float x) { return nvcuda::wmma::__float_to_tf32(x); }
};

// A (B, N, H * d) view's strides: rows of head h of batch b start at data + b * batch + r * row + h * d.
struct AttentionLayout {
    index_t batch, row;
};

// The seven views backward reads and writes.
struct TensorCoreLayouts {
    AttentionLayout q, k, v, dout, dq, dk, dv;
};

inline constexpr int tc_head = 64, tc_rows = 64, tc_keys = 64, tc_threads = 128, tc_score_stride = 68;

template <class Ops>
constexpr int tc_stride = tc_head + Ops::pad;

// Forward shared memory: q, k, v and P tiles (64 x stride operands each), the fp32 score tile,
// key flags.
template <class Ops>
constexpr std::size_t tc_shared_bytes() {
    return 4 * std::size_t(tc_rows) * tc_stride<Ops> * sizeof(typename Ops::storage) +
           std::size_t(tc_rows) * tc_score_stride * sizeof(float) + tc_keys;
}

// rows [row0, row0 + 64) x 64 channels of a (B, N, H * 64) view into `tile` as operands; rows past
// `rows` become 0. requires: the view's rows 16-byte aligned (checked by the caller).
template <class Ops>
__device__ void load_tile(typename Ops::storage* tile, const float* base, index_t row_stride, index_t row0, index_t rows) {
    constexpr int S = tc_stride<Ops>;
    for (int idx = threadIdx.x; idx < tc_rows * (tc_head / 4); idx += tc_threads) {
        const int r = idx / (tc_head / 4), c = (idx % (tc_head / 4)) * 4;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (row0 + r < rows) v = *reinterpret_cast<const float4*>(base + (row0 + r) * row_stride + c);
        typename Ops::storage* dst = tile + r * S + c;
        dst[0] = Ops::convert(v.x);
        dst[1] = Ops::convert(v.y);
        dst[2] = Ops::convert(v.z);
        dst[3] = Ops::convert(v.w);
    }
}

// scores (16 x 64, fp32, the warp's rows) = q_w (16 x 64) k_tile^T
template <class Ops>
__device__ void warp_scores(float* scores, const typename Ops::storage* q_rows, const typename Ops::storage* k_tile) {
    using namespace nvcuda;
    constexpr int S = tc_stride<Ops>, K = Ops::k_step;
    for (int n = 0; n < tc_keys / 16; ++n) {
        wmma::fragment<wmma::accumulator, 16, 16, K, float> acc;
        wmma::fill_fragment(acc, 0.0f);
        for (int k = 0; k < tc_head / K; ++k) {
            wmma::fragment<wmma::matrix_a, 16, 16, K, typename Ops::precision, wmma::row_major> a;
            wmma::fragment<wmma::matrix_b, 16, 16, K, typename Ops::precision, wmma::col_major> b;
            wmma::load_matrix_sync(a, q_rows + k * K, S);
            wmma::load_matrix_sync(b, k_tile + n * 16 * S + k * K, S);  // k^T: column n of B is key row n
            wmma::mma_sync(acc, a, b, acc);
        }
        wmma::store_matrix_sync(scores + n * 16, acc, tc_score_stride, wmma::mem_row_major);
    }
}

// grid (ceil(Nq / 64), B * H), block 128, dynamic shared memory tc_shared_bytes<Ops>().
template <class Ops>
__global__ void __launch_bounds__(tc_threads)
    attention_forward_tensor_core(float* out, float* lse, const float* q, const float* k, const float* v,
                                  const std::uint8_t* key_mask, index_t Nq, index_t Nk, int heads, AttentionLayout lq,
                                  AttentionLayout lk, AttentionLayout lv, AttentionLayout lo, float scale) {
    using namespace nvcuda;
    using storage = typename Ops::storage;
    constexpr int S = tc_stride<Ops>, K = Ops::k_step;
    extern __shared__ __align__(128) unsigned char shared[];
    storage* q_tile = reinterpret_cast<storage*>(shared);
    storage* k_tile = q_tile + tc_rows * S;
    storage* v_tile = k_tile + tc_keys * S;
    storage* p_tile = v_tile + tc_keys * S;
    float* scores = reinterpret_cast<float*>(p_tile + tc_rows * S);
    bool* keep = reinterpret_cast<bool*>(scores + tc_rows * tc_score_stride);

    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const index_t q0 = index_t(blockIdx.x) * tc_rows;
    const float* qb = q + b * lq.batch + h * tc_head;
    const float* kb = k + b * lk.batch + h * tc_head;
    const float* vb = v + b * lv.batch + h * tc_head;
    load_tile<Ops>(q_tile, qb, lq.row, q0, Nq);  // published by the first tile's barrier

    // lanes 2r and 2r + 1 own row r of the warp's 16, columns [32 * (lane % 2), + 32) of a tile
    const int row = lane / 2, half = lane % 2;
    float* my_scores = scores + (warp * 16) * tc_score_stride;
    float row_max = -INFINITY, row_sum = 0.f;

    const auto load_keys = [&](index_t k0, bool with_values) {
        __syncthreads();  // the previous tile is no longer read
        load_tile<Ops>(k_tile, kb, lk.row, k0, Nk);
        if (with_values) load_tile<Ops>(v_tile, vb, lv.row, k0, Nk);
        for (int r = threadIdx.x; r < tc_keys; r += tc_threads)
            keep[r] = k0 + r < Nk && (!key_mask || key_mask[b * Nk + k0 + r]);
        __syncthreads();
    };

    // pass 1: each row's max and sum over the live keys
    for (index_t k0 = 0; k0 < Nk; k0 += tc_keys) {
        load_keys(k0, false);
        warp_scores<Ops>(my_scores, q_tile + warp * 16 * S, k_tile);
        __syncwarp();
        float tile_max = -INFINITY;
        for (int c = half * 32; c < half * 32 + 32; ++c)
            if (keep[c]) tile_max = fmaxf(tile_max, my_scores[row * tc_score_stride + c] * scale);
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        const float new_max = fmaxf(row_max, tile_max);
        float part = 0.f;
        if (new_max != -INFINITY)
            for (int c = half * 32; c < half * 32 + 32; ++c)
                if (keep[c]) part += __expf(my_scores[row * tc_score_stride + c] * scale - new_max);
        part += __shfl_xor_sync(0xffffffffu, part, 1);
        if (new_max != -INFINITY) {
            row_sum = row_sum * __expf(row_max - new_max) + part;
            row_max = new_max;
        }
        __syncwarp();
    }
    const float inv_sum = row_sum > 0.f ? 1.f / row_sum : 0.f;

    // pass 2: P = exp(s - max) / sum, O += P v
    wmma::fragment<wmma::accumulator, 16, 16, K, float> o[tc_head / 16];
    for (auto& frag : o) wmma::fill_fragment(frag, 0.0f);
    storage* my_p = p_tile + warp * 16 * S;
    for (index_t k0 = 0; k0 < Nk; k0 += tc_keys) {
        load_keys(k0, true);
        warp_scores<Ops>(my_scores, q_tile + warp * 16 * S, k_tile);
        __syncwarp();
        for (int c = half * 32; c < half * 32 + 32; ++c) {
            const float p = keep[c] && inv_sum > 0.f ? __expf(my_scores[row * tc_score_stride + c] * scale - row_max) * inv_sum
                                                     : 0.f;
            my_p[row * S + c] = Ops::convert(p);
        }
        __syncwarp();
        for (int j = 0; j < tc_head / 16; ++j)
            for (int kk = 0; kk < tc_keys / K; ++kk) {
                wmma::fragment<wmma::matrix_a, 16, 16, K, typename Ops::precision, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, K, typename Ops::precision, wmma::row_major> bv;
                wmma::load_matrix_sync(a, my_p + kk * K, S);
                wmma::load_matrix_sync(bv, v_tile + kk * K * S + j * 16, S);
                wmma::mma_sync(o[j], a, bv, o[j]);
            }
    }
    __syncwarp();
    for (int j = 0; j < tc_head / 16; ++j) wmma::store_matrix_sync(my_scores + j * 16, o[j], tc_score_stride, wmma::mem_row_major);
    __syncwarp();
    for (int idx = lane; idx < 16 * tc_head; idx += 32) {
        const int r = idx / tc_head, c = idx % tc_head;
        const index_t i = q0 + warp * 16 + r;
        if (i < Nq) out[b * lo.batch + i * lo.row + h * tc_head + c] = my_scores[r * tc_score_stride + c];
    }
    const index_t i = q0 + warp * 16 + row;
    if (half == 0 && i < Nq) lse[index_t(bh) * Nq + i] = row_sum > 0.f ? row_max + __logf(row_sum) : -INFINITY;
}

// Backward shared memory: five operand tiles, two fp32 tiles, per-row logsumexp and row dots,
// key flags.
template <class Ops>
constexpr std::size_t tc_backward_shared_bytes() {
    return 5 * std::size_t(tc_rows) * tc_stride<Ops> * sizeof(typename Ops::storage) +
           2 * std::size_t(tc_rows) * tc_score_stride * sizeof(float) + 2 * tc_rows * sizeof(float) + tc_keys;
}

// acc[j] (16 x 16 each, 16 x 64 together) += a_rows (16 x 64 operands) b_tile (64 x 64 operands)
template <class Ops, class Acc>
__device__ void warp_product(Acc* acc, const typename Ops::storage* a_rows, const typename Ops::storage* b_tile) {
    using namespace nvcuda;
    constexpr int S = tc_stride<Ops>, K = Ops::k_step;
    for (int j = 0; j < tc_head / 16; ++j)
        for (int kk = 0; kk < 64 / K; ++kk) {
            wmma::fragment<wmma::matrix_a, 16, 16, K, typename Ops::precision, wmma::row_major> a;
            wmma::fragment<wmma::matrix_b, 16, 16, K, typename Ops::precision, wmma::row_major> b;
            wmma::load_matrix_sync(a, a_rows + kk * K, S);
            wmma::load_matrix_sync(b, b_tile + kk * K * S + j * 16, S);
            wmma::mma_sync(acc[j], a, b, acc[j]);
        }
}

// Writes the warp's 16 x 64 accumulators to rows [row0, row0 + 16) of a (B, N, H * 64) gradient
// through the warp's fp32 staging tile; rows past `rows` are dropped.
template <class Acc>
__device__ void store_rows(float* dst, index_t row_stride, index_t row0, index_t rows, Acc* acc, float* staging) {
    using namespace nvcuda;
    __syncwarp();
    for (int j = 0; j < tc_head / 16; ++j) wmma::store_matrix_sync(staging + j * 16, acc[j], tc_score_stride, wmma::mem_row_major);
    __syncwarp();
    for (int idx = threadIdx.x % 32; idx < 16 * tc_head; idx += 32) {
        const int r = idx / tc_head, c = idx % tc_head;
        if (row0 + r < rows) dst[(row0 + r) * row_stride + c] = staging[r * tc_score_stride + c];
    }
}

// The backward kernels' shared memory: q, dO, k, v and P / dS operand tiles, two fp32 tiles,
// the query rows' logsumexp and row dots, key flags.
template <class Ops>
struct BackwardTiles {
    using storage = typename Ops::storage;
    static constexpr int S = tc_stride<Ops>;
    explicit __device__ BackwardTiles(unsigned char* shared)
        : q(reinterpret_cast<storage*>(shared)), g(q + tc_rows * S), k(g + tc_rows * S), v(k + tc_keys * S),
          p(v + tc_keys * S), first(reinterpret_cast<float*>(p + tc_rows * S)), second(first + tc_rows * tc_score_stride),
          lse(second + tc_rows * tc_score_stride), dot(lse + tc_rows), keep(reinterpret_cast<bool*>(dot + tc_rows)) {}

    // lse and dot for query rows [i0, i0 + 64); past Nq a row has no keys (-inf) and dot 0.
    __device__ void load_rows(const float* lse_all, const float* dot_all, index_t bh, index_t i0, index_t Nq) {
        for (int r = threadIdx.x; r < tc_rows; r += tc_threads) {
            lse[r] = i0 + r < Nq ? lse_all[bh * Nq + i0 + r] : -INFINITY;
            dot[r] = i0 + r < Nq ? dot_all[bh * Nq + i0 + r] : 0.f;
        }
    }
    // keep for keys [k0, k0 + 64)
    __device__ void load_keep(const std::uint8_t* key_mask, int b, index_t k0, index_t Nk) {
        for (int r = threadIdx.x; r < tc_keys; r += tc_threads) keep[r] = k0 + r < Nk && (!key_mask || key_mask[b * Nk + k0 + r]);
    }

    storage *q, *g, *k, *v, *p;
    float *first, *second, *lse, *dot;
    bool* keep;
};

// dK, dV for 64 keys of one (batch, head) per block, 16 per warp. grid (ceil(Nk / 64), B * H).
// With keys as rows: S^T = k q^T, P^T = exp(S^T scale - lse), dV += P^T dO, dP^T = v dO^T,
// dS^T = P^T (dP^T - rowdot) scale, dK += dS^T q.
template <class Ops>
__global__ void __launch_bounds__(tc_threads)
    attention_backward_key_tensor_core(float* dk, float* dv, const float* dout, const float* q, const float* k,
                                       const float* v, const float* lse, const float* row_dot, const std::uint8_t* key_mask,
                                       index_t Nq, index_t Nk, int heads, TensorCoreLayouts layouts, float scale) {
    using namespace nvcuda;
    using storage = typename Ops::storage;
    constexpr int S = tc_stride<Ops>, K = Ops::k_step;
    extern __shared__ __align__(128) unsigned char shared[];
    BackwardTiles<Ops> t(shared);

    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const index_t j0 = index_t(blockIdx.x) * tc_keys;
    load_tile<Ops>(t.k, k + b * layouts.k.batch + h * tc_head, layouts.k.row, j0, Nk);
    load_tile<Ops>(t.v, v + b * layouts.v.batch + h * tc_head, layouts.v.row, j0, Nk);
    t.load_keep(key_mask, b, j0, Nk);  // published by the first query tile's barrier

    wmma::fragment<wmma::accumulator, 16, 16, K, float> gk[tc_head / 16], gv[tc_head / 16];
    for (int j = 0; j < tc_head / 16; ++j) {
        wmma::fill_fragment(gk[j], 0.0f);
        wmma::fill_fragment(gv[j], 0.0f);
    }
    const int row = lane / 2, half = lane % 2;  // lanes 2r, 2r + 1: key row r, query columns by half
    float* my_probs = t.first + warp * 16 * tc_score_stride;
    float* my_dprobs = t.second + warp * 16 * tc_score_stride;
    storage* my_p = t.p + warp * 16 * S;
    const storage* my_k = t.k + warp * 16 * S;
    const storage* my_v = t.v + warp * 16 * S;

    for (index_t i0 = 0; i0 < Nq; i0 += tc_rows) {
        __syncthreads();
        load_tile<Ops>(t.q, q + b * layouts.q.batch + h * tc_head, layouts.q.row, i0, Nq);
        load_tile<Ops>(t.g, dout + b * layouts.dout.batch + h * tc_head, layouts.dout.row, i0, Nq);
        t.load_rows(lse, row_dot, bh, i0, Nq);
        __syncthreads();
        warp_scores<Ops>(my_probs, my_k, t.q);  // S^T (16 keys x 64 queries)
        __syncwarp();
        const bool live = t.keep[warp * 16 + row];
        for (int c = half * 32; c < half * 32 + 32; ++c) {
            const float p = live && t.lse[c] != -INFINITY ? __expf(my_probs[row * tc_score_stride + c] * scale - t.lse[c]) : 0.f;
            my_probs[row * tc_score_stride + c] = p;
            my_p[row * S + c] = Ops::convert(p);
        }
        __syncwarp();
        warp_product<Ops>(gv, my_p, t.g);          // dV += P^T dO
        warp_scores<Ops>(my_dprobs, my_v, t.g);    // dP^T = v dO^T
        __syncwarp();
        for (int c = half * 32; c < half * 32 + 32; ++c) {
            const float ds = my_probs[row * tc_score_stride + c] * (my_dprobs[row * tc_score_stride + c] - t.dot[c]) * scale;
            my_p[row * S + c] = Ops::convert(ds);
        }
        __syncwarp();
        warp_product<Ops>(gk, my_p, t.q);          // dK += dS^T q
    }
    store_rows(dk + b * layouts.dk.batch + h * tc_head, layouts.dk.row, j0 + warp * 16, Nk, gk, my_probs);
    store_rows(dv + b * layouts.dv.batch + h * tc_head, layouts.dv.row, j0 + warp * 16, Nk, gv, my_probs);
}

// dQ for 64 queries of one (batch, head) per block, 16 per warp. grid (ceil(Nq / 64), B * H).
// S = q k^T, P = exp(S scale - lse), dP = dO v^T, dS = P (dP - rowdot) scale, dQ += dS k.
template <class Ops>
__global__ void __launch_bounds__(tc_threads)
    attention_backward_query_tensor_core(float* dq, const float* dout, const float* q, const float* k, const float* v,
                                         const float* lse, const float* row_dot, const std::uint8_t* key_mask, index_t Nq,
                                         index_t Nk, int heads, TensorCoreLayouts layouts, float scale) {
    using namespace nvcuda;
    using storage = typename Ops::storage;
    constexpr int S = tc_stride<Ops>, K = Ops::k_step;
    extern __shared__ __align__(128) unsigned char shared[];
    BackwardTiles<Ops> t(shared);

    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const index_t i0 = index_t(blockIdx.x) * tc_rows;
    load_tile<Ops>(t.q, q + b * layouts.q.batch + h * tc_head, layouts.q.row, i0, Nq);
    load_tile<Ops>(t.g, dout + b * layouts.dout.batch + h * tc_head, layouts.dout.row, i0, Nq);
    t.load_rows(lse, row_dot, bh, i0, Nq);  // published by the first key tile's barrier
    wmma::fragment<wmma::accumulator, 16, 16, K, float> gq[tc_head / 16];
    for (auto& frag : gq) wmma::fill_fragment(frag, 0.0f);
    const int row = lane / 2, half = lane % 2;
    float* my_scores = t.first + warp * 16 * tc_score_stride;
    float* my_dprobs = t.second + warp * 16 * tc_score_stride;
    storage* my_p = t.p + warp * 16 * S;

    for (index_t k0 = 0; k0 < Nk; k0 += tc_keys) {
        __syncthreads();
        load_tile<Ops>(t.k, k + b * layouts.k.batch + h * tc_head, layouts.k.row, k0, Nk);
        load_tile<Ops>(t.v, v + b * layouts.v.batch + h * tc_head, layouts.v.row, k0, Nk);
        t.load_keep(key_mask, b, k0, Nk);
        __syncthreads();
        warp_scores<Ops>(my_scores, t.q + warp * 16 * S, t.k);  // S (16 queries x 64 keys)
        warp_scores<Ops>(my_dprobs, t.g + warp * 16 * S, t.v);  // dP = dO v^T
        __syncwarp();
        const float lse_r = t.lse[warp * 16 + row], dot_r = t.dot[warp * 16 + row];
        for (int c = half * 32; c < half * 32 + 32; ++c) {
            const float p = t.keep[c] && lse_r != -INFINITY ? __expf(my_scores[row * tc_score_stride + c] * scale - lse_r) : 0.f;
            my_p[row * S + c] = Ops::convert(p * (my_dprobs[row * tc_score_stride + c] - dot_r) * scale);
        }
        __syncwarp();
        warp_product<Ops>(gq, my_p, t.k);  // dQ += dS k
    }
    store_rows(dq + b * layouts.dq.batch + h * tc_head, layouts.dq.row, i0 + warp * 16, Nq, gq, my_scores);
}

}  // namespace svilm::cuda_kernels
