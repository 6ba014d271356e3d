// svilm/nn/attention.hpp: multi-head attention modules over the blockwise attention op.
//
// FusedSelfAttention is the ViT form: one qkv Linear(C, 3C) whose output is split [q | k | v]
// (docs/model.md §11) and read in place by the op through strided views. MultiHeadAttention has separate
// q / k / v / output Linears, named by the caller: BERT's self-attention and the grouping
// block's cross-attention (queries from group tokens, keys and values from video tokens).
#pragma once

#include <cstdint>
#include <string>

#include "svilm/nn/attention_names.hpp"
#include "svilm/nn/linear.hpp"
#include "svilm/ops/attention.hpp"
#include "svilm/ops/elementwise.hpp"

namespace svilm::nn {

template <class T>
struct FusedSelfAttentionSaved {
    Tensor<T, 2> qkv;       // (B * N, 3C)
    Tensor<T, 2> attended;  // (B * N, C): attention output before proj
    AttentionSaved<T> attention;
};

// y (B, N, C) = proj(attention(split(qkv(x)))); parameters `<name>.qkv.*`, `<name>.proj.*`.
template <class T>
class FusedSelfAttention {
public:
    FusedSelfAttention() = default;
    FusedSelfAttention(ParameterStore<T>& store, const std::string& name, index_t width, index_t heads)
        : heads(heads), qkv(store, join(name, "qkv"), width, 3 * width), proj(store, join(name, "proj"), width, width) {}

    // key_mask (B, N): 1 keeps a key, 0 pads it; empty keeps all.
    void forward(TensorView<T, 3> y, FusedSelfAttentionSaved<T>& s, TensorView<const T, 3> x,
                 TensorView<const std::uint8_t, 2> key_mask = {}) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2);
        ensure_shape(s.qkv, {B * N, 3 * C});
        ensure_shape(s.attended, {B * N, C});
        qkv.forward(s.qkv, as_matrix(x));
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        attention_forward<T>(s.attended.view().template reshape<3>({B, N, C}), s.attention, qkv3.narrow(2, 0, C),
                             qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C), key_mask, heads);
        proj.forward(as_matrix(y), s.attended);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(TensorView<T, 3> dx, TensorView<const T, 3> dy, const FusedSelfAttentionSaved<T>& s,
                  TensorView<const T, 3> x, TensorView<const std::uint8_t, 2> key_mask = {}) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2);
        Tensor<T, 2> d_attended({B * N, C}, uninitialized), d_qkv({B * N, 3 * C}, uninitialized);
        proj.backward(d_attended, as_matrix(dy), s.attended);
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        const auto dqkv3 = d_qkv.view().template reshape<3>({B, N, 3 * C});
        attention_backward<T>(dqkv3.narrow(2, 0, C), dqkv3.narrow(2, C, 2 * C), dqkv3.narrow(2, 2 * C, 3 * C),
                              d_attended.view().template reshape<3>({B, N, C}), s.attention, qkv3.narrow(2, 0, C),
                              qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C),
                              s.attended.view().template reshape<3>({B, N, C}), key_mask, heads);
        qkv.backward(as_matrix(dx), d_qkv, as_matrix(x));
    }

    index_t heads = 1;
    Linear<T> qkv, proj;
};

template <class T>
struct MultiHeadAttentionSaved {
    Tensor<T, 2> q;         // (B * Nq, C)
    Tensor<T, 2> k, v;      // (B * Nk, C)
    Tensor<T, 2> attended;  // (B * Nq, C)
    AttentionSaved<T> attention;
};

// y (B, Nq, C) = output(attention(query(xq), key(xkv), value(xkv))).
template <class T>
class MultiHeadAttention {
public:
    MultiHeadAttention() = default;
    MultiHeadAttention(ParameterStore<T>& store, const std::string& name, const AttentionNames& names, index_t width,
                       index_t heads)
        : heads(heads), query(store, join(name, names.query), width, width),
          key(store, join(name, names.key), width, width), value(store, join(name, names.value), width, width),
          output(store, join(name, names.output), width, width) {}

    // xq (B, Nq, C), xkv (B, Nk, C), key_mask (B, Nk) or empty.
    void forward(TensorView<T, 3> y, MultiHeadAttentionSaved<T>& s, TensorView<const T, 3> xq,
                 TensorView<const T, 3> xkv, TensorView<const std::uint8_t, 2> key_mask = {}) const {
        const index_t B = xq.extent(0), Nq = xq.extent(1), Nk = xkv.extent(1), C = xq.extent(2);
        ensure_shape(s.q, {B * Nq, C});
        ensure_shape(s.k, {B * Nk, C});
        ensure_shape(s.v, {B * Nk, C});
        ensure_shape(s.attended, {B * Nq, C});
        query.forward(s.q, as_matrix(xq));
        key.forward(s.k, as_matrix(xkv));
        value.forward(s.v, as_matrix(xkv));
        attention_forward<T>(s.attended.view().template reshape<3>({B, Nq, C}), s.attention, view3(s.q, B),
                             view3(s.k, B), view3(s.v, B), key_mask, heads);
        output.forward(as_matrix(y), s.attended);
    }

    // dxq (B, Nq, C) and dxkv (B, Nk, C) assigned; for self-attention the caller adds them.
    void backward(TensorView<T, 3> dxq, TensorView<T, 3> dxkv, TensorView<const T, 3> dy,
                  const MultiHeadAttentionSaved<T>& s, TensorView<const T, 3> xq, TensorView<const T, 3> xkv,
                  TensorView<const std::uint8_t, 2> key_mask = {}) const {
        const index_t B = xq.extent(0), Nq = xq.extent(1), Nk = xkv.extent(1), C = xq.extent(2);
        Tensor<T, 2> d_attended({B * Nq, C}, uninitialized), dq({B * Nq, C}, uninitialized);
        Tensor<T, 2> dk({B * Nk, C}, uninitialized), dv({B * Nk, C}, uninitialized);
        output.backward(d_attended, as_matrix(dy), s.attended);
        attention_backward<T>(view3(dq, B), view3(dk, B), view3(dv, B), view3(d_attended, B), s.attention,
                              view3(s.q, B), view3(s.k, B), view3(s.v, B), view3(s.attended, B), key_mask, heads);
        query.backward(as_matrix(dxq), dq, as_matrix(xq));
        key.backward(as_matrix(dxkv), dk, as_matrix(xkv));
        Tensor<T, 2> dx_value(as_matrix(dxkv).shape(), uninitialized);
        value.backward(dx_value, dv, as_matrix(xkv));
        add_into<T, 2>(as_matrix(dxkv), dx_value);
    }

    index_t heads = 1;
    Linear<T> query, key, value, output;

private:
    // (B * N, C) as (B, N, C)
    template <class U>
    static TensorView<U, 3> view3(const TensorView<U, 2>& m, index_t batch) {
        return m.template reshape<3>({batch, m.extent(0) / batch, m.extent(1)});
    }
    static TensorView<T, 3> view3(Tensor<T, 2>& m, index_t batch) { return view3(m.view(), batch); }
    static TensorView<const T, 3> view3(const Tensor<T, 2>& m, index_t batch) { return view3(m.view(), batch); }
};

}  // namespace svilm::nn
