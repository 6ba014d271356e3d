// svilm/ops/cuda/reduce.cuh: block-wide sum and max for the row kernels (one block per row).
// The order of additions is fixed by the block size and the row length, so results do not vary
// from run to run (no atomics).
#pragma once

namespace svilm::cuda_kernels {

template <class T>
__device__ T warp_sum(T v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}
template <class T>
__device__ T warp_max(T v) {
    for (int offset = 16; offset > 0; offset /= 2) v = max(v, __shfl_down_sync(0xffffffffu, v, offset));
    return v;
}

// Every thread of the block gets the sum of all threads' v. requires: blockDim.x a multiple of
// 32, at most 1024; `scratch` 32 elements of shared memory, not in use by the caller.
template <class T>
__device__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous reduction
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = threadIdx.x < warps ? scratch[threadIdx.x] : T(0);
    if (warp == 0) v = warp_sum(v);
    if (threadIdx.x == 0) scratch[0] = v;
    __syncthreads();
    return scratch[0];
}

template <class T>
__device__ T block_max(T v, T* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = threadIdx.x < warps ? scratch[threadIdx.x] : T(-INFINITY);
    if (warp == 0) v = warp_max(v);
    if (threadIdx.x == 0) scratch[0] = v;
    __syncthreads();
    return scratch[0];
}

}  // namespace svilm::cuda_kernels
