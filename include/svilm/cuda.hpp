// svilm/cuda.hpp: the CUDA backend, for .cu files (nvcc) and C++ files that link the
// svilm::cuda target. Tensor<T, Rank, cuda> allocates through the caching pool; every op takes a
// Context<cuda> (stream, cuBLAS handle) first and otherwise has the signature of the CPU op of
// the same name, so code written once for both devices calls them unqualified. Without nvcc:
// memory and copies (DeviceMemory<cuda> under core/context.hpp's to_device, to_host, zero) and
// the GEMMs (fp32 / TF32 / bf16 tensor-core modes). With nvcc, the kernels too: fused attention,
// layer norm, GELU, softmax, embedding, L2 normalisation, pooling, strided copies and fills, the
// straight-through assignment, cross-entropy, the video input layer, the three pre-training
// losses, the video QA head's [v, q, v * q] features, the AdamW update, gradient clipping; and the
// modules, the whole model (SVilm<float, cuda>) and the QA head, the same code as on the CPU.
#pragma once

#include "svilm/cuda/allocator.hpp"
#include "svilm/cuda/check.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/cuda/copy.hpp"
#include "svilm/ops/cuda/gemm.hpp"
#if defined(__CUDACC__)
#include "svilm/ops/cuda/attention.cuh"
#include "svilm/ops/cuda/cross_entropy.cuh"
#include "svilm/ops/cuda/elementwise.cuh"
#include "svilm/ops/cuda/embedding.cuh"
#include "svilm/ops/cuda/gelu.cuh"
#include "svilm/ops/cuda/gumbel_assign.cuh"
#include "svilm/ops/cuda/l2_normalize.cuh"
#include "svilm/ops/cuda/layer_norm.cuh"
#include "svilm/ops/cuda/linear.cuh"
#include "svilm/ops/cuda/losses.cuh"
#include "svilm/ops/cuda/qa_features.cuh"
#include "svilm/ops/cuda/softmax.cuh"
#include "svilm/ops/cuda/video.cuh"
#include "svilm/optim/cuda/adamw.cuh"
// The modules, the model, the optimiser and the trainer are written once for both devices: their
// calls resolve to the ops above for Context<cuda> (Linear<float, cuda> ... SVilm<float, cuda>,
// QaHead<float, cuda>).
#include "svilm/model/qa_head.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/optim/adamw.hpp"
#endif
