// svilm/optim.hpp: optimisers over a model's flat parameter store.
#pragma once

#include "svilm/ops/optimizer.hpp"
#include "svilm/optim/adamw.hpp"
#include "svilm/optim/schedule.hpp"
