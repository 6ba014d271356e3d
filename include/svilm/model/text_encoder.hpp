// svilm/model/text_encoder.hpp: the BERT-style text encoder of docs/model.md §3 (post-norm layers,
// LayerNorm eps 1e-12, padded keys masked, segment ids all 0). Parameter names are BERT's own
// under `text.`, so a bert-base-uncased checkpoint maps by prefix. The caption (or noun prompt)
// feature is the last layer's [CLS] state (B, C); `text_proj` turns it into an embedding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "svilm/model/batch.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/fwd.hpp"
#include "svilm/nn/transformer_block.hpp"
#include "svilm/ops/embedding.hpp"

namespace svilm {

template <class T>
struct TextEncoderSaved {
    Tensor<std::int64_t, 1> ids;        // (B * N) token ids, row-major
    Tensor<std::int64_t, 1> positions;  // (B * N) position of each token
    Tensor<std::uint8_t, 2> key_mask;   // (B, N)
    Tensor<T, 2> embedded;              // (B * N, C) sum of the three embeddings, before LN
    LayerNormSaved<T> embed_stats;
    std::vector<Tensor<T, 3>> hidden;   // depth + 1 of (B, N, C): LN(embedded), then each layer's output
    std::vector<nn::PostNormBlockSaved<T>> layers;
    Tensor<T, 2> cls;                   // (B, C) last layer at position 0
};

template <class T>
class TextEncoder<T, cpu> {
public:
    TextEncoder() = default;
    TextEncoder(nn::ParameterStore<T>& store, const TextConfig& config, const std::string& name) : config(config) {
        config.validate();
        const std::string emb = nn::join(name, "embeddings");
        word_embeddings = store.template add<2>(nn::join(emb, "word_embeddings.weight"), {config.vocab_size, config.width},
                                                nn::Role::embedding);
        position_embeddings = store.template add<2>(nn::join(emb, "position_embeddings.weight"),
                                                    {config.max_length, config.width}, nn::Role::embedding);
        // BERT's two segment types; S-ViLM uses type 0 only, the shape keeps checkpoints loadable
        token_type_embeddings = store.template add<2>(nn::join(emb, "token_type_embeddings.weight"), {2, config.width},
                                                      nn::Role::embedding);
        embed_norm = nn::LayerNorm<T>(store, nn::join(emb, "LayerNorm"), config.width, config.layer_norm_eps);
        for (index_t i = 0; i < config.depth; ++i)
            layers.emplace_back(store, nn::join(nn::join(name, "encoder.layer"), i), config.width, config.heads,
                                config.mlp_hidden, config.layer_norm_eps);
    }

    // ids (B, N) in [0, vocab), attention_mask (B, N) 1 for tokens, 0 for padding (as
    // text::Tokenizer::encode_batch makes them); N <= max_length.
    // ensures: s.cls (B, C), s.hidden.back() (B, N, C).
    void forward(TextEncoderSaved<T>& s, TensorView<const std::int64_t, 2> ids,
                 TensorView<const std::uint8_t, 2> attention_mask) const {
        const char* op = "TextEncoder::forward";
        check_text_input(op, config, ids, attention_mask);
        const index_t B = ids.extent(0), N = ids.extent(1), C = config.width;
        nn::ensure_shape(s.ids, {B * N});
        nn::ensure_shape(s.positions, {B * N});
        nn::ensure_shape(s.key_mask, {B, N});
        for (index_t b = 0; b < B; ++b)
            for (index_t n = 0; n < N; ++n) {
                s.ids(b * N + n) = ids(b, n);
                s.positions(b * N + n) = n;
                s.key_mask(b, n) = attention_mask(b, n) != 0;
            }
        nn::ensure_shape(s.embedded, {B * N, C});
        Tensor<T, 2> part({B * N, C}, uninitialized);
        embedding_forward<T>(s.embedded, word_embeddings.value(), s.ids);
        embedding_forward<T>(part, position_embeddings.value(), s.positions);
        add_into<T, 2>(s.embedded, part);
        const T* type0 = token_type_embeddings.value().data();
        for (index_t r = 0; r < B * N; ++r)
            for (index_t ch = 0; ch < C; ++ch) s.embedded(r, ch) += type0[ch];
        s.hidden.resize(layers.size() + 1);
        s.layers.resize(layers.size());
        for (auto& h : s.hidden) nn::ensure_shape(h, {B, N, C});
        embed_norm.forward(as_matrix(s.hidden[0].view()), s.embed_stats, s.embedded);
        for (std::size_t i = 0; i < layers.size(); ++i) layers[i].forward(s.hidden[i + 1], s.layers[i], s.hidden[i], s.key_mask);
        nn::ensure_shape(s.cls, {B, C});
        copy<T, 2>(s.cls, s.hidden.back().view().select(1, 0));
    }

    // Parameter gradients accumulate from d_cls (B, C).
    void backward(TensorView<const T, 2> d_cls, const TextEncoderSaved<T>& s) const {
        const index_t B = s.cls.extent(0), N = s.key_mask.extent(1), C = config.width;
        Tensor<T, 3> d_hidden({B, N, C}), d_prev({B, N, C}, uninitialized);
        copy<T, 2>(d_hidden.view().select(1, 0), d_cls);
        for (std::size_t i = layers.size(); i-- > 0;) {
            layers[i].backward(d_prev, d_hidden, s.layers[i], s.hidden[i], s.key_mask);
            std::swap(d_hidden, d_prev);
        }
        Tensor<T, 2> d_embedded({B * N, C}, uninitialized);
        embed_norm.backward(d_embedded, as_matrix(d_hidden.view()), s.embed_stats, s.embedded);
        embedding_backward<T>(word_embeddings.grad(), d_embedded, s.ids);
        embedding_backward<T>(position_embeddings.grad(), d_embedded, s.positions);
        T* d_type0 = token_type_embeddings.grad().data();
        for (index_t r = 0; r < B * N; ++r)
            for (index_t ch = 0; ch < C; ++ch) d_type0[ch] += d_embedded(r, ch);
    }

    TextConfig config;
    nn::Param<T, 2> word_embeddings, position_embeddings, token_type_embeddings;
    nn::LayerNorm<T> embed_norm;
    std::vector<nn::PostNormBlock<T>> layers;
};

}  // namespace svilm
