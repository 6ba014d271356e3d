// svilm/nn/cuda/layers.cuh: Linear, LayerNorm and the MLP on the device, the CUDA twins of
// svilm/nn/linear.hpp and svilm/nn/mlp.hpp. Same parameter names and the same rule: backward
// ASSIGNS input gradients and ACCUMULATES parameter gradients. Every call takes the context.
#pragma once

#include <string>

#include "svilm/nn/cuda/device_parameters.cuh"
#include "svilm/ops/cuda/gelu.cuh"
#include "svilm/ops/cuda/layer_norm.cuh"
#include "svilm/ops/cuda/linear.cuh"

namespace svilm::cuda_nn {

using nn::DeviceParam;
using nn::DeviceParameters;
using nn::ensure_shape;
using nn::join;

// (B * N, C) rows as (B, N, C)
template <class T>
TensorView<T, 3, cuda> rows3(const TensorView<T, 2, cuda>& m, index_t batch) {
    return m.template reshape<3>({batch, batch ? m.extent(0) / batch : 0, m.extent(1)});
}

// y (R, out) = x (R, in) W^T + b; parameters `<name>.weight` (out, in), `<name>.bias` (out).
template <class T>
class Linear {
public:
    Linear() = default;
    Linear(const DeviceParameters<T>& params, const std::string& name, index_t in, index_t out)
        : in_features(in), out_features(out), weight(params.template get<2>(join(name, "weight"), {out, in})),
          bias(params.template get<1>(join(name, "bias"), {out})) {}

    void forward(const CudaContext& ctx, TensorView<T, 2, cuda> y, TensorView<const T, 2, cuda> x) const {
        cuda_ops::linear_forward<T>(ctx, y, x, weight.value(), bias.value());
    }
    // dx (R, in) assigned (an empty view skips it); weight and bias gradients accumulate.
    void backward(const CudaContext& ctx, TensorView<T, 2, cuda> dx, TensorView<const T, 2, cuda> dy,
                  TensorView<const T, 2, cuda> x) const {
        cuda_ops::linear_backward<T>(ctx, dx, weight.grad(), bias.grad(), dy, x, weight.value());
    }

    index_t in_features = 0, out_features = 0;
    DeviceParam<T, 2> weight;
    DeviceParam<T, 1> bias;
};

// y (R, C) = LayerNorm(x (R, C)); parameters `<name>.weight`, `<name>.bias` (C).
template <class T>
class LayerNorm {
public:
    LayerNorm() = default;
    LayerNorm(const DeviceParameters<T>& params, const std::string& name, index_t width, double eps)
        : eps(T(eps)), weight(params.template get<1>(join(name, "weight"), {width})),
          bias(params.template get<1>(join(name, "bias"), {width})) {}

    void forward(const CudaContext& ctx, TensorView<T, 2, cuda> y, cuda_ops::LayerNormSaved<T>& saved,
                 TensorView<const T, 2, cuda> x) const {
        cuda_ops::layer_norm_forward<T>(ctx, y, saved, x, weight.value(), bias.value(), eps);
    }
    void backward(const CudaContext& ctx, TensorView<T, 2, cuda> dx, TensorView<const T, 2, cuda> dy,
                  const cuda_ops::LayerNormSaved<T>& saved, TensorView<const T, 2, cuda> x) const {
        cuda_ops::layer_norm_backward<T>(ctx, dx, weight.grad(), bias.grad(), dy, saved, x, weight.value());
    }

    T eps = T(1e-6);
    DeviceParam<T, 1> weight, bias;
};

template <class T>
struct MlpSaved {
    Tensor<T, 2, cuda> hidden_pre;  // (R, hidden): fc1 output
    Tensor<T, 2, cuda> hidden;      // (R, hidden): GELU(hidden_pre)
};

// y (R, out) = fc2(GELU(fc1(x (R, in)))), the Linears named by the caller.
template <class T>
class Mlp {
public:
    Mlp() = default;
    Mlp(const DeviceParameters<T>& params, const std::string& fc1_name, const std::string& fc2_name, index_t in,
        index_t hidden, index_t out)
        : fc1(params, fc1_name, in, hidden), fc2(params, fc2_name, hidden, out) {}

    void forward(const CudaContext& ctx, TensorView<T, 2, cuda> y, MlpSaved<T>& s, TensorView<const T, 2, cuda> x) const {
        const index_t rows = x.extent(0), hidden = fc1.out_features;
        ensure_shape(s.hidden_pre, {rows, hidden});
        ensure_shape(s.hidden, {rows, hidden});
        fc1.forward(ctx, s.hidden_pre, x);
        cuda_ops::gelu_forward<T>(ctx, as_vector(s.hidden.view()), as_vector(s.hidden_pre.view()));
        fc2.forward(ctx, y, s.hidden);
    }

    void backward(const CudaContext& ctx, TensorView<T, 2, cuda> dx, TensorView<const T, 2, cuda> dy, const MlpSaved<T>& s,
                  TensorView<const T, 2, cuda> x) const {
        Tensor<T, 2, cuda> d_hidden(s.hidden.shape(), uninitialized);
        fc2.backward(ctx, d_hidden, dy, s.hidden);
        cuda_ops::gelu_backward<T>(ctx, as_vector(d_hidden.view()), as_vector(d_hidden.view()), as_vector(s.hidden_pre.view()));
        fc1.backward(ctx, dx, d_hidden, x);
    }

    Linear<T> fc1, fc2;
};

}  // namespace svilm::cuda_nn
