// svilm/ops/cuda/gemm.hpp: the CUDA GEMM, through cuBLAS, with the CPU gemm's row-major contract
// and signature (svilm/ops/gemm.hpp): C (M, N) = alpha * op(A) op(B) + beta * C. With beta == 0,
// C is overwritten even where it held NaN (cuBLAS does not read C then).
//
// cuBLAS is column-major: a row-major (M, N) matrix is a column-major (N, M) one, so
// C^T = op(B)^T op(A)^T is computed with the operands swapped and no copy. float uses TF32 or
// bf16 tensor cores only when the context opted in (Context<cuda>::set_math). No kernels here:
// C++ files that link svilm::cuda include it too.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/gemm_types.hpp"

namespace svilm {

namespace cuda_detail {

inline cublasComputeType_t compute_type(MathMode mode) {
    switch (mode) {
        case MathMode::tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
        case MathMode::bf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
        default: return CUBLAS_COMPUTE_32F;
    }
}

inline void check_leading(const char* op, index_t lda, index_t a_cols, index_t ldb, index_t b_cols, index_t ldc, index_t N) {
    if (lda < std::max<index_t>(1, a_cols) || ldb < std::max<index_t>(1, b_cols) || ldc < std::max<index_t>(1, N))
        throw ShapeError(std::string(op) + ": leading dimensions (" + std::to_string(lda) + ", " + std::to_string(ldb) + ", " +
                         std::to_string(ldc) + ") shorter than the rows (" + std::to_string(a_cols) + ", " +
                         std::to_string(b_cols) + ", " + std::to_string(N) + ")");
}

inline cublasOperation_t cublas_op(Trans t) { return t == Trans::yes ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace cuda_detail

// `math` overrides the context's mode for this product: the losses and the assignment logits ask
// for fp32, because a logit scaled by up to 100 would carry bf16's rounding (about 0.4) into the
// softmax. double ignores it (cuBLAS computes doubles in fp64).
template <class T>
void gemm(const Context<cuda>& ctx, Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
          index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc, std::optional<MathMode> math = std::nullopt) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "gemm supports float and double");
    if (M == 0 || N == 0) return;
    cuda_detail::check_leading("gemm", lda, trans_a == Trans::yes ? M : K, ldb, trans_b == Trans::yes ? K : N, ldc, N);
    const cublasOperation_t op_a = cuda_detail::cublas_op(trans_a), op_b = cuda_detail::cublas_op(trans_b);
    if constexpr (std::is_same_v<T, float>)
        SVILM_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), op_b, op_a, int(N), int(M), int(K), &alpha, B, CUDA_R_32F, int(ldb), A,
                                        CUDA_R_32F, int(lda), &beta, C, CUDA_R_32F, int(ldc),
                                        cuda_detail::compute_type(math.value_or(ctx.math())), CUBLAS_GEMM_DEFAULT));
    else
        SVILM_CUBLAS_CHECK(cublasDgemm(ctx.cublas(), op_b, op_a, int(N), int(M), int(K), &alpha, B, int(ldb), A, int(lda),
                                       &beta, C, int(ldc)));
}

// `batch` independent GEMMs, C_i = alpha op(A_i) op(B_i) + beta C_i with A_i = A + i * stride_a
// (and so on): the per-clip products of the grouping block in one launch.
template <class T>
void gemm_batched(const Context<cuda>& ctx, Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha,
                  const T* A, index_t lda, index_t stride_a, const T* B, index_t ldb, index_t stride_b, T beta, T* C,
                  index_t ldc, index_t stride_c, index_t batch, std::optional<MathMode> math = std::nullopt) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "gemm_batched supports float and double");
    if (M == 0 || N == 0 || batch == 0) return;
    cuda_detail::check_leading("gemm_batched", lda, trans_a == Trans::yes ? M : K, ldb, trans_b == Trans::yes ? K : N, ldc,
                               N);
    const cublasOperation_t op_a = cuda_detail::cublas_op(trans_a), op_b = cuda_detail::cublas_op(trans_b);
    if constexpr (std::is_same_v<T, float>)
        SVILM_CUBLAS_CHECK(cublasGemmStridedBatchedEx(ctx.cublas(), op_b, op_a, int(N), int(M), int(K), &alpha, B, CUDA_R_32F,
                                                      int(ldb), stride_b, A, CUDA_R_32F, int(lda), stride_a, &beta, C,
                                                      CUDA_R_32F, int(ldc), stride_c, int(batch),
                                                      cuda_detail::compute_type(math.value_or(ctx.math())),
                                                      CUBLAS_GEMM_DEFAULT));
    else
        SVILM_CUBLAS_CHECK(cublasDgemmStridedBatched(ctx.cublas(), op_b, op_a, int(N), int(M), int(K), &alpha, B, int(ldb),
                                                     stride_b, A, int(lda), stride_a, &beta, C, int(ldc), stride_c,
                                                     int(batch)));
}

