// svilm/ops/cuda/launch.cuh: the grid sizes of the element-wise and per-column kernels, one rule
// for every op.
#pragma once

#include <algorithm>

#include "svilm/core/shape.hpp"

namespace svilm::cuda_detail {

// Blocks of `per_block` threads that give every one of n items its own thread (kernels with no
// grid-stride loop; n fits the grid in every use: columns, rows of a batch).
inline unsigned blocks_for(index_t n, index_t per_block) { return unsigned((n + per_block - 1) / per_block); }

// 256-thread blocks covering n for a grid-stride loop, at least 1 and capped at 65536 blocks, so
// huge tensors do not launch millions of blocks.
inline unsigned grid_cover(index_t n) { return unsigned(std::clamp<index_t>((n + 255) / 256, 1, 65536)); }

}  // namespace svilm::cuda_detail
