// svilm/pipeline.hpp: the model applied to video files and text in one object (embed videos,
// texts and windows of long videos, ground a caption's nouns, similarities). Link svilm::text and
// svilm::video (libav and the tokenizer's Unicode data); docs/api.md describes it.
#pragma once

// the CPU ops first: the model's templates call them (a .cu file includes svilm/cuda.hpp and
// svilm/pipeline/pipeline.hpp instead)
#include "svilm/ops.hpp"
#include "svilm/pipeline/clip.hpp"
#include "svilm/pipeline/pipeline.hpp"
#include "svilm/pipeline/results.hpp"
