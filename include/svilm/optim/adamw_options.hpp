// svilm/optim/adamw_options.hpp: AdamW's hyper-parameters (docs/model.md §7 defaults), shared by the CPU
// optimizer and the CUDA one.
#pragma once

namespace svilm::optim {

struct AdamWOptions {
    double lr = 1e-4;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.05;
};

}  // namespace svilm::optim
