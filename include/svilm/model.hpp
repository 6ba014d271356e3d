// svilm/model.hpp: the S-ViLM model: configuration presets, encoders, grouping blocks, losses,
// and the whole model.
#pragma once

#include "svilm/model/config.hpp"
#include "svilm/model/flops.hpp"
#include "svilm/model/grouping_block.hpp"
#include "svilm/model/losses.hpp"
#include "svilm/model/serialization.hpp"
#include "svilm/model/svilm_model.hpp"
#include "svilm/model/text_encoder.hpp"
#include "svilm/model/video_encoder.hpp"
