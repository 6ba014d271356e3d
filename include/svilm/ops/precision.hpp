// svilm/ops/precision.hpp: the inference precisions of the linear layers, and the low-precision
// copy of a weight that the CPU's bf16 and int8 products read (svilm/ops/linear_low_precision.hpp).
//
// Only the products of the nn::Linear layers change precision, as in PyTorch's autocast and
// dynamic quantisation: layer norms, softmax, GELU, attention's products, the grouping
// assignment and the embeddings stay fp32.
//
//   fp32  the model as trained.
//   bf16  weights and the layer's input rounded to bfloat16 (8 significant bits), products
//         summed in fp32. The rounded values are multiplied with the fp32 GEMM on every CPU
//         (svilm has no bf16-instruction path yet), each weight widened for its product.
//   int8  dynamic quantisation: each weight row (output channel) scaled to [-63, 63] once,
//         each input row to uint8 [0, 255] with its own scale and zero point at every call;
//         int32 sums, rescaled to fp32. The weights get 7 bits so that the 16-bit sums of
//         pairs of products in AVX2's int8 instructions (255 * 63 * 2 < 2^15) cannot saturate;
//         the inputs keep 8 because a row's range is set by its outliers (transformer
//         activations have them), which costs their other values more resolution than a
//         weight row's maximum costs the weights.
//
// Device-free: the ParameterStore (nvcc reads it) makes the copies; nothing here needs a CPU
// instruction set.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "svilm/core/bfloat16.hpp"
#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

enum class Precision { fp32, bf16, int8 };

inline const char* to_string(Precision p) {
    switch (p) {
        case Precision::fp32: return "fp32";
        case Precision::bf16: return "bf16";
        case Precision::int8: return "int8";
    }
    return "?";
}

// "fp32", "bf16" or "int8"; ValueError naming the choices otherwise.
inline Precision parse_precision(const std::string& text) {
    if (text == "fp32") return Precision::fp32;
    if (text == "bf16") return Precision::bf16;
    if (text == "int8") return Precision::int8;
    throw ValueError("precision '" + text + "': expected fp32, bf16 or int8");
}

// A Linear weight (out, in) in a low precision, row-major like the fp32 weight.
struct LowPrecisionWeight {
    Precision precision = Precision::fp32;
    index_t out = 0, in = 0;
    std::vector<bfloat16> bf16;            // (out, in), bf16 only
    std::vector<std::int8_t> int8;         // (out, in), int8 only: round(w / scale[row]), in [-63, 63]
    std::vector<float> scale;              // (out), int8 only: max |w[row, :]| / 63 (1 for a zero row)
                                           // (at least the smallest normal float)
    std::vector<std::int32_t> column_sum;  // (out), int8 only: sum of int8[row, :], for the zero points

    std::size_t bytes() const {
        return bf16.size() * sizeof(bfloat16) + int8.size() + scale.size() * sizeof(float) +
               column_sum.size() * sizeof(std::int32_t);
    }
};

inline constexpr int int8_weight_max = 63;   // see the header comment
inline constexpr int int8_input_max = 255;

// The low-precision copy of a contiguous fp32 weight (out, in) called `name` (for errors):
// ValueError when a value is not finite (it would turn every int8 scale of its row into NaN).
inline LowPrecisionWeight make_low_precision_weight(Precision precision, const float* weight, index_t out, index_t in,
                                                    const std::string& name) {
    const std::size_t n = std::size_t(out) * std::size_t(in);
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(weight[i]))
            throw ValueError(std::string(to_string(precision)) + " copy of '" + name + "': element " + std::to_string(i) +
                             " is not finite");
    LowPrecisionWeight w;
    w.precision = precision;
    w.out = out;
    w.in = in;
    if (precision == Precision::bf16) {
        w.bf16.resize(n);
        for (std::size_t i = 0; i < n; ++i) w.bf16[i] = bfloat16(weight[i]);
    } else if (precision == Precision::int8) {
        w.int8.resize(n);
        w.scale.resize(std::size_t(out));
        w.column_sum.resize(std::size_t(out));
        for (index_t r = 0; r < out; ++r) {
            const float* row = weight + std::size_t(r) * std::size_t(in);
            float peak = 0;
            for (index_t k = 0; k < in; ++k) peak = std::max(peak, std::fabs(row[k]));
            // at least the smallest normal float: a row of denormals must not divide by 0
            const float scale = peak > 0 ? std::max(peak / float(int8_weight_max), std::numeric_limits<float>::min()) : 1.0f;
            std::int32_t sum = 0;
            for (index_t k = 0; k < in; ++k) {
                const auto q = std::int8_t(std::clamp(std::nearbyint(row[k] / scale), -float(int8_weight_max), float(int8_weight_max)));
                w.int8[std::size_t(r) * std::size_t(in) + std::size_t(k)] = q;
                sum += q;
            }
            w.scale[std::size_t(r)] = scale;
            w.column_sum[std::size_t(r)] = sum;
        }
    }
    return w;
}

}  // namespace svilm
