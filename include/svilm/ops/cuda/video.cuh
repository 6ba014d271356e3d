// svilm/ops/cuda/video.cuh: the two video-specific data moves of the video encoder's input layer
// (docs/model.md §2 and 11) on the device, the CUDA twins of svilm/ops/video.hpp with the same
// signatures: the tubelet unfold ahead of the patch embedding's GEMM, and the position
// embeddings and group tokens that make the encoder's token stream.
//
// Tokens are time-major then row-major: token l = n_t * N_s + row * (W / p) + col, with
// N_s = (H / p) (W / p). A tubelet is flattened in Conv3d order (c, dt, dy, dx), so the patch
// embedding's Conv3d weight (C, 3, t, p, p) is a (C, 3 t p p) matrix over these rows.
#pragma once

#include <string>

#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/ops/cuda/launch.cuh"

namespace svilm {

namespace cuda_kernels {

// patches (B * L, 3 t p p) from video (B, T, 3, H, W): one thread per patch element.
template <class T>
__global__ void unfold_tubelets(T* patches, const T* video, index_t tokens_per_clip, index_t rows, index_t cols,
                                index_t tubelet, index_t patch, index_t frames, index_t H, index_t W, index_t n) {
    const index_t features = 3 * tubelet * patch * patch;
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const index_t r = i / features, f = i % features;
        const index_t b = r / tokens_per_clip, l = r % tokens_per_clip;
        const index_t nt = l / (rows * cols), row = (l / cols) % rows, col = l % cols;
        const index_t c = f / (tubelet * patch * patch), dt = (f / (patch * patch)) % tubelet;
        const index_t dy = (f / patch) % patch, dx = f % patch;
        const index_t t = nt * tubelet + dt, y = row * patch + dy, x = col * patch + dx;
        patches[i] = video[(((b * frames + t) * 3 + c) * H + y) * W + x];
    }
}

// stream (B, L + M, C) = [tokens + spatial[l % Ns] + temporal[l / Ns] ; group tokens], n = its size
template <class T>
__global__ void embed_video(T* stream, const T* tokens, const T* spatial, const T* temporal, const T* group, index_t L,
                            index_t M, index_t C, index_t Ns, index_t n) {
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
        const index_t c = i % C, row = (i / C) % (L + M), b = i / (C * (L + M));
        stream[i] = row < L ? tokens[(b * L + row) * C + c] + spatial[(row % Ns) * C + c] + temporal[(row / Ns) * C + c]
                            : group[(row - L) * C + c];
    }
}

// The position and group-token gradients: one thread per parameter element, summing over the
// clips and the other position axis in a fixed order (clips outer), then added to the gradient.
template <class T>
__global__ void embed_video_backward(T* d_spatial, T* d_temporal, T* d_group, const T* d_stream, index_t B, index_t Ns,
                                     index_t Nt, index_t M, index_t C) {
    const index_t L = Ns * Nt, S = L + M;
    const index_t n_spatial = Ns * C, n_temporal = Nt * C, n_group = M * C;
    for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n_spatial + n_temporal + n_group;
         i += index_t(gridDim.x) * blockDim.x) {
        T sum = T(0);
        if (i < n_spatial) {
            const index_t s = i / C, c = i % C;
            for (index_t b = 0; b < B; ++b)
                for (index_t t = 0; t < Nt; ++t) sum += d_stream[(b * S + t * Ns + s) * C + c];
            d_spatial[i] += sum;
        } else if (i < n_spatial + n_temporal) {
            const index_t k = i - n_spatial, t = k / C, c = k % C;
            for (index_t b = 0; b < B; ++b)
                for (index_t s = 0; s < Ns; ++s) sum += d_stream[(b * S + t * Ns + s) * C + c];
            d_temporal[k] += sum;
        } else {
            const index_t k = i - n_spatial - n_temporal;  // row L + k / C, channel k % C of each clip
            for (index_t b = 0; b < B; ++b) sum += d_stream[(b * S + L) * C + k];
            d_group[k] += sum;
        }
    }
}

}  // namespace cuda_kernels

// patches (B * L, 3 t p p) from video (B, T, 3, H, W): one tubelet per row.
// requires: T % t == 0, H % p == 0, W % p == 0; video and patches contiguous.
template <class T>
void tubelet_unfold(const Context<cuda>& ctx, TensorView<T, 2, cuda> patches,
                    std::type_identity_t<TensorView<const T, 5, cuda>> video, index_t tubelet, index_t patch) {
    const char* op = "tubelet_unfold";
    const index_t L = contract::tubelet_unfold(op, patches, video, tubelet, patch);
    const index_t frames = video.extent(1), H = video.extent(3), W = video.extent(4), rows = H / patch, cols = W / patch;
    if (patches.size() == 0) return;
    cuda_kernels::unfold_tubelets<T><<<cuda_detail::grid_cover(patches.size()), 256, 0, ctx.stream()>>>(
        patches.data(), video.data(), L, rows, cols, tubelet, patch, frames, H, W, patches.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// stream (B, L + M, C) = [tokens (B, L, C) + spatial[l % N_s] + temporal[l / N_s] ; group (M, C)]:
// the position embeddings added to the tubelet tokens, the learnable group tokens appended.
// spatial (N_s, C), temporal (N_t, C) with L = N_t N_s; every view contiguous.
template <class T>
void video_embed_forward(const Context<cuda>& ctx, TensorView<T, 3, cuda> stream,
                         std::type_identity_t<TensorView<const T, 3, cuda>> tokens,
                         std::type_identity_t<TensorView<const T, 2, cuda>> spatial,
                         std::type_identity_t<TensorView<const T, 2, cuda>> temporal,
                         std::type_identity_t<TensorView<const T, 2, cuda>> group) {
    const char* op = "video_embed_forward";
    contract::video_embed_forward(op, stream, tokens, spatial, temporal, group);
    const index_t B = tokens.extent(0), L = tokens.extent(1), C = tokens.extent(2), Ns = spatial.extent(0);
    const index_t M = group.extent(0);
    if (stream.size() == 0) return;
    cuda_kernels::embed_video<T><<<cuda_detail::grid_cover(stream.size()), 256, 0, ctx.stream()>>>(
        stream.data(), tokens.data(), spatial.data(), temporal.data(), group.data(), L, M, C, Ns, stream.size());
    SVILM_CUDA_CHECK(cudaGetLastError());
}

// The parameter gradients of video_embed_forward from d_stream (B, L + M, C); all accumulate
// (+=), each element summed over the clips in a fixed order. Every view contiguous.
template <class T>
void video_embed_backward(const Context<cuda>& ctx, TensorView<T, 2, cuda> d_spatial, TensorView<T, 2, cuda> d_temporal,
                          TensorView<T, 2, cuda> d_group, std::type_identity_t<TensorView<const T, 3, cuda>> d_stream) {
    const char* op = "video_embed_backward";
    contract::video_embed_backward(op, d_spatial, d_temporal, d_group, d_stream);
    const index_t B = d_stream.extent(0), C = d_stream.extent(2), Ns = d_spatial.extent(0), Nt = d_temporal.extent(0);
    const index_t M = d_group.extent(0);
    const index_t n = (Ns + Nt + M) * C;
    if (n == 0) return;
    cuda_kernels::embed_video_backward<T><<<cuda_detail::grid_cover(n), 256, 0, ctx.stream()>>>(
        d_spatial.data(), d_temporal.data(), d_group.data(), d_stream.data(), B, Ns, Nt, M, C);
    SVILM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace svilm
