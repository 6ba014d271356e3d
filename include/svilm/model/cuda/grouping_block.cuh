// svilm/model/cuda/grouping_block.cuh: the GroupViT-style grouping block of docs/model.md §2.1 on the
// device, the CUDA twin of svilm/model/grouping_block.hpp (same names, same math, the per-clip
// products as strided-batched GEMMs):
//
//   g0 = LN_tokens(g)                 xn = LN_x(x)
//   g1 = g0 + mlp_inter(g0^T)^T
//   h  = g1 + MHA(q = g1, k = v = xn)
//   g2 = LN_post(h + mlp(LN_2(h)))
//   logits = q(g2) k(xn)^T / sqrt(C)  (B, M, L)
//   Y  = straight-through one_hot(argmax_M softmax((logits + G) / tau))
//   A  = Y / (sum_L Y + 1);  g3 = proj(A v(xn)) + g2;  g' = g3 + mlp_channels(LN_new_x(g3))
#pragma once

#include <cmath>
#include <string>
#include <type_traits>

#include "svilm/nn/cuda/attention.cuh"
#include "svilm/ops/cuda/gumbel_assign.cuh"

namespace svilm::cuda_model {

using cuda_nn::DeviceParameters;
using nn::ensure_shape;
using nn::join;

template <class T>
struct GroupingBlockSaved {
    Tensor<T, 2, cuda> g0, x_ln, g_t, mix_out, g1, attn_out, h, h_ln, mlp_out, h2, g2;
    Tensor<T, 2, cuda> assign_q, assign_k, assign_v, pooled, g3, g3_ln;
    Tensor<T, 3, cuda> logits, assignment, soft, normalized;  // (B, M, L)
    cuda_ops::LayerNormSaved<T> g0_stats, x_stats, h_stats, post_stats, g3_stats;
    cuda_nn::MlpSaved<T> mix, mlp, channels;
    cuda_nn::MultiHeadAttentionSaved<T> attn;
    cuda_ops::GumbelAssignSaved<T> assign;
};

template <class T>
class GroupingBlock {
    static_assert(std::is_same_v<T, float>, "the CUDA grouping block is compiled for float");

public:
    GroupingBlock() = default;
    GroupingBlock(const DeviceParameters<T>& params, const std::string& name, index_t width, index_t groups, index_t heads,
                  double eps, double gumbel_tau, bool hard_assignment = true)
        : width(width), groups(groups), tau(T(gumbel_tau)), hard(hard_assignment),
          norm_tokens(params, join(name, "norm_tokens"), width, eps),
          norm_x(params, join(name, "norm_x"), width, eps),
          mlp_inter(params, join(name, "mlp_inter.fc1"), join(name, "mlp_inter.fc2"), groups, width / 2, groups),
          attn(params, join(name, "pre_assign_attn.attn"), nn::grouping_attention_names(), width, heads),
          norm2(params, join(name, "pre_assign_attn.norm2"), width, eps),
          mlp(params, join(name, "pre_assign_attn.mlp.fc1"), join(name, "pre_assign_attn.mlp.fc2"), width, 4 * width, width),
          norm_post(params, join(name, "pre_assign_attn.norm_post"), width, eps),
          assign_q(params, join(name, "assign.q_proj"), width, width),
          assign_k(params, join(name, "assign.k_proj"), width, width),
          assign_v(params, join(name, "assign.v_proj"), width, width),
          assign_proj(params, join(name, "assign.proj"), width, width), norm_new_x(params, join(name, "norm_new_x"), width, eps),
          mlp_channels(params, join(name, "mlp_channels.fc1"), join(name, "mlp_channels.fc2"), width, 4 * width, width) {}

