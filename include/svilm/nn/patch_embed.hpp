// svilm/nn/patch_embed.hpp: tubelet embedding, the Conv3d(3, C, kernel = stride = (t, p, p))
// of a video written as an unfold (tubelet_unfold, svilm/ops/video.hpp) followed by one GEMM
// (docs/model.md §2 and 11).
//
// Video (B, T, 3, H, W) -> tokens (B, L, C) with L = N_t * N_s, N_t = T / t,
// N_s = (H / p) * (W / p), token l = n_t * N_s + row * (W / p) + col (time-major, then
// row-major). The weight is stored in Conv3d layout (C, 3, t, p, p) and used as a (C, 3 t p p)
// matrix.
#pragma once

#include <string>

#include "svilm/nn/linear.hpp"

namespace svilm::nn {

template <class T, class Device = cpu>
struct PatchEmbedSaved {
    Tensor<T, 2, Device> patches;  // (B * L, 3 t p p): the unfolded input, GEMM operand of the weight gradient
};

template <class T, class Device = cpu>
class PatchEmbed {
public:
    PatchEmbed() = default;
    PatchEmbed(ParameterStore<T, Device>& store, const std::string& name, index_t width, index_t tubelet, index_t patch)
        : width(width), tubelet(tubelet), patch(patch),
          weight(store.template add<5>(join(name, "weight"), {width, 3, tubelet, patch, patch}, Role::weight)),
          bias(store.template add<1>(join(name, "bias"), {width}, Role::bias)) {}

    index_t patch_features() const { return 3 * tubelet * patch * patch; }

    // tokens (B, L, C) = unfold(video) W^T + b. requires: T % t == 0, H % p == 0, W % p == 0.
    void forward(const Context<Device>& ctx, TensorView<T, 3, Device> tokens, PatchEmbedSaved<T, Device>& s,
                 TensorView<const T, 5, Device> video) const {
        const index_t B = video.extent(0), L = (video.extent(1) / tubelet) * (video.extent(3) / patch) *
                                                   (video.extent(4) / patch);
        ensure_shape(s.patches, {B * L, patch_features()});
        tubelet_unfold(ctx, s.patches.view(), video, tubelet, patch);
        expect_shape("PatchEmbed::forward", "tokens", tokens, {B, L, width});
        linear_forward(ctx, as_matrix(tokens), s.patches, matrix(weight.value()), bias.value());
    }

    // Parameter gradients accumulate from dtokens (B, L, C); no gradient flows to the pixels.
    void backward(const Context<Device>& ctx, TensorView<const T, 3, Device> dtokens,
                  const PatchEmbedSaved<T, Device>& s) const {
        linear_backward(ctx, TensorView<T, 2, Device>(), matrix(weight.grad()), bias.grad(), as_matrix(dtokens), s.patches,
                        matrix(weight.value()));
    }

    index_t width = 0, tubelet = 1, patch = 16;
    Param<T, 5, Device> weight;
    Param<T, 1, Device> bias;

private:
    TensorView<T, 2, Device> matrix(const TensorView<T, 5, Device>& w) const {
        return w.template reshape<2>({width, patch_features()});
    }
};

}  // namespace svilm::nn
