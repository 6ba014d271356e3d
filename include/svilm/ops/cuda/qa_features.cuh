// svilm/ops/cuda/qa_features.cuh: the video QA head's input x = [v, q, v * q] and its backward on
// the device: the CUDA twin of svilm/ops/qa_features.hpp, same signatures with Context<cuda> and
// device views. One thread per (row, column) of the (B, D) embeddings.
#pragma once

#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/cuda/check.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/ops/cuda/launch.cuh"

namespace svilm {

namespace cuda_kernels {

template <class T>
__global__ void qa_features_forward(T* x, const T* v, const T* q, index_t n, index_t D) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const index_t r = i / D, d = i % D;
        T* out = x + r * 3 * D;
        out[d] = v[i];
        out[D + d] = q[i];
        out[2 * D + d] = v[i] * q[i];
    }
}

// dv = dx_v + dx_p * q and dq = dx_q + dx_p * v; a null dv or dq is skipped.
template <class T>
__global__ void qa_features_backward(T* dv, T* dq, const T* dx, const T* v, const T* q, index_t n, index_t D) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const index_t r = i / D, d = i % D;
        const T* g = dx + r * 3 * D;
        if (dv) dv[i] = g[d] + g[2 * D + d] * q[i];
        if (dq) dq[i] = g[D + d] + g[2 * D + d] * v[i];
    }
}

}  // namespace cuda_kernels

// x (B, 3D) = [v, q, v * q] row by row; v, q (B, D), all contiguous, x not overlapping v or q.
template <class T>
void qa_features_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> x,
                         std::type_identity_t<TensorView<const T, 2, cuda>> v,
                         std::type_identity_t<TensorView<const T, 2, cuda>> q) {
    contract::qa_features_forward("qa_features_forward", x, v, q);
    if (v.size() == 0) return;
    cuda_kernels::qa_features_forward<T><<<cuda_detail::grid_cover(v.size()), 256, 0, ctx.stream()>>>(
        x.data(), v.data(), q.data(), v.size(), v.extent(1));
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// dv = dx[:, 0:D] + dx[:, 2D:3D] * q and dq = dx[:, D:2D] + dx[:, 2D:3D] * v, both (B, D),
// assigned; either may be an empty view (not computed).
template <class T>
void qa_features_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dv, TensorView<T, 2, cuda> dq,
                          std::type_identity_t<TensorView<const T, 2, cuda>> dx,
                          std::type_identity_t<TensorView<const T, 2, cuda>> v,
                          std::type_identity_t<TensorView<const T, 2, cuda>> q) {
    contract::qa_features_backward("qa_features_backward", dv, dq, dx, v, q);
    if (v.size() == 0 || (!dv.data() && !dq.data())) return;
    cuda_kernels::qa_features_backward<T><<<cuda_detail::grid_cover(v.size()), 256, 0, ctx.stream()>>>(
        dv.data(), dq.data(), dx.data(), v.data(), q.data(), v.size(), v.extent(1));
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
