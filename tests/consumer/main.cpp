// A consumer of svilm: includes the umbrella header, runs a linear layer (fp32 and int8) and GELU,
// checks the results.
#include <cmath>
#include <cstdio>

#include <svilm/svilm.hpp>

int main() {
    using namespace svilm;
    Tensor<float, 2> x = Tensor<float, 2>::full({3, 4}, 1.0f), w = Tensor<float, 2>::full({2, 4}, 0.5f), y({3, 2});
    Tensor<float, 1> b = Tensor<float, 1>::full({2}, -1.0f);
    const svilm::Context<svilm::cpu> cpu_ctx;
    linear_forward<float>(cpu_ctx, y, x, w, b);  // every entry: 4 * 0.5 - 1 = 1
    for (index_t i = 0; i < y.size(); ++i)
        if (std::abs(y.data()[i] - 1.0f) > 1e-6f) {
            std::printf("consumer: wrong result %f\n", y.data()[i]);
            return 1;
        }
    // Built with the compiler's default flags (no -march=native): GELU runs svilm's AVX2 copy
    // where the CPU has AVX2, and must agree with std::erf.
    Tensor<float, 1> g({1000}), out({1000});
    for (index_t i = 0; i < g.size(); ++i) g(i) = -6.0f + 0.012f * float(i);
    gelu_forward<float>(cpu_ctx, out, g);
    for (index_t i = 0; i < g.size(); ++i) {
        const double want = 0.5 * double(g(i)) * (1.0 + std::erf(double(g(i)) / std::sqrt(2.0)));
        if (std::abs(double(out(i)) - want) > 1e-6 * (1.0 + std::abs(want))) {
            std::printf("consumer: gelu(%f) = %f, wanted %f\n", g(i), out(i), want);
            return 1;
        }
    }
    // The int8 precision through the package's oneDNN (or the portable loop).
    const LowPrecisionWeight q = make_low_precision_weight(Precision::int8, w.data(), 2, 4, "w");
    linear_forward_low_precision(cpu_ctx, y, x, q, b);
    for (index_t i = 0; i < y.size(); ++i)
        if (std::abs(y.data()[i] - 1.0f) > 1e-2f) {
            std::printf("consumer: wrong int8 result %f\n", y.data()[i]);
            return 1;
        }
    std::printf("consumer: GELU %s, int8 GEMM: %s\n",
                detail::vector_math_uses_avx2() ? "on the AVX2 copy" : "compiled for this build's target",
                detail::int8_gemm_description());
    try {
        Tensor<float, 2> wrong({3, 3});
        linear_forward<float>(cpu_ctx, wrong, x, w, b);
        return 1;
    } catch (const ShapeError& e) {
        std::printf("consumer: svilm %s works (GEMM: %s); shape errors read: %s\n", version_string,
                    gemm_backend_description().c_str(), e.what());
    }
    return 0;
}
