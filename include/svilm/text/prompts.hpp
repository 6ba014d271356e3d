// svilm/text/prompts.hpp: noun prompts for the spatial grounding loss (docs/model.md §5): each noun phrase
// wrapped in one or more templates ("a video of a {}.") and encoded, with a validity mask for
// captions that have fewer than K phrases.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "svilm/text/tokenizer.hpp"

namespace svilm::text {

inline constexpr std::string_view default_prompt_template = "a video of a {}.";

// The template with its single "{}" replaced by `phrase`.
inline std::string format_prompt(std::string_view prompt_template, std::string_view phrase) {
    const auto at = prompt_template.find("{}");
    if (at == std::string_view::npos || prompt_template.find("{}", at + 2) != std::string_view::npos)
        throw ValueError("prompt template '" + std::string(prompt_template) + "' must contain exactly one {}");
    std::string out(prompt_template.substr(0, at));
    out.append(phrase);
    out.append(prompt_template.substr(at + 2));
    return out;
}

// Prompts of B captions with K phrase slots and T templates: row (b * K + k) * T + t of ids /
// attention_mask (B * K * T, L) encodes phrase k of caption b in template t (average the T
// embeddings of a phrase for a prompt ensemble); valid (B, K) is 1 where that phrase exists. An
// empty slot holds "[CLS] [SEP]" so the text encoder still sees a well-formed sequence.
struct PromptBatch {
    Tensor<std::int64_t, 2> ids;
    Tensor<std::uint8_t, 2> attention_mask;
    Tensor<std::uint8_t, 2> valid;
    std::size_t templates = 1;
};

inline PromptBatch encode_prompts(const Tokenizer& tokenizer, std::span<const std::vector<std::string>> phrases,
                                  std::size_t phrases_per_caption, std::size_t max_length,
                                  std::span<const std::string> templates) {
    if (templates.empty()) throw ValueError("encode_prompts: no prompt template");
    const index_t B = index_t(phrases.size()), K = index_t(phrases_per_caption), T = index_t(templates.size());
    std::vector<std::string> texts(std::size_t(B * K * T));
    PromptBatch out{{}, {}, Tensor<std::uint8_t, 2>({B, K}), templates.size()};
    for (index_t b = 0; b < B; ++b)
        for (index_t k = 0; k < K && std::size_t(k) < phrases[std::size_t(b)].size(); ++k) {
            for (index_t t = 0; t < T; ++t)
                texts[std::size_t((b * K + k) * T + t)] =
                    format_prompt(templates[std::size_t(t)], phrases[std::size_t(b)][std::size_t(k)]);
            out.valid(b, k) = 1;
        }
    BatchEncoding encoded = tokenizer.encode_batch(texts, max_length);
    out.ids = std::move(encoded.ids);
    out.attention_mask = std::move(encoded.attention_mask);
    return out;
}

// The single default template, "a video of a {}." (docs/model.md §5).
inline PromptBatch encode_prompts(const Tokenizer& tokenizer, std::span<const std::vector<std::string>> phrases,
                                  std::size_t phrases_per_caption, std::size_t max_length) {
    const std::string only[] = {std::string(default_prompt_template)};
    return encode_prompts(tokenizer, phrases, phrases_per_caption, max_length, only);
}

}  // namespace svilm::text
