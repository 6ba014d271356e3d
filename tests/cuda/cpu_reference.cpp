#include "cuda/cpu_reference.hpp"

#include <stdexcept>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/ops.hpp"

namespace svilm::testing {

namespace {
const Context<cpu> cpu_ctx;
}  // namespace

optest::OpResults cpu_run_op(const std::string& op, const std::string& setting, const optest::Sizes& sizes,
                             const optest::HostBuffers& args, const optest::HostBuffers& douts) {
    static const std::vector<optest::OpCase<float, cpu>> table = optest::op_table<float, cpu>();
    for (const optest::OpCase<float, cpu>& c : table)
        if (c.op == op && c.setting == setting) return optest::run_case(cpu_ctx, c, sizes, args, douts);
    throw std::invalid_argument("the op table has no CPU case " + op + " [" + setting + "]");
}

void cpu_matmul(TensorView<float, 2> c, TensorView<const float, 2> a, TensorView<const float, 2> b, float beta) {
    matmul<float>(cpu_ctx, c, a, b, beta);
}
void cpu_matmul(TensorView<double, 2> c, TensorView<const double, 2> a, TensorView<const double, 2> b, double beta) {
    matmul<double>(cpu_ctx, c, a, b, beta);
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

void cpu_gemm_batched(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                      index_t stride_a, const float* B, index_t ldb, index_t stride_b, float beta, float* C, index_t ldc,
                      index_t stride_c, index_t batch) {
    gemm_batched<float>(cpu_ctx, trans_a ? Trans::yes : Trans::no, trans_b ? Trans::yes : Trans::no, M, N, K, alpha, A, lda,
                        stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
}

}  // namespace svilm::testing
