// svilm/io.hpp: safetensors reading (memory-mapped) and writing (atomic).
#pragma once

#include "svilm/io/mapped_file.hpp"
#include "svilm/io/model_file.hpp"
#include "svilm/io/pretrained.hpp"
#include "svilm/io/safetensors.hpp"
#include "svilm/io/weights.hpp"
