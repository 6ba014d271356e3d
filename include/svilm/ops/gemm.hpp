// svilm/ops/gemm.hpp: the one GEMM every matrix product in svilm goes through.
//
// Row-major C (M, N) = alpha * op(A) op(B) + beta * C. With beta == 0, C is overwritten even
// where it held NaN.
//
// Backend: chosen at configure time (CMake prints it): OpenBLAS's cblas when found
// (SVILM_HAVE_OPENBLAS), Eigen's own product otherwise. One run-time exception, measured:
// OpenBLAS 0.3.21 (Debian 12) does not recognise some recent Xeons and falls back to its generic
// "Prescott" SSE3 kernels, about 40 GFLOP/s on 2 cores where Eigen's AVX-512 product reaches
// about 250. When OpenBLAS reports such a generic core while the CPU has AVX2, svilm uses
// Eigen's product instead. SVILM_GEMM=openblas or SVILM_GEMM=eigen in the environment
// overrides the choice; svilm::gemm_backend_description() says which is in use and why.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include <Eigen/Core>

#include "svilm/core/tensor.hpp"

#if defined(SVILM_HAVE_OPENBLAS)
#include <cblas.h>
extern "C" char* openblas_get_corename(void);
#endif

namespace svilm {

enum class Trans { no, yes };

enum class GemmBackend { openblas, eigen };

namespace detail {

struct GemmChoice {
    GemmBackend backend;
    std::string description;
};

inline GemmChoice choose_gemm_backend() {
#if defined(SVILM_HAVE_OPENBLAS)
    const std::string core = openblas_get_corename();
    const char* forced = std::getenv("SVILM_GEMM");
    if (forced && std::strcmp(forced, "openblas") == 0) return {GemmBackend::openblas, "OpenBLAS (" + core + " kernels, SVILM_GEMM)"};
    if (forced && std::strcmp(forced, "eigen") == 0) return {GemmBackend::eigen, "Eigen (SVILM_GEMM)"};
    static const char* generic_cores[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                          "Coppermine", "Northwood", "Banias", "Generic"};
    bool generic = false;
    for (const char* g : generic_cores) generic = generic || core == g;
#if defined(__x86_64__) || defined(__i386__)
    if (generic && __builtin_cpu_supports("avx2"))
        return {GemmBackend::eigen, "Eigen (OpenBLAS found but running generic " + core + " kernels on an AVX2 CPU)"};
#endif
    return {GemmBackend::openblas, "OpenBLAS (" + core + " kernels)"};
#else
    return {GemmBackend::eigen, "Eigen"};
#endif
}

inline const GemmChoice& gemm_choice() {
    static const GemmChoice choice = choose_gemm_backend();
    return choice;
}

template <class T>
void eigen_gemm(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
                const T* B, index_t ldb, T beta, T* C, index_t ldc) {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using ConstMap = Eigen::Map<const Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
    using Map = Eigen::Map<Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
    // A stored transposed is a (K, M) row-major block; Eigen's .transpose() reads it in place.
    const ConstMap a(A, trans_a == Trans::yes ? K : M, trans_a == Trans::yes ? M : K, Eigen::OuterStride<>(lda));
    const ConstMap b(B, trans_b == Trans::yes ? N : K, trans_b == Trans::yes ? K : N, Eigen::OuterStride<>(ldb));
    Map c(C, M, N, Eigen::OuterStride<>(ldc));
    if (beta == T(0) && alpha == T(1) && trans_a == Trans::no && trans_b == Trans::no && K > 0) {
        c.noalias() = a * b;  // the common case (forward layers): no separate zeroing pass
        return;
    }
    if (beta == T(0))
        c.setZero();
    else if (beta != T(1))
        c *= beta;
    if (K == 0) return;
    if (trans_a == Trans::no && trans_b == Trans::no)
        c.noalias() += alpha * a * b;
    else if (trans_a == Trans::no)
        c.noalias() += alpha * a * b.transpose();
    else if (trans_b == Trans::no)
        c.noalias() += alpha * a.transpose() * b;
    else
        c.noalias() += alpha * a.transpose() * b.transpose();
}

}  // namespace detail

inline GemmBackend gemm_backend() { return detail::gemm_choice().backend; }
inline const std::string& gemm_backend_description() { return detail::gemm_choice().description; }

template <class T>
void gemm(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
          const T* B, index_t ldb, T beta, T* C, index_t ldc) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "gemm supports float and double");
    if (M == 0 || N == 0) return;
    // Leading dimensions at least the stored row length: OpenBLAS would print an error and
    // leave C unwritten, Eigen would read overlapping rows; both are bugs to report.
    const index_t a_cols = trans_a == Trans::yes ? M : K, b_cols = trans_b == Trans::yes ? K : N;
    if (lda < std::max<index_t>(1, a_cols) || ldb < std::max<index_t>(1, b_cols) || ldc < std::max<index_t>(1, N))
        throw ShapeError("gemm: leading dimensions (" + std::to_string(lda) + ", " + std::to_string(ldb) + ", " +
                         std::to_string(ldc) + ") shorter than the rows (" + std::to_string(a_cols) + ", " +
                         std::to_string(b_cols) + ", " + std::to_string(N) + ")");
