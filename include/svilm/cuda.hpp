// svilm/cuda.hpp: the CUDA backend, for .cu files (nvcc) and C++ files that link the
// svilm::cuda target. Tensor<T, Rank, cuda> allocates through the caching pool; every op takes a
// CudaContext (stream, cuBLAS handle) explicitly: memory, copies, every op (GEMM in fp32 / TF32 /
// bf16 tensor-core modes, fused attention, layer norm, GELU, softmax, embedding, L2
// normalisation, pooling, the straight-through assignment, cross-entropy, the three
// pre-training losses, AdamW, gradient clipping), the modules, and the whole model
// (VideoEncoder<float, cuda>, TextEncoder<float, cuda>, SVilm<float, cuda>).
#pragma once

#include "svilm/cuda/allocator.hpp"
#include "svilm/cuda/check.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/gemm.hpp"
#if defined(__CUDACC__)
#include "svilm/ops/cuda/attention.cuh"
#include "svilm/ops/cuda/gelu.cuh"
#include "svilm/ops/cuda/layer_norm.cuh"
#include "svilm/ops/cuda/softmax.cuh"
#include "svilm/ops/cuda/cross_entropy.cuh"
#include "svilm/ops/cuda/elementwise.cuh"
#include "svilm/ops/cuda/embedding.cuh"
#include "svilm/ops/cuda/gumbel_assign.cuh"
#include "svilm/ops/cuda/l2_normalize.cuh"
#include "svilm/ops/cuda/linear.cuh"
#include "svilm/nn/cuda/device_parameters.cuh"
#include "svilm/nn/cuda/layers.cuh"
#include "svilm/nn/cuda/attention.cuh"
#include "svilm/nn/cuda/transformer_block.cuh"
#include "svilm/nn/cuda/patch_embed.cuh"
#include "svilm/model/cuda/grouping_block.cuh"
#include "svilm/model/cuda/video_encoder.cuh"
#include "svilm/model/cuda/text_encoder.cuh"
#include "svilm/model/cuda/losses.cuh"
#include "svilm/model/cuda/svilm_model.cuh"
#include "svilm/optim/cuda/adamw.cuh"
#endif
