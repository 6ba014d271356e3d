// examples/svilm_cli_cuda.cu: the svilm program on a GPU (--device cuda). The device-generic parts
// of cli_device.hpp instantiated for Context<cuda>; svilm_cli.cpp checks the inputs, reads the
// videos on the host and calls these functions (cli_cuda.hpp).
#include "svilm/cuda.hpp"

#include <memory>

#include "cli_cuda.hpp"

namespace svilm_cli {
namespace {

// GPU 0. The runtime may see a GPU it cannot open (taken by another process in exclusive mode,
// out of memory): that is the --device the user asked for, refused before any work.
std::unique_ptr<Context<cuda>> open_gpu() {
    try {
        return std::make_unique<Context<cuda>>();
    } catch (const CudaError& e) {
        throw InputError("--device: cuda: GPU 0 cannot be used: " + std::string(e.what()));
    }
}

}  // namespace

std::string cuda_unavailable_reason() { return Context<cuda>::unavailable_reason(); }

std::string cuda_device_description() { return open_gpu()->description(); }

#if defined(SVILM_CLI_PIPELINE)

void pretrain_cuda(const PretrainJob& job) {
    const std::unique_ptr<Context<cuda>> ctx = open_gpu();
    pretrain_on(*ctx, "CUDA, " + ctx->description() + ", float32", job);
}

Embeddings evaluate_cuda(const EvaluateJob& job) {
    const std::unique_ptr<Context<cuda>> ctx = open_gpu();
    return evaluate_on(*ctx, job);
}

#endif

}  // namespace svilm_cli
