// svilm/nn/mlp.hpp: Linear -> exact GELU -> Linear, the feed-forward half of every block.
#pragma once

#include <string>

#include "svilm/nn/linear.hpp"
#include "svilm/ops/gelu.hpp"

namespace svilm::nn {

template <class T>
struct MlpSaved {
    Tensor<T, 2> hidden_pre;  // (R, hidden): fc1 output
    Tensor<T, 2> hidden;      // (R, hidden): GELU(hidden_pre), fc2's input
};

// y (R, out) = fc2(GELU(fc1(x (R, in)))). The two Linears are named by the caller, because the
// naming schemes differ: `mlp.fc1` / `mlp.fc2` (ViT) and `intermediate.dense` / `output.dense`
// (BERT).
template <class T>
class Mlp {
public:
    Mlp() = default;
    Mlp(ParameterStore<T>& store, const std::string& fc1_name, const std::string& fc2_name, index_t in, index_t hidden,
        index_t out)
        : fc1(store, fc1_name, in, hidden), fc2(store, fc2_name, hidden, out) {}

    void forward(TensorView<T, 2> y, MlpSaved<T>& s, TensorView<const T, 2> x) const {
        const index_t rows = x.extent(0), hidden = fc1.out_features;
        ensure_shape(s.hidden_pre, {rows, hidden});
        ensure_shape(s.hidden, {rows, hidden});
        fc1.forward(s.hidden_pre, x);
        gelu_forward<T>(as_vector(s.hidden), as_vector(s.hidden_pre));
        fc2.forward(y, s.hidden);
    }

    // dx (R, in) assigned; parameter gradients accumulate. Scratch: one (R, hidden) buffer.
    void backward(TensorView<T, 2> dx, TensorView<const T, 2> dy, const MlpSaved<T>& s, TensorView<const T, 2> x) const {
        Tensor<T, 2> d_hidden(s.hidden.shape(), uninitialized);
        fc2.backward(d_hidden, dy, s.hidden);
        gelu_backward<T>(as_vector(d_hidden), as_vector(d_hidden), as_vector(s.hidden_pre));
        fc1.backward(dx, d_hidden, x);
    }

    Linear<T> fc1, fc2;
};

}  // namespace svilm::nn
