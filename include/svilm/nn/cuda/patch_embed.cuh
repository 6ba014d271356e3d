// svilm/nn/cuda/patch_embed.cuh: tubelet embedding on the device, the CUDA twin of
// svilm/nn/patch_embed.hpp: an unfold kernel (one thread per patch element, Conv3d order
// (c, dt, dy, dx) within a row) and one GEMM.
#pragma once

#include <string>

#include "svilm/nn/cuda/layers.cuh"

namespace svilm::cuda_nn {

namespace kernels {

// patches (B * L, 3 t p p) from video (B, T, 3, H, W), token l = n_t * N_s + row * (W / p) + col.
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

}  // namespace kernels

template <class T>
struct PatchEmbedSaved {
    Tensor<T, 2, cuda> patches;  // (B * L, 3 t p p)
};

template <class T>
class PatchEmbed {
public:
    PatchEmbed() = default;
    PatchEmbed(const DeviceParameters<T>& params, const std::string& name, index_t width, index_t tubelet, index_t patch)
        : width(width), tubelet(tubelet), patch(patch),
          weight(params.template get<5>(join(name, "weight"), {width, 3, tubelet, patch, patch})),
          bias(params.template get<1>(join(name, "bias"), {width})) {}

    index_t patch_features() const { return 3 * tubelet * patch * patch; }

    // tokens (B, L, C) = unfold(video (B, T, 3, H, W)) W^T + b.
    void forward(const CudaContext& ctx, TensorView<T, 3, cuda> tokens, PatchEmbedSaved<T>& s,
                 TensorView<const T, 5, cuda> video) const {
        const char* op = "cuda PatchEmbed::forward";
        const index_t B = video.extent(0), frames = video.extent(1), H = video.extent(3), W = video.extent(4);
        if (video.extent(2) != 3 || frames % tubelet || H % patch || W % patch)
            throw ShapeError(std::string(op) + ": video " + to_string<5>(video.shape()) + " is not (B, T, 3, H, W) with T % " +
                             std::to_string(tubelet) + " == 0 and H, W multiples of " + std::to_string(patch));
        expect_contiguous(op, "video", video);
        const index_t rows = H / patch, cols = W / patch, L = (frames / tubelet) * rows * cols;
        expect_shape(op, "tokens", tokens, {B, L, width});
        ensure_shape(s.patches, {B * L, patch_features()});
        if (s.patches.size()) {
            kernels::unfold_tubelets<T><<<cuda_ops::kernels::grid_cover(s.patches.size()), 256, 0, ctx.stream()>>>(
                s.patches.data(), video.data(), L, rows, cols, tubelet, patch, frames, H, W, s.patches.size());
            SVILM_CUDA_CHECK(cudaGetLastError());
        }
        cuda_ops::linear_forward<T>(ctx, as_matrix(tokens), s.patches, matrix_weight(weight.value()), bias.value());
    }

    // Parameter gradients accumulate from dtokens (B, L, C); no gradient flows to the pixels.
    void backward(const CudaContext& ctx, TensorView<const T, 3, cuda> dtokens, const PatchEmbedSaved<T>& s) const {
        cuda_ops::linear_backward<T>(ctx, TensorView<T, 2, cuda>(), matrix_weight(weight.grad()), bias.grad(),
                                     as_matrix(dtokens), s.patches, matrix_weight(weight.value()));
    }

    index_t width = 0, tubelet = 1, patch = 16;
    DeviceParam<T, 5> weight;
    DeviceParam<T, 1> bias;

private:
    TensorView<T, 2, cuda> matrix_weight(const TensorView<T, 5, cuda>& w) const {
        return w.template reshape<2>({width, patch_features()});
    }
};

}  // namespace svilm::cuda_nn
