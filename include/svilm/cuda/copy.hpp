// svilm/cuda/copy.hpp: DeviceMemory<cuda>, the byte moves under core/context.hpp's to_device,
// to_host, upload, download and zero, on the context's stream.
//
// upload and download return when the data has arrived (they synchronise the stream), so the
// host side may be freed or read at once. copy and zero are queued on the stream, ordered with
// the context's kernels. Copies between views of any strides are the op svilm::copy
// (ops/cuda/elementwise.cuh).
#pragma once

#include <cstddef>

#include "svilm/core/context.hpp"
#include "svilm/cuda/check.hpp"
#include "svilm/cuda/context.hpp"

namespace svilm {

template <>
struct DeviceMemory<cuda> {
    static void upload(const Context<cuda>& ctx, void* dst, const void* src, std::size_t bytes) {
        if (!bytes) return;
        SVILM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx.stream()));
        ctx.synchronize();
    }
    static void download(const Context<cuda>& ctx, void* dst, const void* src, std::size_t bytes) {
        if (!bytes) return;
        SVILM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream()));
        ctx.synchronize();
    }
    static void copy(const Context<cuda>& ctx, void* dst, const void* src, std::size_t bytes) {
        if (!bytes || dst == src) return;
        SVILM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx.stream()));
    }
    static void zero(const Context<cuda>& ctx, void* dst, std::size_t bytes) {
        if (bytes) SVILM_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, ctx.stream()));
    }
};

}  // namespace svilm
