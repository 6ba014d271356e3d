// svilm/nn/attention.hpp: multi-head attention modules over the blockwise attention op.
//
// FusedSelfAttention is the ViT form: one qkv Linear(C, 3C) whose output is split [q | k | v]
// (docs/model.md §11) and read in place by the op through strided views. MultiHeadAttention has separate
// q / k / v / output Linears, named by the caller: BERT's self-attention and the grouping
// block's cross-attention (queries from group tokens, keys and values from video tokens).
//
// A saved state serves one backward at a time: the CUDA attention keeps backward scratch in it.
#pragma once

#include <cstdint>
#include <string>

#include "svilm/nn/attention_names.hpp"
#include "svilm/nn/linear.hpp"

namespace svilm::nn {

template <class T, class Device = cpu>
struct FusedSelfAttentionSaved {
    Tensor<T, 2, Device> qkv;       // (B * N, 3C)
    Tensor<T, 2, Device> attended;  // (B * N, C): attention output before proj
    AttentionSaved<T, Device> attention;
};

// y (B, N, C) = proj(attention(split(qkv(x)))); parameters `<name>.qkv.*`, `<name>.proj.*`.
template <class T, class Device = cpu>
class FusedSelfAttention {
public:
    FusedSelfAttention() = default;
    FusedSelfAttention(ParameterStore<T, Device>& store, const std::string& name, index_t width, index_t heads)
        : heads(heads), qkv(store, join(name, "qkv"), width, 3 * width), proj(store, join(name, "proj"), width, width) {}

    // key_mask (B, N): 1 keeps a key, 0 pads it; empty keeps all.
    void forward(const Context<Device>& ctx, TensorView<T, 3, Device> y, FusedSelfAttentionSaved<T, Device>& s,
                 TensorView<const T, 3, Device> x, TensorView<const std::uint8_t, 2, Device> key_mask = {}) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2);
        ensure_shape(s.qkv, {B * N, 3 * C});
        ensure_shape(s.attended, {B * N, C});
        qkv.forward(ctx, s.qkv, as_matrix(x));
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        attention_forward(ctx, s.attended.view().template reshape<3>({B, N, C}), s.attention, qkv3.narrow(2, 0, C),
                             qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C), key_mask, heads);
        proj.forward(ctx, as_matrix(y), s.attended);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(const Context<Device>& ctx, TensorView<T, 3, Device> dx, TensorView<const T, 3, Device> dy,
                  const FusedSelfAttentionSaved<T, Device>& s, TensorView<const T, 3, Device> x,
                  TensorView<const std::uint8_t, 2, Device> key_mask = {}) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2);
        Tensor<T, 2, Device> d_attended({B * N, C}, uninitialized), d_qkv({B * N, 3 * C}, uninitialized);
        proj.backward(ctx, d_attended, as_matrix(dy), s.attended);
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        const auto dqkv3 = d_qkv.view().template reshape<3>({B, N, 3 * C});
        attention_backward(ctx, dqkv3.narrow(2, 0, C), dqkv3.narrow(2, C, 2 * C), dqkv3.narrow(2, 2 * C, 3 * C),
                              d_attended.view().template reshape<3>({B, N, C}), s.attention, qkv3.narrow(2, 0, C),
                              qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C),
                              s.attended.view().template reshape<3>({B, N, C}), key_mask, heads);
        qkv.backward(ctx, as_matrix(dx), d_qkv, as_matrix(x));
    }

    index_t heads = 1;
    Linear<T, Device> qkv, proj;
};

template <class T, class Device = cpu>
struct MultiHeadAttentionSaved {
    Tensor<T, 2, Device> q;         // (B * Nq, C)
    Tensor<T, 2, Device> k, v;      // (B * Nk, C)
    Tensor<T, 2, Device> attended;  // (B * Nq, C)
    AttentionSaved<T, Device> attention;
};

// y (B, Nq, C) = output(attention(query(xq), key(xkv), value(xkv))).
template <class T, class Device = cpu>
class MultiHeadAttention {
public:
    MultiHeadAttention() = default;
    MultiHeadAttention(ParameterStore<T, Device>& store, const std::string& name, const AttentionNames& names, index_t width,
                       index_t heads)
        : heads(heads), query(store, join(name, names.query), width, width),
          key(store, join(name, names.key), width, width), value(store, join(name, names.value), width, width),
          output(store, join(name, names.output), width, width) {}

    // xq (B, Nq, C), xkv (B, Nk, C), key_mask (B, Nk) or empty.
    void forward(const Context<Device>& ctx, TensorView<T, 3, Device> y, MultiHeadAttentionSaved<T, Device>& s,
                 TensorView<const T, 3, Device> xq, TensorView<const T, 3, Device> xkv,
                 TensorView<const std::uint8_t, 2, Device> key_mask = {}) const {
        const index_t B = xq.extent(0), Nq = xq.extent(1), Nk = xkv.extent(1), C = xq.extent(2);
        ensure_shape(s.q, {B * Nq, C});
        ensure_shape(s.k, {B * Nk, C});
        ensure_shape(s.v, {B * Nk, C});
        ensure_shape(s.attended, {B * Nq, C});
        query.forward(ctx, s.q, as_matrix(xq));
        key.forward(ctx, s.k, as_matrix(xkv));
        value.forward(ctx, s.v, as_matrix(xkv));
        attention_forward(ctx, rows3(s.attended.view(), B), s.attention, rows3(s.q.view(), B), rows3(s.k.view(), B),
                          rows3(s.v.view(), B), key_mask, heads);
        output.forward(ctx, as_matrix(y), s.attended);
    }

    // dxq (B, Nq, C) and dxkv (B, Nk, C) assigned; for self-attention the caller adds them.
    void backward(const Context<Device>& ctx, TensorView<T, 3, Device> dxq, TensorView<T, 3, Device> dxkv,
                  TensorView<const T, 3, Device> dy, const MultiHeadAttentionSaved<T, Device>& s,
                  TensorView<const T, 3, Device> xq, TensorView<const T, 3, Device> xkv,
                  TensorView<const std::uint8_t, 2, Device> key_mask = {}) const {
        const index_t B = xq.extent(0), Nq = xq.extent(1), Nk = xkv.extent(1), C = xq.extent(2);
        Tensor<T, 2, Device> d_attended({B * Nq, C}, uninitialized), dq({B * Nq, C}, uninitialized);
        Tensor<T, 2, Device> dk({B * Nk, C}, uninitialized), dv({B * Nk, C}, uninitialized);
        output.backward(ctx, d_attended, as_matrix(dy), s.attended);
        attention_backward(ctx, rows3(dq.view(), B), rows3(dk.view(), B), rows3(dv.view(), B), rows3(d_attended.view(), B),
                           s.attention, rows3(s.q.view(), B), rows3(s.k.view(), B), rows3(s.v.view(), B),
                           rows3(s.attended.view(), B), key_mask, heads);
        query.backward(ctx, as_matrix(dxq), dq, as_matrix(xq));
        key.backward(ctx, as_matrix(dxkv), dk, as_matrix(xkv));
        Tensor<T, 2, Device> dx_value(as_matrix(dxkv).shape(), uninitialized);
        value.backward(ctx, dx_value, dv, as_matrix(xkv));
        add_into(ctx, as_matrix(dxkv), dx_value.view());
    }

    index_t heads = 1;
    Linear<T, Device> query, key, value, output;
};

}  // namespace svilm::nn
