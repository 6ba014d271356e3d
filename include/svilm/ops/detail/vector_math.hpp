// svilm/ops/detail/vector_math.hpp: element-wise math the row kernels share.
//
// exp of float arrays dominates softmax and attention once the GEMMs are fast (one exp per
// attention score: 29.5 million per ViT-B layer at 1568 tokens). std::exp does not vectorise, so
// float uses a branch-free range reduction + degree-6 polynomial that the compiler vectorises
// under `omp simd`; relative error about 2e-7 (a few ulp), exp(-inf) == 0 exactly. double uses
// std::exp: it serves gradient checks, where accuracy matters more than speed.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include "svilm/core/shape.hpp"

namespace svilm::detail {

inline float exp_approx(float x) {
    // exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln(2) / 2, after clamping x to
    // [-88, 88]. The clamp works on the bits, with integer comparisons: with float comparisons
    // (std::min, std::max or ?:) GCC 12 sees control flow and vectorises no loop that calls this
    // function (measured: GELU at 7.4 ns per element on one core). A NaN is left as it is.
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    constexpr std::uint32_t limit = 0x42B00000u;  // 88.0f
    const bool beyond = magnitude > limit && magnitude <= 0x7f800000u;  // |x| > 88, infinities included
    const float clamped = std::bit_cast<float>(beyond ? (bits & 0x80000000u) | limit : bits);
    const float rounding = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const float shifted = clamped * 1.44269504088896341f + rounding;
    const float n = shifted - rounding;
    const float r = (clamped - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // The integer n sits in the low mantissa bits of `shifted` (no float-to-int conversion, so a
    // NaN input stays a NaN result instead of undefined behaviour). n = -127 (x <= -88,
    // including -inf) gives exponent bits 0, i.e. a result of exactly 0.
    const std::uint32_t biased = std::bit_cast<std::uint32_t>(shifted) - 0x4B400000u + 127u;
    return p * std::bit_cast<float>(biased << 23);
}

inline double exp_approx(double x) { return std::exp(x); }

// erf for float arrays, vectorisable: Abramowitz & Stegun 7.1.26 on |x| with exp_approx,
// absolute error below 2e-7 (float's own resolution near 1). double uses std::erf.
inline float erf_approx(float x) {
    const float ax = std::abs(x);
    const float t = 1.0f / (1.0f + 0.3275911f * ax);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    const float y = 1.0f - p * t * exp_approx(-ax * ax);
    return std::copysign(y, x);
}

inline double erf_approx(double x) { return std::erf(x); }

// The hot element-wise loops of the float ops (exp in softmax and attention, GELU) are
// compiled twice when the translation unit does not target AVX2 itself (no -march=native, as a
// consumer's default build): as the compiler's baseline (SSE2 on x86-64) and for AVX2 + FMA, and
// the AVX2 copy is chosen when the CPU has it. Measured on a Zen 2 core: GELU over 2.4 million
// floats, 7.5 ms with SSE2 and 2.7 ms with AVX2. The loop bodies are written once
// (always_inline) and inlined into both copies. The dispatching functions live in an inline
// namespace named after the choice, so that a program whose files are compiled with and without
// AVX2 links each file to its own version (one name for both would let the linker hand the AVX2
// version to every file).
#if defined(__x86_64__) && !defined(__AVX2__) && (defined(__GNUC__) || defined(__clang__))
#define SVILM_VECTOR_MATH_AVX2_COPY 1
#define SVILM_AVX2_TARGET __attribute__((target("avx2,fma")))
#endif

#if defined(SVILM_VECTOR_MATH_AVX2_COPY)
inline namespace run_time_avx2 {
#else
inline namespace compile_time_target {
#endif

// Whether the AVX2 copies run: compiled and supported by this CPU.
inline bool vector_math_uses_avx2() {
#if defined(SVILM_VECTOR_MATH_AVX2_COPY)
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
#else
    return false;
#endif
}

template <class T>
[[gnu::always_inline]] inline T exp_shifted_sum_body(const T* in, T* out, index_t n, T shift) {
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (index_t i = 0; i < n; ++i) {
        const T e = exp_approx(in[i] - shift);
        out[i] = e;
        sum += e;
    }
    return sum;
}

// y[i] = gelu(x[i]) = 0.5 x (1 + erf(x / sqrt 2)); y may alias x.
template <class T>
[[gnu::always_inline]] inline void gelu_body(const T* x, T* y, index_t n) {
    const T inv_sqrt2 = T(1) / std::numbers::sqrt2_v<T>;
#pragma omp simd
    for (index_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + erf_approx(x[i] * inv_sqrt2));
}

// dx[i] = dy[i] * (Phi(x[i]) + x[i] phi(x[i])); dx may alias dy.
template <class T>
[[gnu::always_inline]] inline void gelu_backward_body(const T* x, const T* dy, T* dx, index_t n) {
    const T inv_sqrt2 = T(1) / std::numbers::sqrt2_v<T>, inv_sqrt_2pi = std::numbers::inv_sqrtpi_v<T> * inv_sqrt2;
#pragma omp simd
    for (index_t i = 0; i < n; ++i) {
        const T cdf = T(0.5) * (T(1) + erf_approx(x[i] * inv_sqrt2));
        const T pdf = inv_sqrt_2pi * exp_approx(T(-0.5) * x[i] * x[i]);
        dx[i] = dy[i] * (cdf + x[i] * pdf);
    }
}

#if defined(SVILM_VECTOR_MATH_AVX2_COPY)
SVILM_AVX2_TARGET inline float exp_shifted_sum_avx2(const float* in, float* out, index_t n, float shift) {
    return exp_shifted_sum_body(in, out, n, shift);
}
SVILM_AVX2_TARGET inline void gelu_avx2(const float* x, float* y, index_t n) { gelu_body(x, y, n); }
SVILM_AVX2_TARGET inline void gelu_backward_avx2(const float* x, const float* dy, float* dx, index_t n) {
    gelu_backward_body(x, dy, dx, n);
}
#endif

// out[i] = exp(in[i] - shift); returns the sum of out. in and out may alias.
template <class T>
T exp_shifted_sum(const T* in, T* out, index_t n, T shift) {
#if defined(SVILM_VECTOR_MATH_AVX2_COPY)
    if constexpr (std::is_same_v<T, float>)
        if (vector_math_uses_avx2()) return exp_shifted_sum_avx2(in, out, n, shift);
#endif
    return exp_shifted_sum_body(in, out, n, shift);
}

template <class T>
void gelu(const T* x, T* y, index_t n) {
#if defined(SVILM_VECTOR_MATH_AVX2_COPY)
    if constexpr (std::is_same_v<T, float>)
        if (vector_math_uses_avx2()) return gelu_avx2(x, y, n);
#endif
    gelu_body(x, y, n);
}

template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, index_t n) {
#if defined(SVILM_VECTOR_MATH_AVX2_COPY)
    if constexpr (std::is_same_v<T, float>)
        if (vector_math_uses_avx2()) return gelu_backward_avx2(x, dy, dx, n);
#endif
    gelu_backward_body(x, dy, dx, n);
}

}  // inline namespace run_time_avx2 / compile_time_target

#undef SVILM_AVX2_TARGET

// Largest element, -inf for an empty range. Eight independent lanes: a single running max is
// a loop-carried dependency the compiler will not vectorise without -ffast-math.
template <class T>
T max_of(const T* in, index_t n) {
    constexpr index_t lanes = 8;
    T lane_max[lanes];
    for (index_t l = 0; l < lanes; ++l) lane_max[l] = -INFINITY;
    index_t i = 0;
    for (; i + lanes <= n; i += lanes)
        for (index_t l = 0; l < lanes; ++l) lane_max[l] = in[i + l] > lane_max[l] ? in[i + l] : lane_max[l];
    T m = -INFINITY;
    for (index_t l = 0; l < lanes; ++l) m = lane_max[l] > m ? lane_max[l] : m;
    for (; i < n; ++i) m = in[i] > m ? in[i] : m;
    return m;
}

template <class T>
T dot(const T* a, const T* b, index_t n) {
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (index_t i = 0; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

}  // namespace svilm::detail
