// svilm/eval.hpp: evaluation metrics on tensors: text-video retrieval, noun grounding by group
// tokens, temporal grouping (foreground accuracy, block structure), classification (accuracy,
// confusion matrix), the linear probe, temporal action localisation (ActivityNet mAP).
#pragma once

#include "svilm/eval/classification.hpp"
#include "svilm/eval/detection.hpp"
#include "svilm/eval/grounding.hpp"
#include "svilm/eval/linear_probe.hpp"
#include "svilm/eval/localisation.hpp"
#include "svilm/eval/retrieval.hpp"
#include "svilm/eval/temporal.hpp"
#include "svilm/eval/zero_shot.hpp"