namespace cuda_detail {

// A 2-D device view as a GEMM operand: row-major with a leading dimension, or transposed when its
// first axis is the unit-stride one (a view made by .transpose(0, 1)).
template <class T>
struct Operand {
    const T* data;
    index_t ld;
    Trans trans;
};

template <class T>
Operand<T> operand(const char* op, const char* name, TensorView<const T, 2, cuda> v) {
    if (v.extent(1) <= 1 || v.stride(1) == 1) return {v.data(), std::max<index_t>(v.stride(0), v.extent(1)), Trans::no};
    if (v.extent(0) <= 1 || v.stride(0) == 1) return {v.data(), std::max<index_t>(v.stride(1), v.extent(0)), Trans::yes};
    throw ShapeError(std::string(op) + ": " + name + " " + to_string<2>(v.shape()) + " has no unit-stride axis");
}

}  // namespace cuda_detail

// c (M, N) = a (M, K) @ b (K, N) + beta * c on the device. a or b may be transposed views; c
// needs a unit stride on its last axis.
template <class T>
void matmul(const Context<cuda>& ctx, TensorView<T, 2, cuda> c, std::type_identity_t<TensorView<const T, 2, cuda>> a,
            std::type_identity_t<TensorView<const T, 2, cuda>> b, T beta = T(0)) {
    const char* op = "matmul";
    if (a.extent(1) != b.extent(0))
        throw ShapeError(std::string(op) + ": a " + to_string<2>(a.shape()) + " vs b " + to_string<2>(b.shape()));
    expect_shape(op, "c", c, {a.extent(0), b.extent(1)});
    if (c.extent(1) > 1 && c.stride(1) != 1) throw ShapeError(std::string(op) + ": c needs a unit stride on its last axis");
    const auto oa = cuda_detail::operand<T>(op, "a", a), ob = cuda_detail::operand<T>(op, "b", b);
    gemm<T>(ctx, oa.trans, ob.trans, a.extent(0), b.extent(1), a.extent(1), T(1), oa.data, oa.ld, ob.data, ob.ld, beta,
            c.data(), std::max<index_t>(c.stride(0), c.extent(1)));
}

// y (M, N) = a (M, K) @ b (K, N)
template <class T>
void matmul_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y, std::type_identity_t<TensorView<const T, 2, cuda>> a,
                    std::type_identity_t<TensorView<const T, 2, cuda>> b) {
    matmul<T>(ctx, y, a, b);
}

// da (M, K) = dy @ b^T, db (K, N) = a^T @ dy; both assigned (they are inputs, not parameters).
// Either gradient may be an empty view to skip it.
template <class T>
void matmul_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> da, TensorView<T, 2, cuda> db,
                     std::type_identity_t<TensorView<const T, 2, cuda>> dy, std::type_identity_t<TensorView<const T, 2, cuda>> a,
                     std::type_identity_t<TensorView<const T, 2, cuda>> b) {
    if (da.data()) matmul<T>(ctx, da, dy, b.transpose(0, 1));
    if (db.data()) matmul<T>(ctx, db, a.transpose(0, 1), dy);
}

}  // namespace svilm
