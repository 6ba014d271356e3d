// svilm/ops/cuda/attention.cuh: fused multi-head attention with a key padding mask on the device,
// the CUDA twin of svilm/ops/attention.hpp (same views, same saved logsumexp, same handling of a
// query whose keys are all padded: zero output, zero gradient).
//
// Memory is O(N): the (B, H, Nq, Nk) scores never exist. Forward gives each thread one query
// row; the block streams key / value tiles through shared memory and every thread keeps its
// running max, sum and output row in registers (the FlashAttention recurrence). Backward is two
// kernels that recompute the probabilities from the saved logsumexp: one thread per key row
// accumulates dK and dV over every query, one thread per query row accumulates dQ over every
// key. Each output row is owned by one thread, so the sums run in a fixed order (deterministic,
// no atomics).
//
// Heads stay packed in the channel axis (B, N, H * d) and rows may be strided (the fused qkv
// projection's (B, N, 3C) output is read in place), as on the CPU. Head sizes 8, 16, 32, 64
// and 128 are compiled. In the TF32 and bf16 math modes, head size 64 runs on the tensor cores
// (attention_tensor_core.cuh), forward and backward.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/attention_shape.hpp"
#include "svilm/ops/cuda/attention_tensor_core.cuh"
#include "svilm/ops/cuda/launch.cuh"
#include "svilm/ops/saved.hpp"

