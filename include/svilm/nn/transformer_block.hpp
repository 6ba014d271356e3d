// svilm/nn/transformer_block.hpp: the two transformer layer forms of S-ViLM.
//
// PreNormBlock (ViT, docs/model.md §2):  x1 = x + attn(LN1(x));  y = x1 + mlp(LN2(x1))
// PostNormBlock (BERT, docs/model.md §3): h = LN1(x + attn(x));  y = LN2(h + mlp(h))
// Shapes (B, N, C) with rows flattened to (B * N, C) for the row-wise parts.
#pragma once

#include <cstdint>
#include <string>

#include "svilm/nn/attention.hpp"
#include "svilm/nn/mlp.hpp"

namespace svilm::nn {

template <class T>
struct PreNormBlockSaved {
    Tensor<T, 2> ln1, x1, ln2;  // (B * N, C)
    LayerNormSaved<T> ln1_stats, ln2_stats;
    FusedSelfAttentionSaved<T> attn;
    MlpSaved<T> mlp;
};

// Parameters under `<name>.`: norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2.
template <class T>
class PreNormBlock {
public:
    PreNormBlock() = default;
    PreNormBlock(ParameterStore<T>& store, const std::string& name, index_t width, index_t heads, index_t mlp_hidden,
                 double eps)
        : norm1(store, join(name, "norm1"), width, eps), attn(store, join(name, "attn"), width, heads),
          norm2(store, join(name, "norm2"), width, eps),
          mlp(store, join(name, "mlp.fc1"), join(name, "mlp.fc2"), width, mlp_hidden, width) {}

    // y (B, N, C) from x (B, N, C); y must not alias x (backward reads x).
    void forward(TensorView<T, 3> y, PreNormBlockSaved<T>& s, TensorView<const T, 3> x) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        const auto x2 = as_matrix(x);
        ensure_shape(s.ln1, {R, C});
        ensure_shape(s.x1, {R, C});
        ensure_shape(s.ln2, {R, C});
        norm1.forward(s.ln1, s.ln1_stats, x2);
        attn.forward(s.x1.view().template reshape<3>({B, N, C}), s.attn, s.ln1.view().template reshape<3>({B, N, C}));
        add_into<T, 2>(s.x1, x2);
        norm2.forward(s.ln2, s.ln2_stats, s.x1);
        const auto y2 = as_matrix(y);
        mlp.forward(y2, s.mlp, s.ln2);
        add_into<T, 2>(y2, s.x1);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(TensorView<T, 3> dx, TensorView<const T, 3> dy, const PreNormBlockSaved<T>& s,
                  TensorView<const T, 3> x) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        const auto dy2 = as_matrix(dy);
        const auto dx2 = as_matrix(dx);
        Tensor<T, 2> d_ln({R, C}, uninitialized), dx1({R, C}, uninitialized);
        mlp.backward(d_ln, dy2, s.mlp, s.ln2);
        norm2.backward(dx1, d_ln, s.ln2_stats, s.x1);
        add_into<T, 2>(dx1, dy2);  // residual around the MLP
        attn.backward(d_ln.view().template reshape<3>({B, N, C}), dx1.view().template reshape<3>({B, N, C}), s.attn,
                      s.ln1.view().template reshape<3>({B, N, C}));
        norm1.backward(dx2, d_ln, s.ln1_stats, as_matrix(x));
        add_into<T, 2>(dx2, dx1);  // residual around the attention
    }

    LayerNorm<T> norm1;
    FusedSelfAttention<T> attn;
    LayerNorm<T> norm2;
    Mlp<T> mlp;
};

template <class T>
struct PostNormBlockSaved {
    Tensor<T, 2> attn_out, h_pre, h, mlp_out, y_pre;  // (B * N, C)
    LayerNormSaved<T> ln1_stats, ln2_stats;
    MultiHeadAttentionSaved<T> attn;
    MlpSaved<T> mlp;
};

// BERT names under `<name>.`: attention.self.{query,key,value}, attention.output.dense,
// attention.output.LayerNorm, intermediate.dense, output.dense, output.LayerNorm.
template <class T>
class PostNormBlock {
public:
    PostNormBlock() = default;
    PostNormBlock(ParameterStore<T>& store, const std::string& name, index_t width, index_t heads, index_t mlp_hidden,
                  double eps)
        : attn(store, join(name, "attention"), bert_attention_names(), width, heads),
          norm1(store, join(name, "attention.output.LayerNorm"), width, eps),
          mlp(store, join(name, "intermediate.dense"), join(name, "output.dense"), width, mlp_hidden, width),
          norm2(store, join(name, "output.LayerNorm"), width, eps) {}

    // y (B, N, C) from x (B, N, C); key_mask (B, N) masks padded keys (empty: none).
    void forward(TensorView<T, 3> y, PostNormBlockSaved<T>& s, TensorView<const T, 3> x,
                 TensorView<const std::uint8_t, 2> key_mask) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        for (Tensor<T, 2>* t : {&s.attn_out, &s.h_pre, &s.h, &s.mlp_out, &s.y_pre}) ensure_shape(*t, {R, C});
        attn.forward(s.attn_out.view().template reshape<3>({B, N, C}), s.attn, x, x, key_mask);
        add_forward<T, 2>(s.h_pre, as_matrix(x), s.attn_out);
        norm1.forward(s.h, s.ln1_stats, s.h_pre);
        mlp.forward(s.mlp_out, s.mlp, s.h);
        add_forward<T, 2>(s.y_pre, s.h, s.mlp_out);
        norm2.forward(as_matrix(y), s.ln2_stats, s.y_pre);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(TensorView<T, 3> dx, TensorView<const T, 3> dy, const PostNormBlockSaved<T>& s,
                  TensorView<const T, 3> x, TensorView<const std::uint8_t, 2> key_mask) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        Tensor<T, 2> d_pre({R, C}, uninitialized), dh({R, C}, uninitialized), d_kv({R, C}, uninitialized);
        norm2.backward(d_pre, as_matrix(dy), s.ln2_stats, s.y_pre);
        mlp.backward(dh, d_pre, s.mlp, s.h);
        add_into<T, 2>(dh, d_pre);  // residual around the MLP
        norm1.backward(d_pre, dh, s.ln1_stats, s.h_pre);
        attn.backward(dx, d_kv.view().template reshape<3>({B, N, C}), d_pre.view().template reshape<3>({B, N, C}), s.attn,
                      x, x, key_mask);
        const auto dx2 = as_matrix(dx);
        add_into<T, 2>(dx2, d_kv);   // x feeds the queries and the keys / values
        add_into<T, 2>(dx2, d_pre);  // residual around the attention
    }

    MultiHeadAttention<T> attn;
    LayerNorm<T> norm1;
    Mlp<T> mlp;
    LayerNorm<T> norm2;
};

}  // namespace svilm::nn
