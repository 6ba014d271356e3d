// svilm/model/flops.hpp: multiply-add counts (2 FLOPs each) of the encoders' forward passes,
// for throughput counters. Only matrix products are counted (they are > 98% of the work);
// a backward pass costs about twice its forward.
#pragma once

#include "svilm/model/config.hpp"

namespace svilm {

// Forward FLOPs of the video encoder for `batch` clips.
inline double video_encoder_flops(const VideoConfig& v, index_t batch) {
    const double L = double(v.tokens()), M = double(v.grouping.num_group_tokens), S = L + M, C = double(v.width);
    const double patch = 2 * L * C * 3.0 * double(v.tubelet * v.patch_size * v.patch_size);
    const double layer = 2 * S * C * (3 * C + C + 2 * double(v.mlp_hidden)) + 4 * S * S * C;
    const double grouping = 2 * M * C * C * 4                   // cross-attention q, out; assignment q, out
                            + 2 * L * C * C * 4                 // cross-attention k, v; assignment k, v
                            + 4 * M * L * C * 2                 // cross-attention and assignment products
                            + 2 * M * C * double(v.grouping.mlp_ratio) * C * 2 * 2  // two MLPs of the grouping ratio
                            + 2 * C * M * (C / 2) * 2;          // token mixing
    return double(batch) * (patch + double(v.depth) * layer + double(v.grouping.after.size()) * grouping);
}

// Forward FLOPs of the text encoder for `batch` sequences of `length` tokens.
inline double text_encoder_flops(const TextConfig& t, index_t batch, index_t length) {
    const double N = double(length), C = double(t.width);
    const double layer = 2 * N * C * (4 * C + 2 * double(t.mlp_hidden)) + 4 * N * N * C;
    return double(batch) * double(t.depth) * layer;
}

}  // namespace svilm
