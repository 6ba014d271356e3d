// svilm's thread pool (svilm/core/parallel.hpp): coverage of every index, nesting, exceptions,
// callers on several threads at once, and that svilm leaves OpenMP's settings as it found them.
// No timing here: the behaviour under load is measured by benchmarks/under_load.sh.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "support/random.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/threads.hpp"
#include "svilm/ops/gemm.hpp"

namespace svilm::testing {
namespace {

struct ThreadCount {
    explicit ThreadCount(int n) : before(num_threads()) { set_num_threads(n); }
    ~ThreadCount() { set_num_threads(before); }
    int before;
};

TEST_CASE("parallel_for visits every index exactly once, for any size and thread count") {
    for (int threads : {1, 2, 3, 8}) {
        const ThreadCount count(threads);
        CHECK(num_threads() == threads);
        for (index_t n : {0, 1, 2, 7, 64, 1000, 100001}) {
            std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n));
            parallel_for(n, [&](index_t i) { seen[std::size_t(i)].fetch_add(1); });
            int wrong = 0;
            for (const auto& s : seen) wrong += s.load() != 1;
            CHECK_MESSAGE(wrong == 0, "threads " << threads << ", n " << n);
        }
        // ranges: disjoint, in bounds, covering
        std::vector<std::atomic<int>> seen(5000);
        parallel_for_ranges(index_t(5000), [&](index_t begin, index_t end) {
            CHECK(begin < end);
            for (index_t i = begin; i < end; ++i) seen[std::size_t(i)].fetch_add(1);
        });
        int wrong = 0;
        for (const auto& s : seen) wrong += s.load() != 1;
        CHECK(wrong == 0);
    }
}

TEST_CASE("a parallel_for inside a parallel_for runs on the calling thread") {
    const ThreadCount count(4);
    std::atomic<int> nested_on_other_threads{0}, total{0};
    parallel_for(index_t(16), [&](index_t) {
        const auto outer = std::this_thread::get_id();
        parallel_for(index_t(100), [&](index_t) {
            if (std::this_thread::get_id() != outer) nested_on_other_threads.fetch_add(1);
            total.fetch_add(1);
        });
    });
    CHECK(total.load() == 1600);
    CHECK(nested_on_other_threads.load() == 0);
}

TEST_CASE("an exception thrown in a chunk reaches the caller, and the pool keeps working") {
    const ThreadCount count(3);
    CHECK_THROWS_AS(parallel_for(index_t(1000),
                                 [](index_t i) {
                                     if (i == 517) throw std::runtime_error("chunk failed");
                                 }),
                    std::runtime_error);
    std::atomic<index_t> sum{0};
    parallel_for(index_t(1000), [&](index_t i) { sum.fetch_add(i); });
    CHECK(sum.load() == 999 * 1000 / 2);
}

TEST_CASE("callers on several threads at once each get every index") {
    const ThreadCount count(2);
    std::vector<std::thread> callers;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t)
        callers.emplace_back([&] {
            for (int round = 0; round < 50; ++round) {
                std::vector<int> out(3000, 0);
                parallel_for(index_t(out.size()), [&](index_t i) { out[std::size_t(i)] += int(i); });
                for (std::size_t i = 0; i < out.size(); ++i)
                    if (out[i] != int(i)) failures.fetch_add(1);
            }
        });
    for (auto& c : callers) c.join();
    CHECK(failures.load() == 0);
}

TEST_CASE("the pool survives many small jobs and thread-count changes") {
    for (int round = 0; round < 20; ++round) {
        const ThreadCount count(1 + round % 3);
        std::atomic<int> n{0};
        for (int job = 0; job < 200; ++job) parallel_for(index_t(3), [&](index_t) { n.fetch_add(1); });
        CHECK(n.load() == 600);
    }
}

TEST_CASE("a split GEMM gives the same bits for 1, 2 and 3 threads, and the OpenMP setting is kept") {
    // Each is cut into stripes (svilm/ops/gemm.hpp): rows, rows of a transposed A, columns of a
    // transposed B.
    struct Case {
        index_t M, N, K;
        Trans ta, tb;
    };
    for (const Case c : {Case{300, 400, 200, Trans::no, Trans::no}, Case{500, 96, 300, Trans::yes, Trans::no},
                         Case{48, 700, 256, Trans::no, Trans::yes}}) {
        const detail::GemmSplit split = detail::gemm_split(c.M, c.N, c.K, false);
        CHECK(split.tiles > 1);
        CHECK(split.by_rows == (c.M != 48));
        const auto a = random_tensor<float, 1>({c.M * c.K}, 1), b = random_tensor<float, 1>({c.K * c.N}, 2);
        const index_t lda = c.ta == Trans::yes ? c.M : c.K, ldb = c.tb == Trans::yes ? c.K : c.N;
        std::vector<Tensor<float, 1>> results;
        for (int threads : {1, 2, 3}) {
            const ThreadCount count(threads);
#if defined(_OPENMP)
            const int openmp_before = omp_get_max_threads();
#endif
            Tensor<float, 1> out({c.M * c.N});
            gemm<float>(Context<cpu>{}, c.ta, c.tb, c.M, c.N, c.K, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, out.data(), c.N);
#if defined(_OPENMP)
            CHECK(omp_get_max_threads() == openmp_before);
#endif
            results.push_back(std::move(out));
        }
        for (std::size_t i = 1; i < results.size(); ++i)
            CHECK(std::memcmp(results[0].data(), results[i].data(), results[0].bytes()) == 0);
        // and against a plain loop, to see the stripes cover C
        double worst = 0;
        for (index_t i = 0; i < c.M; ++i)
            for (index_t j = 0; j < c.N; ++j) {
                double ref = 0;
                for (index_t k = 0; k < c.K; ++k) {
                    const float x = c.ta == Trans::yes ? a.data()[k * lda + i] : a.data()[i * lda + k];
                    const float y = c.tb == Trans::yes ? b.data()[j * ldb + k] : b.data()[k * ldb + j];
                    ref += double(x) * double(y);
                }
                worst = std::max(worst, std::abs(ref - double(results[0].data()[i * c.N + j])));
            }
        CHECK(worst < 1e-3);
    }
}

}  // namespace
}  // namespace svilm::testing
