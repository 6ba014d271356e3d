// svilm/optim/cuda/adamw.cuh: the optimiser's two passes over a flat parameter buffer on the
// device, the CUDA twins of svilm/ops/optimizer.hpp with the same signatures: the AdamW update
// (svilm/optim/adamw_update.hpp says what it computes) and clipping by global norm.
// optim::AdamW and optim::clip_grad_norm call them for a store on the device.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/elementwise.cuh"
#include "svilm/ops/cuda/launch.cuh"
#include "svilm/ops/cuda/reduce.cuh"
#include "svilm/optim/adamw_update.hpp"

namespace svilm {

namespace cuda_kernels {

// One thread per element of the flat buffer. Parameters are the sorted, disjoint ranges
// [begin[s], end[s]); an element finds its range by binary search and is left alone when it is
// padding between two. The update is the CPU's (ops/optimizer.hpp), in T.
template <class T>
__global__ void adamw_step(T* values, T* exp_avg, T* exp_avg_sq, const T* grads, const index_t* begin, const index_t* end,
                           const std::uint8_t* decays, index_t ranges, index_t n, AdamWHyper<T> h) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        index_t lo = 0, hi = ranges;  // the first range with begin > i is at hi
        while (lo < hi) {
            const index_t mid = (lo + hi) / 2;
            if (begin[mid] <= i)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (hi == 0 || i >= end[hi - 1]) continue;
        const T g = grads[i];
        const T m = h.beta1 * exp_avg[i] + (T(1) - h.beta1) * g;
        const T v = h.beta2 * exp_avg_sq[i] + (T(1) - h.beta2) * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        values[i] = values[i] * (decays[hi - 1] ? h.decay : T(1)) - h.step_size * m / (sqrt(v) / h.root_c2 + h.eps);
    }
}

// One block per chunk of `chunk` elements: partial[c] = sum of squares in double.
template <class T>
__global__ void squared_norm_chunks(double* partial, const T* x, index_t n, index_t chunk) {
    __shared__ double scratch[32];
    const index_t begin = index_t(blockIdx.x) * chunk, end = begin + chunk < n ? begin + chunk : n;
    double sum = 0;
    for (index_t i = begin + threadIdx.x; i < end; i += blockDim.x) sum += double(x[i]) * double(x[i]);
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

}  // namespace cuda_kernels

// One AdamW update of values from grads (all (n), the store's flat layout, contiguous), the
// moments exp_avg and exp_avg_sq updated in place; elements outside every range of `ranges`
// (on the device) are left alone. Queued on the stream.
template <class T>
void adamw_update(const Context<cuda>& ctx, TensorView<T, 1, cuda> values,
                  std::type_identity_t<TensorView<const T, 1, cuda>> grads, TensorView<T, 1, cuda> exp_avg,
                  TensorView<T, 1, cuda> exp_avg_sq, const AdamWRanges<cuda>& ranges, const AdamWHyper<T>& h) {
    const char* op = "adamw_update";
    expect_shape(op, "grads", grads, values.shape());
    expect_shape(op, "exp_avg", exp_avg, values.shape());
    expect_shape(op, "exp_avg_sq", exp_avg_sq, values.shape());
    expect_contiguous(op, "values", values);
    expect_contiguous(op, "grads", grads);
    expect_contiguous(op, "exp_avg", exp_avg);
    expect_contiguous(op, "exp_avg_sq", exp_avg_sq);
    expect_shape(op, "ranges.begin", ranges.begin.view(), {ranges.count});
    expect_shape(op, "ranges.end", ranges.end.view(), {ranges.count});
    expect_shape(op, "ranges.decays", ranges.decays.view(), {ranges.count});
    const index_t n = values.size();
    if (n == 0 || ranges.count == 0) return;
    cuda_kernels::adamw_step<T><<<cuda_detail::grid_cover(n), 256, 0, ctx.stream()>>>(
        values.data(), exp_avg.data(), exp_avg_sq.data(), grads.data(), ranges.begin.data(), ranges.end.data(),
        ranges.decays.data(), ranges.count, n, h);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// The global L2 norm of grads (before clipping), returned to the host (synchronises): squares
// summed in double per fixed chunk of 2^16 elements, the chunks summed on the host in order, as
// the CPU op does. When it exceeds max_norm, grads are scaled by max_norm / (norm + 1e-6)
// (torch.nn.utils.clip_grad_norm_), queued on the stream. A NaN or infinite norm is returned and
// nothing is scaled: the caller decides (train::Trainer refuses such a step), where torch would
// spread the NaN into every gradient.
template <class T>
double clip_grad_norm(const Context<cuda>& ctx, TensorView<T, 1, cuda> grads, double max_norm) {
    expect_contiguous("clip_grad_norm", "grads", grads);
    const index_t n = grads.size(), chunk = 1 << 16, chunks = (n + chunk - 1) / chunk;
    if (n == 0) return 0.0;
    Tensor<double, 1, cuda> partial({chunks}, uninitialized);
    cuda_kernels::squared_norm_chunks<T><<<unsigned(chunks), 256, 0, ctx.stream()>>>(partial.data(), grads.data(), n, chunk);
    SVILM_CUDA_CHECK(cudaGetLastError());
    const Tensor<double, 1> host = to_host<double, 1>(ctx, partial);
    double total = 0;
    for (index_t c = 0; c < chunks; ++c) total += host(c);
    const double norm = std::sqrt(total);
    if (norm > max_norm) scale_forward<T, 1>(ctx, grads, grads, T(max_norm / (norm + 1e-6)));
    return norm;
}

}  // namespace svilm
