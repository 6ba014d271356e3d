// svilm/svilm.hpp: everything that runs on the CPU. CUDA lives in svilm/cuda.hpp (for .cu files).
#pragma once

#include "svilm/core.hpp"
#include "svilm/io.hpp"
#include "svilm/ops.hpp"
#include "svilm/version.hpp"
