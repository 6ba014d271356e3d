// svilm/model.hpp: the S-ViLM model on the CPU: configuration presets, encoders, grouping blocks,
// the whole model and the video QA head, with the CPU ops they call (the losses are ops:
// svilm/ops/losses.hpp).
// The same model headers serve CUDA through svilm/cuda.hpp.
#pragma once

#include "svilm/ops.hpp"
#include "svilm/model/config.hpp"
#include "svilm/model/flops.hpp"
#include "svilm/model/grouping_block.hpp"
#include "svilm/model/qa_head.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/model/text_encoder.hpp"
#include "svilm/model/video_encoder.hpp"
#include "svilm/model/window_features.hpp"
