// svilm/ops.hpp: CPU ops, each a forward and a backward function side by side, every one taking a
// Context<cpu> first. The CUDA ops have the same names and signatures (svilm/cuda.hpp); modules
// and models are written once and call whichever the context's device selects.
//
// Conventions (docs/conventions.md §3): outputs come first and are preallocated by the
// caller; input gradients are assigned (=), parameter gradients accumulate (+=); an op that
// needs state for backward fills a *Saved struct in forward.
#pragma once

#include "svilm/ops/attention.hpp"
#include "svilm/ops/cross_entropy.hpp"
#include "svilm/ops/elementwise.hpp"
#include "svilm/ops/embedding.hpp"
#include "svilm/ops/gelu.hpp"
#include "svilm/ops/gemm.hpp"
#include "svilm/ops/gumbel_assign.hpp"
#include "svilm/ops/l2_normalize.hpp"
#include "svilm/ops/layer_norm.hpp"
#include "svilm/ops/linear.hpp"
#include "svilm/ops/linear_low_precision.hpp"
#include "svilm/ops/losses.hpp"
#include "svilm/ops/optimizer.hpp"
#include "svilm/ops/pooling.hpp"
#include "svilm/ops/qa_features.hpp"
#include "svilm/ops/softmax.hpp"
#include "svilm/ops/video.hpp"
