// The CUDA model against the CPU model: the video encoder's outputs, assignment maps and every
// parameter gradient, from the same weights, clips, Gumbel noise and upstream gradients. Where no
// GPU exists every test says so and passes without checking anything on a device.
#include <doctest/doctest.h>

#include <span>
#include <vector>

#include "cuda/cpu_reference_model.hpp"
#include "cuda/cuda_test_support.hpp"

namespace svilm::testing {
namespace {

VideoConfig small_video_config() {
    VideoConfig c;
    c.image_size = 32;
    c.patch_size = 8;
    c.frames = 4;
    c.tubelet = 2;
    c.width = 64;
    c.depth = 3;
    c.heads = 2;
    c.mlp_hidden = 128;
    c.num_group_tokens = 4;
    c.grouping_after = {1, 3};
    return c;
}

// Per-parameter comparison of two flat gradient buffers, so a mismatch names the parameter.
int gradient_mismatches(const nn::ParameterStore<float>& layout, const Tensor<float, 1>& gpu, const Tensor<float, 1>& cpu) {
    int bad = 0;
    for (const nn::ParameterInfo& p : layout.parameters()) {
        const int n = compare_buffers(p.name.c_str(), p.shape, gpu.data() + p.offset, cpu.data() + p.offset, p.size,
                                      gemm_tolerance);
        bad += n;
    }
    return bad;
}

TEST_CASE("cuda: the video encoder's forward and every parameter gradient equal the CPU encoder's") {
    if (!device_or_skip()) return;
    CudaContext ctx;
    const VideoConfig config = small_video_config();
    CpuVideoReference cpu(config, 31);
    const index_t B = 2, L = config.tokens(), M = config.num_group_tokens, C = config.width;
    const Tensor<float, 5> video = random_host<float, 5>({B, config.frames, 3, config.image_size, config.image_size}, 32);
    std::vector<Tensor<float, 3>> noise;
    for (std::size_t k = 0; k < config.grouping_after.size(); ++k) {
        noise.emplace_back(Tensor<float, 3>({B, M, L}, uninitialized));
        Generator(40 + k).gumbel<float, 3>(noise.back());
    }
    const Tensor<float, 3> d_tokens = random_host<float, 3>({B, L, C}, 33), d_groups = random_host<float, 3>({B, M, C}, 34);
    const Tensor<float, 2> d_pooled = random_host<float, 2>({B, C}, 35);
    const VideoEncoderResult want = cpu.run(video, noise, d_tokens, d_groups, d_pooled);

    nn::DeviceParameters<float> params(ctx, cpu.store());
    const VideoEncoder<float, cuda> encoder(params, config, "video", 1.0);
    const Tensor<float, 5, cuda> video_d = to_device<float, 5>(ctx, video);
    std::vector<Tensor<float, 3, cuda>> noise_d;
    for (const auto& n : noise) noise_d.push_back(to_device<float, 3>(ctx, n));
    const std::vector<TensorView<const float, 3, cuda>> noise_views(noise_d.begin(), noise_d.end());
    VideoEncoder<float, cuda>::Saved s;
    encoder.forward(ctx, s, video_d, noise_views);
    CHECK(mismatches("tokens", to_host<float, 3>(ctx, s.tokens), want.tokens, gemm_tolerance) == 0);
    CHECK(mismatches("groups", to_host<float, 3>(ctx, s.groups), want.groups, gemm_tolerance) == 0);
    CHECK(mismatches("pooled", to_host<float, 2>(ctx, s.pooled), want.pooled, gemm_tolerance) == 0);
    for (std::size_t k = 0; k < s.grouping.size(); ++k) {
        CHECK(mismatches("assignment", to_host<float, 3>(ctx, s.grouping[k].block.assignment), want.assignments[k]) == 0);
        CHECK(mismatches("soft map", to_host<float, 3>(ctx, s.grouping[k].block.soft), want.soft[k], gemm_tolerance) == 0);
    }

    const Tensor<float, 3, cuda> d_tokens_d = to_device<float, 3>(ctx, d_tokens), d_groups_d = to_device<float, 3>(ctx, d_groups);
    const Tensor<float, 2, cuda> d_pooled_d = to_device<float, 2>(ctx, d_pooled);
    params.zero_grad();
    encoder.backward(ctx, d_tokens_d, d_groups_d, d_pooled_d, s);
    const Tensor<float, 1> grads = to_host<float, 1>(ctx, params.grads());
    CHECK(gradient_mismatches(cpu.store(), grads, want.grads) == 0);

    SUBCASE("inference keeps two streams and gives the same embeddings") {
        VideoEncoder<float, cuda>::Saved lean;
        encoder.forward(ctx, lean, video_d, noise_views, false);
        CHECK(lean.streams.size() == 2);
        CHECK(mismatches("tokens", to_host<float, 3>(ctx, lean.tokens), to_host<float, 3>(ctx, s.tokens)) == 0);
        CHECK_THROWS_AS(encoder.backward(ctx, d_tokens_d, d_groups_d, d_pooled_d, lean), ValueError);
    }
}

TEST_CASE("cuda: a device encoder built for another configuration than the weights names the parameter") {
    if (!device_or_skip()) return;
    CudaContext ctx;
    CpuVideoReference cpu(small_video_config(), 1);
    nn::DeviceParameters<float> params(ctx, cpu.store());
    VideoConfig other = small_video_config();
    other.mlp_hidden = 96;
    const auto build = [&] { return VideoEncoder<float, cuda>(params, other, "video", 1.0); };
    CHECK_THROWS_WITH_AS(build(), doctest::Contains("video.blocks.0.mlp.fc1.weight"), ValueError);
}

}  // namespace
}  // namespace svilm::testing
