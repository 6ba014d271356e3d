// svilm/ops/gemm_types.hpp: the words of a GEMM call that both devices' GEMMs share, in a header
// with no backend in it (nvcc reads it; Eigen and cblas stay in ops/gemm.hpp).
#pragma once

namespace svilm {

enum class Trans { no, yes };

// How float GEMMs use the CUDA tensor cores. Storage stays fp32 and accumulation fp32 in every
// mode; tf32 rounds the operands to 10 mantissa bits, bf16 to 7 (cuBLAS's FAST_TF32 / FAST_16BF
// compute types). Relative error of a product: about 1e-6, 5e-4 and 4e-3. The CPU GEMM is always
// fp32 and accepts the argument so that device-generic code reads the same on both.
enum class MathMode { fp32, tf32, bf16 };

inline const char* to_string(MathMode mode) {
    switch (mode) {
        case MathMode::fp32: return "fp32";
        case MathMode::tf32: return "tf32";
        case MathMode::bf16: return "bf16";
    }
    return "?";
}

}  // namespace svilm
