// svilm/train.hpp: pre-training (the trainer, its checkpoints and progress line) and fine-tuning
// on the downstream tasks. Needs the svilm::text target (captions and noun prompts are
// tokenized here).
#pragma once

#include "svilm/ops.hpp"
#include "svilm/train/checkpoint.hpp"
#include "svilm/train/finetune.hpp"
#include "svilm/train/progress.hpp"
#include "svilm/train/trainer.hpp"
