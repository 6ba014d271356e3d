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
//
// Threads: a product of at least 2 * gemm_tile_work multiply-adds is cut into stripes of C
// (rows, or columns when C has too few rows) and the stripes run on svilm's pool
// (svilm/core/parallel.hpp), one single-threaded BLAS call each. svilm sets OpenBLAS to one
// thread on its first product: OpenBLAS's own threads (libgomp's in Debian's OpenMP build) spin
// while they wait and made the programs 10-50x slower next to another busy process. The cut
// depends only on the shape and on whether the call is made inside a parallel loop, never on
// the thread count, so a product gives the same bits for any number of threads.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include <Eigen/Core>

#include "svilm/core/profile.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/gemm_types.hpp"

#if defined(SVILM_HAVE_OPENBLAS)
#include <cblas.h>
extern "C" char* openblas_get_corename(void);
#endif

namespace svilm {

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
    static const GemmChoice choice = [] {
#if defined(SVILM_HAVE_OPENBLAS)
        // One BLAS thread per call: svilm's pool does the splitting. The OpenMP build's
        // openblas_set_num_threads also sets this thread's OpenMP count; the guard restores it.
        const SingleOpenMPThread keep_openmp_setting;
        openblas_set_num_threads(1);
#endif
        return choose_gemm_backend();
    }();
    return choice;
}

// Products below 2 * gemm_tile_work multiply-adds run as one call; larger ones are cut into at
// most gemm_max_tiles stripes of at least gemm_tile_work each, widths a multiple of
// gemm_tile_align (the BLAS kernels' register blocks). Each stripe packs the operand it shares
// with the others again, and a short stripe reuses each packed block for fewer rows: measured
// with OpenBLAS 0.3.21 on 2 cores (AMD EPYC), C (1568, 768..3072), K 768: rows beat columns
// (47 ms against 56-67 ms at N 3072), and 4 stripes of 392 rows came within 0-8% of OpenBLAS's own
// two threads where 8 of 196 rows lost 5-10%. So stripes of a product whose shared operand
// exceeds 1 MiB of floats (2^18) are at least gemm_min_stripe_large wide, others at least
// gemm_min_stripe_small (where the shared operand stays in cache the cost is 2-5% at 64 rows).
// The count is then 2, 4 or 8 (3 becomes 4, 5 to 7 become 4): an odd count leaves threads idle
// at the end on the common 2- and 4-core machines (3 stripes on 2 threads: 10% slower).
inline constexpr double gemm_tile_work = double(1 << 19);
inline constexpr index_t gemm_max_tiles = 8;
inline constexpr index_t gemm_tile_align = 16;
inline constexpr index_t gemm_min_stripe_large = 256;
inline constexpr index_t gemm_min_stripe_small = 32;

// How gemm() cuts C: by rows (else columns) into `tiles` stripes of `step` (the last may be
// shorter); tiles == 1 is one call. Depends only on the shape and `nested`, never on the
// thread count.
struct GemmSplit {
    bool by_rows;
    index_t tiles, step;
};

