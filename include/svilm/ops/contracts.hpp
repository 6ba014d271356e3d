// svilm/ops/contracts.hpp: the argument contracts of ops that both devices implement, stated
// once. Each function throws ShapeError naming `op` and the argument when a shape or a layout is
// not what the op requires, and says nothing about how the op computes; the CPU op
// (svilm/ops/*.hpp) and the CUDA op (svilm/ops/cuda/*.cuh) of the same name both call it first,
// so the two cannot drift apart on what they accept. Device-free: nvcc reads it too.
#pragma once

#include <string>

#include "svilm/core/tensor.hpp"

namespace svilm::contract {

// layer_norm_forward: y and x (R, C), weight and bias (C), all contiguous.
template <class T, class U, class Device>
void layer_norm_forward(const char* op, const TensorView<T, 2, Device>& y, const TensorView<U, 2, Device>& x,
                        const TensorView<U, 1, Device>& weight, const TensorView<U, 1, Device>& bias) {
    const index_t cols = x.extent(1);
    expect_shape(op, "y", y, x.shape());
    expect_shape(op, "weight", weight, {cols});
    expect_shape(op, "bias", bias, {cols});
    expect_contiguous(op, "x", x);
    expect_contiguous(op, "y", y);
    expect_contiguous(op, "weight", weight);
    expect_contiguous(op, "bias", bias);
}

// layer_norm_backward: dy and x (R, C), the saved mean and rstd (R), weight (C), contiguous.
template <class T, class Device>
void layer_norm_backward(const char* op, const TensorView<const T, 2, Device>& dy, const TensorView<const T, 1, Device>& mean,
                         const TensorView<const T, 1, Device>& rstd, const TensorView<const T, 2, Device>& x,
                         const TensorView<const T, 1, Device>& weight) {
    const index_t rows = x.extent(0), cols = x.extent(1);
    expect_shape(op, "dy", dy, x.shape());
    expect_shape(op, "saved.mean", mean, {rows});
    expect_shape(op, "saved.rstd", rstd, {rows});
    expect_shape(op, "weight", weight, {cols});
    expect_contiguous(op, "dy", dy);
    expect_contiguous(op, "x", x);
    expect_contiguous(op, "weight", weight);
}

// An output (or input gradient) of x's shape, contiguous: y of a row-wise op, dx of its backward.
template <class T, class U, int Rank, class Device>
void same_contiguous(const char* op, const char* name, const TensorView<T, Rank, Device>& out,
                     const TensorView<U, Rank, Device>& like) {
    expect_shape(op, name, out, like.shape());
    expect_contiguous(op, name, out);
}

// The backward of a row-wise op: dx, dy and y of one shape, contiguous (softmax, L2 normalise).
template <class T, int Rank, class Device>
void row_backward(const char* op, const TensorView<T, Rank, Device>& dx, const TensorView<const T, Rank, Device>& dy,
                  const TensorView<const T, Rank, Device>& y) {
    expect_shape(op, "dy", dy, y.shape());
    expect_shape(op, "dx", dx, y.shape());
    expect_contiguous(op, "dx", dx);
    expect_contiguous(op, "dy", dy);
    expect_contiguous(op, "y", y);
}

// tubelet_unfold: video (B, T, 3, H, W) contiguous with T % t == 0 and H, W multiples of p;
// patches (B * L, 3 t p p) contiguous. Returns L, the tokens per clip.
template <class T, class Device>
index_t tubelet_unfold(const char* op, const TensorView<T, 2, Device>& patches, const TensorView<const T, 5, Device>& video,
                       index_t tubelet, index_t patch) {
    const index_t B = video.extent(0), frames = video.extent(1), H = video.extent(3), W = video.extent(4);
    if (tubelet < 1 || patch < 1 || video.extent(2) != 3 || frames % tubelet || H % patch || W % patch)
        throw ShapeError(std::string(op) + ": video " + to_string<5>(video.shape()) + " is not (B, T, 3, H, W) with T % " +
                         std::to_string(tubelet) + " == 0 and H, W multiples of " + std::to_string(patch));
    expect_contiguous(op, "video", video);
    const index_t L = (frames / tubelet) * (H / patch) * (W / patch);
    expect_shape(op, "patches", patches, {B * L, 3 * tubelet * patch * patch});
    expect_contiguous(op, "patches", patches);
    return L;
}

// video_embed_forward: tokens (B, L, C), spatial (N_s, C), temporal (L / N_s, C), group (M, C),
// stream (B, L + M, C), all contiguous.
template <class T, class Device>
void video_embed_forward(const char* op, const TensorView<T, 3, Device>& stream, const TensorView<const T, 3, Device>& tokens,
                         const TensorView<const T, 2, Device>& spatial, const TensorView<const T, 2, Device>& temporal,
                         const TensorView<const T, 2, Device>& group) {
    const index_t B = tokens.extent(0), L = tokens.extent(1), C = tokens.extent(2), Ns = spatial.extent(0);
    const index_t M = group.extent(0);
    if (Ns < 1 || L % Ns)
        throw ShapeError(std::string(op) + ": " + std::to_string(L) + " tokens are not a multiple of " + std::to_string(Ns) +
                         " spatial positions");
    expect_shape(op, "stream", stream, {B, L + M, C});
    expect_shape(op, "spatial", spatial, {Ns, C});
    expect_shape(op, "temporal", temporal, {L / Ns, C});
    expect_shape(op, "group", group, {M, C});
    expect_contiguous(op, "tokens", tokens);
    expect_contiguous(op, "stream", stream);
    expect_contiguous(op, "spatial", spatial);
    expect_contiguous(op, "temporal", temporal);
    expect_contiguous(op, "group", group);
}

// video_embed_backward: d_stream (B, N_s N_t + M, C) and the three parameter gradients, contiguous.
template <class T, class Device>
void video_embed_backward(const char* op, const TensorView<T, 2, Device>& d_spatial, const TensorView<T, 2, Device>& d_temporal,
                          const TensorView<T, 2, Device>& d_group, const TensorView<const T, 3, Device>& d_stream) {
    const index_t B = d_stream.extent(0), C = d_stream.extent(2), Ns = d_spatial.extent(0), Nt = d_temporal.extent(0);
    const index_t M = d_group.extent(0);
    expect_shape(op, "d_stream", d_stream, {B, Ns * Nt + M, C});
    expect_shape(op, "d_spatial", d_spatial, {Ns, C});
    expect_shape(op, "d_temporal", d_temporal, {Nt, C});
    expect_shape(op, "d_group", d_group, {M, C});
    expect_contiguous(op, "d_stream", d_stream);
    expect_contiguous(op, "d_spatial", d_spatial);
    expect_contiguous(op, "d_temporal", d_temporal);
    expect_contiguous(op, "d_group", d_group);
}

// mean_pool_forward: y (O, I) from x (O, N, I) with N > 0, both contiguous.
template <class T, class Device>
void mean_pool_forward(const char* op, const TensorView<T, 2, Device>& y, const TensorView<const T, 3, Device>& x) {
    expect_shape(op, "y", y, {x.extent(0), x.extent(2)});
    expect_contiguous(op, "x", x);
    expect_contiguous(op, "y", y);
    if (x.extent(1) == 0) throw ShapeError(std::string(op) + ": x " + to_string<3>(x.shape()) + " has an empty pooled axis");
}

// mean_pool_backward: dx (O, N, I) and dy (O, I), both contiguous.
template <class T, class Device>
void mean_pool_backward(const char* op, const TensorView<T, 3, Device>& dx, const TensorView<const T, 2, Device>& dy) {
    expect_shape(op, "dy", dy, {dx.extent(0), dx.extent(2)});
    expect_contiguous(op, "dx", dx);
    expect_contiguous(op, "dy", dy);
}

// contrastive_loss_forward: video and caption embeddings v, c (B, D), B >= 1, contiguous.
template <class T, class Device>
void contrastive_loss_forward(const char* op, const TensorView<const T, 2, Device>& v, const TensorView<const T, 2, Device>& c) {
    expect_shape(op, "c", c, v.shape());
    expect_contiguous(op, "v", v);
    expect_contiguous(op, "c", c);
    if (v.extent(0) < 1) throw ShapeError(std::string(op) + ": empty batch");
}

// qa_features_forward: x (B, 3D) from v and q (B, D), all contiguous.
template <class T, class Device>
void qa_features_forward(const char* op, const TensorView<T, 2, Device>& x, const TensorView<const T, 2, Device>& v,
                         const TensorView<const T, 2, Device>& q) {
    expect_shape(op, "q", q, v.shape());
    expect_shape(op, "x", x, {v.extent(0), 3 * v.extent(1)});
    expect_contiguous(op, "x", x);
    expect_contiguous(op, "v", v);
    expect_contiguous(op, "q", q);
}

// qa_features_backward: dx (B, 3D), v and q (B, D), dv and dq (B, D) unless empty, all contiguous.
template <class T, class Device>
void qa_features_backward(const char* op, const TensorView<T, 2, Device>& dv, const TensorView<T, 2, Device>& dq,
                          const TensorView<const T, 2, Device>& dx, const TensorView<const T, 2, Device>& v,
                          const TensorView<const T, 2, Device>& q) {
    expect_shape(op, "q", q, v.shape());
    expect_shape(op, "dx", dx, {v.extent(0), 3 * v.extent(1)});
    expect_contiguous(op, "dx", dx);
    expect_contiguous(op, "v", v);
    expect_contiguous(op, "q", q);
    if (dv.data()) {
        expect_shape(op, "dv", dv, v.shape());
        expect_contiguous(op, "dv", dv);
    }
    if (dq.data()) {
        expect_shape(op, "dq", dq, v.shape());
        expect_contiguous(op, "dq", dq);
    }
}

}  // namespace svilm::contract
