// svilm/model/grouping_block.hpp: the GroupViT-style grouping block of docs/model.md §2.1, for
// either device.
//
// Inputs: video tokens x (B, L, C) and group tokens g (B, M, C). Output: new group tokens
// (B, M, C), with the hard assignment (the forward value of the straight-through estimator) and
// the soft map (softmax without noise) kept for visualisation. Video tokens are not changed.
//
//   g0 = LN_tokens(g)                 xn = LN_x(x)
//   g1 = g0 + mlp_inter(g0^T)^T       token mixing across the M groups (M -> C/2 -> M)
//   h  = g1 + MHA(q = g1, k = v = xn)
//   g2 = LN_post(h + mlp(LN_2(h)))    post-norm, MLP ratio GroupingConfig::mlp_ratio (4)
//   logits = q(g2) k(xn)^T / sqrt(C)  (B, M, L), single head
//   Y  = straight-through one_hot(argmax_M softmax((logits + G) / tau))   G: Gumbel noise or none
//        (or the softmax itself with hard_assignment = false, GroupViT's soft variant)
//   A  = Y / (sum_L Y + 1)
//   g3 = proj(A v(xn)) + g2
//   g' = g3 + mlp_channels(LN_new_x(g3))
#pragma once

#include <cmath>
#include <string>

#include "svilm/model/config.hpp"
#include "svilm/nn/attention.hpp"
#include "svilm/nn/attention_names.hpp"
#include "svilm/nn/mlp.hpp"
#include "svilm/ops/gemm_types.hpp"

namespace svilm {

template <class T, class Device = cpu>
struct GroupingBlockSaved {
    Tensor<T, 2, Device> g0, x_ln, g_t, mix_out, g1, attn_out, h, h_ln, mlp_out, h2, g2;  // rows of (B * M | B * L | B * C)
    Tensor<T, 2, Device> assign_q, assign_k, assign_v, pooled, g3, g3_ln;
    Tensor<T, 3, Device> logits, assignment, soft, normalized;  // (B, M, L): logits, Y, noise-free softmax, A
    LayerNormSaved<T, Device> g0_stats, x_stats, h_stats, post_stats, g3_stats;
    nn::MlpSaved<T, Device> mix, mlp, channels;
    nn::MultiHeadAttentionSaved<T, Device> attn;
    GumbelAssignSaved<T, Device> assign;
};

template <class T, class Device = cpu>
class GroupingBlock {
public:
    GroupingBlock() = default;
    // Parameters under `<name>.` with docs/model.md §11's names.
    GroupingBlock(nn::ParameterStore<T, Device>& store, const std::string& name, index_t width, index_t heads, double eps,
                  const GroupingConfig& config)
        : width(width), groups(config.num_group_tokens), tau(T(config.gumbel_tau)), hard(config.hard_assignment),
          norm_tokens(store, nn::join(name, "norm_tokens"), width, eps),
          norm_x(store, nn::join(name, "norm_x"), width, eps),
          mlp_inter(store, nn::join(name, "mlp_inter.fc1"), nn::join(name, "mlp_inter.fc2"), groups, width / 2, groups),
          attn(store, nn::join(name, "pre_assign_attn.attn"), nn::grouping_attention_names(), width, heads),
          norm2(store, nn::join(name, "pre_assign_attn.norm2"), width, eps),
          mlp(store, nn::join(name, "pre_assign_attn.mlp.fc1"), nn::join(name, "pre_assign_attn.mlp.fc2"), width,
              config.mlp_ratio * width, width),
          norm_post(store, nn::join(name, "pre_assign_attn.norm_post"), width, eps),
          assign_q(store, nn::join(name, "assign.q_proj"), width, width),
          assign_k(store, nn::join(name, "assign.k_proj"), width, width),
          assign_v(store, nn::join(name, "assign.v_proj"), width, width),
          assign_proj(store, nn::join(name, "assign.proj"), width, width),
          norm_new_x(store, nn::join(name, "norm_new_x"), width, eps),
          mlp_channels(store, nn::join(name, "mlp_channels.fc1"), nn::join(name, "mlp_channels.fc2"), width,
                       config.mlp_ratio * width, width) {}