namespace svilm {

template <class T>
struct AttentionSaved<T, cuda> {
    Tensor<T, 3, cuda> logsumexp;  // (B, H, Nq); -inf for a query whose keys are all masked
    // (B, H, Nq): backward's sum_c dO * O, scratch kept for reuse across steps. Mutable: backward
    // takes the saved state const, as on the CPU, and only ever writes this buffer.
    mutable Tensor<T, 3, cuda> row_dot;
    // The kernels forward ran: fp32 (CUDA cores) or the tensor cores in tf32 / bf16. Backward
    // follows it, so its probabilities match the saved logsumexp whatever the mode is by then.
    MathMode path = MathMode::fp32;
};

namespace cuda_kernels {

inline constexpr int attention_threads = 128;  // forward and dQ: query rows per block

template <int D>
struct AttentionTiles {
    static constexpr int forward_keys = 32;            // keys per shared tile in forward and dQ
    static constexpr int key_rows = D <= 64 ? 64 : 32;  // dK / dV: key rows (threads) per block
    static constexpr int query_tile = D <= 64 ? 16 : 8;  // dK / dV: queries per shared tile
};

// k_tile, v_tile (BK, D) and keep (BK) for keys [k0, k0 + BK) of batch b, head h, loaded by a
// block of attention_threads; past Nk the rows are 0 and not kept.
template <class T, int D, int BK>
__device__ void load_key_tile(T (*k_tile)[D], T (*v_tile)[D], bool* keep, const T* k, const T* v,
                              const std::uint8_t* key_mask, int b, int h, index_t k0, index_t Nk, AttentionLayout lk,
                              AttentionLayout lv) {
    for (int idx = threadIdx.x; idx < BK * D; idx += attention_threads) {
        const int r = idx / D, c = idx % D;
        const index_t j = k0 + r;
        k_tile[r][c] = j < Nk ? k[b * lk.batch + j * lk.row + h * D + c] : T(0);
        v_tile[r][c] = j < Nk ? v[b * lv.batch + j * lv.row + h * D + c] : T(0);
    }
    for (int r = threadIdx.x; r < BK; r += attention_threads) {
        const index_t j = k0 + r;
        keep[r] = j < Nk && (!key_mask || key_mask[b * Nk + j]);
    }
}

// out, logsumexp from q, k, v. grid (ceil(Nq / 128), B * H), block 128.
template <class T, int D>
__global__ void __launch_bounds__(attention_threads)
    attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const std::uint8_t* key_mask, index_t Nq, index_t Nk,
                      int heads, AttentionLayout lq, AttentionLayout lk, AttentionLayout lv, AttentionLayout lo, T scale) {
    constexpr int BK = AttentionTiles<D>::forward_keys;
    __shared__ T k_tile[BK][D];
    __shared__ T v_tile[BK][D];
    __shared__ bool keep[BK];
    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const index_t i = index_t(blockIdx.x) * attention_threads + threadIdx.x;
    const bool active = i < Nq;

    T qs[D], acc[D];
    if (active) {
        const T* qr = q + b * lq.batch + i * lq.row + h * D;
#pragma unroll
        for (int c = 0; c < D; ++c) qs[c] = qr[c] * scale;
    }
#pragma unroll
    for (int c = 0; c < D; ++c) acc[c] = T(0);
    T row_max = T(-INFINITY), row_sum = T(0);

    for (index_t k0 = 0; k0 < Nk; k0 += BK) {
        __syncthreads();  // the previous tile is no longer read
        load_key_tile<T, D, BK>(k_tile, v_tile, keep, k, v, key_mask, b, h, k0, Nk, lk, lv);
        __syncthreads();
        if (!active) continue;
        T s[BK];
        T tile_max = T(-INFINITY);
#pragma unroll
        for (int r = 0; r < BK; ++r) {
            T dot = T(0);
#pragma unroll
            for (int c = 0; c < D; ++c) dot += qs[c] * k_tile[r][c];
            s[r] = keep[r] ? dot : T(-INFINITY);
            tile_max = max(tile_max, s[r]);
        }
        const T new_max = max(row_max, tile_max);
        if (new_max == T(-INFINITY)) continue;  // every key so far padded
        const T correction = exp(row_max - new_max);  // 0 on the first live tile
        row_sum *= correction;
#pragma unroll
        for (int c = 0; c < D; ++c) acc[c] *= correction;
#pragma unroll
        for (int r = 0; r < BK; ++r) {
            const T p = exp(s[r] - new_max);  // 0 for a padded key
            row_sum += p;
#pragma unroll
            for (int c = 0; c < D; ++c) acc[c] += p * v_tile[r][c];
        }
        row_max = new_max;
    }
    if (!active) return;
    const T inv = row_sum > T(0) ? T(1) / row_sum : T(0);
    T* orow = out + b * lo.batch + i * lo.row + h * D;
#pragma unroll
    for (int c = 0; c < D; ++c) orow[c] = acc[c] * inv;
    lse[index_t(bh) * Nq + i] = row_sum > T(0) ? row_max + log(row_sum) : T(-INFINITY);
}

// row_dot (B, H, Nq) = sum_c dO[b, i, h, c] * O[b, i, h, c]. grid (ceil(Nq / 128), B * H).
template <class T, int D>
__global__ void attention_row_dot(T* row_dot, const T* dout, const T* out, index_t Nq, int heads, AttentionLayout ldo,
                                  AttentionLayout lo) {
    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= Nq) return;
    const T* g = dout + b * ldo.batch + i * ldo.row + h * D;
    const T* o = out + b * lo.batch + i * lo.row + h * D;
    T dot = T(0);
#pragma unroll
    for (int c = 0; c < D; ++c) dot += g[c] * o[c];
    row_dot[index_t(bh) * Nq + i] = dot;
}

