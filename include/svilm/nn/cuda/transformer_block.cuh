// svilm/nn/cuda/transformer_block.cuh: the two transformer layer forms on the device, the CUDA
// twins of svilm/nn/transformer_block.hpp.
//
// PreNormBlock (ViT):   x1 = x + attn(LN1(x));  y = x1 + mlp(LN2(x1))
// PostNormBlock (BERT): h = LN1(x + attn(x));   y = LN2(h + mlp(h))
#pragma once

#include <cstdint>
#include <string>

#include "svilm/nn/cuda/attention.cuh"

namespace svilm::cuda_nn {

template <class T>
struct PreNormBlockSaved {
    Tensor<T, 2, cuda> ln1, x1, ln2;  // (B * N, C)
    cuda_ops::LayerNormSaved<T> ln1_stats, ln2_stats;
    FusedSelfAttentionSaved<T> attn;
    MlpSaved<T> mlp;
};

// Parameters under `<name>.`: norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2.
template <class T>
class PreNormBlock {
public:
    PreNormBlock() = default;
    PreNormBlock(const DeviceParameters<T>& params, const std::string& name, index_t width, index_t heads, index_t mlp_hidden,
                 double eps)
        : norm1(params, join(name, "norm1"), width, eps), attn(params, join(name, "attn"), width, heads),
          norm2(params, join(name, "norm2"), width, eps),
          mlp(params, join(name, "mlp.fc1"), join(name, "mlp.fc2"), width, mlp_hidden, width) {}

    // y (B, N, C) from x (B, N, C); y must not alias x.
    void forward(const CudaContext& ctx, TensorView<T, 3, cuda> y, PreNormBlockSaved<T>& s, TensorView<const T, 3, cuda> x) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        const auto x2 = as_matrix(x);
        ensure_shape(s.ln1, {R, C});
        ensure_shape(s.x1, {R, C});
        ensure_shape(s.ln2, {R, C});
        norm1.forward(ctx, s.ln1, s.ln1_stats, x2);
        attn.forward(ctx, s.x1.view().template reshape<3>({B, N, C}), s.attn, s.ln1.view().template reshape<3>({B, N, C}));
        cuda_ops::add_into<T, 2>(ctx, s.x1, x2);
        norm2.forward(ctx, s.ln2, s.ln2_stats, s.x1);
        const auto y2 = as_matrix(y);
        mlp.forward(ctx, y2, s.mlp, s.ln2);
        cuda_ops::add_into<T, 2>(ctx, y2, s.x1);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(const CudaContext& ctx, TensorView<T, 3, cuda> dx, TensorView<const T, 3, cuda> dy, PreNormBlockSaved<T>& s,
                  TensorView<const T, 3, cuda> x) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        const auto dy2 = as_matrix(dy);
        const auto dx2 = as_matrix(dx);
        Tensor<T, 2, cuda> d_ln({R, C}, uninitialized), dx1({R, C}, uninitialized);
        mlp.backward(ctx, d_ln, dy2, s.mlp, s.ln2);
        norm2.backward(ctx, dx1, d_ln, s.ln2_stats, s.x1);
        cuda_ops::add_into<T, 2>(ctx, dx1, dy2);
        attn.backward(ctx, d_ln.view().template reshape<3>({B, N, C}), dx1.view().template reshape<3>({B, N, C}), s.attn,
                      s.ln1.view().template reshape<3>({B, N, C}));
        norm1.backward(ctx, dx2, d_ln, s.ln1_stats, as_matrix(x));
        cuda_ops::add_into<T, 2>(ctx, dx2, dx1);
    }

    LayerNorm<T> norm1;
    FusedSelfAttention<T> attn;
    LayerNorm<T> norm2;
    Mlp<T> mlp;
};

template <class T>
struct PostNormBlockSaved {
    Tensor<T, 2, cuda> attn_out, h_pre, h, mlp_out, y_pre;  // (B * N, C)
    cuda_ops::LayerNormSaved<T> ln1_stats, ln2_stats;
    MultiHeadAttentionSaved<T> attn;
    MlpSaved<T> mlp;
};

// BERT names under `<name>.`: attention.self.{query,key,value}, attention.output.dense,
// attention.output.LayerNorm, intermediate.dense, output.dense, output.LayerNorm.
template <class T>
class PostNormBlock {
public:
    PostNormBlock() = default;
    PostNormBlock(const DeviceParameters<T>& params, const std::string& name, index_t width, index_t heads,
                  index_t mlp_hidden, double eps)
        : attn(params, join(name, "attention"), nn::bert_attention_names(), width, heads),
          norm1(params, join(name, "attention.output.LayerNorm"), width, eps),
          mlp(params, join(name, "intermediate.dense"), join(name, "output.dense"), width, mlp_hidden, width),
          norm2(params, join(name, "output.LayerNorm"), width, eps) {}

    // y (B, N, C) from x (B, N, C); key_mask (B, N) masks padded keys (empty: none).
    void forward(const CudaContext& ctx, TensorView<T, 3, cuda> y, PostNormBlockSaved<T>& s, TensorView<const T, 3, cuda> x,
                 TensorView<const std::uint8_t, 2, cuda> key_mask) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        for (Tensor<T, 2, cuda>* t : {&s.attn_out, &s.h_pre, &s.h, &s.mlp_out, &s.y_pre}) ensure_shape(*t, {R, C});
        attn.forward(ctx, s.attn_out.view().template reshape<3>({B, N, C}), s.attn, x, x, key_mask);
        cuda_ops::add_forward<T, 2>(ctx, s.h_pre, as_matrix(x), s.attn_out);
        norm1.forward(ctx, s.h, s.ln1_stats, s.h_pre);
        mlp.forward(ctx, s.mlp_out, s.mlp, s.h);
        cuda_ops::add_forward<T, 2>(ctx, s.y_pre, s.h, s.mlp_out);
        norm2.forward(ctx, as_matrix(y), s.ln2_stats, s.y_pre);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(const CudaContext& ctx, TensorView<T, 3, cuda> dx, TensorView<const T, 3, cuda> dy, PostNormBlockSaved<T>& s,
                  TensorView<const T, 3, cuda> x, TensorView<const std::uint8_t, 2, cuda> key_mask) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2), R = B * N;
        Tensor<T, 2, cuda> d_pre({R, C}, uninitialized), dh({R, C}, uninitialized), d_kv({R, C}, uninitialized);
        norm2.backward(ctx, d_pre, as_matrix(dy), s.ln2_stats, s.y_pre);
        mlp.backward(ctx, dh, d_pre, s.mlp, s.h);
        cuda_ops::add_into<T, 2>(ctx, dh, d_pre);
        norm1.backward(ctx, d_pre, dh, s.ln1_stats, s.h_pre);
        attn.backward(ctx, dx, d_kv.view().template reshape<3>({B, N, C}), d_pre.view().template reshape<3>({B, N, C}), s.attn,
                      x, x, key_mask);
        const auto dx2 = as_matrix(dx);
        cuda_ops::add_into<T, 2>(ctx, dx2, d_kv);
        cuda_ops::add_into<T, 2>(ctx, dx2, d_pre);
    }

    MultiHeadAttention<T> attn;
    LayerNorm<T> norm1;
    Mlp<T> mlp;
    LayerNorm<T> norm2;
};

}  // namespace svilm::cuda_nn
