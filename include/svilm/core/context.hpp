// svilm/core/context.hpp: Context<Device>, what every op and module call takes first, and the
// device-free memory moves built on it.
//
//   svilm::Context<svilm::cpu> cpu;        // CPU ops: svilm's thread pool (set_num_threads)
//   svilm::Context<svilm::cuda> gpu;       // svilm/cuda.hpp: device, stream, cuBLAS handle
//   layer_norm_forward(cpu, y, saved, x, w, b);   // the overload of the views' device is chosen
//
// Code written once for both devices (modules, models, the trainer) names `Context<Device>` and
// moves memory with to_device / to_host / zero below; each device supplies DeviceMemory<Device>.
// This header includes nothing device-specific, so nvcc and the C++ compiler both read it.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>

#include "svilm/core/allocator.hpp"
#include "svilm/core/device.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm {

// Context<cuda> is defined in svilm/cuda/context.hpp.
template <class Device>
class Context;

// CPU ops run on svilm's process-wide thread pool (set_num_threads); the context is the handle
// that makes CPU and CUDA calls read alike, and where CPU-side per-call state will live.
template <>
class Context<cpu> {
public:
    static bool available() noexcept { return true; }
    static std::string description() { return "cpu"; }
    // CPU ops finish before they return; the call is here so device-generic code can wait alike.
    void synchronize() const noexcept {}
};

// Synchronous copies between host memory and a device's memory, and zeroing queued on the
// context. Specialisations provide
//   static void upload(const Context<Device>&, void* dst, const void* src, std::size_t bytes);
//   static void download(const Context<Device>&, void* dst, const void* src, std::size_t bytes);
//   static void copy(const Context<Device>&, void* dst, const void* src, std::size_t bytes);   // on the device
//   static void zero(const Context<Device>&, void* dst, std::size_t bytes);
// upload and download return when the data has arrived; copy and zero are ordered with the
// context's other work.
template <class Device>
struct DeviceMemory;

template <>
struct DeviceMemory<cpu> {
    static void upload(const Context<cpu>&, void* dst, const void* src, std::size_t bytes) { copy_bytes(dst, src, bytes); }
    static void download(const Context<cpu>&, void* dst, const void* src, std::size_t bytes) { copy_bytes(dst, src, bytes); }
    static void copy(const Context<cpu>&, void* dst, const void* src, std::size_t bytes) { copy_bytes(dst, src, bytes); }
    static void zero(const Context<cpu>&, void* dst, std::size_t bytes) {
        if (bytes) std::memset(dst, 0, bytes);
    }

private:
    static void copy_bytes(void* dst, const void* src, std::size_t bytes) {
        if (bytes && dst != src) std::memmove(dst, src, bytes);
    }
};

// A copy on the context's device of a contiguous host view (a plain copy on the CPU).
template <class T, int Rank, class Device>
Tensor<T, Rank, Device> to_device(const Context<Device>& ctx, std::type_identity_t<TensorView<const T, Rank, cpu>> host) {
    expect_contiguous("to_device", "host", host);
    Tensor<T, Rank, Device> out(host.shape(), uninitialized);
    DeviceMemory<Device>::upload(ctx, out.data(), host.data(), out.bytes());
    return out;
}

// A host copy of a contiguous view on the context's device.
template <class T, int Rank, class Device>
Tensor<T, Rank, cpu> to_host(const Context<Device>& ctx, std::type_identity_t<TensorView<const T, Rank, Device>> view) {
    expect_contiguous("to_host", "view", view);
    Tensor<T, Rank, cpu> out(view.shape(), uninitialized);
    DeviceMemory<Device>::download(ctx, out.data(), view.data(), out.bytes());
    return out;
}

// dst (host) = src (device view of the same shape), both contiguous; returns when it arrived.
template <class T, int Rank, class Device>
void download(const Context<Device>& ctx, TensorView<T, Rank, cpu> dst,
              std::type_identity_t<TensorView<const T, Rank, Device>> src) {
    expect_shape("download", "dst", dst, src.shape());
    expect_contiguous("download", "dst", dst);
    expect_contiguous("download", "src", src);
    DeviceMemory<Device>::download(ctx, dst.data(), src.data(), std::size_t(dst.size()) * sizeof(T));
}

// dst (device) = src (host view of the same shape), both contiguous; returns when it arrived.
template <class T, int Rank, class Device>
void upload(const Context<Device>& ctx, TensorView<T, Rank, Device> dst, std::type_identity_t<TensorView<const T, Rank, cpu>> src) {
    expect_shape("upload", "src", src, dst.shape());
    expect_contiguous("upload", "dst", dst);
    expect_contiguous("upload", "src", src);
    DeviceMemory<Device>::upload(ctx, dst.data(), src.data(), std::size_t(dst.size()) * sizeof(T));
}

// Every element of a contiguous view set to 0 (all bits zero), ordered on the context.
template <class T, int Rank, class Device>
void zero(const Context<Device>& ctx, TensorView<T, Rank, Device> dst) {
    expect_contiguous("zero", "dst", dst);
    DeviceMemory<Device>::zero(ctx, dst.data(), std::size_t(dst.size()) * sizeof(T));
}

// A tensor of `shape` on the context's device, every element 0.
template <class T, int Rank, class Device>
Tensor<T, Rank, Device> zeros(const Context<Device>& ctx, const Extents<Rank>& shape) {
    Tensor<T, Rank, Device> out(shape, uninitialized);
    zero<T, Rank, Device>(ctx, out);
    return out;
}

// One scalar of a device view, read on the host (synchronises on CUDA).
template <class T, class Device>
T read_scalar(const Context<Device>& ctx, std::type_identity_t<TensorView<const T, 0, Device>> value) {
    T out{};
    DeviceMemory<Device>::download(ctx, &out, value.data(), sizeof(T));
    return out;
}

}  // namespace svilm
