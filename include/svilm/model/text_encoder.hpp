// svilm/model/text_encoder.hpp: the BERT-style text encoder of docs/model.md §3 (post-norm layers,
// LayerNorm eps 1e-12, padded keys masked, segment ids all 0), for either device. Parameter names
// are BERT's own under `text.`, so a bert-base-uncased checkpoint maps by prefix. The caption (or
// noun prompt) feature is the last layer's [CLS] state (B, C); `text_proj` turns it into an
// embedding. Token ids and masks come from the host on both devices: they are small, and an id
// is checked there, so a bad one is a ValueError naming its position, never a device fault.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/fwd.hpp"
#include "svilm/nn/transformer_block.hpp"

namespace svilm {

template <class T, class Device = cpu>
struct TextEncoderSaved {
    Tensor<std::int64_t, 1, Device> ids;        // (B * N) token ids, row-major
    Tensor<std::int64_t, 1, Device> positions;  // (B * N) position of each token
    Tensor<std::uint8_t, 2, Device> key_mask;   // (B, N)
    Tensor<T, 2, Device> embedded;              // (B * N, C) sum of the three embeddings, before LN
    LayerNormSaved<T, Device> embed_stats;
    std::vector<Tensor<T, 3, Device>> hidden;   // depth + 1 of (B, N, C): LN(embedded), then each layer's output;
                                                // 2 without keep_activations, the last layer's output in back()
    std::vector<nn::PostNormBlockSaved<T, Device>> layers;  // depth, or 1 without keep_activations
    Tensor<T, 2, Device> cls;                   // (B, C) last layer at position 0
    bool kept = true;                           // the forward kept every layer's activations
};

template <class T, class Device>
class TextEncoder {
public:
    TextEncoder() = default;
    TextEncoder(nn::ParameterStore<T, Device>& store, const TextConfig& config, const std::string& name) : config(config) {
        config.validate();
        const std::string emb = nn::join(name, "embeddings");
        word_embeddings = store.template add<2>(nn::join(emb, "word_embeddings.weight"), {config.vocab_size, config.width},
                                                nn::Role::embedding);
        position_embeddings = store.template add<2>(nn::join(emb, "position_embeddings.weight"),
                                                    {config.max_length, config.width}, nn::Role::embedding);
        // BERT's two segment types; S-ViLM uses type 0 only, the shape keeps checkpoints loadable
        token_type_embeddings = store.template add<2>(nn::join(emb, "token_type_embeddings.weight"), {2, config.width},
                                                      nn::Role::embedding);
        embed_norm = nn::LayerNorm<T, Device>(store, nn::join(emb, "LayerNorm"), config.width, config.layer_norm_eps);
        for (index_t i = 0; i < config.depth; ++i)
            layers.emplace_back(store, nn::join(nn::join(name, "encoder.layer"), i), config.width, config.heads,
                                config.mlp_hidden, config.layer_norm_eps);
    }