    // new_groups (B, M, C) from x (B, L, C) and g (B, M, C), all contiguous.
    // noise (B, M, L): Gumbel(0, 1) draws at training, an empty view at inference.
    // ensures: s.assignment is Y (one-hot when hard), s.soft the noise-free softmax over groups.
    void forward(const Context<Device>& ctx, TensorView<T, 3, Device> new_groups, GroupingBlockSaved<T, Device>& s, TensorView<const T, 3, Device> x,
                 TensorView<const T, 3, Device> g, TensorView<const T, 3, Device> noise) const {
        const char* op = "GroupingBlock::forward";
        const index_t B = x.extent(0), L = x.extent(1), C = width, M = groups;
        expect_shape(op, "x", x, {B, L, C});
        expect_shape(op, "g", g, {B, M, C});
        expect_shape(op, "new_groups", new_groups, {B, M, C});
        if (noise.data()) expect_shape(op, "noise", noise, {B, M, L});
        for (Tensor<T, 2, Device>* t : {&s.g0, &s.g1, &s.attn_out, &s.h, &s.h_ln, &s.mlp_out, &s.h2, &s.g2, &s.assign_q, &s.pooled,
                                &s.g3, &s.g3_ln})
            nn::ensure_shape(*t, {B * M, C});
        for (Tensor<T, 2, Device>* t : {&s.x_ln, &s.assign_k, &s.assign_v}) nn::ensure_shape(*t, {B * L, C});
        nn::ensure_shape(s.g_t, {B * C, M});
        nn::ensure_shape(s.mix_out, {B * C, M});
        for (Tensor<T, 3, Device>* t : {&s.logits, &s.assignment, &s.soft, &s.normalized}) nn::ensure_shape(*t, {B, M, L});

        norm_tokens.forward(ctx, s.g0, s.g0_stats, as_matrix(g));
        norm_x.forward(ctx, s.x_ln, s.x_stats, as_matrix(x));
        // token mixing: rows of g0^T are the C channels of each clip, M features each
        transpose_clips(ctx, s.g_t, s.g0, B);
        mlp_inter.forward(ctx, s.mix_out, s.mix, s.g_t);
        transpose_clips(ctx, s.g1, s.mix_out, B);
        add_into(ctx, s.g1, s.g0);
        // pre-assignment cross-attention, post-norm
        attn.forward(ctx, rows3(s.attn_out, B), s.attn, rows3(s.g1, B), rows3(s.x_ln, B));
        add_forward(ctx, s.h, s.g1, s.attn_out);
        norm2.forward(ctx, s.h_ln, s.h_stats, s.h);
        mlp.forward(ctx, s.mlp_out, s.mlp, s.h_ln);
        add_forward(ctx, s.h2, s.h, s.mlp_out);
        norm_post.forward(ctx, s.g2, s.post_stats, s.h2);
        // assignment attention, single head
        assign_q.forward(ctx, s.assign_q, s.g2);
        assign_k.forward(ctx, s.assign_k, s.x_ln);
        assign_v.forward(ctx, s.assign_v, s.x_ln);
        const T scale = T(1) / std::sqrt(T(C));
        // fp32 whatever the context's tensor-core mode: these logits decide the hard assignment
        gemm_batched(ctx, Trans::no, Trans::yes, M, L, C, scale, s.assign_q.data(), C, M * C, s.assign_k.data(), C, L * C, T(0),
                     s.logits.data(), L, M * L, B, MathMode::fp32);
        if (hard) {
            gumbel_assign_forward(ctx, s.assignment, s.assign, s.logits, noise, tau);
        } else {
            nn::ensure_shape(s.assign.y_soft, {B, M, L});
            group_softmax_forward(ctx, s.assign.y_soft, s.logits, noise, tau);
            copy(ctx, s.assignment, s.assign.y_soft);
        }
        group_softmax_forward(ctx, s.soft, s.logits, TensorView<const T, 3, Device>(), T(1));
        assign_normalize_forward(ctx, s.normalized, s.assignment);
        gemm_batched(ctx, Trans::no, Trans::no, M, C, L, T(1), s.normalized.data(), L, M * L, s.assign_v.data(), C, L * C, T(0),
                     s.pooled.data(), C, M * C, B);
        assign_proj.forward(ctx, s.g3, s.pooled);
        add_into(ctx, s.g3, s.g2);
        norm_new_x.forward(ctx, s.g3_ln, s.g3_stats, s.g3);
        const auto out = as_matrix(new_groups);
        mlp_channels.forward(ctx, out, s.channels, s.g3_ln);
        add_into(ctx, out, s.g3);
    }