    // new_groups (B, M, C) from x (B, L, C) and g (B, M, C), contiguous; noise (B, M, L) Gumbel
    // draws at training, an empty view at inference. s.assignment is Y, s.soft the noise-free map.
    void forward(const CudaContext& ctx, TensorView<T, 3, cuda> new_groups, GroupingBlockSaved<T>& s,
                 TensorView<const T, 3, cuda> x, TensorView<const T, 3, cuda> g, TensorView<const T, 3, cuda> noise) const {
        const char* op = "cuda GroupingBlock::forward";
        const index_t B = x.extent(0), L = x.extent(1), C = width, M = groups;
        expect_shape(op, "x", x, {B, L, C});
        expect_shape(op, "g", g, {B, M, C});
        expect_shape(op, "new_groups", new_groups, {B, M, C});
        if (noise.data()) expect_shape(op, "noise", noise, {B, M, L});
        for (Tensor<T, 2, cuda>* t : {&s.g0, &s.g1, &s.attn_out, &s.h, &s.h_ln, &s.mlp_out, &s.h2, &s.g2, &s.assign_q,
                                      &s.pooled, &s.g3, &s.g3_ln})
            ensure_shape(*t, {B * M, C});
        for (Tensor<T, 2, cuda>* t : {&s.x_ln, &s.assign_k, &s.assign_v}) ensure_shape(*t, {B * L, C});
        ensure_shape(s.g_t, {B * C, M});
        ensure_shape(s.mix_out, {B * C, M});
        for (Tensor<T, 3, cuda>* t : {&s.logits, &s.assignment, &s.soft, &s.normalized}) ensure_shape(*t, {B, M, L});

        norm_tokens.forward(ctx, s.g0, s.g0_stats, as_matrix(g));
        norm_x.forward(ctx, s.x_ln, s.x_stats, as_matrix(x));
        transpose_clips(ctx, s.g_t, s.g0, B);  // rows of g0^T: the C channels of each clip
        mlp_inter.forward(ctx, s.mix_out, s.mix, s.g_t);
        transpose_clips(ctx, s.g1, s.mix_out, B);
        cuda_ops::add_into<T, 2>(ctx, s.g1, s.g0);
        attn.forward(ctx, rows3(s.attn_out, B), s.attn, rows3(s.g1, B), rows3(s.x_ln, B));
        cuda_ops::add_forward<T, 2>(ctx, s.h, s.g1, s.attn_out);
        norm2.forward(ctx, s.h_ln, s.h_stats, s.h);
        mlp.forward(ctx, s.mlp_out, s.mlp, s.h_ln);
        cuda_ops::add_forward<T, 2>(ctx, s.h2, s.h, s.mlp_out);
        norm_post.forward(ctx, s.g2, s.post_stats, s.h2);
        assign_q.forward(ctx, s.assign_q, s.g2);
        assign_k.forward(ctx, s.assign_k, s.x_ln);
        assign_v.forward(ctx, s.assign_v, s.x_ln);
        const T scale = T(1) / std::sqrt(T(C));
        // fp32 whatever the context's mode: these logits decide the hard assignment
        cuda_ops::gemm_batched(ctx, Trans::no, Trans::yes, M, L, C, scale, s.assign_q.data(), C, M * C, s.assign_k.data(), C,
                               L * C, T(0), s.logits.data(), L, M * L, B, MathMode::fp32);
        if (hard) {
            cuda_ops::gumbel_assign_forward<T>(ctx, s.assignment, s.assign, s.logits, noise, tau);
        } else {
            ensure_shape(s.assign.y_soft, {B, M, L});
            cuda_ops::group_softmax_forward<T>(ctx, s.assign.y_soft, s.logits, noise, tau);
            copy(ctx, s.assignment.view(), s.assign.y_soft.view());
        }
        cuda_ops::group_softmax_forward<T>(ctx, s.soft, s.logits, TensorView<const T, 3, cuda>(), T(1));
        cuda_ops::assign_normalize_forward<T>(ctx, s.normalized, s.assignment);
        cuda_ops::gemm_batched(ctx, Trans::no, Trans::no, M, C, L, T(1), s.normalized.data(), L, M * L, s.assign_v.data(), C,
                               L * C, T(0), s.pooled.data(), C, M * C, B);
        assign_proj.forward(ctx, s.g3, s.pooled);
        cuda_ops::add_into<T, 2>(ctx, s.g3, s.g2);
        norm_new_x.forward(ctx, s.g3_ln, s.g3_stats, s.g3);
        const auto out = as_matrix(new_groups);
        mlp_channels.forward(ctx, out, s.channels, s.g3_ln);
        cuda_ops::add_into<T, 2>(ctx, out, s.g3);
    }

