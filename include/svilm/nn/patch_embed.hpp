// svilm/nn/patch_embed.hpp: tubelet embedding, the Conv3d(3, C, kernel = stride = (t, p, p))
// of a video written as an unfold followed by one GEMM (docs/model.md §2 and 11).
//
// Video (B, T, 3, H, W) -> tokens (B, L, C) with L = N_t * N_s, N_t = T / t,
// N_s = (H / p) * (W / p), token l = n_t * N_s + row * (W / p) + col (time-major, then
// row-major). A tubelet is flattened in Conv3d order (c, dt, dy, dx), so the weight is stored in
// Conv3d layout (C, 3, t, p, p) and used as a (C, 3 t p p) matrix.
#pragma once

#include <string>

#include "svilm/core/parallel.hpp"
#include "svilm/nn/linear.hpp"

namespace svilm::nn {

template <class T>
struct PatchEmbedSaved {
    Tensor<T, 2> patches;  // (B * L, 3 t p p): the unfolded input, GEMM operand of the weight gradient
};

template <class T>
class PatchEmbed {
public:
    PatchEmbed() = default;
    PatchEmbed(ParameterStore<T>& store, const std::string& name, index_t width, index_t tubelet, index_t patch)
        : width(width), tubelet(tubelet), patch(patch),
          weight(store.template add<5>(join(name, "weight"), {width, 3, tubelet, patch, patch}, Role::weight)),
          bias(store.template add<1>(join(name, "bias"), {width}, Role::bias)) {}

    index_t patch_features() const { return 3 * tubelet * patch * patch; }

    // tokens (B, L, C) = unfold(video) W^T + b. requires: T % t == 0, H % p == 0, W % p == 0.
    void forward(TensorView<T, 3> tokens, PatchEmbedSaved<T>& s, TensorView<const T, 5> video) const {
        const char* op = "PatchEmbed::forward";
        const index_t B = video.extent(0), frames = video.extent(1), H = video.extent(3), W = video.extent(4);
        if (video.extent(2) != 3 || frames % tubelet || H % patch || W % patch)
            throw ShapeError(std::string(op) + ": video " + to_string<5>(video.shape()) + " is not (B, T, 3, H, W) with T % " +
                             std::to_string(tubelet) + " == 0 and H, W multiples of " + std::to_string(patch));
        expect_contiguous(op, "video", video);
        const index_t nt = frames / tubelet, rows = H / patch, cols = W / patch, L = nt * rows * cols;
        expect_shape(op, "tokens", tokens, {B, L, width});
        ensure_shape(s.patches, {B * L, patch_features()});
        unfold(s.patches, video);
        const auto w = weight.value().template reshape<2>({width, patch_features()});
        linear_forward<T>(as_matrix(tokens), s.patches, w, bias.value());
    }

    // Parameter gradients accumulate from dtokens (B, L, C); no gradient flows to the pixels.
    void backward(TensorView<const T, 3> dtokens, const PatchEmbedSaved<T>& s) const {
        const auto w = weight.value().template reshape<2>({width, patch_features()});
        const auto dw = weight.grad().template reshape<2>({width, patch_features()});
        linear_backward<T>(TensorView<T, 2>(), dw, bias.grad(), as_matrix(dtokens), s.patches, w);
    }

    index_t width = 0, tubelet = 1, patch = 16;
    Param<T, 5> weight;
    Param<T, 1> bias;

private:
    // patches (B * L, 3 t p p) from video (B, T, 3, H, W); one tubelet row per token.
    void unfold(TensorView<T, 2> patches, TensorView<const T, 5> video) const {
        const index_t B = video.extent(0), H = video.extent(3), W = video.extent(4);
        const index_t nt = video.extent(1) / tubelet, rows = H / patch, cols = W / patch;
        const index_t tokens = B * nt * rows * cols, features = patch_features();
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
};

}  // namespace svilm::nn
