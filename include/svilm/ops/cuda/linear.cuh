// svilm/ops/cuda/linear.cuh: the fully connected layer on the device, y = x W^T + b, the CUDA
// twin of svilm/ops/linear.hpp (PyTorch's nn.Linear layout).
#pragma once

#include <string>

#include "svilm/ops/cuda/elementwise.cuh"
#include "svilm/ops/cuda/gemm.hpp"

namespace svilm {

// y (R, N) = x (R, K) @ weight (N, K)^T + bias (N); bias may be an empty view.
// requires: bias contiguous; y has a unit stride on its last axis (x and weight may be
// transposed views, as for matmul).
template <class T>
void linear_forward(const Context<cuda>& ctx, TensorView<T, 2, cuda> y, std::type_identity_t<TensorView<const T, 2, cuda>> x,
                    std::type_identity_t<TensorView<const T, 2, cuda>> weight,
                    std::type_identity_t<TensorView<const T, 1, cuda>> bias) {
    const char* op = "linear_forward";
    if (x.extent(1) != weight.extent(1))
        throw ShapeError(std::string(op) + ": x " + to_string<2>(x.shape()) + " vs weight " + to_string<2>(weight.shape()));
    expect_shape(op, "y", y, {x.extent(0), weight.extent(0)});
    if (y.extent(1) > 1 && y.stride(1) != 1) throw ShapeError(std::string(op) + ": y needs a unit stride on its last axis");
    T beta = T(0);
    if (bias.data()) {
        expect_shape(op, "bias", bias, {weight.extent(0)});
        expect_contiguous(op, "bias", bias);
        if (y.size()) {
            // bias in every row, then the GEMM adds x W^T with beta = 1
            cuda_kernels::broadcast_rows<T><<<cuda_detail::grid_cover(y.size()), 256, 0, ctx.stream()>>>(
                y.data(), bias.data(), y.extent(0), y.extent(1), std::max<index_t>(y.stride(0), y.extent(1)), false);
            SVILM_CUDA_CHECK(cudaGetLastError());
        }
        beta = T(1);
    }
    matmul<T>(ctx, y, x, weight.transpose(0, 1), beta);
}

// dx (R, K) = dy @ weight (assigned; empty view to skip), dweight (N, K) += dy^T @ x,
// dbias (N) += column sums of dy (deterministic); either may be empty to skip.
template <class T>
void linear_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> dx, TensorView<T, 2, cuda> dweight,
                     TensorView<T, 1, cuda> dbias, std::type_identity_t<TensorView<const T, 2, cuda>> dy,
                     std::type_identity_t<TensorView<const T, 2, cuda>> x,
                     std::type_identity_t<TensorView<const T, 2, cuda>> weight) {
    const char* op = "linear_backward";
    expect_shape(op, "dy", dy, {x.extent(0), weight.extent(0)});
    if (dx.data()) matmul<T>(ctx, dx, dy, weight);
    if (dweight.data()) {
        expect_shape(op, "dweight", dweight, weight.shape());
        matmul<T>(ctx, dweight, dy.transpose(0, 1), x, T(1));
    }
    if (dbias.data()) cuda_detail::column_sum<T>(ctx, op, dbias, dy, true);
}

}  // namespace svilm
