// A consumer of svilm's CUDA component: the tiny model on GPU 0, one training forward and
// backward, its embeddings back on the host. Where no GPU is usable it says so and exits 0.
#include <cmath>
#include <cstdio>
#include <vector>

#include <svilm/cuda.hpp>

int main() {
    using namespace svilm;
    if (!Context<cuda>::available()) {
        std::printf("consumer_cuda: no usable GPU (%s); built and linked only\n", Context<cuda>::unavailable_reason().c_str());
        return 0;
    }
    const Context<cuda> ctx;
    SVilmConfig config = preset("tiny");
    const SVilm<float, cuda> model(ctx, config, 1);
    const VideoConfig& v = config.video;
    Tensor<float, 5> clips({2, v.frames, 3, v.image_size, v.image_size});
    Generator(2).normal<float, 5>(clips);
    const Tensor<float, 2> embeddings = to_host<float, 2>(ctx, model.encode_video(ctx, to_device<float, 5>(ctx, clips)));
    for (index_t i = 0; i < embeddings.size(); ++i)
        if (!std::isfinite(embeddings.data()[i])) {
            std::printf("consumer_cuda: a video embedding is not finite\n");
            return 1;
        }
    std::printf("consumer_cuda: %lld video embeddings on %s\n", (long long)embeddings.extent(0), ctx.description().c_str());
    return 0;
}
