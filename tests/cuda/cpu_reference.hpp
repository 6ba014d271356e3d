// tests/cuda/cpu_reference.hpp: the CPU ops the CUDA tests compare against, compiled by the C++
// compiler in cpu_reference.cpp (nvcc never sees Eigen or the OpenMP kernels).
#pragma once

#include <cstdint>
#include <string>

#include "ops/op_table.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm::testing {

// The CPU run (float) of the op table's case `op` at `setting`, as optest::run_case makes it.
optest::OpResults cpu_run_op(const std::string& op, const std::string& setting, const optest::Sizes& sizes,
                             const optest::HostBuffers& args, const optest::HostBuffers& douts);

void cpu_matmul(TensorView<float, 2> c, TensorView<const float, 2> a, TensorView<const float, 2> b, float beta);
void cpu_matmul(TensorView<double, 2> c, TensorView<const double, 2> a, TensorView<const double, 2> b, double beta);
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
// `batch` products C_i = alpha op(A_i) op(B_i) + beta C_i, the operands `stride` apart
void cpu_gemm_batched(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                      index_t stride_a, const float* B, index_t ldb, index_t stride_b, float beta, float* C, index_t ldc,
                      index_t stride_c, index_t batch);

}  // namespace svilm::testing
