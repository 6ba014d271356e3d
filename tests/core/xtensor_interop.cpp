#include <doctest/doctest.h>

#include <xtensor/xmath.hpp>

#include "svilm/interop/xtensor.hpp"

namespace svilm {
namespace {

TEST_CASE("xtensor adapts svilm tensors without a copy, strided views included") {
    Tensor<float, 2> t({2, 3});
    for (index_t i = 0; i < 6; ++i) t.data()[i] = float(i);
    auto x = to_xtensor(t.view());
    CHECK(x(1, 2) == 5.0f);
    x(0, 1) = 42.0f;  // writes through
    CHECK(t(0, 1) == 42.0f);
    const auto tr = to_xtensor(t.view().transpose(0, 1));
    CHECK(tr(2, 1) == 5.0f);
    CHECK(xt::sum(tr)() == doctest::Approx(0 + 42 + 2 + 3 + 4 + 5));
    const auto back = from_xtensor<float, 2>(2.0f * tr);
    CHECK(back.shape() == Extents<2>{3, 2});
    CHECK(back(1, 0) == 84.0f);
}

}  // namespace
}  // namespace svilm
