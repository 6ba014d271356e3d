// tests/support/compare.hpp: element-wise comparison with the numerics policy of
// docs/conventions.md §4: |ours - ref| <= atol + rtol * |ref|, after checking that every
// element is finite, printing the first mismatches with their indices.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "svilm/core/tensor.hpp"

namespace svilm::testing {

struct Tolerance {
    double atol;
    double rtol;
};
inline constexpr Tolerance fp32_tolerance{1e-5, 1e-4};
inline constexpr Tolerance gemm_tolerance{1e-4, 1e-3};

inline std::string index_string(const std::vector<index_t>& shape, index_t flat) {
    std::vector<index_t> idx(shape.size());
    for (std::size_t a = shape.size(); a-- > 0;) {
        idx[a] = shape[a] ? flat % shape[a] : 0;
        flat = shape[a] ? flat / shape[a] : 0;
    }
    std::ostringstream out;
    out << '[';
    for (std::size_t a = 0; a < idx.size(); ++a) out << (a ? ", " : "") << idx[a];
    out << ']';
    return out.str();
}

// Compares two flat buffers of `shape`. An infinite reference value (e.g. -inf in a mask) must
// be matched exactly; a NaN matches nothing, not even NaN; finite values match by tolerance.
// Returns the number of mismatches.
template <class A, class B>
int compare_buffers(const std::string& what, const std::vector<index_t>& shape, const A* ours, const B* ref, index_t n,
                    Tolerance tol) {
    int mismatches = 0;
    std::ostringstream report;
    for (index_t i = 0; i < n; ++i) {
        const double o = double(ours[i]), r = double(ref[i]);
        bool ok;
        if (!std::isfinite(r))
            ok = std::isinf(r) && o == r;
        else
            ok = std::isfinite(o) && std::abs(o - r) <= tol.atol + tol.rtol * std::abs(r);
        if (!ok && ++mismatches <= 5)
            report << "\n  " << what << index_string(shape, i) << ": ours " << o << " reference " << r;
    }
    if (mismatches) MESSAGE(what << ": " << mismatches << " of " << n << " elements differ" << report.str());
    return mismatches;
}

template <class A, class B, int Rank>
void expect_close(const std::string& what, const TensorView<const A, Rank>& ours, const TensorView<const B, Rank>& ref,
                  Tolerance tol) {
    INFO(what);
    REQUIRE(ours.shape() == ref.shape());
    REQUIRE(ours.is_contiguous());
    REQUIRE(ref.is_contiguous());
    const std::vector<index_t> shape(ours.shape().begin(), ours.shape().end());
    CHECK(compare_buffers(what, shape, ours.data(), ref.data(), ours.size(), tol) == 0);
}

template <class T, int Rank>
bool all_finite(const TensorView<const T, Rank>& v) {
    for (index_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(double(v.data()[i]))) return false;
    return true;
}

}  // namespace svilm::testing
