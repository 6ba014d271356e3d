// svilm/io.hpp: safetensors reading (memory-mapped) and writing (atomic), embeddings files.
#pragma once

#include "svilm/io/embedding_file.hpp"
#include "svilm/io/mapped_file.hpp"
#include "svilm/io/model_file.hpp"
#include "svilm/io/pretrained.hpp"
#include "svilm/io/safetensors.hpp"
#include "svilm/io/weights.hpp"