    // ids (B, N) in [0, vocab), attention_mask (B, N) 1 for tokens, 0 for padding (as
    // text::Tokenizer::encode_batch makes them), on the host; N <= max_length.
    // ensures: s.cls (B, C), s.hidden.back() (B, N, C) on the encoder's device.
    // keep_activations = false saves memory when no backward follows: two hidden streams and one
    // layer's activations live at a time (a 12-layer base encoder on 32 x 32 tokens: about 60 MB
    // instead of 700).
    void forward(const Context<Device>& ctx, TextEncoderSaved<T, Device>& s, TensorView<const std::int64_t, 2> ids,
                 TensorView<const std::uint8_t, 2> attention_mask, bool keep_activations = true) const {
        const char* op = "TextEncoder::forward";
        check_text_input(op, config, ids, attention_mask);
        const index_t B = ids.extent(0), N = ids.extent(1), C = config.width;
        Tensor<std::int64_t, 1> flat({B * N}, uninitialized), positions({B * N}, uninitialized);
        Tensor<std::uint8_t, 2> mask({B, N}, uninitialized);
        for (index_t b = 0; b < B; ++b)
            for (index_t n = 0; n < N; ++n) {
                const std::int64_t id = ids(b, n);
                if (id < 0 || id >= config.vocab_size)
                    throw ValueError(std::string(op) + ": ids[" + std::to_string(b) + ", " + std::to_string(n) + "] = " +
                                     std::to_string(id) + " is outside the vocabulary of " + std::to_string(config.vocab_size));
                flat(b * N + n) = id;
                positions(b * N + n) = n;
                mask(b, n) = attention_mask(b, n) != 0;
            }
        upload<std::int64_t, 1, Device>(ctx, nn::ensure_shape(s.ids, {B * N}), flat);
        upload<std::int64_t, 1, Device>(ctx, nn::ensure_shape(s.positions, {B * N}), positions);
        upload<std::uint8_t, 2, Device>(ctx, nn::ensure_shape(s.key_mask, {B, N}), mask);
        nn::ensure_shape(s.embedded, {B * N, C});
        Tensor<T, 2, Device> part({B * N, C}, uninitialized);
        embedding_forward(ctx, s.embedded.view(), word_embeddings.value(), s.ids.view());
        embedding_forward(ctx, part.view(), position_embeddings.value(), s.positions.view());
        add_into(ctx, s.embedded.view(), part.view());
        bias_add_forward(ctx, s.embedded.view(), token_type_embeddings.value().select(0, 0));  // segment type 0
        const std::size_t depth = layers.size();
        s.kept = keep_activations;
        s.hidden.resize(keep_activations ? depth + 1 : 2);
        s.layers.resize(keep_activations ? depth : 1);
        for (auto& h : s.hidden) nn::ensure_shape(h, {B, N, C});
        embed_norm.forward(ctx, as_matrix(s.hidden[0].view()), s.embed_stats, s.embedded);
        for (std::size_t i = 0; i < depth; ++i) {
            Tensor<T, 3, Device>& in = s.hidden[keep_activations ? i : i % 2];
            Tensor<T, 3, Device>& out = s.hidden[keep_activations ? i + 1 : (i + 1) % 2];
            layers[i].forward(ctx, out, s.layers[keep_activations ? i : 0], in, s.key_mask);
        }
        if (!keep_activations && depth % 2 == 0) std::swap(s.hidden[0], s.hidden[1]);  // the last output in back()
        nn::ensure_shape(s.cls, {B, C});
        copy(ctx, s.cls.view(), s.hidden.back().view().select(1, 0));
    }

    // Parameter gradients accumulate from d_cls (B, C).
    void backward(const Context<Device>& ctx, TensorView<const T, 2, Device> d_cls, const TextEncoderSaved<T, Device>& s) const {
        if (!s.kept) throw ValueError("TextEncoder::backward: the forward did not keep activations");
        const index_t B = s.cls.extent(0), N = s.key_mask.extent(1), C = config.width;
        Tensor<T, 3, Device> d_hidden = zeros<T, 3, Device>(ctx, {B, N, C}), d_prev({B, N, C}, uninitialized);
        copy(ctx, d_hidden.view().select(1, 0), d_cls);
        for (std::size_t i = layers.size(); i-- > 0;) {
            layers[i].backward(ctx, d_prev, d_hidden, s.layers[i], s.hidden[i], s.key_mask);
            std::swap(d_hidden, d_prev);
        }
        Tensor<T, 2, Device> d_embedded({B * N, C}, uninitialized);
        embed_norm.backward(ctx, d_embedded, as_matrix(d_hidden.view()), s.embed_stats, s.embedded);
        embedding_backward(ctx, word_embeddings.grad(), d_embedded.view(), s.ids.view());
        embedding_backward(ctx, position_embeddings.grad(), d_embedded.view(), s.positions.view());
        bias_add_backward(ctx, token_type_embeddings.grad().select(0, 0), d_embedded.view());
    }

    TextConfig config;
    nn::Param<T, 2, Device> word_embeddings, position_embeddings, token_type_embeddings;
    nn::LayerNorm<T, Device> embed_norm;
    std::vector<nn::PostNormBlock<T, Device>> layers;
};

}  // namespace svilm
