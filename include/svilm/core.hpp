// svilm/core.hpp: tensors, shapes, device tags, errors, random generator, thread control.
#pragma once

#include "svilm/core/allocator.hpp"
#include "svilm/core/bfloat16.hpp"
#include "svilm/core/communicator.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/data_dir.hpp"
#include "svilm/core/device.hpp"
#include "svilm/core/error.hpp"
#include "svilm/core/float16.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/shape.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/core/threads.hpp"
