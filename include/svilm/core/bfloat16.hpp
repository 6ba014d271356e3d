// svilm/core/bfloat16.hpp: bfloat16 as a storage type (1 sign, 8 exponent, 7 mantissa bits).
//
// Arithmetic is done in float: convert on load, round to nearest even on store. NaN stays NaN
// (quiet), infinities and signed zeros are preserved.
#pragma once

#include <bit>
#include <cstdint>

namespace svilm {

struct bfloat16 {
    std::uint16_t bits = 0;

    constexpr bfloat16() = default;
    explicit bfloat16(float value) : bits(round_from_float(value)) {}
    explicit operator float() const { return std::bit_cast<float>(std::uint32_t(bits) << 16); }

    static constexpr bfloat16 from_bits(std::uint16_t raw) {
        bfloat16 b;
        b.bits = raw;
        return b;
    }
    friend constexpr bool operator==(bfloat16 a, bfloat16 b) { return a.bits == b.bits; }

private:
    static std::uint16_t round_from_float(float value) {
        const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
        if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0)
            return std::uint16_t((u >> 16) | 0x0040u);  // NaN: keep sign, force quiet bit
        const std::uint32_t lsb = (u >> 16) & 1u;
        return std::uint16_t((u + 0x7fffu + lsb) >> 16);  // round half to even
    }
};

static_assert(sizeof(bfloat16) == 2);

inline float to_float(bfloat16 x) { return static_cast<float>(x); }

}  // namespace svilm
