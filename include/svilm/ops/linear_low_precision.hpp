// svilm/ops/linear_low_precision.hpp: the Linear product in bf16 or int8 on the CPU, inference
// only (what each precision means: svilm/ops/precision.hpp).
//
// bf16: the input rounded to bf16 and the bf16 weight widened to fp32, then the fp32 GEMM. The
//   products of two bf16 values are exact in fp32, so this computes what a bf16 dot-product unit
//   with fp32 sums computes, on any CPU; it halves the weight copy, not the time.
// int8: each stripe of input rows is quantised, multiplied by the int8 weight into int32 sums
//   and rescaled at once, while it is in cache. The int8 GEMM is oneDNN's dnnl_gemm_u8s8s32
//   (SVILM_HAVE_ONEDNN), which picks the CPU's int8 instructions when it runs; without oneDNN,
//   a portable loop. Stripes of rows (or of columns, for few rows) run on svilm's pool, one
//   single-threaded GEMM each, cut as gemm() cuts a product of the same shape
//   (svilm/ops/gemm.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "svilm/core/profile.hpp"
#include "svilm/ops/linear.hpp"
#include "svilm/ops/precision.hpp"

#if defined(SVILM_HAVE_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#endif

namespace svilm {

namespace detail {

// One input row quantised to [0, int8_input_max] with its own scale and zero point: x is about
// scale * (q - zero). The range always includes 0, so that 0 (padding, ReLU-like zeros) is exact.
// A row holding a value that is not finite is not quantised (finite == false): its outputs are
// NaN, as the fp32 product's would be.
struct RowQuantisation {
    float scale = 1;
    std::int32_t zero = 0;
    bool finite = true;
};

// Written for the vectoriser: lane-wise min and max (as detail::max_of), a NaN or infinity found
// through x * 0, rounding by the 1.5 * 2^23 trick and an integer clamp (GCC 12 treats float
// min, max and clamp as control flow and would leave these loops scalar).
inline RowQuantisation quantise_row(const float* x, index_t n, std::uint8_t* q) {
    constexpr index_t lanes = 8;
    float lane_lo[lanes] = {}, lane_hi[lanes] = {};
    index_t i = 0;
    for (; i + lanes <= n; i += lanes)
        for (index_t l = 0; l < lanes; ++l) {
            lane_lo[l] = x[i + l] < lane_lo[l] ? x[i + l] : lane_lo[l];
            lane_hi[l] = x[i + l] > lane_hi[l] ? x[i + l] : lane_hi[l];
        }
    float lo = 0, hi = 0, poison = 0;
    for (index_t l = 0; l < lanes; ++l) {
        lo = lane_lo[l] < lo ? lane_lo[l] : lo;
        hi = lane_hi[l] > hi ? lane_hi[l] : hi;
    }
    for (; i < n; ++i) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
#pragma omp simd reduction(+ : poison)
    for (index_t k = 0; k < n; ++k) poison += x[k] * 0.0f;  // NaN when any x is NaN or infinite
    if (poison != 0.0f) {
        std::fill_n(q, n, std::uint8_t(0));
        return {1.0f, 0, false};
    }
    // hi - lo itself may overflow for finite values; the scale is at least the smallest normal
    // float, so that 1 / scale and -lo / scale stay finite for a row of denormals
    const float range = hi / float(int8_input_max) - lo / float(int8_input_max);
    const float scale = hi > lo ? std::max(range, std::numeric_limits<float>::min()) : 1.0f;
    const auto zero = std::int32_t(std::clamp(std::nearbyint(-lo / scale), 0.0f, float(int8_input_max)));
    const float inverse = 1.0f / scale, rounding = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
#pragma omp simd
    for (index_t k = 0; k < n; ++k) {
        const auto v = std::int32_t((x[k] * inverse + rounding) - rounding) + zero;
        q[k] = std::uint8_t(v < 0 ? 0 : v > int8_input_max ? int8_input_max : v);
    }
    return {scale, zero, true};
}

// sums (rows, N) = q (rows, K) @ w (N, K)^T in int32, on the calling thread.
inline void int8_gemm_portable(index_t rows, index_t N, index_t K, const std::uint8_t* q, const std::int8_t* w,
                               std::int32_t* sums) {
    for (index_t r = 0; r < rows; ++r) {
        const std::uint8_t* a = q + r * K;
        for (index_t n = 0; n < N; ++n) {
            const std::int8_t* b = w + n * K;
            std::int32_t acc = 0;
            for (index_t k = 0; k < K; ++k) acc += std::int32_t(a[k]) * std::int32_t(b[k]);
            sums[r * N + n] = acc;
        }
    }
}

inline void int8_gemm_one_thread(index_t rows, index_t N, index_t K, const std::uint8_t* q, const std::int8_t* w,
                                 std::int32_t* sums) {
#if defined(SVILM_HAVE_ONEDNN)
    const SingleOpenMPThread one_thread;  // oneDNN's OpenMP build would open a team here
    const std::int32_t no_offset = 0;
    const dnnl_status_t status =
        dnnl_gemm_u8s8s32('N', 'T', 'F', rows, N, K, 1.0f, q, K, 0, w, K, 0, 0.0f, sums, N, &no_offset);
    if (status != dnnl_success)
        throw Error("linear_forward_low_precision: oneDNN's int8 GEMM failed (status " + std::to_string(int(status)) + ")");
#else
    int8_gemm_portable(rows, N, K, q, w, sums);
#endif
}

inline const char* int8_gemm_description() {
#if defined(SVILM_HAVE_ONEDNN)
    return "oneDNN dnnl_gemm_u8s8s32";
#else
    return "portable loop (svilm built without oneDNN)";
#endif
}

}  // namespace detail

// y (R, N) = x (R, K) @ w (N, K)^T + bias (N) with w in bf16 or int8; bias may be empty.
// requires: x contiguous; y with a unit stride on its last axis; w.precision bf16 or int8.
inline void linear_forward_low_precision(const Context<cpu>& ctx, TensorView<float, 2> y, TensorView<const float, 2> x,
                                         const LowPrecisionWeight& w, TensorView<const float, 1> bias) {
    const profile::Scope profile_scope(__func__);
    const char* op = "linear_forward_low_precision";
    if (x.extent(1) != w.in)
        throw ShapeError(std::string(op) + ": x " + to_string<2>(x.shape()) + " vs weight (" + std::to_string(w.out) +
                         ", " + std::to_string(w.in) + ")");
    expect_shape(op, "y", y, {x.extent(0), w.out});
    expect_contiguous(op, "x", x);
    if (y.stride(1) != 1 && y.extent(1) > 1) throw ShapeError(std::string(op) + ": y needs a unit stride on its last axis");
    if (bias.data()) {
        expect_shape(op, "bias", bias, {w.out});
        expect_contiguous(op, "bias", bias);
    }
    const index_t M = x.extent(0), N = w.out, K = w.in;
    if (M == 0 || N == 0) return;

    if (w.precision == Precision::bf16) {
        Tensor<float, 2> x_rounded({M, K}, uninitialized), w_wide({N, K}, uninitialized);
        parallel_for_ranges(M * K, [&](index_t lo, index_t hi) {
            for (index_t i = lo; i < hi; ++i) x_rounded.data()[i] = to_float(bfloat16(x.data()[i]));
        }, M * K > 65536);
        parallel_for_ranges(N * K, [&](index_t lo, index_t hi) {
            for (index_t i = lo; i < hi; ++i) w_wide.data()[i] = to_float(w.bf16[std::size_t(i)]);
        }, N * K > 65536);
        linear_forward<float>(ctx, y, x_rounded, w_wide, bias);
        return;
    }
    if (w.precision != Precision::int8)
        throw ValueError(std::string(op) + ": the weight copy is " + to_string(w.precision) + ", not bf16 or int8");

    if (K > index_t(std::numeric_limits<std::int32_t>::max() / (int8_input_max * int8_weight_max)))
        throw ShapeError(std::string(op) + ": " + std::to_string(K) + " inputs per row overflow the int8 product's int32 sums");
    const index_t ldy = std::max<index_t>(1, y.stride(0));
    if (K == 0) {  // no inputs: the bias (as the fp32 product gives)
        for (index_t r = 0; r < M; ++r)
            for (index_t n = 0; n < N; ++n) y.data()[r * ldy + n] = bias.data() ? bias.data()[n] : 0.0f;
        return;
    }
    // rows [r0, r0 + rows) x columns [n0, n0 + cols) of y from their quantised rows q (rows, K):
    // y = scale_r * scale_n * (sum - zero_r * column_sum_n) + bias_n
    const auto product = [&](const std::uint8_t* q, const detail::RowQuantisation* row, index_t r0, index_t rows,
                             index_t n0, index_t cols) {
        std::vector<std::int32_t> sums(static_cast<std::size_t>(rows * cols));
        detail::int8_gemm_one_thread(rows, cols, K, q, w.int8.data() + n0 * K, sums.data());
        for (index_t r = 0; r < rows; ++r) {
            const auto [scale, zero, finite] = row[r];
            const std::int32_t* sr = sums.data() + r * cols;
            float* yr = y.data() + (r0 + r) * ldy + n0;
            if (!finite) {
                std::fill_n(yr, cols, std::numeric_limits<float>::quiet_NaN());
                continue;
            }
            for (index_t c = 0; c < cols; ++c) {
                const std::size_t n = std::size_t(n0 + c);
                const float v = scale * w.scale[n] * float(sr[c] - zero * w.column_sum[n]);
                yr[c] = bias.data() ? v + bias.data()[n] : v;
            }
        }
    };
    const auto split = detail::gemm_split(M, N, K, detail::in_parallel_region());
    if (split.by_rows) {  // each stripe quantises its rows, multiplies and rescales them while they are in cache
        const index_t stripes = (M + split.step - 1) / split.step;
        parallel_for(stripes, [&](index_t s) {
            const index_t lo = s * split.step, rows = std::min(split.step, M - lo);
            std::vector<std::uint8_t> q(static_cast<std::size_t>(rows * K));
            std::vector<detail::RowQuantisation> row(static_cast<std::size_t>(rows));
            for (index_t r = 0; r < rows; ++r) row[std::size_t(r)] = detail::quantise_row(&x(lo + r, 0), K, q.data() + r * K);
            product(q.data(), row.data(), lo, rows, 0, N);
        }, stripes > 1);
    } else {  // few rows: quantise them all, then stripes of columns share them
        std::vector<std::uint8_t> q(static_cast<std::size_t>(M * K));
        std::vector<detail::RowQuantisation> row(static_cast<std::size_t>(M));
        parallel_for(M, [&](index_t r) { row[std::size_t(r)] = detail::quantise_row(&x(r, 0), K, q.data() + r * K); },
                     M * K > 65536);
        const index_t stripes = (N + split.step - 1) / split.step;
        parallel_for(stripes, [&](index_t s) {
            const index_t n0 = s * split.step;
            product(q.data(), row.data(), 0, M, n0, std::min(split.step, N - n0));
        });
    }
}

}  // namespace svilm
