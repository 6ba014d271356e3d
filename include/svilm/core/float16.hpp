// svilm/core/float16.hpp: IEEE 754 binary16 as a storage type (1 sign, 5 exponent, 10 mantissa
// bits), the F16 of safetensors and torch.float16.
//
// Arithmetic is done in float: widening is exact (subnormals included), storing rounds to
// nearest even. Magnitudes from 65520 up become infinity, NaN stays NaN (quiet), infinities and
// signed zeros are preserved.
#pragma once

#include <bit>
#include <cstdint>

namespace svilm {

struct float16 {
    std::uint16_t bits = 0;

    constexpr float16() = default;
    explicit float16(float value) : bits(round_from_float(value)) {}
    explicit operator float() const { return std::bit_cast<float>(widen(bits)); }

    static constexpr float16 from_bits(std::uint16_t raw) {
        float16 h;
        h.bits = raw;
        return h;
    }
    friend constexpr bool operator==(float16 a, float16 b) { return a.bits == b.bits; }

private:
    // binary16 bits -> binary32 bits (exact).
    static std::uint32_t widen(std::uint16_t h) {
        const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
        const std::uint32_t exponent = (h >> 10) & 0x1fu;
        std::uint32_t mantissa = h & 0x3ffu;
        if (exponent == 0x1f) return sign | 0x7f800000u | (mantissa << 13);  // infinity, NaN (payload kept)
        if (exponent != 0) return sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
        if (mantissa == 0) return sign;
        int shift = 0;  // subnormal half: renormalise
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            ++shift;
        }
        return sign | (std::uint32_t(127 - 15 - shift + 1) << 23) | ((mantissa & 0x3ffu) << 13);
    }

    // Drops the low bits of `value` (below `shift`), rounding half to even.
    static std::uint32_t shift_round_even(std::uint32_t value, int shift) {
        const std::uint32_t kept = value >> shift, rest = value & ((1u << shift) - 1), half = 1u << (shift - 1);
        return kept + (rest > half || (rest == half && (kept & 1u)) ? 1u : 0u);
    }

    static std::uint16_t round_from_float(float value) {
        const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
        const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
        const std::uint32_t magnitude = u & 0x7fffffffu;
        if (magnitude > 0x7f800000u)
            return std::uint16_t(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));  // NaN: force the quiet bit
        if (magnitude >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);     // >= 65520 (or inf): infinity
        if (magnitude >= 0x38800000u)  // >= 2^-14: normal half; a mantissa carry steps the exponent
            return std::uint16_t(sign | shift_round_even(magnitude - (std::uint32_t(127 - 15) << 23), 13));
        // Subnormal half: a multiple of 2^-24. value = m 2^(e-150) with the implicit bit in m, so
        // the multiple is m >> (126 - e); below 2^-25 (shift > 24) everything rounds to zero.
        const int shift = 126 - int(magnitude >> 23);
        if (shift > 24) return sign;
        return std::uint16_t(sign | shift_round_even((magnitude & 0x7fffffu) | 0x800000u, shift));
    }
};

static_assert(sizeof(float16) == 2);

inline float to_float(float16 x) { return static_cast<float>(x); }

}  // namespace svilm
