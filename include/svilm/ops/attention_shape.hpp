// svilm/ops/attention_shape.hpp: the shape contract of multi-head attention, checked the same way
// by the CPU op (attention.hpp) and the CUDA op (cuda/attention.cuh); no kernels here, so nvcc
// can include it.
//
// q (B, Nq, C), k and v (B, Nk, C), C = H * d, each with a unit stride on the channel axis (rows
// may be strided: q, k and v can be narrowed views of one fused (B, N, 3C) buffer); key_mask
// (B, Nk) contiguous, or empty.
#pragma once

#include <cstdint>
#include <string>

#include "svilm/core/tensor.hpp"

namespace svilm::detail {

struct AttentionShape {
    index_t batch, queries, keys, channels, heads, head_dim;
};

template <class T, class Device>
void expect_unit_channel_stride(const char* op, const char* name, const TensorView<T, 3, Device>& t) {
    if (t.stride(2) != 1 && t.extent(2) > 1)
        throw ShapeError(std::string(op) + ": " + name + " " + to_string<3>(t.shape()) +
                         " needs a unit stride on its channel axis");
}

template <class T, class Device>
AttentionShape check_attention(const char* op, const TensorView<const T, 3, Device>& q, const TensorView<const T, 3, Device>& k,
                               const TensorView<const T, 3, Device>& v,
                               const TensorView<const std::uint8_t, 2, Device>& key_mask, index_t heads) {
    const AttentionShape s{q.extent(0), q.extent(1), k.extent(1), q.extent(2), heads, heads > 0 ? q.extent(2) / heads : 0};
    if (heads <= 0 || s.channels % heads != 0)
        throw ShapeError(std::string(op) + ": channels " + std::to_string(s.channels) + " do not split into " +
                         std::to_string(heads) + " heads");
    if (k.extent(0) != s.batch || k.extent(2) != s.channels)
        throw ShapeError(std::string(op) + ": q " + to_string<3>(q.shape()) + " vs k " + to_string<3>(k.shape()));
    expect_shape(op, "v", v, k.shape());
    expect_unit_channel_stride(op, "q", q);
    expect_unit_channel_stride(op, "k", k);
    expect_unit_channel_stride(op, "v", v);
    if (key_mask.data()) {
        expect_shape(op, "key_mask", key_mask, {s.batch, s.keys});
        expect_contiguous(op, "key_mask", key_mask);
    }
    return s;
}

// Backward's other views: dout, out and dq like q, dk and dv like k, the saved logsumexp (B, H, Nq).
template <class T, class Device>
void check_attention_backward(const char* op, const AttentionShape& s, const TensorView<T, 3, Device>& dq,
                              const TensorView<T, 3, Device>& dk, const TensorView<T, 3, Device>& dv,
                              const TensorView<const T, 3, Device>& dout, const TensorView<const T, 3, Device>& out,
                              const TensorView<const T, 3, Device>& logsumexp) {
    const Extents<3> queries{s.batch, s.queries, s.channels}, keys{s.batch, s.keys, s.channels};
    expect_shape(op, "dout", dout, queries);
    expect_shape(op, "out", out, queries);
    expect_shape(op, "dq", dq, queries);
    expect_shape(op, "dk", dk, keys);
    expect_shape(op, "dv", dv, keys);
    expect_shape(op, "saved.logsumexp", logsumexp, {s.batch, s.heads, s.queries});
    expect_unit_channel_stride(op, "out", out);
    expect_unit_channel_stride(op, "dout", dout);
    expect_unit_channel_stride(op, "dq", dq);
    expect_unit_channel_stride(op, "dk", dk);
    expect_unit_channel_stride(op, "dv", dv);
}

}  // namespace svilm::detail
