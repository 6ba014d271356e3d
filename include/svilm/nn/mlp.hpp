// svilm/nn/mlp.hpp: Linear -> exact GELU -> Linear, the feed-forward half of every block.
#pragma once

#include <string>

#include "svilm/nn/linear.hpp"

namespace svilm::nn {

template <class T, class Device = cpu>
struct MlpSaved {
    Tensor<T, 2, Device> hidden_pre;  // (R, hidden): fc1 output
    Tensor<T, 2, Device> hidden;      // (R, hidden): GELU(hidden_pre), fc2's input
};

// y (R, out) = fc2(GELU(fc1(x (R, in)))). The two Linears are named by the caller, because the
// naming schemes differ: `mlp.fc1` / `mlp.fc2` (ViT) and `intermediate.dense` / `output.dense`
// (BERT).
template <class T, class Device = cpu>
class Mlp {
public:
    Mlp() = default;
    Mlp(ParameterStore<T, Device>& store, const std::string& fc1_name, const std::string& fc2_name, index_t in,
        index_t hidden, index_t out)
        : fc1(store, fc1_name, in, hidden), fc2(store, fc2_name, hidden, out) {}

    void forward(const Context<Device>& ctx, TensorView<T, 2, Device> y, MlpSaved<T, Device>& s,
                 TensorView<const T, 2, Device> x) const {
        const index_t rows = x.extent(0), hidden = fc1.out_features;
        ensure_shape(s.hidden_pre, {rows, hidden});
        ensure_shape(s.hidden, {rows, hidden});
        fc1.forward(ctx, s.hidden_pre, x);
        gelu_forward(ctx, as_vector(s.hidden.view()), as_vector(s.hidden_pre.view()));
        fc2.forward(ctx, y, s.hidden);
    }

    // dx (R, in) assigned; parameter gradients accumulate. Scratch: one (R, hidden) buffer.
    void backward(const Context<Device>& ctx, TensorView<T, 2, Device> dx, TensorView<const T, 2, Device> dy,
                  const MlpSaved<T, Device>& s, TensorView<const T, 2, Device> x) const {
        Tensor<T, 2, Device> d_hidden(s.hidden.shape(), uninitialized);
        fc2.backward(ctx, d_hidden, dy, s.hidden);
        gelu_backward(ctx, as_vector(d_hidden.view()), as_vector(d_hidden.view()), as_vector(s.hidden_pre.view()));
        fc1.backward(ctx, dx, d_hidden, x);
    }

    Linear<T, Device> fc1, fc2;
};

}  // namespace svilm::nn
