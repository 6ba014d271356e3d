#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "svilm/core.hpp"
#include "svilm/ops/elementwise.hpp"

namespace svilm {
namespace {

static_assert(!std::is_convertible_v<TensorView<const float, 2>, TensorView<float, 2>>,
              "a const view must not become mutable");
static_assert(!std::is_convertible_v<TensorView<float, 2>, TensorView<float, 3>>, "rank is part of the type");
static_assert(!std::is_convertible_v<TensorView<float, 2, cpu>, TensorView<float, 2, cuda>>,
              "device is part of the type");
static_assert(std::is_convertible_v<Tensor<float, 2>, TensorView<const float, 2>>);

TEST_CASE("tensors are zero-filled, 64-byte aligned, row-major") {
    Tensor<float, 3> t({2, 3, 4});
    CHECK(t.size() == 24);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    CHECK(t.strides() == Extents<3>{12, 4, 1});
    for (index_t i = 0; i < t.size(); ++i) CHECK(t.data()[i] == 0.0f);
    t(1, 2, 3) = 5;
    CHECK(t.data()[23] == 5);
    CHECK(t.is_contiguous());
}

TEST_CASE("copies are deep, moves keep the buffer") {
    Tensor<double, 1> a = Tensor<double, 1>::full({3}, 2.0);
    Tensor<double, 1> b = a;
    b(0) = 7;
    CHECK(a(0) == 2.0);
    const double* buffer = a.data();
    Tensor<double, 1> c = std::move(a);
    CHECK(c.data() == buffer);
    CHECK(a.data() == nullptr);
    CHECK(a.size() == 0);
}

TEST_CASE("views narrow, select, transpose and reshape without copying") {
    Tensor<int, 2> t({3, 4});
    for (index_t i = 0; i < 12; ++i) t.data()[i] = int(i);
    const auto col = t.view().select(1, 2);  // (3): 2, 6, 10
    CHECK(col.extent(0) == 3);
    CHECK(col(2) == 10);
    const auto tr = t.view().transpose(0, 1);
    CHECK(tr.shape() == Extents<2>{4, 3});
    CHECK(tr(3, 1) == 7);
    CHECK_FALSE(tr.is_contiguous());
    const auto rows = t.view().narrow(0, 1, 3);
    CHECK(rows(0, 0) == 4);
    CHECK(rows.is_contiguous());
    const auto flat = t.view().reshape<1>({12});
    CHECK(flat(11) == 11);
    CHECK_THROWS_WITH_AS(t.view().reshape<2>({5, 3}), "reshape: (3, 4) to (5, 3) changes the element count", ShapeError);
    CHECK_THROWS_AS(tr.reshape<1>({12}), ShapeError);
    CHECK_THROWS_AS(t.view().narrow(0, 2, 5), ShapeError);
    Tensor<int, 2> dense({4, 3});
    copy<int, 2>(Context<cpu>{}, dense, tr);
    CHECK(dense(3, 1) == 7);
}

TEST_CASE("as_matrix collapses leading axes") {
    Tensor<float, 3> t({2, 5, 7});
    const auto m = as_matrix(t.view());
    CHECK(m.shape() == Extents<2>{10, 7});
}

TEST_CASE("expect_shape names the op, the argument and both shapes") {
    Tensor<float, 2> t({2, 3});
    CHECK_THROWS_WITH_AS(expect_shape("my_op", "x", t.view(), {2, 4}), "my_op: x (2, 3) expected (2, 4)", ShapeError);
}

TEST_CASE("negative or overflowing extents are rejected before allocating") {
    CHECK_THROWS_AS((Tensor<float, 2>({-1, 3})), ShapeError);
    CHECK_THROWS_WITH_AS((Tensor<double, 1>({(index_t(1) << 61) + 1})), doctest::Contains("too large"), ShapeError);
    CHECK_THROWS_AS((Tensor<float, 3>({0, index_t(1) << 62, index_t(1) << 62})), ShapeError);
    Tensor<float, 2> t({2, 3});
    CHECK_THROWS_AS(t.view().transpose(0, 2), ShapeError);
}

TEST_CASE("bfloat16 rounds to nearest even and keeps specials") {
    CHECK(float(bfloat16(1.0f)) == 1.0f);
    CHECK(float(bfloat16(-2.5f)) == -2.5f);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0)
    CHECK(float(bfloat16(1.0f + 1.0f / 256)) == 1.0f);
    // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6)
    CHECK(float(bfloat16(1.0f + 3.0f / 256)) == 1.0f + 1.0f / 64);
    CHECK(std::isinf(float(bfloat16(std::numeric_limits<float>::infinity()))));
    CHECK(std::isnan(float(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(std::signbit(float(bfloat16(-0.0f))));
    CHECK(std::abs(float(bfloat16(3.14159f)) - 3.14159f) < 3.14159f / 128);
    Tensor<bfloat16, 1> storage({4});
    storage(2) = bfloat16(0.5f);
    CHECK(float(storage(2)) == 0.5f);
}

TEST_CASE("thread control sets svilm's one thread count") {
    const int before = num_threads();
    set_num_threads(1);
    CHECK(num_threads() == 1);
    set_num_threads(0);
    CHECK(num_threads() == default_num_threads());
    CHECK_THROWS_AS(set_num_threads(-2), ValueError);
    set_num_threads(before);
    MESSAGE("GEMM backend: " << std::string(blas_backend_name()) << ", default threads: " << default_num_threads());
}

}  // namespace
}  // namespace svilm
