// svilm/core/allocator.hpp: 64-byte aligned host allocation (one cache line, one AVX-512
// register), used by every CPU tensor.
#pragma once

#include <cstddef>
#include <new>
#include <string>

#include "svilm/core/device.hpp"
#include "svilm/core/error.hpp"

namespace svilm {

inline constexpr std::size_t tensor_alignment = 64;

template <>
struct DeviceAllocator<cpu> {
    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        try {
            return ::operator new(bytes, std::align_val_t{tensor_alignment});
        } catch (const std::bad_alloc&) {
            throw Error("cpu allocation of " + std::to_string(bytes) + " bytes failed");
        }
    }
    static void deallocate(void* p) noexcept {
        if (p) ::operator delete(p, std::align_val_t{tensor_alignment});
    }
};

}  // namespace svilm
