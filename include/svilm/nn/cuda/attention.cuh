// svilm/nn/cuda/attention.cuh: the multi-head attention modules on the device, the CUDA twins of
// svilm/nn/attention.hpp: the ViT form with one fused qkv Linear read in place through strided
// views, and the form with separate q / k / v / output Linears (BERT, grouping cross-attention).
#pragma once

#include <cstdint>
#include <string>

#include "svilm/nn/attention_names.hpp"
#include "svilm/nn/cuda/layers.cuh"
#include "svilm/ops/cuda/attention.cuh"

namespace svilm::cuda_nn {

using nn::AttentionNames;

template <class T>
struct FusedSelfAttentionSaved {
    Tensor<T, 2, cuda> qkv;       // (B * N, 3C)
    Tensor<T, 2, cuda> attended;  // (B * N, C)
    cuda_ops::AttentionSaved<T> attention;
};

// y (B, N, C) = proj(attention(split(qkv(x)))); parameters `<name>.qkv.*`, `<name>.proj.*`.
template <class T>
class FusedSelfAttention {
public:
    FusedSelfAttention() = default;
    FusedSelfAttention(const DeviceParameters<T>& params, const std::string& name, index_t width, index_t heads)
        : heads(heads), qkv(params, join(name, "qkv"), width, 3 * width), proj(params, join(name, "proj"), width, width) {}

    void forward(const CudaContext& ctx, TensorView<T, 3, cuda> y, FusedSelfAttentionSaved<T>& s,
                 TensorView<const T, 3, cuda> x, TensorView<const std::uint8_t, 2, cuda> key_mask = {}) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2);
        ensure_shape(s.qkv, {B * N, 3 * C});
        ensure_shape(s.attended, {B * N, C});
        qkv.forward(ctx, s.qkv, as_matrix(x));
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        cuda_ops::attention_forward<T>(ctx, s.attended.view().template reshape<3>({B, N, C}), s.attention,
                                       qkv3.narrow(2, 0, C), qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C), key_mask,
                                       heads);
        proj.forward(ctx, as_matrix(y), s.attended);
    }

    // dx (B, N, C) assigned; parameter gradients accumulate.
    void backward(const CudaContext& ctx, TensorView<T, 3, cuda> dx, TensorView<const T, 3, cuda> dy,
                  FusedSelfAttentionSaved<T>& s, TensorView<const T, 3, cuda> x,
                  TensorView<const std::uint8_t, 2, cuda> key_mask = {}) const {
        const index_t B = x.extent(0), N = x.extent(1), C = x.extent(2);
        Tensor<T, 2, cuda> d_attended({B * N, C}, uninitialized), d_qkv({B * N, 3 * C}, uninitialized);
        proj.backward(ctx, d_attended, as_matrix(dy), s.attended);
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        const auto dqkv3 = d_qkv.view().template reshape<3>({B, N, 3 * C});
        cuda_ops::attention_backward<T>(ctx, dqkv3.narrow(2, 0, C), dqkv3.narrow(2, C, 2 * C), dqkv3.narrow(2, 2 * C, 3 * C),
                                        d_attended.view().template reshape<3>({B, N, C}), s.attention, qkv3.narrow(2, 0, C),
                                        qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C),
                                        s.attended.view().template reshape<3>({B, N, C}), key_mask, heads);
        qkv.backward(ctx, as_matrix(dx), d_qkv, as_matrix(x));
    }

    index_t heads = 1;
    Linear<T> qkv, proj;
};

template <class T>
struct MultiHeadAttentionSaved {
    Tensor<T, 2, cuda> q, k, v, attended;  // (B * Nq, C), (B * Nk, C) twice, (B * Nq, C)
    cuda_ops::AttentionSaved<T> attention;
};

// y (B, Nq, C) = output(attention(query(xq), key(xkv), value(xkv))).
template <class T>
class MultiHeadAttention {
public:
    MultiHeadAttention() = default;
    MultiHeadAttention(const DeviceParameters<T>& params, const std::string& name, const AttentionNames& names, index_t width,
                       index_t heads)
        : heads(heads), query(params, join(name, names.query), width, width), key(params, join(name, names.key), width, width),
          value(params, join(name, names.value), width, width), output(params, join(name, names.output), width, width) {}

    void forward(const CudaContext& ctx, TensorView<T, 3, cuda> y, MultiHeadAttentionSaved<T>& s,
                 TensorView<const T, 3, cuda> xq, TensorView<const T, 3, cuda> xkv,
                 TensorView<const std::uint8_t, 2, cuda> key_mask = {}) const {
        const index_t B = xq.extent(0), Nq = xq.extent(1), Nk = xkv.extent(1), C = xq.extent(2);
        ensure_shape(s.q, {B * Nq, C});
        ensure_shape(s.k, {B * Nk, C});
        ensure_shape(s.v, {B * Nk, C});
        ensure_shape(s.attended, {B * Nq, C});
        query.forward(ctx, s.q, as_matrix(xq));
        key.forward(ctx, s.k, as_matrix(xkv));
        value.forward(ctx, s.v, as_matrix(xkv));
        cuda_ops::attention_forward<T>(ctx, rows3(s.attended.view(), B), s.attention, rows3(s.q.view(), B),
                                       rows3(s.k.view(), B), rows3(s.v.view(), B), key_mask, heads);
        output.forward(ctx, as_matrix(y), s.attended);
    }

    // dxq (B, Nq, C) and dxkv (B, Nk, C) assigned; for self-attention the caller adds them.
    void backward(const CudaContext& ctx, TensorView<T, 3, cuda> dxq, TensorView<T, 3, cuda> dxkv,
                  TensorView<const T, 3, cuda> dy, MultiHeadAttentionSaved<T>& s, TensorView<const T, 3, cuda> xq,
                  TensorView<const T, 3, cuda> xkv, TensorView<const std::uint8_t, 2, cuda> key_mask = {}) const {
        const index_t B = xq.extent(0), Nq = xq.extent(1), Nk = xkv.extent(1), C = xq.extent(2);
        Tensor<T, 2, cuda> d_attended({B * Nq, C}, uninitialized), dq({B * Nq, C}, uninitialized);
        Tensor<T, 2, cuda> dk({B * Nk, C}, uninitialized), dv({B * Nk, C}, uninitialized);
        output.backward(ctx, d_attended, as_matrix(dy), s.attended);
        cuda_ops::attention_backward<T>(ctx, rows3(dq.view(), B), rows3(dk.view(), B),
                                        rows3(dv.view(), B), rows3(d_attended.view(), B), s.attention,
                                        rows3(s.q.view(), B), rows3(s.k.view(), B),
                                        rows3(s.v.view(), B), rows3(s.attended.view(), B), key_mask, heads);
        query.backward(ctx, as_matrix(dxq), dq, as_matrix(xq));
        key.backward(ctx, as_matrix(dxkv), dk, as_matrix(xkv));
        Tensor<T, 2, cuda> dx_value(as_matrix(dxkv).shape(), uninitialized);
        value.backward(ctx, dx_value, dv, as_matrix(xkv));
        cuda_ops::add_into<T, 2>(ctx, as_matrix(dxkv), dx_value);
    }

    index_t heads = 1;
    Linear<T> query, key, value, output;
};

}  // namespace svilm::cuda_nn