#if defined(SVILM_HAVE_OPENBLAS)
    if (gemm_backend() == GemmBackend::openblas) {
        const auto ta = trans_a == Trans::yes ? CblasTrans : CblasNoTrans;
        const auto tb = trans_b == Trans::yes ? CblasTrans : CblasNoTrans;
        if constexpr (std::is_same_v<T, float>)
            cblas_sgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
        else
            cblas_dgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
        return;
    }
#endif
    detail::eigen_gemm<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// A 2-D view as a GEMM operand: row-major with a leading dimension, or a transposed row-major
// block when the first axis is the unit-stride one (e.g. a view made by .transpose(0, 1)).
template <class T>
struct GemmOperand {
    const T* data;
    index_t ld;
    Trans trans;
};

template <class T>
GemmOperand<T> gemm_operand(const TensorView<const T, 2>& m, const char* op, const char* name) {
    if (m.stride(1) == 1 && m.stride(0) >= std::max<index_t>(1, m.extent(1))) return {m.data(), m.stride(0), Trans::no};
    if (m.stride(0) == 1 && m.stride(1) >= std::max<index_t>(1, m.extent(0))) return {m.data(), m.stride(1), Trans::yes};
    throw ShapeError(std::string(op) + ": " + name + " " + to_string<2>(m.shape()) +
                     " needs a unit stride on one axis for GEMM");
}

// c (M, N) = a (M, K) @ b (K, N) + beta * c. Any operand may be a transposed view.
template <class T>
void matmul(TensorView<T, 2> c, std::type_identity_t<TensorView<const T, 2>> a,
            std::type_identity_t<TensorView<const T, 2>> b, T beta = T(0)) {
    const char* op = "matmul";
    if (a.extent(1) != b.extent(0))
        throw ShapeError(std::string(op) + ": a " + to_string<2>(a.shape()) + " vs b " + to_string<2>(b.shape()));
    expect_shape(op, "out", c, {a.extent(0), b.extent(1)});
    if (c.stride(1) != 1 && c.extent(1) > 1) throw ShapeError("matmul: out must have unit stride on its last axis");
    const auto A = gemm_operand<T>(a, op, "a");
    const auto B = gemm_operand<T>(b, op, "b");
    gemm<T>(A.trans, B.trans, c.extent(0), c.extent(1), a.extent(1), T(1), A.data, A.ld, B.data, B.ld, beta, c.data(),
            std::max<index_t>(1, c.stride(0)));
}

// y (M, N) = a (M, K) @ b (K, N)
template <class T>
void matmul_forward(TensorView<T, 2> y, std::type_identity_t<TensorView<const T, 2>> a,
                    std::type_identity_t<TensorView<const T, 2>> b) {
    matmul<T>(y, a, b);
}

// da (M, K) = dy @ b^T, db (K, N) = a^T @ dy; both assigned (they are inputs, not parameters).
// Either gradient may be an empty view to skip it.
template <class T>
void matmul_backward(TensorView<T, 2> da, TensorView<T, 2> db, std::type_identity_t<TensorView<const T, 2>> dy,
                     std::type_identity_t<TensorView<const T, 2>> a, std::type_identity_t<TensorView<const T, 2>> b) {
    if (da.data()) matmul<T>(da, dy, b.transpose(0, 1));
    if (db.data()) matmul<T>(db, a.transpose(0, 1), dy);
}

}  // namespace svilm