    // dx (B, L, C) and dg (B, M, C) assigned from d_new_groups (B, M, C); parameter gradients
    // accumulate. The assignment's gradient is the straight-through one (through y_soft).
    void backward(const Context<Device>& ctx, TensorView<T, 3, Device> dx, TensorView<T, 3, Device> dg, TensorView<const T, 3, Device> d_new_groups,
                  const GroupingBlockSaved<T, Device>& s, TensorView<const T, 3, Device> x, TensorView<const T, 3, Device> g) const {
        const index_t B = x.extent(0), L = x.extent(1), C = width, M = groups;
        const auto dout = as_matrix(d_new_groups);
        Tensor<T, 2, Device> d3({B * M, C}, uninitialized), d_rows({B * M, C}, uninitialized), d2({B * M, C}, uninitialized);
        Tensor<T, 2, Device> dx_ln({B * L, C}, uninitialized), d_kv({B * L, C}, uninitialized);
        // g' = g3 + mlp_channels(LN(g3))
        mlp_channels.backward(ctx, d_rows, dout, s.channels, s.g3_ln);
        norm_new_x.backward(ctx, d3, d_rows, s.g3_stats, s.g3);
        add_into(ctx, d3, dout);
        // g3 = proj(A v) + g2
        copy(ctx, d2, d3);
        Tensor<T, 2, Device> d_pooled({B * M, C}, uninitialized);
        assign_proj.backward(ctx, d_pooled, d3, s.pooled);
        Tensor<T, 3, Device> d_normalized({B, M, L}, uninitialized), d_logits({B, M, L}, uninitialized);
        Tensor<T, 2, Device> d_v({B * L, C}, uninitialized), d_q({B * M, C}, uninitialized), d_k({B * L, C}, uninitialized);
        // pooled_b (M, C) = A_b (M, L) v_b (L, C), per clip b
        gemm_batched(ctx, Trans::no, Trans::yes, M, L, C, T(1), d_pooled.data(), C, M * C, s.assign_v.data(), C, L * C, T(0),
                     d_normalized.data(), L, M * L, B);
        gemm_batched(ctx, Trans::yes, Trans::no, L, C, M, T(1), s.normalized.data(), L, M * L, d_pooled.data(), C, M * C, T(0),
                     d_v.data(), C, L * C, B);
        Tensor<T, 3, Device> d_assignment({B, M, L}, uninitialized);
        assign_normalize_backward(ctx, d_assignment, d_normalized, s.assignment);
        gumbel_assign_backward(ctx, d_logits, d_assignment, s.assign, tau);
        const T scale = T(1) / std::sqrt(T(C));
        // logits_b (M, L) = scale q_b (M, C) k_b (L, C)^T, per clip b
        gemm_batched(ctx, Trans::no, Trans::no, M, C, L, scale, d_logits.data(), L, M * L, s.assign_k.data(), C, L * C, T(0),
                     d_q.data(), C, M * C, B);
        gemm_batched(ctx, Trans::yes, Trans::no, L, C, M, scale, d_logits.data(), L, M * L, s.assign_q.data(), C, M * C, T(0),
                     d_k.data(), C, L * C, B);
        assign_v.backward(ctx, dx_ln, d_v, s.x_ln);
        assign_k.backward(ctx, d_kv, d_k, s.x_ln);
        add_into(ctx, dx_ln, d_kv);
        assign_q.backward(ctx, d_rows, d_q, s.g2);
        add_into(ctx, d2, d_rows);
        // g2 = LN_post(h + mlp(LN_2(h)))
        Tensor<T, 2, Device> dh2({B * M, C}, uninitialized), dh({B * M, C}, uninitialized);
        norm_post.backward(ctx, dh2, d2, s.post_stats, s.h2);
        mlp.backward(ctx, d_rows, dh2, s.mlp, s.h_ln);
        norm2.backward(ctx, dh, d_rows, s.h_stats, s.h);
        add_into(ctx, dh, dh2);
        // h = g1 + MHA(g1, xn)
        Tensor<T, 2, Device> dg1({B * M, C}, uninitialized);
        attn.backward(ctx, rows3(dg1, B), rows3(d_kv, B), rows3(dh, B), s.attn, rows3(s.g1, B), rows3(s.x_ln, B));
        add_into(ctx, dg1, dh);
        add_into(ctx, dx_ln, d_kv);
        // g1 = g0 + mlp_inter(g0^T)^T
        Tensor<T, 2, Device> d_mix({B * C, M}, uninitialized), d_gt({B * C, M}, uninitialized);
        transpose_clips(ctx, d_mix, dg1, B);
        mlp_inter.backward(ctx, d_gt, d_mix, s.mix, s.g_t);
        Tensor<T, 2, Device> dg0({B * M, C}, uninitialized);
        transpose_clips(ctx, dg0, d_gt, B);
        add_into(ctx, dg0, dg1);
        norm_tokens.backward(ctx, as_matrix(dg), dg0, s.g0_stats, as_matrix(g));
        norm_x.backward(ctx, as_matrix(dx), dx_ln, s.x_stats, as_matrix(x));
    }

    index_t width = 0, groups = 0;
    T tau = T(1);
    bool hard = true;  // false: Y = y_soft (GroupViT's soft assignment; differentiable, for gradient checks)
    nn::LayerNorm<T, Device> norm_tokens, norm_x;
    nn::Mlp<T, Device> mlp_inter;
    nn::MultiHeadAttention<T, Device> attn;
    nn::LayerNorm<T, Device> norm2;
    nn::Mlp<T, Device> mlp;
    nn::LayerNorm<T, Device> norm_post;
    nn::Linear<T, Device> assign_q, assign_k, assign_v, assign_proj;
    nn::LayerNorm<T, Device> norm_new_x;
    nn::Mlp<T, Device> mlp_channels;

private:
    static TensorView<T, 3, Device> rows3(Tensor<T, 2, Device>& m, index_t batch) { return nn::rows3(m.view(), batch); }
    static TensorView<const T, 3, Device> rows3(const Tensor<T, 2, Device>& m, index_t batch) {
        return nn::rows3(m.view(), batch);
    }
    // out (B * cols, rows) = per clip transpose of in (B * rows, cols)
    static void transpose_clips(const Context<Device>& ctx, TensorView<T, 2, Device> out, TensorView<const T, 2, Device> in,
                                index_t batch) {
        const index_t rows = in.extent(0) / batch, cols = in.extent(1);
        copy(ctx, out.template reshape<3>({batch, cols, rows}), in.template reshape<3>({batch, rows, cols}).transpose(1, 2));
    }
};

}  // namespace svilm