    // dx (B, L, C) and dg (B, M, C) assigned from d_new_groups; parameter gradients accumulate.
    void backward(const CudaContext& ctx, TensorView<T, 3, cuda> dx, TensorView<T, 3, cuda> dg,
                  TensorView<const T, 3, cuda> d_new_groups, GroupingBlockSaved<T>& s, TensorView<const T, 3, cuda> x,
                  TensorView<const T, 3, cuda> g) const {
        const index_t B = x.extent(0), L = x.extent(1), C = width, M = groups;
        const auto dout = as_matrix(d_new_groups);
        Tensor<T, 2, cuda> d3({B * M, C}, uninitialized), d_rows({B * M, C}, uninitialized), d2({B * M, C}, uninitialized);
        Tensor<T, 2, cuda> dx_ln({B * L, C}, uninitialized), d_kv({B * L, C}, uninitialized);
        mlp_channels.backward(ctx, d_rows, dout, s.channels, s.g3_ln);
        norm_new_x.backward(ctx, d3, d_rows, s.g3_stats, s.g3);
        cuda_ops::add_into<T, 2>(ctx, d3, dout);
        copy(ctx, d2.view(), d3.view());
        Tensor<T, 2, cuda> d_pooled({B * M, C}, uninitialized);
        assign_proj.backward(ctx, d_pooled, d3, s.pooled);
        Tensor<T, 3, cuda> d_normalized({B, M, L}, uninitialized), d_logits({B, M, L}, uninitialized);
        Tensor<T, 2, cuda> d_v({B * L, C}, uninitialized), d_q({B * M, C}, uninitialized), d_k({B * L, C}, uninitialized);
        cuda_ops::gemm_batched(ctx, Trans::no, Trans::yes, M, L, C, T(1), d_pooled.data(), C, M * C, s.assign_v.data(), C,
                               L * C, T(0), d_normalized.data(), L, M * L, B);
        cuda_ops::gemm_batched(ctx, Trans::yes, Trans::no, L, C, M, T(1), s.normalized.data(), L, M * L, d_pooled.data(), C,
                               M * C, T(0), d_v.data(), C, L * C, B);
        Tensor<T, 3, cuda> d_assignment({B, M, L}, uninitialized);
        cuda_ops::assign_normalize_backward<T>(ctx, d_assignment, d_normalized, s.assignment);
        cuda_ops::gumbel_assign_backward<T>(ctx, d_logits, d_assignment, s.assign, tau);
        const T scale = T(1) / std::sqrt(T(C));
        cuda_ops::gemm_batched(ctx, Trans::no, Trans::no, M, C, L, scale, d_logits.data(), L, M * L, s.assign_k.data(), C,
                               L * C, T(0), d_q.data(), C, M * C, B);
        cuda_ops::gemm_batched(ctx, Trans::yes, Trans::no, L, C, M, scale, d_logits.data(), L, M * L, s.assign_q.data(), C,
                               M * C, T(0), d_k.data(), C, L * C, B);
        assign_v.backward(ctx, dx_ln, d_v, s.x_ln);
        assign_k.backward(ctx, d_kv, d_k, s.x_ln);
        cuda_ops::add_into<T, 2>(ctx, dx_ln, d_kv);
        assign_q.backward(ctx, d_rows, d_q, s.g2);
        cuda_ops::add_into<T, 2>(ctx, d2, d_rows);
        Tensor<T, 2, cuda> dh2({B * M, C}, uninitialized), dh({B * M, C}, uninitialized);
        norm_post.backward(ctx, dh2, d2, s.post_stats, s.h2);
        mlp.backward(ctx, d_rows, dh2, s.mlp, s.h_ln);
        norm2.backward(ctx, dh, d_rows, s.h_stats, s.h);
        cuda_ops::add_into<T, 2>(ctx, dh, dh2);
        Tensor<T, 2, cuda> dg1({B * M, C}, uninitialized);
        attn.backward(ctx, rows3(dg1, B), rows3(d_kv, B), rows3(dh, B), s.attn, rows3(s.g1, B), rows3(s.x_ln, B));
        cuda_ops::add_into<T, 2>(ctx, dg1, dh);
        cuda_ops::add_into<T, 2>(ctx, dx_ln, d_kv);
        Tensor<T, 2, cuda> d_mix({B * C, M}, uninitialized), d_gt({B * C, M}, uninitialized);
        transpose_clips(ctx, d_mix, dg1, B);
        mlp_inter.backward(ctx, d_gt, d_mix, s.mix, s.g_t);
        Tensor<T, 2, cuda> dg0({B * M, C}, uninitialized);
        transpose_clips(ctx, dg0, d_gt, B);
        cuda_ops::add_into<T, 2>(ctx, dg0, dg1);
        norm_tokens.backward(ctx, as_matrix(dg), dg0, s.g0_stats, as_matrix(g));
        norm_x.backward(ctx, as_matrix(dx), dx_ln, s.x_stats, as_matrix(x));
    }

    index_t width = 0, groups = 0;
    T tau = T(1);
    bool hard = true;  // false: Y = the soft assignment (GroupViT's soft variant)
    cuda_nn::LayerNorm<T> norm_tokens, norm_x;
    cuda_nn::Mlp<T> mlp_inter;
    cuda_nn::MultiHeadAttention<T> attn;
    cuda_nn::LayerNorm<T> norm2;
    cuda_nn::Mlp<T> mlp;
    cuda_nn::LayerNorm<T> norm_post;
    cuda_nn::Linear<T> assign_q, assign_k, assign_v, assign_proj;
    cuda_nn::LayerNorm<T> norm_new_x;
    cuda_nn::Mlp<T> mlp_channels;

private:
    static TensorView<T, 3, cuda> rows3(Tensor<T, 2, cuda>& m, index_t batch) { return cuda_nn::rows3(m.view(), batch); }
    // out (B * cols, rows) = per clip transpose of in (B * rows, cols)
    static void transpose_clips(const CudaContext& ctx, TensorView<T, 2, cuda> out, TensorView<const T, 2, cuda> in,
                                index_t batch) {
        const index_t rows = in.extent(0) / batch, cols = in.extent(1);
        cuda_ops::copy_strided<T>(ctx, out.template reshape<3>({batch, cols, rows}),
                                  in.template reshape<3>({batch, rows, cols}).transpose(1, 2));
    }
};

}  // namespace svilm::cuda_model