inline GemmSplit gemm_split(index_t M, index_t N, index_t K, bool nested) {
    const double work = double(M) * double(N) * double(std::max<index_t>(K, 1));
    if (nested || work < 2 * gemm_tile_work) return {true, 1, M};
    const auto min_stripe = [&](index_t shared_extent) {
        return double(K) * double(shared_extent) > double(1 << 18) ? gemm_min_stripe_large : gemm_min_stripe_small;
    };
    // rows share B (K x N); columns share A (M x K)
    const bool by_rows = M >= 2 * min_stripe(N) || M >= N;
    const index_t extent = by_rows ? M : N;
    index_t tiles = std::min({index_t(work / gemm_tile_work), gemm_max_tiles, extent / min_stripe(by_rows ? N : M)});
    if (tiles < 2) return {true, 1, M};
    tiles = tiles >= 8 ? 8 : tiles >= 3 ? 4 : 2;
    if (extent / tiles < gemm_tile_align) tiles = 2;
    const index_t step = ((extent + tiles - 1) / tiles + gemm_tile_align - 1) / gemm_tile_align * gemm_tile_align;
    return {by_rows, (extent + step - 1) / step, step};
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

namespace detail {

// One product on the calling thread.
template <class T>
void gemm_one_thread(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
                     const T* B, index_t ldb, T beta, T* C, index_t ldc) {
    // Eigen's product and OpenBLAS's OpenMP build would otherwise open an OpenMP team here.
    const SingleOpenMPThread one_thread;
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
    eigen_gemm<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace detail

// `math` is the CUDA GEMM's tensor-core override; the CPU computes in T whatever it says.
template <class T>
void gemm(const Context<cpu>&, Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
          index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc, std::optional<MathMode> math = std::nullopt) {
    const profile::Scope profile_scope(__func__);
    (void)math;
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "gemm supports float and double");
    if (M == 0 || N == 0) return;
    // Leading dimensions at least the stored row length: OpenBLAS would print an error and
    // leave C unwritten, Eigen would read overlapping rows; both are bugs to report.
    const index_t a_cols = trans_a == Trans::yes ? M : K, b_cols = trans_b == Trans::yes ? K : N;
    if (lda < std::max<index_t>(1, a_cols) || ldb < std::max<index_t>(1, b_cols) || ldc < std::max<index_t>(1, N))
        throw ShapeError("gemm: leading dimensions (" + std::to_string(lda) + ", " + std::to_string(ldb) + ", " +
                         std::to_string(ldc) + ") shorter than the rows (" + std::to_string(a_cols) + ", " +
                         std::to_string(b_cols) + ", " + std::to_string(N) + ")");
    (void)detail::gemm_choice();  // sets OpenBLAS to one thread before the first call
    // Inside a parallel loop (e.g. attention's blocks) the product is one call.
    const auto [by_rows, tiles, step] = detail::gemm_split(M, N, K, detail::in_parallel_region());
    if (tiles < 2) {
        detail::gemm_one_thread<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const index_t extent = by_rows ? M : N;
    parallel_for(tiles, [&](index_t t) {
        const index_t lo = t * step, len = std::min(step, extent - lo);
        if (by_rows)  // rows lo.. of op(A) and C; op(A) = A^T reads columns lo.. of the stored (K, M) A
            detail::gemm_one_thread<T>(trans_a, trans_b, len, N, K, alpha, trans_a == Trans::yes ? A + lo : A + lo * lda,
                                       lda, B, ldb, beta, C + lo * ldc, ldc);
        else  // columns lo.. of op(B) and C; op(B) = B^T reads rows lo.. of the stored (N, K) B
            detail::gemm_one_thread<T>(trans_a, trans_b, M, len, K, alpha, A, lda,
                                       trans_b == Trans::yes ? B + lo * ldb : B + lo, ldb, beta, C + lo, ldc);
    });
}

// `batch` independent products C_i = alpha op(A_i) op(B_i) + beta C_i with A_i = A + i * stride_a
// (and so on): the per-clip products of the grouping block. Products run one after the other,
// each striped over the pool as gemm() does, so the bits match `batch` gemm() calls.
template <class T>
void gemm_batched(const Context<cpu>& ctx, Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha,
                  const T* A, index_t lda, index_t stride_a, const T* B, index_t ldb, index_t stride_b, T beta, T* C,
                  index_t ldc, index_t stride_c, index_t batch, std::optional<MathMode> math = std::nullopt) {
    const profile::Scope profile_scope(__func__);
    for (index_t i = 0; i < batch; ++i)
        gemm<T>(ctx, trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta, C + i * stride_c,
                ldc, math);
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
void matmul(const Context<cpu>& ctx, TensorView<T, 2> c, std::type_identity_t<TensorView<const T, 2>> a,
            std::type_identity_t<TensorView<const T, 2>> b, T beta = T(0)) {
    const profile::Scope profile_scope(__func__);
    const char* op = "matmul";
    if (a.extent(1) != b.extent(0))
        throw ShapeError(std::string(op) + ": a " + to_string<2>(a.shape()) + " vs b " + to_string<2>(b.shape()));
    expect_shape(op, "out", c, {a.extent(0), b.extent(1)});
    if (c.stride(1) != 1 && c.extent(1) > 1) throw ShapeError("matmul: out must have unit stride on its last axis");
    const auto A = gemm_operand<T>(a, op, "a");
    const auto B = gemm_operand<T>(b, op, "b");
    gemm<T>(ctx, A.trans, B.trans, c.extent(0), c.extent(1), a.extent(1), T(1), A.data, A.ld, B.data, B.ld, beta, c.data(),
            std::max<index_t>(1, c.stride(0)));
}

// y (M, N) = a (M, K) @ b (K, N)
template <class T>
void matmul_forward(const Context<cpu>& ctx, TensorView<T, 2> y, std::type_identity_t<TensorView<const T, 2>> a,
                    std::type_identity_t<TensorView<const T, 2>> b) {
    const profile::Scope profile_scope(__func__);
    matmul<T>(ctx, y, a, b);
}

// da (M, K) = dy @ b^T, db (K, N) = a^T @ dy; both assigned (they are inputs, not parameters).
// Either gradient may be an empty view to skip it.
template <class T>
void matmul_backward(const Context<cpu>& ctx, TensorView<T, 2> da, TensorView<T, 2> db, std::type_identity_t<TensorView<const T, 2>> dy,
                     std::type_identity_t<TensorView<const T, 2>> a, std::type_identity_t<TensorView<const T, 2>> b) {
    const profile::Scope profile_scope(__func__);
    if (da.data()) matmul<T>(ctx, da, dy, b.transpose(0, 1));
    if (db.data()) matmul<T>(ctx, db, a.transpose(0, 1), dy);
}

}  // namespace svilm
