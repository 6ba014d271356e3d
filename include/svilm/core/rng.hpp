// svilm/core/rng.hpp: a seeded, counter-based random generator (Philox4x32-10).
//
// Element i of a fill is a pure function of (seed, offset + i), where offset counts the
// elements every earlier fill consumed. So a fill gives the same numbers whatever the thread
// count or chunking, and (seed, offset) is the whole state: saving it in a checkpoint resumes
// the stream bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

#include "svilm/core/parallel.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

namespace detail {

struct PhiloxBlock {
    std::uint32_t words[4];
};

inline std::uint32_t mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi) {
    const std::uint64_t product = std::uint64_t(a) * b;
    hi = std::uint32_t(product >> 32);
    return std::uint32_t(product);
}

// Philox4x32 with 10 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
inline PhiloxBlock philox4x32_10(std::uint64_t counter_lo, std::uint64_t counter_hi, std::uint64_t key) {
    std::uint32_t c0 = std::uint32_t(counter_lo), c1 = std::uint32_t(counter_lo >> 32);
    std::uint32_t c2 = std::uint32_t(counter_hi), c3 = std::uint32_t(counter_hi >> 32);
    std::uint32_t k0 = std::uint32_t(key), k1 = std::uint32_t(key >> 32);
    for (int round = 0; round < 10; ++round) {
        std::uint32_t hi0, hi1;
        const std::uint32_t lo0 = mulhilo32(0xD2511F53u, c0, hi0);
        const std::uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return {{c0, c1, c2, c3}};
}

// Uniform in the open interval (0, 1): never 0, so log() is always finite.
template <class T>
T open_unit(std::uint32_t a, std::uint32_t b) {
    if constexpr (std::is_same_v<T, float>) {
        // 23 bits: (k + 0.5) / 2^23 needs 24 significant bits, exact in float, so the largest
        // value is 1 - 2^-24 < 1 (24 bits would round the top value up to exactly 1).
        (void)b;
        return (float(a >> 9) + 0.5f) * (1.0f / 8388608.0f);
    } else {
        const std::uint64_t bits52 = ((std::uint64_t(a) << 32) | b) >> 12;
        return (double(bits52) + 0.5) * (1.0 / 4503599627370496.0);
    }
}

}  // namespace detail

struct GeneratorState {
    std::uint64_t seed = 0;
    std::uint64_t offset = 0;
    friend bool operator==(const GeneratorState&, const GeneratorState&) = default;
};

class Generator {
public:
    explicit Generator(std::uint64_t seed = 0) : state_{seed, 0} {}

    GeneratorState state() const { return state_; }
    void set_state(const GeneratorState& state) { state_ = state; }

    // Fills `out` (contiguous) with U(low, high), open at both ends.
    template <class T, int Rank>
    void uniform(TensorView<T, Rank, cpu> out, T low = T(0), T high = T(1)) {
        fill(out, [=](const detail::PhiloxBlock& r, std::uint64_t) {
            return low + (high - low) * detail::open_unit<T>(r.words[0], r.words[1]);
        });
    }

    // N(mean, std^2) by Box-Muller over one Philox block per element.
    template <class T, int Rank>
    void normal(TensorView<T, Rank, cpu> out, T mean = T(0), T std = T(1)) {
        fill(out, [=](const detail::PhiloxBlock& r, std::uint64_t) { return mean + std * standard_normal<T>(r); });
    }

    // N(mean, std^2) conditioned on [mean - cut * std, mean + cut * std]: rejection inside the
    // element's own counter stream, so the result still does not depend on threading.
    template <class T, int Rank>
    void truncated_normal(TensorView<T, Rank, cpu> out, T mean = T(0), T std = T(1), T cut = T(2)) {
        if (!(cut > T(0.1))) throw ValueError("Generator::truncated_normal: cut must exceed 0.1 standard deviations");
        const std::uint64_t key = state_.seed;
        fill(out, [=](const detail::PhiloxBlock& first, std::uint64_t counter) {
            detail::PhiloxBlock r = first;
            for (std::uint64_t attempt = 1;; ++attempt) {
                const T z = standard_normal<T>(r);
                if (std::abs(z) <= cut) return mean + std * z;
                r = detail::philox4x32_10(counter, attempt, key);
            }
        });
    }

    // Gumbel(0, 1) = -log(-log U).
    template <class T, int Rank>
    void gumbel(TensorView<T, Rank, cpu> out) {
        fill(out, [](const detail::PhiloxBlock& r, std::uint64_t) {
            return -std::log(-std::log(detail::open_unit<T>(r.words[0], r.words[1])));
        });
    }

    // One integer uniform in [0, n), for samplers and shuffles. n must be positive.
    std::uint64_t uniform_int(std::uint64_t n) {
        if (n == 0) throw ValueError("Generator::uniform_int: empty range");
        const detail::PhiloxBlock r = detail::philox4x32_10(state_.offset++, 0, state_.seed);
        const std::uint64_t bits = (std::uint64_t(r.words[0]) << 32) | r.words[1];
        return bits % n;  // bias below 2^-32 for every n used here (n < 2^32)
    }

private:
    template <class T>
    static T standard_normal(const detail::PhiloxBlock& r) {
        const T u1 = detail::open_unit<T>(r.words[0], r.words[1]);
        const T u2 = detail::open_unit<T>(r.words[2], r.words[3]);
        return std::sqrt(T(-2) * std::log(u1)) * std::cos(T(2) * std::numbers::pi_v<T> * u2);
    }

    template <class T, int Rank, class Draw>
    void fill(TensorView<T, Rank, cpu> out, Draw draw) {
        expect_contiguous("Generator", "out", out);
        T* data = out.data();
        const index_t n = out.size();
        const std::uint64_t base = state_.offset, key = state_.seed;
        parallel_for(
            n,
            [&](index_t i) {
                const std::uint64_t counter = base + std::uint64_t(i);
                data[i] = draw(detail::philox4x32_10(counter, 0, key), counter);
            },
            n > 65536);
        state_.offset += std::uint64_t(n);
    }

    GeneratorState state_;
};

}  // namespace svilm
