// svilm/nn/linear.hpp: the Linear and LayerNorm modules, thin owners of named parameters around
// the ops of the same name, for either device.
//
// Modules are written once: a call such as linear_forward(ctx, y, x, w, b) is resolved when the
// module is instantiated, to the CPU op (svilm/svilm.hpp) or the CUDA op (svilm/cuda.hpp) by the
// type of the context and the views. These headers include no op implementation.
#pragma once

#include <string>
#include <type_traits>

#include "svilm/core/context.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm::nn {

// y (R, out) = x (R, in) W^T + b; parameters `<name>.weight` (out, in) and `<name>.bias` (out).
// The product runs in the store's inference precision (ParameterStore::set_inference_precision):
// fp32, or on the CPU bf16 or int8 (svilm/ops/precision.hpp), where backward refuses to run.
template <class T, class Device = cpu>
class Linear {
public:
    Linear() = default;
    Linear(ParameterStore<T, Device>& store, const std::string& name, index_t in, index_t out)
        : in_features(in), out_features(out), weight(store.template add<2>(join(name, "weight"), {out, in}, Role::weight)),
          bias(store.template add<1>(join(name, "bias"), {out}, Role::bias)) {}

    void forward(const Context<Device>& ctx, TensorView<T, 2, Device> y, TensorView<const T, 2, Device> x) const {
        if constexpr (is_cpu_v<Device> && std::is_same_v<T, float>) {
            if (const auto copy = weight.low_precision()) {  // null at fp32
                linear_forward_low_precision(ctx, y, x, *copy, bias.value());
                return;
            }
        }
        linear_forward(ctx, y, x, weight.value(), bias.value());
    }
    // dx (R, in) assigned (an empty view skips it); weight and bias gradients accumulate.
    void backward(const Context<Device>& ctx, TensorView<T, 2, Device> dx, TensorView<const T, 2, Device> dy,
                  TensorView<const T, 2, Device> x) const {
        if (weight.precision() != Precision::fp32)
            throw ValueError(std::string("Linear::backward: the parameters' inference precision is ") +
                             to_string(weight.precision()) + "; training needs fp32 (set_inference_precision)");
        linear_backward(ctx, dx, weight.grad(), bias.grad(), dy, x, weight.value());
    }

    index_t in_features = 0, out_features = 0;
    Param<T, 2, Device> weight;
    Param<T, 1, Device> bias;
};

// y (R, C) = LayerNorm(x (R, C)); parameters `<name>.weight`, `<name>.bias` (C).
template <class T, class Device = cpu>
class LayerNorm {
public:
    LayerNorm() = default;
    LayerNorm(ParameterStore<T, Device>& store, const std::string& name, index_t width, double eps)
        : eps(T(eps)), weight(store.template add<1>(join(name, "weight"), {width}, Role::norm_weight)),
          bias(store.template add<1>(join(name, "bias"), {width}, Role::norm_bias)) {}

    void forward(const Context<Device>& ctx, TensorView<T, 2, Device> y, LayerNormSaved<T, Device>& saved,
                 TensorView<const T, 2, Device> x) const {
        layer_norm_forward(ctx, y, saved, x, weight.value(), bias.value(), eps);
    }
    // dx assigned; weight and bias gradients accumulate.
    void backward(const Context<Device>& ctx, TensorView<T, 2, Device> dx, TensorView<const T, 2, Device> dy,
                  const LayerNormSaved<T, Device>& saved, TensorView<const T, 2, Device> x) const {
        layer_norm_backward(ctx, dx, weight.grad(), bias.grad(), dy, saved, x, weight.value());
    }

    T eps = T(1e-6);
    Param<T, 1, Device> weight;
    Param<T, 1, Device> bias;
};

// (B * N, C) rows as (B, N, C)
template <class U, class Device>
TensorView<U, 3, Device> rows3(const TensorView<U, 2, Device>& m, index_t batch) {
    return m.template reshape<3>({batch, batch ? m.extent(0) / batch : 0, m.extent(1)});
}

}  // namespace svilm::nn
