// svilm/optim/cuda/adamw.cuh: AdamW and clipping by global norm on the device, the CUDA twins
// of svilm/optim/adamw.hpp. The parameters and gradients are one flat device buffer each, with
// the layout of a host nn::ParameterStore's values() and grads() (padding included).
//
//   optim::CudaAdamW<float> adamw(ctx, store, options);      // decay groups from store.parameters()
//   const double norm = cuda_ops::clip_grad_norm(ctx, grads, 1.0);
//   adamw.step(ctx, values, grads, schedule(step));
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "svilm/core/tensor.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/ops/cuda/elementwise.cuh"
#include "svilm/ops/cuda/reduce.cuh"
#include "svilm/optim/adamw_options.hpp"

namespace svilm::cuda_ops {

namespace kernels {

// One thread per element of the flat buffer. Parameters are the sorted, disjoint ranges
// [begin[s], end[s]); an element finds its range by binary search and is left alone when it is
// padding between two. The update is optim::AdamW's, in T.
template <class T>
__global__ void adamw_step(T* values, T* exp_avg, T* exp_avg_sq, const T* grads, const index_t* begin, const index_t* end,
                           const std::uint8_t* decays, index_t ranges, index_t n, T decay, T b1, T b2, T step_size, T root_c2,
                           T eps) {
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
        const T m = b1 * exp_avg[i] + (T(1) - b1) * g;
        const T v = b2 * exp_avg_sq[i] + (T(1) - b2) * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        values[i] = values[i] * (decays[hi - 1] ? decay : T(1)) - step_size * m / (sqrt(v) / root_c2 + eps);
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

}  // namespace kernels

// The global L2 norm of grads (before clipping), returned to the host (synchronises): squares
// summed in double per fixed chunk of 2^16 elements, the chunks summed on the host in order, as
// optim::clip_grad_norm does. When it exceeds max_norm, grads are scaled by
// max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_), queued on the stream. A NaN or
// infinite norm is returned and nothing is scaled: the caller decides (train::Trainer refuses
// such a step on the CPU), where torch would spread the NaN into every gradient.
template <class T>
double clip_grad_norm(const CudaContext& ctx, TensorView<T, 1, cuda> grads, double max_norm) {
    expect_contiguous("cuda clip_grad_norm", "grads", grads);
    const index_t n = grads.size(), chunk = 1 << 16, chunks = (n + chunk - 1) / chunk;
    if (n == 0) return 0.0;
    Tensor<double, 1, cuda> partial({chunks}, uninitialized);
    kernels::squared_norm_chunks<T><<<unsigned(chunks), 256, 0, ctx.stream()>>>(partial.data(), grads.data(), n, chunk);
    SVILM_CUDA_CHECK(cudaGetLastError());
    const Tensor<double, 1> host = to_host<double, 1>(ctx, partial);
    double total = 0;
    for (index_t c = 0; c < chunks; ++c) total += host(c);
    const double norm = std::sqrt(total);
    if (norm > max_norm) {
        scale_forward<T, 1>(ctx, grads, grads, T(max_norm / (norm + 1e-6)));
    }
    return norm;
}

}  // namespace svilm::cuda_ops

namespace svilm::optim {

// AdamW with device moments over the flat buffers of a parameter store's layout: the same
// update as optim::AdamW (bias corrections, decoupled weight decay on Role::weight parameters
// only). requires: the store is allocated (its layout is final); the device buffers keep it.
template <class T>
class CudaAdamW {
public:
    CudaAdamW(const CudaContext& ctx, const nn::ParameterStore<T>& store, const AdamWOptions& options) : options(options) {
        if (!store.allocated()) throw ValueError("CudaAdamW: the parameter store is not allocated");
        size_ = store.values().size();
        std::vector<const nn::ParameterInfo*> params;
        for (const nn::ParameterInfo& p : store.parameters()) params.push_back(&p);
        std::sort(params.begin(), params.end(), [](const auto* a, const auto* b) { return a->offset < b->offset; });
        const auto ranges = index_t(params.size());
        Tensor<index_t, 1> begin({ranges}), end({ranges});
        Tensor<std::uint8_t, 1> decays({ranges});
        for (index_t r = 0; r < ranges; ++r) {
            begin(r) = params[std::size_t(r)]->offset;
            end(r) = params[std::size_t(r)]->offset + params[std::size_t(r)]->size;
            decays(r) = nn::decays(params[std::size_t(r)]->role) ? 1 : 0;
        }
        begin_ = to_device<index_t, 1>(ctx, begin);
        end_ = to_device<index_t, 1>(ctx, end);
        decays_ = to_device<std::uint8_t, 1>(ctx, decays);
        exp_avg = Tensor<T, 1, cuda>({size_}, uninitialized);
        exp_avg_sq = Tensor<T, 1, cuda>({size_}, uninitialized);
        zero<T, 1>(ctx, exp_avg);
        zero<T, 1>(ctx, exp_avg_sq);
    }

