#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "svilm/core.hpp"

namespace svilm {
namespace {

template <class T>
std::pair<double, double> mean_and_variance(const Tensor<T, 1>& t) {
    double sum = 0, sq = 0;
    for (index_t i = 0; i < t.size(); ++i) sum += t(i);
    const double mean = sum / double(t.size());
    for (index_t i = 0; i < t.size(); ++i) sq += (t(i) - mean) * (t(i) - mean);
    return {mean, sq / double(t.size())};
}

// Elements outside (low, high), or outside [low, high] when closed.
index_t count_outside(const Tensor<double, 1>& t, double low, double high, bool closed) {
    index_t n = 0;
    for (index_t i = 0; i < t.size(); ++i)
        n += closed ? !(t(i) >= low && t(i) <= high) : !(t(i) > low && t(i) < high);
    return n;
}

TEST_CASE("the same seed gives the same numbers; the state resumes the stream") {
    Generator a(42), b(42);
    Tensor<float, 1> x({1000}), y({1000});
    a.normal<float, 1>(x);
    b.normal<float, 1>(y);
    CHECK(std::memcmp(x.data(), y.data(), x.bytes()) == 0);

    const GeneratorState mid = a.state();
    Tensor<float, 1> next({10}), replay({10});
    a.gumbel<float, 1>(next);
    Generator c(0);
    c.set_state(mid);
    c.gumbel<float, 1>(replay);
    CHECK(std::memcmp(next.data(), replay.data(), next.bytes()) == 0);
    CHECK(c.state() == a.state());
}

TEST_CASE("draws do not depend on the thread count or on how a fill is split") {
    Tensor<double, 1> whole({200000}), parts({200000});
    set_num_threads(2);
    Generator(7).normal<double, 1>(whole);
    set_num_threads(1);
    Generator g(7);
    g.normal<double, 1>(parts.view().narrow(0, 0, 123457));
    g.normal<double, 1>(parts.view().narrow(0, 123457, 200000));
    set_num_threads(0);
    CHECK(std::memcmp(whole.data(), parts.data(), whole.bytes()) == 0);
}

TEST_CASE("distributions have the right moments and support") {
    Tensor<double, 1> t({200000});
    Generator g(3);
    g.uniform<double, 1>(t, -1.0, 3.0);
    auto [m, v] = mean_and_variance(t);
    CHECK(m == doctest::Approx(1.0).epsilon(0.01));
    CHECK(v == doctest::Approx(16.0 / 12.0).epsilon(0.02));
    CHECK(count_outside(t, -1.0, 3.0, false) == 0);

    g.normal<double, 1>(t, 2.0, 0.5);
    std::tie(m, v) = mean_and_variance(t);
    CHECK(m == doctest::Approx(2.0).epsilon(0.01));
    CHECK(v == doctest::Approx(0.25).epsilon(0.02));

    g.truncated_normal<double, 1>(t, 0.0, 0.02, 2.0);
    std::tie(m, v) = mean_and_variance(t);
    CHECK(count_outside(t, -0.04, 0.04, true) == 0);
    // variance of N(0, 1) truncated at +-2 is 0.7737
    CHECK(v == doctest::Approx(0.7737 * 0.0004).epsilon(0.02));

    g.gumbel<double, 1>(t);
    std::tie(m, v) = mean_and_variance(t);
    CHECK(m == doctest::Approx(0.5772156649).epsilon(0.01));  // Euler-Mascheroni
    CHECK(v == doctest::Approx(M_PI * M_PI / 6).epsilon(0.02));

    Tensor<float, 1> f({100000});
    g.gumbel<float, 1>(f);
    index_t non_finite = 0;
    for (index_t i = 0; i < f.size(); ++i) non_finite += !std::isfinite(f(i));
    CHECK(non_finite == 0);
}

TEST_CASE("the unit interval is open at both ends for the extreme bit patterns") {
    CHECK(detail::open_unit<float>(0xFFFFFFFFu, 0xFFFFFFFFu) < 1.0f);
    CHECK(detail::open_unit<float>(0u, 0u) > 0.0f);
    CHECK(detail::open_unit<double>(0xFFFFFFFFu, 0xFFFFFFFFu) < 1.0);
    CHECK(detail::open_unit<double>(0u, 0u) > 0.0);
    CHECK(std::isfinite(-std::log(-std::log(detail::open_unit<float>(0xFFFFFFFFu, 0u)))));
    Generator g(1);
    Tensor<float, 1> t({4});
    CHECK_THROWS_AS((g.truncated_normal<float, 1>(t, 0.0f, 1.0f, 0.0f)), ValueError);
}

TEST_CASE("uniform_int covers its range") {
    Generator g(5);
    int counts[6] = {};
    for (int i = 0; i < 6000; ++i) counts[g.uniform_int(6)]++;
    for (int c : counts) CHECK(c == doctest::Approx(1000).epsilon(0.15));
    CHECK_THROWS_AS(g.uniform_int(0), ValueError);
}

}  // namespace
}  // namespace svilm
