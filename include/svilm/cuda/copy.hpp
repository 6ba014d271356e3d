// svilm/cuda/copy.hpp: tensors between host and device, on the context's stream.
//
// to_device / to_host return when the data has arrived (they synchronise the stream), so the
// host side may be freed or read at once. copy and zero are queued on the stream.
#pragma once

#include <cstring>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"

namespace svilm {

// A device copy of a contiguous host view.
template <class T, int Rank>
Tensor<T, Rank, cuda> to_device(const CudaContext& ctx, TensorView<const T, Rank, cpu> host) {
    expect_contiguous("to_device", "host", host);
    Tensor<T, Rank, cuda> out(host.shape(), uninitialized);
    if (out.size())
        SVILM_CUDA_CHECK(cudaMemcpyAsync(out.data(), host.data(), out.bytes(), cudaMemcpyHostToDevice, ctx.stream()));
    ctx.synchronize();
    return out;
}

// A host copy of a contiguous device view.
template <class T, int Rank>
Tensor<T, Rank, cpu> to_host(const CudaContext& ctx, TensorView<const T, Rank, cuda> device) {
    expect_contiguous("to_host", "device", device);
    Tensor<T, Rank, cpu> out(device.shape(), uninitialized);
    if (out.size())
        SVILM_CUDA_CHECK(cudaMemcpyAsync(out.data(), device.data(), out.bytes(), cudaMemcpyDeviceToHost, ctx.stream()));
    ctx.synchronize();
    return out;
}

// dst = src on the device (same shape, both contiguous), queued on the stream.
template <class T, int Rank>
void copy(const CudaContext& ctx, TensorView<T, Rank, cuda> dst, std::type_identity_t<TensorView<const T, Rank, cuda>> src) {
    expect_shape("cuda copy", "src", src, dst.shape());
    expect_contiguous("cuda copy", "dst", dst);
    expect_contiguous("cuda copy", "src", src);
    if (dst.size())
        SVILM_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), std::size_t(dst.size()) * sizeof(T), cudaMemcpyDeviceToDevice,
                                         ctx.stream()));
}

// All bits of a contiguous device view set to 0 (0.0 for floating types), queued on the stream.
template <class T, int Rank>
void zero(const CudaContext& ctx, TensorView<T, Rank, cuda> dst) {
    expect_contiguous("cuda zero", "dst", dst);
    if (dst.size()) SVILM_CUDA_CHECK(cudaMemsetAsync(dst.data(), 0, std::size_t(dst.size()) * sizeof(T), ctx.stream()));
}

}  // namespace svilm
