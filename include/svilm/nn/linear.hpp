// svilm/nn/linear.hpp: the Linear and LayerNorm modules, thin owners of named parameters around
// the ops of the same name.
#pragma once

#include <string>

#include "svilm/nn/parameter.hpp"
#include "svilm/ops/layer_norm.hpp"
#include "svilm/ops/linear.hpp"

namespace svilm::nn {

// y (R, out) = x (R, in) W^T + b; parameters `<name>.weight` (out, in) and `<name>.bias` (out).
template <class T>
class Linear {
public:
    Linear() = default;
    Linear(ParameterStore<T>& store, const std::string& name, index_t in, index_t out)
        : in_features(in), out_features(out), weight(store.template add<2>(join(name, "weight"), {out, in}, Role::weight)),
          bias(store.template add<1>(join(name, "bias"), {out}, Role::bias)) {}

    void forward(TensorView<T, 2> y, TensorView<const T, 2> x) const {
        linear_forward<T>(y, x, weight.value(), bias.value());
    }
    // dx (R, in) assigned (an empty view skips it); weight and bias gradients accumulate.
    void backward(TensorView<T, 2> dx, TensorView<const T, 2> dy, TensorView<const T, 2> x) const {
        linear_backward<T>(dx, weight.grad(), bias.grad(), dy, x, weight.value());
    }

    index_t in_features = 0, out_features = 0;
    Param<T, 2> weight;
    Param<T, 1> bias;
};

// y (R, C) = LayerNorm(x (R, C)); parameters `<name>.weight`, `<name>.bias` (C).
template <class T>
class LayerNorm {
public:
    LayerNorm() = default;
    LayerNorm(ParameterStore<T>& store, const std::string& name, index_t width, double eps)
        : eps(T(eps)), weight(store.template add<1>(join(name, "weight"), {width}, Role::norm_weight)),
          bias(store.template add<1>(join(name, "bias"), {width}, Role::norm_bias)) {}

    void forward(TensorView<T, 2> y, LayerNormSaved<T>& saved, TensorView<const T, 2> x) const {
        layer_norm_forward<T>(y, saved, x, weight.value(), bias.value(), eps);
    }
    // dx assigned; weight and bias gradients accumulate.
    void backward(TensorView<T, 2> dx, TensorView<const T, 2> dy, const LayerNormSaved<T>& saved,
                  TensorView<const T, 2> x) const {
        layer_norm_backward<T>(dx, weight.grad(), bias.grad(), dy, saved, x, weight.value());
    }

    T eps = T(1e-6);
    Param<T, 1> weight;
    Param<T, 1> bias;
};

}  // namespace svilm::nn
