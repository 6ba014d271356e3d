// svilm/svilm.hpp: everything that runs on the CPU. CUDA lives in svilm/cuda.hpp (for .cu files).
#pragma once

#include "svilm/core.hpp"
#include "svilm/data.hpp"
#include "svilm/eval.hpp"
#include "svilm/io.hpp"
#include "svilm/model.hpp"
#include "svilm/nn.hpp"
#include "svilm/ops.hpp"
#include "svilm/optim.hpp"
#include "svilm/version.hpp"
