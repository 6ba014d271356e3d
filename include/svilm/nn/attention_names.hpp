// svilm/nn/attention_names.hpp: the parameter names of the attention modules, shared by the CPU
// and the CUDA modules (no ops here, so nvcc can include it).
#pragma once

#include <string>

namespace svilm::nn {

// The four Linear names of a MultiHeadAttention, relative to its prefix.
struct AttentionNames {
    std::string query, key, value, output;
};
inline AttentionNames grouping_attention_names() { return {"q_proj", "k_proj", "v_proj", "proj"}; }
inline AttentionNames bert_attention_names() { return {"self.query", "self.key", "self.value", "output.dense"}; }

}  // namespace svilm::nn
