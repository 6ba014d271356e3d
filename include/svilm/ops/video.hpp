// svilm/ops/video.hpp: the two video-specific data moves of the video encoder's input layer
// (docs/model.md §2 and 11), on the CPU; the CUDA ones have the same signatures
// (svilm/ops/cuda/video.cuh).
//
// Tokens are time-major then row-major: token l = n_t * N_s + row * (W / p) + col, with
// N_s = (H / p) (W / p). A tubelet is flattened in Conv3d order (c, dt, dy, dx), so the patch
// embedding's Conv3d weight (C, 3, t, p, p) is a (C, 3 t p p) matrix over these rows.
#pragma once

#include <algorithm>
#include <string>

#include "svilm/core/profile.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/parallel.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/contracts.hpp"

namespace svilm {

// patches (B * L, 3 t p p) from video (B, T, 3, H, W): one tubelet per row.
// requires: T % t == 0, H % p == 0, W % p == 0, video contiguous.
template <class T>
void tubelet_unfold(const Context<cpu>&, TensorView<T, 2> patches, std::type_identity_t<TensorView<const T, 5>> video,
                    index_t tubelet, index_t patch) {
    const profile::Scope profile_scope(__func__);
    const char* op = "tubelet_unfold";
    const index_t L = contract::tubelet_unfold(op, patches, video, tubelet, patch);
    const index_t rows = video.extent(3) / patch, cols = video.extent(4) / patch, nt = video.extent(1) / tubelet;
    const index_t tokens = video.extent(0) * L, features = 3 * tubelet * patch * patch;
    parallel_for(
        tokens,
        [&](index_t r) {
            const index_t b = r / (nt * rows * cols), l = r % (nt * rows * cols);
            const index_t n = l / (rows * cols), row = (l / cols) % rows, col = l % cols;
            T* out = patches.data() + r * features;
            for (index_t c = 0; c < 3; ++c)
                for (index_t dt = 0; dt < tubelet; ++dt)
                    for (index_t dy = 0; dy < patch; ++dy) {
                        const T* src = &video(b, n * tubelet + dt, c, row * patch + dy, col * patch);
                        std::copy_n(src, patch, out);
                        out += patch;
                    }
        },
        tokens * features > 65536);
}

// stream (B, L + M, C) = [tokens (B, L, C) + spatial[l % N_s] + temporal[l / N_s] ; group (M, C)]:
// the position embeddings added to the tubelet tokens, the learnable group tokens appended.
template <class T>
void video_embed_forward(const Context<cpu>&, TensorView<T, 3> stream, std::type_identity_t<TensorView<const T, 3>> tokens,
                         std::type_identity_t<TensorView<const T, 2>> spatial,
                         std::type_identity_t<TensorView<const T, 2>> temporal,
                         std::type_identity_t<TensorView<const T, 2>> group) {
    const profile::Scope profile_scope(__func__);
    const char* op = "video_embed_forward";
    contract::video_embed_forward(op, stream, tokens, spatial, temporal, group);
    const index_t B = tokens.extent(0), L = tokens.extent(1), C = tokens.extent(2), Ns = spatial.extent(0);
    const index_t M = group.extent(0);
    parallel_for(
        B,
        [&](index_t b) {
            for (index_t l = 0; l < L; ++l) {
                const T* src = &tokens(b, l, 0);
                const T* ps = &spatial(l % Ns, 0);
                const T* pt = &temporal(l / Ns, 0);
                T* dst = &stream(b, l, 0);
#pragma omp simd
                for (index_t ch = 0; ch < C; ++ch) dst[ch] = src[ch] + ps[ch] + pt[ch];
            }
            std::copy_n(group.data(), M * C, &stream(b, L, 0));
        },
        B * L * C > 65536);
}

// The parameter gradients of video_embed_forward from d_stream (B, L + M, C); all accumulate
// (+=). Summed over clips in clip order, so the bits do not depend on the thread count.
template <class T>
void video_embed_backward(const Context<cpu>&, TensorView<T, 2> d_spatial, TensorView<T, 2> d_temporal,
                          TensorView<T, 2> d_group, std::type_identity_t<TensorView<const T, 3>> d_stream) {
    const profile::Scope profile_scope(__func__);
    const char* op = "video_embed_backward";
    const index_t B = d_stream.extent(0), C = d_stream.extent(2), Ns = d_spatial.extent(0), Nt = d_temporal.extent(0);
    const index_t L = Ns * Nt, M = d_group.extent(0);
    contract::video_embed_backward(op, d_spatial, d_temporal, d_group, d_stream);
    for (index_t b = 0; b < B; ++b) {
        for (index_t l = 0; l < L; ++l) {
            const T* g = &d_stream(b, l, 0);
            T* ps = &d_spatial(l % Ns, 0);
            T* pt = &d_temporal(l / Ns, 0);
#pragma omp simd
            for (index_t ch = 0; ch < C; ++ch) {
                ps[ch] += g[ch];
                pt[ch] += g[ch];
            }
        }
        const T* g = &d_stream(b, L, 0);
        T* dg = d_group.data();
#pragma omp simd
        for (index_t i = 0; i < M * C; ++i) dg[i] += g[i];
    }
}

}  // namespace svilm