// dQ: one thread per query row, keys streamed through shared memory.
// dS_ij = P_ij (dO_i . v_j - rowdot_i) scale;  dQ_i = sum_j dS_ij k_j.
template <class T, int D>
__global__ void __launch_bounds__(attention_threads)
    attention_backward_query(T* dq, const T* dout, const T* q, const T* k, const T* v, const T* lse, const T* row_dot,
                             const std::uint8_t* key_mask, index_t Nq, index_t Nk, int heads, AttentionLayout lgq,
                             AttentionLayout lgo, AttentionLayout lq, AttentionLayout lk, AttentionLayout lv, T scale) {
    constexpr int BK = AttentionTiles<D>::forward_keys;
    __shared__ T k_tile[BK][D];
    __shared__ T v_tile[BK][D];
    __shared__ bool keep[BK];
    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const index_t i = index_t(blockIdx.x) * attention_threads + threadIdx.x;
    const bool active = i < Nq;
    T qs[D], gs[D], acc[D];
    T lse_i = T(-INFINITY), dot_i = T(0);
    if (active) {
        const T* qr = q + b * lq.batch + i * lq.row + h * D;
        const T* gr = dout + b * lgo.batch + i * lgo.row + h * D;
#pragma unroll
        for (int c = 0; c < D; ++c) {
            qs[c] = qr[c] * scale;
            gs[c] = gr[c];
        }
        lse_i = lse[index_t(bh) * Nq + i];
        dot_i = row_dot[index_t(bh) * Nq + i];
    }
#pragma unroll
    for (int c = 0; c < D; ++c) acc[c] = T(0);
    const bool live = active && lse_i != T(-INFINITY);

    for (index_t k0 = 0; k0 < Nk; k0 += BK) {
        __syncthreads();  // the previous tile is no longer read
        load_key_tile<T, D, BK>(k_tile, v_tile, keep, k, v, key_mask, b, h, k0, Nk, lk, lv);
        __syncthreads();
        if (!live) continue;
        for (int r = 0; r < BK; ++r) {
            if (!keep[r]) continue;
            T s = T(0), dp = T(0);
#pragma unroll
            for (int c = 0; c < D; ++c) {
                s += qs[c] * k_tile[r][c];
                dp += gs[c] * v_tile[r][c];
            }
            const T ds = exp(s - lse_i) * (dp - dot_i) * scale;
#pragma unroll
            for (int c = 0; c < D; ++c) acc[c] += ds * k_tile[r][c];
        }
    }
    if (!active) return;
    T* dr = dq + b * lgq.batch + i * lgq.row + h * D;
#pragma unroll
    for (int c = 0; c < D; ++c) dr[c] = acc[c];
}

// dK, dV: one thread per key row (its k and v rows in padded shared memory, its dK and dV rows
// in registers), queries streamed through shared memory.
// dV_j = sum_i P_ij dO_i;  dK_j = sum_i dS_ij q_i.
template <class T, int D>
__global__ void __launch_bounds__(AttentionTiles<D>::key_rows)
    attention_backward_key(T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* lse, const T* row_dot,
                           const std::uint8_t* key_mask, index_t Nq, index_t Nk, int heads, AttentionLayout lgk,
                           AttentionLayout lgv, AttentionLayout lgo, AttentionLayout lq, AttentionLayout lk,
                           AttentionLayout lv, T scale) {
    constexpr int KR = AttentionTiles<D>::key_rows, QT = AttentionTiles<D>::query_tile;
    __shared__ T k_own[KR][D + 1];  // +1: thread t reads row t, column c: no bank conflicts
    __shared__ T v_own[KR][D + 1];
    __shared__ T q_tile[QT][D];
    __shared__ T g_tile[QT][D];
    __shared__ T lse_tile[QT], dot_tile[QT];
    const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
    const index_t j0 = index_t(blockIdx.x) * KR;
    const index_t j = j0 + threadIdx.x;
    for (int idx = threadIdx.x; idx < KR * D; idx += KR) {
        const int r = idx / D, c = idx % D;
        const index_t jj = j0 + r;
        k_own[r][c] = jj < Nk ? k[b * lk.batch + jj * lk.row + h * D + c] : T(0);
        v_own[r][c] = jj < Nk ? v[b * lv.batch + jj * lv.row + h * D + c] : T(0);
    }
    const bool live = j < Nk && (!key_mask || key_mask[b * Nk + j]);
    T gk[D], gv[D];
#pragma unroll
    for (int c = 0; c < D; ++c) gk[c] = gv[c] = T(0);

    for (index_t i0 = 0; i0 < Nq; i0 += QT) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < QT * D; idx += KR) {
            const int r = idx / D, c = idx % D;
            const index_t i = i0 + r;
            q_tile[r][c] = i < Nq ? q[b * lq.batch + i * lq.row + h * D + c] : T(0);
            g_tile[r][c] = i < Nq ? dout[b * lgo.batch + i * lgo.row + h * D + c] : T(0);
        }
        for (int r = threadIdx.x; r < QT; r += KR) {
            const index_t i = i0 + r;
            lse_tile[r] = i < Nq ? lse[index_t(bh) * Nq + i] : T(-INFINITY);
            dot_tile[r] = i < Nq ? row_dot[index_t(bh) * Nq + i] : T(0);
        }
        __syncthreads();
        if (!live) continue;
        for (int r = 0; r < QT; ++r) {
            if (lse_tile[r] == T(-INFINITY)) continue;  // a padded-out query, or past the end
            T s = T(0), dp = T(0);
#pragma unroll
            for (int c = 0; c < D; ++c) {
                s += q_tile[r][c] * k_own[threadIdx.x][c];
                dp += g_tile[r][c] * v_own[threadIdx.x][c];
            }
            const T p = exp(s * scale - lse_tile[r]);
            const T ds = p * (dp - dot_tile[r]) * scale;
#pragma unroll
            for (int c = 0; c < D; ++c) {
                gv[c] += p * g_tile[r][c];
                gk[c] += ds * q_tile[r][c];
            }
        }
    }
    if (j >= Nk) return;
    T* kr = dk + b * lgk.batch + j * lgk.row + h * D;
    T* vr = dv + b * lgv.batch + j * lgv.row + h * D;
