// examples/cli_cuda.hpp: what svilm_cli_cuda.cu, the program's CUDA translation unit, offers the
// C++ one (built when the svilm::cuda target exists: SVILM_CLI_CUDA). Plain functions, so that
// svilm_cli.cpp never compiles CUDA code and nvcc never sees the CPU ops.
#pragma once

#include <string>

#include "cli_device.hpp"

namespace svilm_cli {

// Why no GPU can be used, in the CUDA runtime's words; empty when one can.
std::string cuda_unavailable_reason();
// GPU 0: its name, architecture and memory. InputError naming --device when it cannot be opened.
std::string cuda_device_description();

#if defined(SVILM_CLI_PIPELINE)
// pretrain_on and evaluate_on on GPU 0 (cli_device.hpp).
void pretrain_cuda(const PretrainJob& job);
Embeddings evaluate_cuda(const EvaluateJob& job);
#endif

}  // namespace svilm_cli
