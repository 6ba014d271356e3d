// tests/cuda/cpu_reference.hpp: the CPU ops the CUDA tests compare against, compiled by the C++
// compiler in cpu_reference.cpp (nvcc never sees Eigen or the OpenMP kernels).
#pragma once

#include <cstdint>

#include "svilm/core/tensor.hpp"

namespace svilm::testing {

void cpu_matmul(TensorView<float, 2> c, TensorView<const float, 2> a, TensorView<const float, 2> b, float beta);
void cpu_matmul(TensorView<double, 2> c, TensorView<const double, 2> a, TensorView<const double, 2> b, double beta);
// y = gelu(x), dx = gelu'(x) * dy
void cpu_gelu(TensorView<float, 1> y, TensorView<float, 1> dx, TensorView<const float, 1> x, TensorView<const float, 1> dy);
// y = softmax(x + mask) over the last axis, dx its backward from dy
void cpu_softmax(TensorView<float, 3> y, TensorView<float, 3> dx, TensorView<const float, 3> x, TensorView<const float, 2> mask,
                 TensorView<const float, 3> dy);
// y = weight[ids]; dweight += scatter of dy
void cpu_embedding(TensorView<float, 2> y, TensorView<float, 2> dweight, TensorView<const float, 2> weight,
                   TensorView<const std::int64_t, 1> ids, TensorView<const float, 2> dy);
// y = x / max(|x|, 1e-12) per row; dx its backward from dy
void cpu_l2_normalize(TensorView<float, 2> y, TensorView<float, 2> dx, TensorView<const float, 2> x, TensorView<const float, 2> dy);
// y = mean over axis 1 of x (O, N, I); dx = its backward from dy (O, I)
void cpu_mean_pool(TensorView<float, 2> y, TensorView<float, 3> dx, TensorView<const float, 3> x, TensorView<const float, 2> dy);
// The straight-through assignment: hard one-hot from softmax_M((logits + noise) / tau), dlogits
// from dy; a = normalize(hard) and dnorm its backward from da.
void cpu_gumbel_assign(TensorView<float, 3> hard, TensorView<float, 3> dlogits, TensorView<float, 3> a, TensorView<float, 3> dnorm,
                       TensorView<const float, 3> logits, TensorView<const float, 3> noise, TensorView<const float, 3> dy,
                       TensorView<const float, 3> da, float tau);
// returns the mean cross-entropy; dlogits its gradient for dloss
float cpu_cross_entropy(TensorView<float, 2> dlogits, TensorView<const float, 2> logits, TensorView<const std::int64_t, 1> targets,
                        float dloss);
// y = LN(x); dx assigned, dweight and dbias accumulated from dy (eps 1e-6)
void cpu_layer_norm(TensorView<float, 2> y, TensorView<float, 2> dx, TensorView<float, 1> dweight, TensorView<float, 1> dbias,
                    TensorView<const float, 2> x, TensorView<const float, 1> weight, TensorView<const float, 1> bias,
                    TensorView<const float, 2> dy);
// out = attention(q, k, v) with a key mask (empty: none), heads packed in channels; dq, dk, dv
// its backward from dout. q, k, v may be strided views.
void cpu_attention(TensorView<float, 3> out, TensorView<float, 3> dq, TensorView<float, 3> dk, TensorView<float, 3> dv,
                   TensorView<const float, 3> q, TensorView<const float, 3> k, TensorView<const float, 3> v,
                   TensorView<const std::uint8_t, 2> key_mask, TensorView<const float, 3> dout, index_t heads);
// dst = src for views of any strides (the CPU copy op)
void cpu_copy(TensorView<float, 2> dst, TensorView<const float, 2> src);
void cpu_copy(TensorView<float, 3> dst, TensorView<const float, 3> src);
void cpu_copy(TensorView<float, 4> dst, TensorView<const float, 4> src);
// every element of dst (any strides) = value
void cpu_fill(TensorView<float, 3> dst, float value);
// y += bias on every row; dbias += column sums of dy
void cpu_bias_add(TensorView<float, 2> y, TensorView<float, 1> dbias, TensorView<const float, 1> bias,
                  TensorView<const float, 2> dy);
// `batch` products C_i = alpha op(A_i) op(B_i) + beta C_i, the operands `stride` apart
void cpu_gemm_batched(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                      index_t stride_a, const float* B, index_t ldb, index_t stride_b, float beta, float* C, index_t ldc,
                      index_t stride_c, index_t batch);
// patches (B * L, 3 t p p) from video (B, T, 3, H, W)
void cpu_tubelet_unfold(TensorView<float, 2> patches, TensorView<const float, 5> video, index_t tubelet, index_t patch);
// stream = [tokens + positions ; group]; the position and group gradients accumulated from d_stream
void cpu_video_embed(TensorView<float, 3> stream, TensorView<float, 2> d_spatial, TensorView<float, 2> d_temporal,
                     TensorView<float, 2> d_group, TensorView<const float, 3> tokens, TensorView<const float, 2> spatial,
                     TensorView<const float, 2> temporal, TensorView<const float, 2> group, TensorView<const float, 3> d_stream);

}  // namespace svilm::testing
