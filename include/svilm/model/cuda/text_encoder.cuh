// svilm/model/cuda/text_encoder.cuh: the BERT-style text encoder on the device,
// TextEncoder<T, cuda>, the twin of svilm/model/text_encoder.hpp (docs/model.md §3): BERT's parameter
// names under `text.`, post-norm layers, padded keys masked, the [CLS] state as the feature.
// Token ids and masks come from the host (they are small, and ids are checked there, so a bad
// id is a ValueError naming its position rather than a device fault).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/fwd.hpp"
#include "svilm/nn/cuda/transformer_block.cuh"
#include "svilm/ops/cuda/embedding.cuh"

namespace svilm {

template <class T>
struct TextEncoderSavedCuda {
    Tensor<std::int64_t, 1, cuda> ids, positions;  // (B * N)
    Tensor<std::uint8_t, 2, cuda> key_mask;        // (B, N)
    Tensor<T, 2, cuda> embedded;                   // (B * N, C) before LN
    cuda_ops::LayerNormSaved<T> embed_stats;
    std::vector<Tensor<T, 3, cuda>> hidden;  // depth + 1 of (B, N, C)
    std::vector<cuda_nn::PostNormBlockSaved<T>> layers;
    Tensor<T, 2, cuda> cls;  // (B, C)
};

template <class T>
class TextEncoder<T, cuda> {
public:
    using Saved = TextEncoderSavedCuda<T>;

    TextEncoder() = default;
    TextEncoder(const nn::DeviceParameters<T>& params, const TextConfig& config, const std::string& name)
        : config((config.validate(), config)),
          word_embeddings(params.template get<2>(nn::join(name, "embeddings.word_embeddings.weight"),
                                                 {config.vocab_size, config.width})),
          position_embeddings(params.template get<2>(nn::join(name, "embeddings.position_embeddings.weight"),
                                                     {config.max_length, config.width})),
          token_type_embeddings(params.template get<2>(nn::join(name, "embeddings.token_type_embeddings.weight"),
                                                       {2, config.width})),
          embed_norm(params, nn::join(name, "embeddings.LayerNorm"), config.width, config.layer_norm_eps) {
        for (index_t i = 0; i < config.depth; ++i)
            layers.emplace_back(params, nn::join(nn::join(name, "encoder.layer"), i), config.width, config.heads,
                                config.mlp_hidden, config.layer_norm_eps);
    }

    // ids (B, N) in [0, vocab) and attention_mask (B, N) on the host; N <= max_length.
    // ensures: s.cls (B, C) on the device.
    void forward(const CudaContext& ctx, Saved& s, TensorView<const std::int64_t, 2> ids,
                 TensorView<const std::uint8_t, 2> attention_mask) const {
        const char* op = "cuda TextEncoder::forward";
        check_text_input(op, config, ids, attention_mask);
        const index_t B = ids.extent(0), N = ids.extent(1), C = config.width;
        Tensor<std::int64_t, 1> flat({B * N}, uninitialized), positions({B * N}, uninitialized);
        Tensor<std::uint8_t, 2> mask({B, N}, uninitialized);
        for (index_t b = 0; b < B; ++b)
            for (index_t n = 0; n < N; ++n) {
                flat(b * N + n) = ids(b, n);
                positions(b * N + n) = n;
                mask(b, n) = attention_mask(b, n) != 0;
            }
        s.ids = cuda_ops::device_ids(ctx, op, flat, config.vocab_size);
        s.positions = to_device<std::int64_t, 1>(ctx, positions);
        s.key_mask = to_device<std::uint8_t, 2>(ctx, mask);
        nn::ensure_shape(s.embedded, {B * N, C});
        Tensor<T, 2, cuda> part({B * N, C}, uninitialized);
        cuda_ops::embedding_forward<T>(ctx, s.embedded, word_embeddings.value(), s.ids);
        cuda_ops::embedding_forward<T>(ctx, part, position_embeddings.value(), s.positions);
        cuda_ops::add_into<T, 2>(ctx, s.embedded, part);
        cuda_ops::kernels::broadcast_rows<T><<<cuda_ops::kernels::grid_cover(s.embedded.size()), 256, 0, ctx.stream()>>>(
            s.embedded.data(), token_type_embeddings.value().data(), B * N, C, C, true);  // segment type 0
        SVILM_CUDA_CHECK(cudaGetLastError());
        s.hidden.resize(layers.size() + 1);
        s.layers.resize(layers.size());
        for (auto& h : s.hidden) nn::ensure_shape(h, {B, N, C});
        embed_norm.forward(ctx, as_matrix(s.hidden[0].view()), s.embed_stats, s.embedded);
        for (std::size_t i = 0; i < layers.size(); ++i)
            layers[i].forward(ctx, s.hidden[i + 1], s.layers[i], s.hidden[i], s.key_mask);
        nn::ensure_shape(s.cls, {B, C});
        cuda_ops::copy_strided<T>(ctx, s.cls.view().template reshape<3>({B, 1, C}), s.hidden.back().view().narrow(1, 0, 1));
    }

    // Parameter gradients accumulate from d_cls (B, C).
    void backward(const CudaContext& ctx, TensorView<const T, 2, cuda> d_cls, Saved& s) const {
        const index_t B = s.cls.extent(0), N = s.key_mask.extent(1), C = config.width;
        Tensor<T, 3, cuda> d_hidden({B, N, C}, uninitialized), d_prev({B, N, C}, uninitialized);
        zero(ctx, d_hidden.view());
        cuda_ops::copy_strided<T>(ctx, d_hidden.view().narrow(1, 0, 1), d_cls.template reshape<3>({B, 1, C}));
        for (std::size_t i = layers.size(); i-- > 0;) {
            layers[i].backward(ctx, d_prev, d_hidden, s.layers[i], s.hidden[i], s.key_mask);
            std::swap(d_hidden, d_prev);
        }
        Tensor<T, 2, cuda> d_embedded({B * N, C}, uninitialized);
        embed_norm.backward(ctx, d_embedded, as_matrix(d_hidden.view()), s.embed_stats, s.embedded);
        cuda_ops::embedding_backward<T>(ctx, word_embeddings.grad(), d_embedded, s.ids);
        cuda_ops::embedding_backward<T>(ctx, position_embeddings.grad(), d_embedded, s.positions);
        // only segment type 0 is used: its row gets the column sums
        cuda_ops::column_sum<T>(ctx, token_type_embeddings.grad().narrow(0, 0, 1).template reshape<1>({C}), d_embedded, true);
    }

    TextConfig config;
    nn::DeviceParam<T, 2> word_embeddings, position_embeddings, token_type_embeddings;
    cuda_nn::LayerNorm<T> embed_norm;
    std::vector<cuda_nn::PostNormBlock<T>> layers;
};

}  // namespace svilm
