// benchmarks/gpu/host_model.hpp: the host side of the GPU benchmark, compiled by the C++ compiler
// (nvcc never sees the CPU modules): a CPU model whose parameter store the device model mirrors.
#pragma once

#include <cstdint>
#include <memory>

#include "svilm/model/config.hpp"
#include "svilm/nn/parameter.hpp"

namespace svilm::bench {

struct HostModel;

// The whole model with docs/model.md §11's random initialisation from `seed`.
std::shared_ptr<HostModel> make_host_model(const SVilmConfig& config, std::uint64_t seed);
const nn::ParameterStore<float>& host_parameters(const HostModel& model);

}  // namespace svilm::bench