    // One update of values from grads (both the store's flat size) at learning rate `lr`:
    //   p -= lr wd p (decay group only);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    //   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    // Queued on the stream.
    void step(const CudaContext& ctx, TensorView<T, 1, cuda> values, std::type_identity_t<TensorView<const T, 1, cuda>> grads,
              double lr) {
        const char* op = "CudaAdamW::step";
        expect_shape(op, "values", values, {size_});
        expect_shape(op, "grads", grads, {size_});
        expect_contiguous(op, "values", values);
        expect_contiguous(op, "grads", grads);
        ++step_count;
        const double c1 = 1 - std::pow(options.beta1, double(step_count));
        const double c2 = 1 - std::pow(options.beta2, double(step_count));
        if (size_ == 0) return;
        cuda_ops::kernels::adamw_step<T><<<cuda_ops::kernels::grid_cover(size_), 256, 0, ctx.stream()>>>(
            values.data(), exp_avg.data(), exp_avg_sq.data(), grads.data(), begin_.data(), end_.data(), decays_.data(),
            begin_.size(), size_, T(1 - lr * options.weight_decay), T(options.beta1), T(options.beta2), T(lr / c1),
            T(std::sqrt(c2)), T(options.eps));
        SVILM_CUDA_CHECK(cudaGetLastError());
    }
    void step(const CudaContext& ctx, TensorView<T, 1, cuda> values, std::type_identity_t<TensorView<const T, 1, cuda>> grads) {
        step(ctx, values, grads, options.lr);
    }

    // The moments to and from host buffers of the flat layout (e.g. a host optim::AdamW's
    // exp_avg and exp_avg_sq, which a checkpoint writes); step_count travels separately.
    void download_moments(const CudaContext& ctx, TensorView<T, 1> host_exp_avg, TensorView<T, 1> host_exp_avg_sq) const {
        transfer(ctx, "CudaAdamW::download_moments", host_exp_avg.data(), exp_avg.data(), host_exp_avg, cudaMemcpyDeviceToHost);
        transfer(ctx, "CudaAdamW::download_moments", host_exp_avg_sq.data(), exp_avg_sq.data(), host_exp_avg_sq,
                 cudaMemcpyDeviceToHost);
        ctx.synchronize();
    }
    void upload_moments(const CudaContext& ctx, TensorView<const T, 1> host_exp_avg, TensorView<const T, 1> host_exp_avg_sq) {
        transfer(ctx, "CudaAdamW::upload_moments", exp_avg.data(), host_exp_avg.data(), host_exp_avg, cudaMemcpyHostToDevice);
        transfer(ctx, "CudaAdamW::upload_moments", exp_avg_sq.data(), host_exp_avg_sq.data(), host_exp_avg_sq,
                 cudaMemcpyHostToDevice);
        ctx.synchronize();
    }

    AdamWOptions options;
    Tensor<T, 1, cuda> exp_avg, exp_avg_sq;  // the store's flat layout
    std::int64_t step_count = 0;

private:
    template <class U>
    void transfer(const CudaContext& ctx, const char* op, void* dst, const void* src, TensorView<U, 1> host,
                  cudaMemcpyKind kind) const {
        expect_shape(op, "host moments", host, {size_});
        expect_contiguous(op, "host moments", host);
        if (size_) SVILM_CUDA_CHECK(cudaMemcpyAsync(dst, src, std::size_t(size_) * sizeof(T), kind, ctx.stream()));
    }

    index_t size_ = 0;
    Tensor<index_t, 1, cuda> begin_, end_;  // (parameters) sorted by offset
    Tensor<std::uint8_t, 1, cuda> decays_;  // (parameters) 1 for Role::weight
};

}  // namespace svilm::optim
