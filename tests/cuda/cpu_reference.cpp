#include "cuda/cpu_reference.hpp"

#include "svilm/ops/attention.hpp"
#include "svilm/ops/cross_entropy.hpp"
#include "svilm/ops/embedding.hpp"
#include "svilm/ops/gelu.hpp"
#include "svilm/ops/gumbel_assign.hpp"
#include "svilm/ops/l2_normalize.hpp"
#include "svilm/ops/gemm.hpp"
#include "svilm/ops/layer_norm.hpp"
#include "svilm/ops/pooling.hpp"
#include "svilm/ops/softmax.hpp"

namespace svilm::testing {

void cpu_matmul(TensorView<float, 2> c, TensorView<const float, 2> a, TensorView<const float, 2> b, float beta) {
    matmul<float>(c, a, b, beta);
}
void cpu_matmul(TensorView<double, 2> c, TensorView<const double, 2> a, TensorView<const double, 2> b, double beta) {
    matmul<double>(c, a, b, beta);
}
void cpu_gelu(TensorView<float, 1> y, TensorView<float, 1> dx, TensorView<const float, 1> x, TensorView<const float, 1> dy) {
    gelu_forward<float>(y, x);
    gelu_backward<float>(dx, dy, x);
}
void cpu_layer_norm(TensorView<float, 2> y, TensorView<float, 2> dx, TensorView<float, 1> dweight, TensorView<float, 1> dbias,
                    TensorView<const float, 2> x, TensorView<const float, 1> weight, TensorView<const float, 1> bias,
                    TensorView<const float, 2> dy) {
    LayerNormSaved<float> saved;
    layer_norm_forward<float>(y, saved, x, weight, bias, 1e-6f);
    layer_norm_backward<float>(dx, dweight, dbias, dy, saved, x, weight);
}

void cpu_softmax(TensorView<float, 3> y, TensorView<float, 3> dx, TensorView<const float, 3> x, TensorView<const float, 2> mask,
                 TensorView<const float, 3> dy) {
    softmax_forward<float>(y, x, mask);
    softmax_backward<float>(dx, dy, y);
}

void cpu_embedding(TensorView<float, 2> y, TensorView<float, 2> dweight, TensorView<const float, 2> weight,
                   TensorView<const std::int64_t, 1> ids, TensorView<const float, 2> dy) {
    embedding_forward<float>(y, weight, ids);
    embedding_backward<float>(dweight, dy, ids);
}
void cpu_l2_normalize(TensorView<float, 2> y, TensorView<float, 2> dx, TensorView<const float, 2> x, TensorView<const float, 2> dy) {
    L2NormalizeSaved<float> saved;
    l2_normalize_forward<float>(y, saved, x);
    l2_normalize_backward<float>(dx, dy, y, saved);
}

void cpu_mean_pool(TensorView<float, 2> y, TensorView<float, 3> dx, TensorView<const float, 3> x, TensorView<const float, 2> dy) {
    mean_pool_forward<float>(y, x);
    mean_pool_backward<float>(dx, dy);
}

void cpu_gumbel_assign(TensorView<float, 3> hard, TensorView<float, 3> dlogits, TensorView<float, 3> a, TensorView<float, 3> dnorm,
                       TensorView<const float, 3> logits, TensorView<const float, 3> noise, TensorView<const float, 3> dy,
                       TensorView<const float, 3> da, float tau) {
    GumbelAssignSaved<float> saved;
    gumbel_assign_forward<float>(hard, saved, logits, noise, tau);
    gumbel_assign_backward<float>(dlogits, dy, saved, tau);
    assign_normalize_forward<float>(a, hard);
    assign_normalize_backward<float>(dnorm, da, hard);
}

float cpu_cross_entropy(TensorView<float, 2> dlogits, TensorView<const float, 2> logits, TensorView<const std::int64_t, 1> targets,
                        float dloss) {
    CrossEntropySaved<float> saved;
    const float loss = cross_entropy_forward<float>(saved, logits, targets);
    cross_entropy_backward<float>(dlogits, dloss, saved, logits, targets);
    return loss;
}

void cpu_attention(TensorView<float, 3> out, TensorView<float, 3> dq, TensorView<float, 3> dk, TensorView<float, 3> dv,
                   TensorView<const float, 3> q, TensorView<const float, 3> k, TensorView<const float, 3> v,
                   TensorView<const std::uint8_t, 2> key_mask, TensorView<const float, 3> dout, index_t heads) {
    AttentionSaved<float> saved;
    attention_forward<float>(out, saved, q, k, v, key_mask, heads);
    attention_backward<float>(dq, dk, dv, dout, saved, q, k, v, out, key_mask, heads);
}

}  // namespace svilm::testing
