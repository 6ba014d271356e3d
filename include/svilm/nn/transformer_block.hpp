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

template <class T, class Device = cpu>
struct PreNormBlockSaved {
    Tensor<T, 2, Device> ln1, x1, ln2;  // (B * N, C)
    LayerNormSaved<T, Device> ln1_stats, ln2_stats;
    FusedSelfAttentionSaved<T, Device> attn;
    MlpSaved<T, Device> mlp;
};

// Parameters under `<name>.`: norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2.
template <class T, class Device = cpu>
class PreNormBlock {
public:
    PreNormBlock() = default;
    PreNormBlock(ParameterStore<T, Device>& store, const std::string& name, index_t width, index_t heads, index_t mlp_hidden,
                 double eps)
        : norm1(store, join(name, "norm1"), width, eps), attn(store, join(name, "attn"), width, heads),
          norm2(store, join(name, "norm2"), width, eps),
          mlp(store, join(name, "mlp.fc1"), join(name, "mlp.fc2"), width, mlp_hidden, width) {}

    // y (B, N, C) from x (B, N, C); y must not alias x (backward reads x).
    void forward(const Context<Device>& ctx, TensorView<T, 3, Device> y, PreNormBlockSaved<T, Device>& s, TensorView<const T, 3, Device> x) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        const auto x2 = as_matrix(x);
        ensure_shape(s.ln1, {R, C});
        ensure_shape(s.x1, {R, C});
        ensure_shape(s.ln2, {R, C});
        norm1.forward(ctx, s.ln1, s.ln1_stats, x2);
        attn.forward(ctx, s.x1.view().template reshape<3>({B, N, C}), s.attn, s.ln1.view().template reshape<3>({B, N, C}));
        add_into(ctx, s.x1, x2);
        norm2.forward(ctx, s.ln2, s.ln2_stats, s.x1);
        const auto y2 = as_matrix(y);
        mlp.forward(ctx, y2, s.mlp, s.ln2);
        add_into(ctx, y2, s.x1);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(const Context<Device>& ctx, TensorView<T, 3, Device> dx, TensorView<const T, 3, Device> dy, const PreNormBlockSaved<T, Device>& s,
                  TensorView<const T, 3, Device> x) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        const auto dy2 = as_matrix(dy);
        const auto dx2 = as_matrix(dx);
        Tensor<T, 2, Device> d_ln({R, C}, uninitialized), dx1({R, C}, uninitialized);
        mlp.backward(ctx, d_ln, dy2, s.mlp, s.ln2);
        norm2.backward(ctx, dx1, d_ln, s.ln2_stats, s.x1);
        add_into(ctx, dx1, dy2);  // residual around the MLP
        attn.backward(ctx, d_ln.view().template reshape<3>({B, N, C}), dx1.view().template reshape<3>({B, N, C}), s.attn,
                      s.ln1.view().template reshape<3>({B, N, C}));
        norm1.backward(ctx, dx2, d_ln, s.ln1_stats, as_matrix(x));
        add_into(ctx, dx2, dx1);  // residual around the attention
    }

    LayerNorm<T, Device> norm1;
    FusedSelfAttention<T, Device> attn;
    LayerNorm<T, Device> norm2;
    Mlp<T, Device> mlp;
};

template <class T, class Device = cpu>
struct PostNormBlockSaved {
    Tensor<T, 2, Device> attn_out, h_pre, h, mlp_out, y_pre;  // (B * N, C)
    LayerNormSaved<T, Device> ln1_stats, ln2_stats;
    MultiHeadAttentionSaved<T, Device> attn;
    MlpSaved<T, Device> mlp;
};

// BERT names under `<name>.`: attention.self.{query,key,value}, attention.output.dense,
// attention.output.LayerNorm, intermediate.dense, output.dense, output.LayerNorm.
template <class T, class Device = cpu>
class PostNormBlock {
public:
    PostNormBlock() = default;
    PostNormBlock(ParameterStore<T, Device>& store, const std::string& name, index_t width, index_t heads, index_t mlp_hidden,
                  double eps)
        : attn(store, join(name, "attention"), bert_attention_names(), width, heads),
          norm1(store, join(name, "attention.output.LayerNorm"), width, eps),
          mlp(store, join(name, "intermediate.dense"), join(name, "output.dense"), width, mlp_hidden, width),
          norm2(store, join(name, "output.LayerNorm"), width, eps) {}

    // y (B, N, C) from x (B, N, C); key_mask (B, N) masks padded keys (empty: none).
    void forward(const Context<Device>& ctx, TensorView<T, 3, Device> y, PostNormBlockSaved<T, Device>& s, TensorView<const T, 3, Device> x,
                 TensorView<const std::uint8_t, 2, Device> key_mask) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        for (Tensor<T, 2, Device>* t : {&s.attn_out, &s.h_pre, &s.h, &s.mlp_out, &s.y_pre}) ensure_shape(*t, {R, C});
        attn.forward(ctx, s.attn_out.view().template reshape<3>({B, N, C}), s.attn, x, x, key_mask);
        add_forward(ctx, s.h_pre, as_matrix(x), s.attn_out);
        norm1.forward(ctx, s.h, s.ln1_stats, s.h_pre);
        mlp.forward(ctx, s.mlp_out, s.mlp, s.h);
        add_forward(ctx, s.y_pre, s.h, s.mlp_out);
        norm2.forward(ctx, as_matrix(y), s.ln2_stats, s.y_pre);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(const Context<Device>& ctx, TensorView<T, 3, Device> dx, TensorView<const T, 3, Device> dy, const PostNormBlockSaved<T, Device>& s,
                  TensorView<const T, 3, Device> x, TensorView<const std::uint8_t, 2, Device> key_mask) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        Tensor<T, 2, Device> d_pre({R, C}, uninitialized), dh({R, C}, uninitialized), d_kv({R, C}, uninitialized);
        norm2.backward(ctx, d_pre, as_matrix(dy), s.ln2_stats, s.y_pre);
        mlp.backward(ctx, dh, d_pre, s.mlp, s.h);
        add_into(ctx, dh, d_pre);  // residual around the MLP
        norm1.backward(ctx, d_pre, dh, s.ln1_stats, s.h_pre);
        attn.backward(ctx, dx, d_kv.view().template reshape<3>({B, N, C}), d_pre.view().template reshape<3>({B, N, C}), s.attn,
                      x, x, key_mask);
        const auto dx2 = as_matrix(dx);
        add_into(ctx, dx2, d_kv);   // x feeds the queries and the keys / values
        add_into(ctx, dx2, d_pre);  // residual around the attention
    }

    MultiHeadAttention<T, Device> attn;
    LayerNorm<T, Device> norm1;
    Mlp<T, Device> mlp;
    LayerNorm<T, Device> norm2;
};

}  // namespace svilm::nn
