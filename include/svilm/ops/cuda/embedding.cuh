// svilm/ops/cuda/embedding.cuh: table lookup on the device, the CUDA twin of
// svilm/ops/embedding.hpp. Ids are checked on the host before the copy to the device, so an id
// outside the vocabulary is a ValueError naming it, never an out-of-bounds read. The backward
// scatters with one thread per column walking the rows in order: repeated ids accumulate in the
// same order every run (deterministic, no atomics).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/launch.cuh"

namespace svilm::cuda_ops {

namespace kernels {

template <class T>
__global__ void embedding_forward(T* y, const T* weight, const std::int64_t* ids, index_t rows, index_t cols) {
    const index_t total = rows * cols;
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += index_t(gridDim.x) * blockDim.x) {
        const index_t r = i / cols, c = i % cols;
        y[i] = weight[ids[r] * cols + c];
    }
}

template <class T>
__global__ void embedding_backward(T* dweight, const T* dy, const std::int64_t* ids, index_t rows, index_t cols) {
    const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    for (index_t r = 0; r < rows; ++r) dweight[ids[r] * cols + c] += dy[r * cols + c];
}

}  // namespace kernels

// Ids (R) from the host, checked against the vocabulary, on the device.
inline Tensor<std::int64_t, 1, cuda> device_ids(const CudaContext& ctx, const char* op, TensorView<const std::int64_t, 1> ids,
                                               index_t vocab) {
    for (index_t r = 0; r < ids.extent(0); ++r)
        if (ids(r) < 0 || ids(r) >= vocab)
            throw ValueError(std::string(op) + ": id " + std::to_string(ids(r)) + " at position " + std::to_string(r) +
                             " is outside the vocabulary of " + std::to_string(vocab));
    Tensor<std::int64_t, 1> host(ids.shape(), uninitialized);  // contiguous, whatever the view's stride
    for (index_t r = 0; r < ids.extent(0); ++r) host(r) = ids(r);
    return to_device<std::int64_t, 1>(ctx, host);
}

// y (R, C) = weight (V, C)[ids (R)], ids already on the device (from device_ids).
template <class T>
void embedding_forward(const CudaContext& ctx, TensorView<T, 2, cuda> y, std::type_identity_t<TensorView<const T, 2, cuda>> weight,
                       TensorView<const std::int64_t, 1, cuda> ids) {
    const index_t rows = ids.extent(0), cols = weight.extent(1);
    expect_shape("cuda embedding_forward", "y", y, {rows, cols});
    if (rows * cols == 0) return;
    kernels::embedding_forward<T><<<kernels::grid_cover(rows * cols), 256, 0, ctx.stream()>>>(y.data(), weight.data(), ids.data(), rows, cols);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dweight (V, C) += scatter of dy (R, C) by ids (on the device).
template <class T>
void embedding_backward(const CudaContext& ctx, TensorView<T, 2, cuda> dweight, std::type_identity_t<TensorView<const T, 2, cuda>> dy,
                        TensorView<const std::int64_t, 1, cuda> ids) {
    const index_t rows = ids.extent(0), cols = dweight.extent(1);
    expect_shape("cuda embedding_backward", "dy", dy, {rows, cols});
    if (rows * cols == 0) return;
    kernels::embedding_backward<T><<<kernels::blocks_for(cols, 256), 256, 0, ctx.stream()>>>(dweight.data(), dy.data(), ids.data(),
                                                                                          rows, cols);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm::cuda_ops
