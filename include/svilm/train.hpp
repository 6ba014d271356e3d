// svilm/train.hpp: pre-training: the trainer, its checkpoints and progress line. Needs the
// svilm::text target (captions and noun prompts are tokenized here).
#pragma once

#include "svilm/ops.hpp"
#include "svilm/train/checkpoint.hpp"
#include "svilm/train/progress.hpp"
#include "svilm/train/trainer.hpp"
