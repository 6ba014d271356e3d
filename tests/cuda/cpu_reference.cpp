#include "cuda/cpu_reference.hpp"

#include "svilm/core/context.hpp"
#include "svilm/ops/attention.hpp"
#include "svilm/ops/cross_entropy.hpp"
#include "svilm/ops/elementwise.hpp"
#include "svilm/ops/embedding.hpp"
#include "svilm/ops/gelu.hpp"
#include "svilm/ops/gemm.hpp"
#include "svilm/ops/gumbel_assign.hpp"
#include "svilm/ops/l2_normalize.hpp"
#include "svilm/ops/layer_norm.hpp"
#include "svilm/ops/pooling.hpp"
#include "svilm/ops/softmax.hpp"
#include "svilm/ops/video.hpp"

namespace svilm::testing {

namespace {
const Context<cpu> cpu_ctx;
}  // namespace

void cpu_matmul(TensorView<float, 2> c, TensorView<const float, 2> a, TensorView<const float, 2> b, float beta) {
    matmul<float>(cpu_ctx, c, a, b, beta);
}
void cpu_matmul(TensorView<double, 2> c, TensorView<const double, 2> a, TensorView<const double, 2> b, double beta) {
    matmul<double>(cpu_ctx, c, a, b, beta);
}
void cpu_gelu(TensorView<float, 1> y, TensorView<float, 1> dx, TensorView<const float, 1> x, TensorView<const float, 1> dy) {
    gelu_forward<float>(cpu_ctx, y, x);
    gelu_backward<float>(cpu_ctx, dx, dy, x);
}
void cpu_layer_norm(TensorView<float, 2> y, TensorView<float, 2> dx, TensorView<float, 1> dweight, TensorView<float, 1> dbias,
                    TensorView<const float, 2> x, TensorView<const float, 1> weight, TensorView<const float, 1> bias,
                    TensorView<const float, 2> dy) {
    LayerNormSaved<float> saved;
    layer_norm_forward<float>(cpu_ctx, y, saved, x, weight, bias, 1e-6f);
    layer_norm_backward<float>(cpu_ctx, dx, dweight, dbias, dy, saved, x, weight);
}

void cpu_softmax(TensorView<float, 3> y, TensorView<float, 3> dx, TensorView<const float, 3> x, TensorView<const float, 2> mask,
                 TensorView<const float, 3> dy) {
    softmax_forward<float>(cpu_ctx, y, x, mask);
    softmax_backward<float>(cpu_ctx, dx, dy, y);
}

void cpu_embedding(TensorView<float, 2> y, TensorView<float, 2> dweight, TensorView<const float, 2> weight,
                   TensorView<const std::int64_t, 1> ids, TensorView<const float, 2> dy) {
    embedding_forward<float>(cpu_ctx, y, weight, ids);
    embedding_backward<float>(cpu_ctx, dweight, dy, ids);
}
void cpu_l2_normalize(TensorView<float, 2> y, TensorView<float, 2> dx, TensorView<const float, 2> x, TensorView<const float, 2> dy) {
    L2NormalizeSaved<float> saved;
    l2_normalize_forward<float>(cpu_ctx, y, saved, x);
    l2_normalize_backward<float>(cpu_ctx, dx, dy, y, saved);
}

void cpu_mean_pool(TensorView<float, 2> y, TensorView<float, 3> dx, TensorView<const float, 3> x, TensorView<const float, 2> dy) {
    mean_pool_forward<float>(cpu_ctx, y, x);
    mean_pool_backward<float>(cpu_ctx, dx, dy);
}

void cpu_gumbel_assign(TensorView<float, 3> hard, TensorView<float, 3> dlogits, TensorView<float, 3> a, TensorView<float, 3> dnorm,
                       TensorView<const float, 3> logits, TensorView<const float, 3> noise, TensorView<const float, 3> dy,
                       TensorView<const float, 3> da, float tau) {
    GumbelAssignSaved<float> saved;
    gumbel_assign_forward<float>(cpu_ctx, hard, saved, logits, noise, tau);
    gumbel_assign_backward<float>(cpu_ctx, dlogits, dy, saved, tau);
    assign_normalize_forward<float>(cpu_ctx, a, hard);
    assign_normalize_backward<float>(cpu_ctx, dnorm, da, hard);
}

float cpu_cross_entropy(TensorView<float, 2> dlogits, TensorView<const float, 2> logits, TensorView<const std::int64_t, 1> targets,
                        float dloss) {
    CrossEntropySaved<float> saved;
    const float loss = cross_entropy_forward<float>(cpu_ctx, saved, logits, targets);
    cross_entropy_backward<float>(cpu_ctx, dlogits, dloss, saved, logits, targets);
    return loss;
}

void cpu_attention(TensorView<float, 3> out, TensorView<float, 3> dq, TensorView<float, 3> dk, TensorView<float, 3> dv,
                   TensorView<const float, 3> q, TensorView<const float, 3> k, TensorView<const float, 3> v,
                   TensorView<const std::uint8_t, 2> key_mask, TensorView<const float, 3> dout, index_t heads) {
    AttentionSaved<float> saved;
    attention_forward<float>(cpu_ctx, out, saved, q, k, v, key_mask, heads);
    attention_backward<float>(cpu_ctx, dq, dk, dv, dout, saved, q, k, v, out, key_mask, heads);
}

void cpu_copy(TensorView<float, 2> dst, TensorView<const float, 2> src) { copy<float, 2>(cpu_ctx, dst, src); }
void cpu_copy(TensorView<float, 3> dst, TensorView<const float, 3> src) { copy<float, 3>(cpu_ctx, dst, src); }
void cpu_copy(TensorView<float, 4> dst, TensorView<const float, 4> src) { copy<float, 4>(cpu_ctx, dst, src); }
void cpu_fill(TensorView<float, 3> dst, float value) { fill<float, 3>(cpu_ctx, dst, value); }

void cpu_bias_add(TensorView<float, 2> y, TensorView<float, 1> dbias, TensorView<const float, 1> bias,
                  TensorView<const float, 2> dy) {
    bias_add_forward<float>(cpu_ctx, y, bias);
    bias_add_backward<float>(cpu_ctx, dbias, dy);
}

void cpu_gemm_batched(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                      index_t stride_a, const float* B, index_t ldb, index_t stride_b, float beta, float* C, index_t ldc,
                      index_t stride_c, index_t batch) {
    gemm_batched<float>(cpu_ctx, trans_a ? Trans::yes : Trans::no, trans_b ? Trans::yes : Trans::no, M, N, K, alpha, A, lda,
                        stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
}

void cpu_tubelet_unfold(TensorView<float, 2> patches, TensorView<const float, 5> video, index_t tubelet, index_t patch) {
    tubelet_unfold<float>(cpu_ctx, patches, video, tubelet, patch);
}

void cpu_video_embed(TensorView<float, 3> stream, TensorView<float, 2> d_spatial, TensorView<float, 2> d_temporal,
                     TensorView<float, 2> d_group, TensorView<const float, 3> tokens, TensorView<const float, 2> spatial,
                     TensorView<const float, 2> temporal, TensorView<const float, 2> group, TensorView<const float, 3> d_stream) {
    video_embed_forward<float>(cpu_ctx, stream, tokens, spatial, temporal, group);
    video_embed_backward<float>(cpu_ctx, d_spatial, d_temporal, d_group, d_stream);
}

}  // namespace svilm::testing
