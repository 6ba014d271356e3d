// The Linear product in bf16 and int8 (svilm/ops/linear_low_precision.hpp): the weight copies,
// the input quantisation, the int8 GEMM against integer arithmetic done here, bf16 against the
// fp32 product of the rounded operands, the error against fp32, the edge cases (a NaN row, a
// strided output, one row, several stripes) and the same bits for 1 and 2 threads.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/context.hpp"
#include "support/random.hpp"
#include "svilm/core/threads.hpp"
#include "svilm/ops.hpp"

namespace svilm::testing {
namespace {

// ||a - b|| / ||b|| over every element.
double relative_error(const Tensor<float, 2>& a, const Tensor<float, 2>& b) {
    double num = 0, den = 0;
    for (index_t i = 0; i < a.size(); ++i) {
        const double d = double(a.data()[i]) - double(b.data()[i]);
        num += d * d;
        den += double(b.data()[i]) * double(b.data()[i]);
    }
    return std::sqrt(num / den);
}

// A weight as a trained layer has it: small values, rows of different scales.
Tensor<float, 2> layer_weight(index_t out, index_t in, std::uint64_t seed) {
    Tensor<float, 2> w = random_tensor<float, 2>({out, in}, seed);
    for (index_t r = 0; r < out; ++r)
        for (index_t k = 0; k < in; ++k) w(r, k) *= 0.02f * float(1 + r % 5);
    return w;
}

struct Product {
    Tensor<float, 2> x, w;
    Tensor<float, 1> b;
    Tensor<float, 2> fp32;
};

Product product(index_t M, index_t N, index_t K, std::uint64_t seed) {
    Product p{random_tensor<float, 2>({M, K}, seed), layer_weight(N, K, seed + 1), random_tensor<float, 1>({N}, seed + 2),
              Tensor<float, 2>({M, N})};
    linear_forward<float>(cpu_ctx, p.fp32, p.x, p.w, p.b);
    return p;
}

TEST_CASE("low precision: the int8 weight copy is per output row, within [-63, 63], with its sums") {
    Tensor<float, 2> w = layer_weight(6, 37, 1);
    for (index_t k = 0; k < 37; ++k) w(4, k) = 0;  // a zero row keeps scale 1
    const LowPrecisionWeight q = make_low_precision_weight(Precision::int8, w.data(), 6, 37, "w");
    REQUIRE(q.int8.size() == 6 * 37);
    for (index_t r = 0; r < 6; ++r) {
        float peak = 0;
        std::int32_t sum = 0;
        for (index_t k = 0; k < 37; ++k) {
            peak = std::max(peak, std::fabs(w(r, k)));
            const int v = q.int8[std::size_t(r * 37 + k)];
            CHECK(std::abs(v) <= int8_weight_max);
            sum += v;
            // round to nearest: within half a step of the weight
            CHECK(std::fabs(float(v) * q.scale[std::size_t(r)] - w(r, k)) <= 0.5f * q.scale[std::size_t(r)] * 1.0001f);
        }
        CHECK(q.scale[std::size_t(r)] == doctest::Approx(r == 4 ? 1.0f : peak / float(int8_weight_max)));
        CHECK(q.column_sum[std::size_t(r)] == sum);
    }
    const LowPrecisionWeight h = make_low_precision_weight(Precision::bf16, w.data(), 6, 37, "w");
    REQUIRE(h.bf16.size() == 6 * 37);
    CHECK(to_float(h.bf16[5]) == to_float(bfloat16(w.data()[5])));
    CHECK(h.bytes() * 2 == std::size_t(6 * 37) * sizeof(float));
}

TEST_CASE("low precision: a weight that is not finite is refused, naming the parameter") {
    Tensor<float, 2> w = layer_weight(3, 4, 2);
    w(1, 2) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(make_low_precision_weight(Precision::int8, w.data(), 3, 4, "blocks.0.mlp.fc1.weight"),
                         "int8 copy of 'blocks.0.mlp.fc1.weight': element 6 is not finite", ValueError);
    CHECK_THROWS_AS(parse_precision("fp16"), ValueError);
    CHECK(parse_precision("bf16") == Precision::bf16);
}

TEST_CASE("low precision: an input row quantises within half a step, with 0 exact") {
    std::vector<float> x = {-1.5f, 0.0f, 0.25f, 3.0f, -0.75f, 1.0f, 2.5f, -1.0f, 0.5f, 0.1f, 2.0f};
    std::vector<std::uint8_t> q(x.size());
    const auto r = detail::quantise_row(x.data(), index_t(x.size()), q.data());
    REQUIRE(r.finite);
    CHECK(r.scale == doctest::Approx(4.5f / float(int8_input_max)));
    for (std::size_t k = 0; k < x.size(); ++k) {
        CHECK(std::fabs(r.scale * float(int(q[k]) - r.zero) - x[k]) <= 0.5f * r.scale * 1.001f);
    }
    CHECK(r.scale * float(int(q[1]) - r.zero) == 0.0f);
    x[3] = std::numeric_limits<float>::infinity();
    CHECK_FALSE(detail::quantise_row(x.data(), index_t(x.size()), q.data()).finite);
}

TEST_CASE("low precision: int8 equals the integer arithmetic of its quantised operands") {
    // 300 x 96 x 80 is cut into stripes of rows, 6 x 2050 x 520 into stripes of columns; 1 x 29
    // x 53 is one call; odd sizes everywhere
    for (const auto& [M, N, K] : {std::array<index_t, 3>{300, 96, 80}, {6, 2050, 520}, {1, 29, 53}, {37, 29, 53}}) {
        CAPTURE(M);
        const Product p = product(M, N, K, 10 + M);
        const LowPrecisionWeight w = make_low_precision_weight(Precision::int8, p.w.data(), N, K, "w");
        Tensor<float, 2> y({M, N});
        linear_forward_low_precision(cpu_ctx, y, p.x, w, p.b);
        std::vector<std::uint8_t> q(static_cast<std::size_t>(K));
        for (index_t r = 0; r < M; ++r) {
            const auto row = detail::quantise_row(&p.x(r, 0), K, q.data());
            for (index_t n = 0; n < N; ++n) {
                std::int64_t sum = 0;
                for (index_t k = 0; k < K; ++k) sum += std::int64_t(q[std::size_t(k)]) * w.int8[std::size_t(n * K + k)];
                const double expected =
                    double(row.scale) * w.scale[std::size_t(n)] * double(sum - std::int64_t(row.zero) * w.column_sum[std::size_t(n)]) +
                    p.b(n);
                // the fp32 epilogue's rounding: a few ulp of the bias-sized result
                REQUIRE(std::fabs(double(y(r, n)) - expected) <= 1e-6 * (1.0 + std::fabs(expected)));
            }
        }
    }
}

TEST_CASE("low precision: no inputs (K = 0) give the bias, as the fp32 product does") {
    const Tensor<float, 2> x({3, 0}), w({5, 0});
    const Tensor<float, 1> b = random_tensor<float, 1>({5}, 3);
    const LowPrecisionWeight q = make_low_precision_weight(Precision::int8, w.data(), 5, 0, "w");
    Tensor<float, 2> y = Tensor<float, 2>::full({3, 5}, 9.0f);
    linear_forward_low_precision(cpu_ctx, y, x, q, b);
    for (index_t r = 0; r < 3; ++r)
        for (index_t n = 0; n < 5; ++n) CHECK(y(r, n) == b(n));
}

TEST_CASE("low precision: the int8 GEMM in use and the portable loop give the same sums") {
    const index_t M = 45, N = 70, K = 200;
    std::vector<std::uint8_t> q(std::size_t(M * K));
    std::vector<std::int8_t> w(std::size_t(N * K));
    // the extremes of both ranges: 255 * 63 * 2 is the largest pair sum an AVX2 kernel forms
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::uint8_t(i % 7 == 0 ? 255 : (i * 37) % 256);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::int8_t(i % 5 == 0 ? 63 : i % 5 == 1 ? -63 : int((i * 53) % 127) - 63);
    std::vector<std::int32_t> used(std::size_t(M * N)), portable(std::size_t(M * N));
    INFO(detail::int8_gemm_description());
    detail::int8_gemm_one_thread(M, N, K, q.data(), w.data(), used.data());
    detail::int8_gemm_portable(M, N, K, q.data(), w.data(), portable.data());
    CHECK(used == portable);
}

TEST_CASE("low precision: bf16 is the fp32 product of the rounded operands") {
    const Product p = product(200, 64, 96, 20);
    const LowPrecisionWeight w = make_low_precision_weight(Precision::bf16, p.w.data(), 64, 96, "w");
    Tensor<float, 2> y({200, 64}), expected({200, 64}), x_rounded(p.x.shape()), w_rounded(p.w.shape());
    for (index_t i = 0; i < p.x.size(); ++i) x_rounded.data()[i] = to_float(bfloat16(p.x.data()[i]));
    for (index_t i = 0; i < p.w.size(); ++i) w_rounded.data()[i] = to_float(bfloat16(p.w.data()[i]));
    linear_forward_low_precision(cpu_ctx, y, p.x, w, p.b);
    linear_forward<float>(cpu_ctx, expected, x_rounded, w_rounded, p.b);
    CHECK(std::memcmp(y.data(), expected.data(), y.bytes()) == 0);
}

TEST_CASE("low precision: error against fp32 on a ViT-sized product") {
    const Product p = product(256, 384, 768, 30);
    for (const auto& [precision, bound] : {std::pair{Precision::bf16, 5e-3}, std::pair{Precision::int8, 2e-2}}) {
        const std::string name = to_string(precision);
        CAPTURE(name);
        const LowPrecisionWeight w = make_low_precision_weight(precision, p.w.data(), 384, 768, "w");
        Tensor<float, 2> y({256, 384});
        linear_forward_low_precision(cpu_ctx, y, p.x, w, p.b);
        const double error = relative_error(y, p.fp32);
        MESSAGE(name << ": relative error " << error);
        CHECK(error < bound);
        CHECK(error > 0);
    }
}

TEST_CASE("low precision: a NaN input row gives a NaN output row; other rows are unchanged") {
    Product p = product(8, 16, 24, 40);
    const LowPrecisionWeight w = make_low_precision_weight(Precision::int8, p.w.data(), 16, 24, "w");
    Tensor<float, 2> clean({8, 16}), y({8, 16});
    linear_forward_low_precision(cpu_ctx, clean, p.x, w, p.b);
    p.x(3, 5) = std::numeric_limits<float>::quiet_NaN();
    linear_forward_low_precision(cpu_ctx, y, p.x, w, p.b);
    for (index_t r = 0; r < 8; ++r)
        for (index_t n = 0; n < 16; ++n) {
            if (r == 3) CHECK(std::isnan(y(r, n)));
            else CHECK(y(r, n) == clean(r, n));
        }
}

TEST_CASE("low precision: a strided output, no bias, and shape errors") {
    const Product p = product(5, 12, 20, 50);
    const LowPrecisionWeight w = make_low_precision_weight(Precision::int8, p.w.data(), 12, 20, "w");
    Tensor<float, 2> wide = Tensor<float, 2>::full({5, 30}, 7.0f), plain({5, 12});
    const auto view = wide.view().narrow(1, 4, 16);  // rows 30 apart
    linear_forward_low_precision(cpu_ctx, view, p.x, w, TensorView<const float, 1>());
    linear_forward_low_precision(cpu_ctx, plain, p.x, w, TensorView<const float, 1>());
    for (index_t r = 0; r < 5; ++r) {
        CHECK(wide(r, 3) == 7.0f);
        CHECK(wide(r, 16) == 7.0f);
        for (index_t n = 0; n < 12; ++n) CHECK(view(r, n) == plain(r, n));
    }
    Tensor<float, 2> wrong({5, 11});
    CHECK_THROWS_AS(linear_forward_low_precision(cpu_ctx, wrong, p.x, w, p.b), ShapeError);
    const Tensor<float, 2> x_wrong({5, 21});
    CHECK_THROWS_WITH_AS(linear_forward_low_precision(cpu_ctx, plain, x_wrong, w, p.b),
                         "linear_forward_low_precision: x (5, 21) vs weight (12, 20)", ShapeError);
}

TEST_CASE("low precision: the same bits for 1 and 2 threads") {
    const Product p = product(600, 128, 256, 60);  // several stripes
    for (const Precision precision : {Precision::bf16, Precision::int8}) {
        const std::string name = to_string(precision);
        CAPTURE(name);
        const LowPrecisionWeight w = make_low_precision_weight(precision, p.w.data(), 128, 256, "w");
        const auto run = [&] {
            Tensor<float, 2> y({600, 128});
            linear_forward_low_precision(cpu_ctx, y, p.x, w, p.b);
            return y;
        };
        const int before = num_threads();
        set_num_threads(1);
        const Tensor<float, 2> one = run();
        set_num_threads(2);
        const Tensor<float, 2> two = run();
        set_num_threads(before);
        CHECK(std::memcmp(one.data(), two.data(), one.bytes()) == 0);
    }
}

}  // namespace
}  // namespace svilm::testing
