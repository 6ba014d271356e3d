#include "host_model.hpp"

#include "svilm/model/svilm_model.hpp"

namespace svilm::bench {

struct HostModel {
    HostModel(const SVilmConfig& config, std::uint64_t seed) : model(config, seed) {}
    SVilm<float> model;
};

std::shared_ptr<HostModel> make_host_model(const SVilmConfig& config, std::uint64_t seed) {
    return std::make_shared<HostModel>(config, seed);
}

const nn::ParameterStore<float>& host_parameters(const HostModel& model) { return model.model.parameters(); }

}  // namespace svilm::bench
