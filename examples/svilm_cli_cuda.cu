// examples/svilm_cli_cuda.cu: the svilm program on a GPU (--device cuda). The device-generic parts
// of cli_device.hpp instantiated for Context<cuda>; svilm_cli.cpp checks the inputs, reads the
// videos on the host and calls these functions (cli_cuda.hpp).
#include "svilm/cuda.hpp"

#include <memory>

#include "cli_cuda.hpp"
#if defined(SVILM_HAVE_NCCL)
#include "svilm/distributed/nccl.cuh"
#endif

namespace svilm_cli {
namespace {

// GPU `device` (0 unless each rank of mpirun takes its own). The runtime may see a GPU it cannot
// open (taken by another process in exclusive mode, out of memory): that is the --device the user
// asked for, refused before any work.
std::unique_ptr<Context<cuda>> open_gpu(int device = 0) {
    try {
        return std::make_unique<Context<cuda>>(device);
    } catch (const CudaError& e) {
        throw InputError("--device: cuda: GPU " + std::to_string(device) + " cannot be used: " + std::string(e.what()));
    }
}

}  // namespace

std::string cuda_unavailable_reason() { return Context<cuda>::unavailable_reason(); }

std::string cuda_device_description() { return open_gpu()->description(); }

#if defined(SVILM_CLI_PIPELINE)

// Under mpirun: one GPU per rank (its index among the machine's ranks), gradients summed with NCCL.
void pretrain_cuda(const PretrainJob& job) {
    if (job.world && job.world->size() > 1) {
#if defined(SVILM_HAVE_NCCL)
        auto* host = dynamic_cast<dist::MpiCommunicator*>(job.world);
        if (!host) throw InputError("--device: cuda: NCCL starts from an MPI communicator");
        const std::unique_ptr<Context<cuda>> ctx = open_gpu(dist::device_for_local_rank());
        dist::NcclCommunicator gpus(*host, *ctx);
        return pretrain_on<cuda>(*ctx, "CUDA, " + ctx->description() + ", float32", job, &gpus);
#else
        throw InputError("--device: cuda: training on several ranks needs NCCL, which this svilm was built without");
#endif
    }
    const std::unique_ptr<Context<cuda>> ctx = open_gpu();
    pretrain_on(*ctx, "CUDA, " + ctx->description() + ", float32", job);
}

Embeddings evaluate_cuda(const EvaluateJob& job) {
    const std::unique_ptr<Context<cuda>> ctx = open_gpu();
    return evaluate_on(*ctx, job);
}

#endif

}  // namespace svilm_cli
