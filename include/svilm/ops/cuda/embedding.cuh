// svilm/ops/cuda/embedding.cuh: table lookup on the device, svilm/ops/embedding.hpp's op with the
// ids on the device. The CPU op throws ValueError for an id outside the vocabulary; here the ids
// are already on the device, where checking would cost a synchronisation, so they are to be
// checked on the host before they go there (TextEncoder does; cuda_detail::device_ids checks and
// uploads). The kernels check again and read or write nothing for such an id, so unchecked ids
// can never read or write out of bounds (a row for a bad id comes out 0). The backward scatters with one thread
// per column walking the rows in order: repeated ids accumulate in the same order every run
// (deterministic, no atomics).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/launch.cuh"

namespace svilm {

namespace cuda_kernels {

template <class T>
__global__ void embedding_forward(T* y, const T* weight, const std::int64_t* ids, index_t rows, index_t cols, index_t vocab) {
    const index_t total = rows * cols;
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += index_t(gridDim.x) * blockDim.x) {
        const index_t r = i / cols, c = i % cols;
        const std::int64_t id = ids[r];
        y[i] = id >= 0 && id < vocab ? weight[id * cols + c] : T(0);
    }
}

template <class T>
__global__ void embedding_backward(T* dweight, const T* dy, const std::int64_t* ids, index_t rows, index_t cols, index_t vocab) {
    const index_t c = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    for (index_t r = 0; r < rows; ++r) {
        const std::int64_t id = ids[r];
        if (id >= 0 && id < vocab) dweight[id * cols + c] += dy[r * cols + c];
    }
}

}  // namespace cuda_kernels

namespace cuda_detail {

// Ids (R) from the host, checked against the vocabulary (ValueError naming the first bad one),
// on the device. Synchronises (an upload).
inline Tensor<std::int64_t, 1, cuda> device_ids(const Context<cuda>& ctx, const char* op, TensorView<const std::int64_t, 1> ids,
                                               index_t vocab) {
    for (index_t r = 0; r < ids.extent(0); ++r)
        if (ids(r) < 0 || ids(r) >= vocab)
            throw ValueError(std::string(op) + ": id " + std::to_string(ids(r)) + " at position " + std::to_string(r) +
                             " is outside the vocabulary of " + std::to_string(vocab));
    Tensor<std::int64_t, 1> host(ids.shape(), uninitialized);  // contiguous, whatever the view's stride
    for (index_t r = 0; r < ids.extent(0); ++r) host(r) = ids(r);
    return to_device<std::int64_t, 1>(ctx, host);
}

}  // namespace cuda_detail

// y (R, C) = weight (V, C)[ids (R)], ids on the device (from cuda_detail::device_ids).
template <class T>
void embedding_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y,
                       std::type_identity_t<TensorView<const T, 2, cuda>> weight, TensorView<const std::int64_t, 1, cuda> ids) {
    const char* op = "embedding_forward";
    const index_t rows = ids.extent(0), vocab = weight.extent(0), cols = weight.extent(1);
    expect_shape(op, "y", y, {rows, cols});
    expect_contiguous(op, "weight", weight);
    expect_contiguous(op, "y", y);
    expect_contiguous(op, "ids", ids);
    if (rows * cols == 0) return;
    cuda_kernels::embedding_forward<T><<<cuda_detail::grid_cover(rows * cols), 256, 0, ctx.stream()>>>(
        y.data(), weight.data(), ids.data(), rows, cols, vocab);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dweight (V, C) += scatter of dy (R, C) by ids (on the device).
template <class T>
void embedding_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dweight,
                        std::type_identity_t<TensorView<const T, 2, cuda>> dy, TensorView<const std::int64_t, 1, cuda> ids) {
    const char* op = "embedding_backward";
    const index_t rows = ids.extent(0), vocab = dweight.extent(0), cols = dweight.extent(1);
    expect_shape(op, "dy", dy, {rows, cols});
    expect_contiguous(op, "dweight", dweight);
    expect_contiguous(op, "dy", dy);
    expect_contiguous(op, "ids", ids);
    if (rows * cols == 0) return;
    cuda_kernels::embedding_backward<T><<<cuda_detail::blocks_for(cols, 256), 256, 0, ctx.stream()>>>(
        dweight.data(), dy.data(), ids.data(), rows, cols, vocab);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