#pragma unroll
    for (int c = 0; c < D; ++c) {
        kr[c] = gk[c];
        vr[c] = gv[c];
    }
}

}  // namespace cuda_kernels

namespace cuda_detail {

using svilm::detail::AttentionShape;

template <class T>
cuda_kernels::AttentionLayout attention_layout(const TensorView<T, 3, cuda>& t) {
    return {t.stride(0), t.stride(1)};
}

// The shared shape contract, then what the device kernels add: a compiled head size, the grid.
inline AttentionShape check_cuda_attention(const char* op, const TensorView<const float, 3, cuda>& q,
                                           const TensorView<const float, 3, cuda>& k, const TensorView<const float, 3, cuda>& v,
                                           const TensorView<const std::uint8_t, 2, cuda>& key_mask, index_t heads) {
    const AttentionShape s = svilm::detail::check_attention<float, cuda>(op, q, k, v, key_mask, heads);
    const index_t d = s.head_dim;
    if (d != 8 && d != 16 && d != 32 && d != 64 && d != 128)
        throw ShapeError(std::string(op) + ": head size " + std::to_string(d) +
                         " is not compiled for the device (8, 16, 32, 64 or 128)");
    if (s.batch * heads > 65535)
        throw ShapeError(std::string(op) + ": batch * heads " + std::to_string(s.batch * heads) + " over the grid limit 65535");
    return s;
}

// Calls f(std::integral_constant<int, d>) for the compiled head size d.
template <class F>
void with_head_dim(index_t d, F&& f) {
    switch (d) {
        case 8: f(std::integral_constant<int, 8>()); break;
        case 16: f(std::integral_constant<int, 16>()); break;
        case 32: f(std::integral_constant<int, 32>()); break;
        case 64: f(std::integral_constant<int, 64>()); break;
        default: f(std::integral_constant<int, 128>()); break;
    }
}

// The tensor-core kernels read rows as float4: head size 64, 16-byte aligned rows.
inline bool aligned_rows(const TensorView<const float, 3, cuda>& t) {
    return reinterpret_cast<std::uintptr_t>(t.data()) % 16 == 0 && t.stride(0) % 4 == 0 && t.stride(1) % 4 == 0;
}
// The tensor cores take the math mode's attention when the head size is 64, the rows are
// aligned and the device grants the shared memory (TF32 backward: 120 KiB per block, more than
// sm_86 / sm_89 allow); otherwise the fp32 kernels run.
inline MathMode attention_path(const Context<cuda>& ctx, const AttentionShape& s, const TensorView<const float, 3, cuda>& q,
                               const TensorView<const float, 3, cuda>& k, const TensorView<const float, 3, cuda>& v) {
    if (ctx.math() == MathMode::fp32 || s.head_dim != cuda_kernels::tc_head) return MathMode::fp32;
    if (!aligned_rows(q) || !aligned_rows(k) || !aligned_rows(v)) return MathMode::fp32;
    const std::size_t needed = ctx.math() == MathMode::bf16
                                   ? cuda_kernels::tc_backward_shared_bytes<cuda_kernels::Bf16Operands>()
                                   : cuda_kernels::tc_backward_shared_bytes<cuda_kernels::Tf32Operands>();
    return ctx.properties().sharedMemPerBlockOptin >= needed ? ctx.math() : MathMode::fp32;
}

// Kernels over the default 48 KiB of shared memory per block opt in, once per kernel and device
// (the attribute belongs to the device's copy of the kernel; one bit per device, the first 64).
template <auto kernel>
void allow_shared_bytes(const Context<cuda>& ctx, std::size_t bytes) {
    static std::atomic<std::uint64_t> configured{0};
    const std::uint64_t bit = ctx.device() < 64 ? std::uint64_t(1) << ctx.device() : 0;
    if (configured.load(std::memory_order_acquire) & bit) return;
    SVILM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    configured.fetch_or(bit, std::memory_order_release);
}

template <class Ops>
void launch_tensor_core_backward(const Context<cuda>& ctx, TensorView<float, 3, cuda> dq, TensorView<float, 3, cuda> dk,
                                 TensorView<float, 3, cuda> dv, const TensorView<const float, 3, cuda>& dout,
                                 const AttentionSaved<float, cuda>& saved, const TensorView<const float, 3, cuda>& q,
                                 const TensorView<const float, 3, cuda>& k, const TensorView<const float, 3, cuda>& v,
                                 const TensorView<const std::uint8_t, 2, cuda>& key_mask, const AttentionShape& s,
                                 const cuda_kernels::TensorCoreLayouts& layouts, float scale) {
    constexpr std::size_t bytes = cuda_kernels::tc_backward_shared_bytes<Ops>();
    allow_shared_bytes<cuda_kernels::attention_backward_key_tensor_core<Ops>>(ctx, bytes);
    allow_shared_bytes<cuda_kernels::attention_backward_query_tensor_core<Ops>>(ctx, bytes);
    const unsigned bh = unsigned(s.batch * s.heads);
    if (s.keys > 0) {
        const dim3 grid(cuda_detail::blocks_for(s.keys, cuda_kernels::tc_keys), bh);
        cuda_kernels::attention_backward_key_tensor_core<Ops><<<grid, cuda_kernels::tc_threads, bytes, ctx.stream()>>>(
            dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), saved.logsumexp.data(), saved.row_dot.data(),
            key_mask.data(), s.queries, s.keys, int(s.heads), layouts, scale);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
    if (s.queries > 0) {
        const dim3 grid(cuda_detail::blocks_for(s.queries, cuda_kernels::tc_rows), bh);
        cuda_kernels::attention_backward_query_tensor_core<Ops><<<grid, cuda_kernels::tc_threads, bytes, ctx.stream()>>>(
            dq.data(), dout.data(), q.data(), k.data(), v.data(), saved.logsumexp.data(), saved.row_dot.data(), key_mask.data(),
            s.queries, s.keys, int(s.heads), layouts, scale);
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
}

template <class Ops>
void launch_tensor_core_forward(const Context<cuda>& ctx, TensorView<float, 3, cuda> out, AttentionSaved<float, cuda>& saved,
                                const TensorView<const float, 3, cuda>& q, const TensorView<const float, 3, cuda>& k,
                                const TensorView<const float, 3, cuda>& v, const TensorView<const std::uint8_t, 2, cuda>& key_mask,
                                const AttentionShape& s, float scale) {
    constexpr std::size_t bytes = cuda_kernels::tc_shared_bytes<Ops>();
    allow_shared_bytes<cuda_kernels::attention_forward_tensor_core<Ops>>(ctx, bytes);
    const dim3 grid(cuda_detail::blocks_for(s.queries, cuda_kernels::tc_rows), unsigned(s.batch * s.heads));
    cuda_kernels::attention_forward_tensor_core<Ops><<<grid, cuda_kernels::tc_threads, bytes, ctx.stream()>>>(
        out.data(), saved.logsumexp.data(), q.data(), k.data(), v.data(), key_mask.data(), s.queries, s.keys, int(s.heads),
        attention_layout(q), attention_layout(k), attention_layout(v), attention_layout(out), scale);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda_detail

// out (B, Nq, C) = softmax(q_h k_h^T / sqrt(d) + mask) v_h for each head h, C = H * d.
// key_mask (B, Nk) on the device: 1 keeps a key, 0 pads it; an empty view keeps every key.
// out must not overlap q, k or v.
template <class T>
void attention_forward(const Context<cuda>& ctx, TensorView<T, 3, cuda> out, AttentionSaved<T, cuda>& saved,
                       std::type_identity_t<TensorView<const T, 3, cuda>> q, std::type_identity_t<TensorView<const T, 3, cuda>> k,
                       std::type_identity_t<TensorView<const T, 3, cuda>> v, TensorView<const std::uint8_t, 2, cuda> key_mask,
                       index_t heads) {
    static_assert(std::is_same_v<T, float>, "the CUDA attention is compiled for float");
    const char* op = "attention_forward";
    const auto s = cuda_detail::check_cuda_attention(op, q, k, v, key_mask, heads);
    expect_shape(op, "out", out, q.shape());
    svilm::detail::expect_unit_channel_stride(op, "out", out);
    if (saved.logsumexp.shape() != Extents<3>{s.batch, heads, s.queries})
        saved.logsumexp = Tensor<T, 3, cuda>({s.batch, heads, s.queries}, uninitialized);
    saved.path = cuda_detail::attention_path(ctx, s, q, k, v);
    if (s.batch == 0 || s.queries == 0) return;
    const T scale = T(1) / std::sqrt(T(s.head_dim));
    if (saved.path != MathMode::fp32) {
        if (saved.path == MathMode::bf16)
            cuda_detail::launch_tensor_core_forward<cuda_kernels::Bf16Operands>(ctx, out, saved, q, k, v, key_mask, s, scale);
        else
            cuda_detail::launch_tensor_core_forward<cuda_kernels::Tf32Operands>(ctx, out, saved, q, k, v, key_mask, s, scale);
        return;
    }
    const dim3 grid(cuda_detail::blocks_for(s.queries, cuda_kernels::attention_threads), unsigned(s.batch * heads));
    cuda_detail::with_head_dim(s.head_dim, [&](auto dim) {
        cuda_kernels::attention_forward<T, decltype(dim)::value><<<grid, cuda_kernels::attention_threads, 0, ctx.stream()>>>(
            out.data(), saved.logsumexp.data(), q.data(), k.data(), v.data(), key_mask.data(), s.queries, s.keys, int(heads),
            cuda_detail::attention_layout(q), cuda_detail::attention_layout(k), cuda_detail::attention_layout(v),
            cuda_detail::attention_layout(out), scale);
    });
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dq (B, Nq, C), dk, dv (B, Nk, C), all assigned, from dout and the forward's out and saved
// logsumexp. dq, dk and dv must not overlap each other or the inputs.
template <class T>
void attention_backward(const Context<cuda>& ctx, TensorView<T, 3, cuda> dq, TensorView<T, 3, cuda> dk, TensorView<T, 3, cuda> dv,
                        std::type_identity_t<TensorView<const T, 3, cuda>> dout, const AttentionSaved<T, cuda>& saved,
                        std::type_identity_t<TensorView<const T, 3, cuda>> q, std::type_identity_t<TensorView<const T, 3, cuda>> k,
                        std::type_identity_t<TensorView<const T, 3, cuda>> v,
                        std::type_identity_t<TensorView<const T, 3, cuda>> out, TensorView<const std::uint8_t, 2, cuda> key_mask,
                        index_t heads) {
    static_assert(std::is_same_v<T, float>, "the CUDA attention is compiled for float");
    const char* op = "attention_backward";
    const auto s = cuda_detail::check_cuda_attention(op, q, k, v, key_mask, heads);
    svilm::detail::check_attention_backward<float, cuda>(op, s, dq, dk, dv, dout, out, saved.logsumexp);
    if (s.batch == 0) return;
    if (saved.row_dot.shape() != saved.logsumexp.shape())
        saved.row_dot = Tensor<T, 3, cuda>(saved.logsumexp.shape(), uninitialized);
    const T scale = T(1) / std::sqrt(T(s.head_dim));
    const unsigned bh = unsigned(s.batch * heads);
    const auto lq = cuda_detail::attention_layout(q), lk = cuda_detail::attention_layout(k), lv = cuda_detail::attention_layout(v);
    const auto lo = cuda_detail::attention_layout(out), lgo = cuda_detail::attention_layout(dout);
    const auto lgq = cuda_detail::attention_layout(dq), lgk = cuda_detail::attention_layout(dk);
    const auto lgv = cuda_detail::attention_layout(dv);
    if (saved.path != MathMode::fp32) {
        if (!cuda_detail::aligned_rows(dout))
            throw ShapeError(std::string(op) + ": the forward ran on the tensor cores, which read dout's rows as float4: "
                                               "they must be 16-byte aligned");
        if (s.queries > 0) {
            const dim3 grid(cuda_detail::blocks_for(s.queries, cuda_kernels::attention_threads), bh);
            cuda_kernels::attention_row_dot<T, cuda_kernels::tc_head><<<grid, cuda_kernels::attention_threads, 0, ctx.stream()>>>(
                saved.row_dot.data(), dout.data(), out.data(), s.queries, int(heads), lgo, lo);
            SVILM_CUDA_CHECK(cudaGetLastError());
        }
        const cuda_kernels::TensorCoreLayouts layouts{lq, lk, lv, lgo, lgq, lgk, lgv};
        if (saved.path == MathMode::bf16)
            cuda_detail::launch_tensor_core_backward<cuda_kernels::Bf16Operands>(ctx, dq, dk, dv, dout, saved, q, k, v,
                                                                                 key_mask, s, layouts, scale);
        else
            cuda_detail::launch_tensor_core_backward<cuda_kernels::Tf32Operands>(ctx, dq, dk, dv, dout, saved, q, k, v,
                                                                                 key_mask, s, layouts, scale);
        return;
    }
    cuda_detail::with_head_dim(s.head_dim, [&](auto dim) {
        constexpr int D = decltype(dim)::value;
        if (s.queries > 0) {
            const dim3 grid(cuda_detail::blocks_for(s.queries, cuda_kernels::attention_threads), bh);
            cuda_kernels::attention_row_dot<T, D><<<grid, cuda_kernels::attention_threads, 0, ctx.stream()>>>(
                saved.row_dot.data(), dout.data(), out.data(), s.queries, int(heads), lgo, lo);
            SVILM_CUDA_CHECK(cudaGetLastError());
            cuda_kernels::attention_backward_query<T, D><<<grid, cuda_kernels::attention_threads, 0, ctx.stream()>>>(
                dq.data(), dout.data(), q.data(), k.data(), v.data(), saved.logsumexp.data(), saved.row_dot.data(),
                key_mask.data(), s.queries, s.keys, int(heads), lgq, lgo, lq, lk, lv, scale);
            SVILM_CUDA_CHECK(cudaGetLastError());
        }
        if (s.keys > 0) {
            constexpr int KR = cuda_kernels::AttentionTiles<D>::key_rows;
            const dim3 grid(cuda_detail::blocks_for(s.keys, KR), bh);
            cuda_kernels::attention_backward_key<T, D><<<grid, KR, 0, ctx.stream()>>>(
                dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), saved.logsumexp.data(), saved.row_dot.data(),
                key_mask.data(), s.queries, s.keys, int(heads), lgk, lgv, lgo, lq, lk, lv, scale);
            SVILM_CUDA_CHECK(cudaGetLastError());
        }
    });
}

}  // namespace svilm
