// svilm/ops/linear.hpp: fully connected layer, y = x W^T + b (PyTorch's nn.Linear layout).
#pragma once

#include "svilm/core/profile.hpp"
#include "svilm/ops/elementwise.hpp"
#include "svilm/ops/gemm.hpp"

namespace svilm {

// y (R, N) = x (R, K) @ weight (N, K)^T + bias (N). bias may be an empty view (no bias).
// requires: x, weight, bias contiguous; y has a unit stride on its last axis.
template <class T>
void linear_forward(const Context<cpu>& ctx, TensorView<T, 2> y, std::type_identity_t<TensorView<const T, 2>> x,
                    std::type_identity_t<TensorView<const T, 2>> weight, std::type_identity_t<TensorView<const T, 1>> bias) {
    const profile::Scope profile_scope(__func__);
    const char* op = "linear_forward";
    if (x.extent(1) != weight.extent(1))
        throw ShapeError(std::string(op) + ": x " + to_string<2>(x.shape()) + " vs weight " + to_string<2>(weight.shape()));
    expect_shape(op, "y", y, {x.extent(0), weight.extent(0)});
    if (y.stride(1) != 1 && y.extent(1) > 1) throw ShapeError(std::string(op) + ": y needs a unit stride on its last axis");
    T beta = T(0);
    if (bias.data()) {
        expect_shape(op, "bias", bias, {weight.extent(0)});
        expect_contiguous(op, "bias", bias);
        const index_t rows = y.extent(0), cols = y.extent(1);
        parallel_for(rows, [&](index_t r) { std::copy_n(bias.data(), cols, &y(r, 0)); }, rows * cols > 65536);
        beta = T(1);
    }
    matmul<T>(ctx, y, x, weight.transpose(0, 1), beta);
}

// dx (R, K) = dy @ weight (assigned; empty view to skip),
// dweight (N, K) += dy^T @ x, dbias (N) += sum over rows of dy (parameters accumulate).
template <class T>
void linear_backward(const Context<cpu>& ctx, TensorView<T, 2> dx, TensorView<T, 2> dweight, TensorView<T, 1> dbias,
                     std::type_identity_t<TensorView<const T, 2>> dy, std::type_identity_t<TensorView<const T, 2>> x,
                     std::type_identity_t<TensorView<const T, 2>> weight) {
    const profile::Scope profile_scope(__func__);
    const char* op = "linear_backward";
    expect_shape(op, "dy", dy, {x.extent(0), weight.extent(0)});
    if (dx.data()) matmul<T>(ctx, dx, dy, weight);
    if (dweight.data()) {
        expect_shape(op, "dweight", dweight, weight.shape());
        matmul<T>(ctx, dweight, dy.transpose(0, 1), x, T(1));
    }
    if (dbias.data()) {
        expect_shape(op, "dbias", dbias, {weight.extent(0)});
        bias_add_backward(ctx, dbias, dy);
    }
}

}  // namespace svilm
