// A consumer of svilm: includes the umbrella header, runs a linear layer, checks the result.
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
