// svilm/core/device.hpp: device tags. A tensor's device is part of its type, so passing a
// CUDA tensor to a CPU op is a compile error, not a run-time surprise.
#pragma once

#include <cstddef>

namespace svilm {

struct cpu {
    static constexpr const char* name = "cpu";
};

// Reserved for the CUDA backend: its allocator specialisation lives in svilm/cuda.hpp, so a
// Tensor<float, 2, cuda> is a valid type everywhere but can only allocate where CUDA is included.
struct cuda {
    static constexpr const char* name = "cuda";
};

// Raw allocation per device. Specialisations provide
//   static void* allocate(std::size_t bytes);   // 64-byte aligned, throws on failure
//   static void deallocate(void* p) noexcept;
template <class Device>
struct DeviceAllocator;

template <class Device>
inline constexpr bool is_cpu_v = false;
template <>
inline constexpr bool is_cpu_v<cpu> = true;

}  // namespace svilm
