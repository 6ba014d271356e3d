// The CUDA model against the CPU model, from the same weights, clips, Gumbel noise and upstream
// gradients: the video encoder's outputs, assignment maps and every parameter gradient; the whole
// tiny model's three losses and every gradient; five clipped AdamW steps. Where no GPU exists
// every test says so and passes without checking anything on a device.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "cuda/cpu_reference_model.hpp"
#include "cuda/cuda_test_support.hpp"
#include "support/indexed_source.hpp"
#include "support/temp_dir.hpp"

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
    c.grouping.num_group_tokens = 4;
    c.grouping.after = {1, 3};
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
    const Context<cuda> ctx;
    const VideoConfig config = small_video_config();
    CpuVideoReference cpu(config, 31);
    const index_t B = 2, L = config.tokens(), M = config.grouping.num_group_tokens, C = config.width;
    const Tensor<float, 5> video = random_tensor<float, 5>({B, config.frames, 3, config.image_size, config.image_size}, 32);
    std::vector<Tensor<float, 3>> noise;
    for (std::size_t k = 0; k < config.grouping.after.size(); ++k) {
        noise.emplace_back(Tensor<float, 3>({B, M, L}, uninitialized));
        Generator(40 + k).gumbel<float, 3>(noise.back());
    }
    const Tensor<float, 3> d_tokens = random_tensor<float, 3>({B, L, C}, 33), d_groups = random_tensor<float, 3>({B, M, C}, 34);
    const Tensor<float, 2> d_pooled = random_tensor<float, 2>({B, C}, 35);
    const VideoEncoderResult want = cpu.run(video, noise, d_tokens, d_groups, d_pooled);

    // the same module code as the CPU reference, its store on the device with the CPU's values
    nn::ParameterStore<float, cuda> params;
    const VideoEncoder<float, cuda> encoder(params, config, "video");
    params.allocate(ctx);
    params.copy_values_from(cpu.store());
    const Tensor<float, 5, cuda> video_d = to_device<float, 5>(ctx, video);
    std::vector<Tensor<float, 3, cuda>> noise_d;
    for (const auto& n : noise) noise_d.push_back(to_device<float, 3>(ctx, n));
    const std::vector<TensorView<const float, 3, cuda>> noise_views(noise_d.begin(), noise_d.end());
    VideoEncoderSaved<float, cuda> s;
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
        VideoEncoderSaved<float, cuda> lean;
        encoder.forward(ctx, lean, video_d, noise_views, false);
        CHECK(lean.streams.size() == 2);
        CHECK(mismatches("tokens", to_host<float, 3>(ctx, lean.tokens), to_host<float, 3>(ctx, s.tokens)) == 0);
        CHECK_THROWS_AS(encoder.backward(ctx, d_tokens_d, d_groups_d, d_pooled_d, lean), ValueError);
    }
}

TEST_CASE("cuda: weights copied into an encoder built for another configuration name the parameter") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    CpuVideoReference cpu(small_video_config(), 1);
    VideoConfig other = small_video_config();
    other.mlp_hidden = 96;
    nn::ParameterStore<float, cuda> params;
    const VideoEncoder<float, cuda> encoder(params, other, "video");
    params.allocate(ctx);
    CHECK_THROWS_WITH_AS(params.copy_values_from(cpu.store()), doctest::Contains("video.blocks.0.mlp.fc1.weight"), ValueError);
}

// A tiny model and one batch of everything the three losses read, on the host.
struct ModelCase {
    SVilmConfig config;
    index_t B = 4, N = 10;
    Tensor<float, 5> video;
    Tensor<float, 2> fg_mask;
    Tensor<std::int64_t, 2> caption_ids, prompt_ids;
    Tensor<std::uint8_t, 2> caption_mask, prompt_mask, noun_valid;
    std::vector<Tensor<float, 3>> noise;

    ModelCase() : config(preset("tiny")) {
        config.video.image_size = 32;
        config.video.frames = 4;
        config.text.vocab_size = 500;
        config.text.max_length = 16;
        const VideoConfig& v = config.video;
        const index_t K = config.num_nouns, Nt = v.temporal_positions();
        video = random_tensor<float, 5>({B, v.frames, 3, v.image_size, v.image_size}, 50);
        fg_mask = Tensor<float, 2>({B, Nt});
        for (index_t b = 0; b < B; ++b)
            for (index_t t = 0; t < Nt; ++t) fg_mask(b, t) = b == 3 ? 1.0f : float((t + b) % 2);  // clip 3: no scene change
        Generator ids_rng(51);
        const auto text = [&](index_t rows, Tensor<std::int64_t, 2>& ids, Tensor<std::uint8_t, 2>& mask) {
            ids = Tensor<std::int64_t, 2>({rows, N});
            mask = Tensor<std::uint8_t, 2>({rows, N});
            for (index_t r = 0; r < rows; ++r) {
                const index_t length = 3 + (r * 3) % (N - 3);  // padded rows of several lengths
                for (index_t n = 0; n < N; ++n) {
                    ids(r, n) = n < length ? std::int64_t(ids_rng.uniform_int(std::uint64_t(config.text.vocab_size))) : 0;
                    mask(r, n) = n < length;
                }
            }
        };
        text(B, caption_ids, caption_mask);
        text(B * K, prompt_ids, prompt_mask);
        noun_valid = Tensor<std::uint8_t, 2>::full({B, K}, std::uint8_t(1));
        noun_valid(1, 1) = 0;  // a caption with one noun
        noun_valid(2, 0) = noun_valid(2, 1) = 0;  // and one with none
        for (std::size_t k = 0; k < v.grouping.after.size(); ++k) {
            noise.emplace_back(Tensor<float, 3>({B, v.grouping.num_group_tokens, v.tokens()}, uninitialized));
            Generator(60 + k).gumbel<float, 3>(noise.back());
        }
    }

    template <class Device>
    SVilmBatch<float, Device> batch(TensorView<const float, 5, Device> clips) const {
        return {clips, fg_mask, caption_ids, caption_mask, prompt_ids, prompt_mask, noun_valid};
    }
};

bool losses_close(const SVilmLosses<float>& gpu, const SVilmLosses<float>& cpu) {
    const auto close = [](float a, float b) { return std::abs(a - b) <= 1e-4f + 1e-3f * std::abs(b); };
    return close(gpu.contrastive, cpu.contrastive) && close(gpu.temporal, cpu.temporal) &&
           close(gpu.grounding, cpu.grounding) && close(gpu.total, cpu.total);
}

TEST_CASE("cuda: the whole tiny model's losses and every parameter gradient equal the CPU model's") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    const ModelCase c;
    CpuModelReference reference(c.config, 70);
    const SVilmLosses<float> want = reference.gradients(c.batch<cpu>(c.video), c.noise);
    const Tensor<float, 1> want_grads(reference.store().grads().shape(), uninitialized);
    std::copy_n(reference.store().grads().data(), want_grads.size(), want_grads.data());

    SVilm<float, cuda> model(ctx, c.config, 70);  // the CPU reference's seed: the same initial values
    const Tensor<float, 1> initial = to_host<float, 1>(ctx, model.parameters().values());
    CHECK(std::memcmp(initial.data(), reference.store().values().data(), initial.bytes()) == 0);
    const Tensor<float, 5, cuda> clips = to_device<float, 5>(ctx, c.video);
    std::vector<Tensor<float, 3, cuda>> noise_d;
    for (const auto& n : c.noise) noise_d.push_back(to_device<float, 3>(ctx, n));
    const std::vector<TensorView<const float, 3, cuda>> noise(noise_d.begin(), noise_d.end());
    SVilmState<float, cuda> state;
    model.forward(ctx, state, c.batch<cuda>(clips), noise);
    CAPTURE(state.losses.contrastive);
    CAPTURE(state.losses.temporal);
    CAPTURE(state.losses.grounding);
    CAPTURE(want.contrastive);
    CAPTURE(want.temporal);
    CAPTURE(want.grounding);
    CHECK(losses_close(state.losses, want));
    model.parameters().zero_grad();
    model.backward(ctx, state);
    CHECK(gradient_mismatches(reference.store(), to_host<float, 1>(ctx, model.parameters().grads()), want_grads) == 0);

    SUBCASE("a bad caption id is named before any work") {
        Tensor<std::int64_t, 2> ids = c.caption_ids;
        ids(1, 2) = c.config.text.vocab_size;
        SVilmBatch<float, cuda> bad = c.batch<cuda>(clips);
        bad.caption_ids = ids;
        CHECK_THROWS_WITH_AS(model.forward(ctx, state, bad, noise), doctest::Contains("caption_ids[1, 2]"), ValueError);
        CHECK(state.complete);  // the refused batch left the previous forward's state as it was
        CHECK(state.losses.total == doctest::Approx(want.total).epsilon(1e-3));
    }
    SUBCASE("inference embeddings equal the training heads' without noise") {
        const Tensor<float, 2> text = to_host<float, 2>(ctx, model.encode_text(ctx, c.caption_ids, c.caption_mask));
        CHECK(mismatches("text embedding", text, to_host<float, 2>(ctx, state.text_head.embedded), gemm_tolerance) == 0);
        // the training forward without noise gives the inference assignment: same global embedding
        SVilmState<float, cuda> noise_free;
        model.forward(ctx, noise_free, c.batch<cuda>(clips), {});
        const Tensor<float, 2> global = to_host<float, 2>(ctx, model.encode_video(ctx, clips));
        CHECK(mismatches("video embedding", global, to_host<float, 2>(ctx, noise_free.video_head.embedded), gemm_tolerance) == 0);
    }
}

TEST_CASE("cuda: five clipped AdamW training steps follow the CPU run (losses per step, final parameters)") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    const ModelCase c;
    CpuModelReference reference(c.config, 80);
    SVilm<float, cuda> model = SVilm<float, cuda>::zeroed(ctx, c.config);
    model.parameters().copy_values_from(reference.store());  // the same initial weights, moved
    optim::AdamWOptions options;
    options.weight_decay = 0.05;
    optim::AdamW<float, cuda> adamw(model.parameters(), options);
    const Tensor<float, 5, cuda> clips = to_device<float, 5>(ctx, c.video);
    std::vector<Tensor<float, 3, cuda>> noise_d;
    for (const auto& n : c.noise) noise_d.push_back(to_device<float, 3>(ctx, n));
    const std::vector<TensorView<const float, 3, cuda>> noise(noise_d.begin(), noise_d.end());
    // lr 1e-4: a parameter whose gradient is rounding noise moves at most lr per step either way
    const double lr = 1e-4, max_norm = 1.0;
    SVilmState<float, cuda> state;
    for (int step = 0; step < 5; ++step) {
        CAPTURE(step);
        double cpu_norm = 0;
        const SVilmLosses<float> want = reference.train_step(c.batch<cpu>(c.video), c.noise, lr, max_norm, cpu_norm);
        model.forward(ctx, state, c.batch<cuda>(clips), noise);
        model.parameters().zero_grad();
        model.backward(ctx, state);
        const double norm = optim::clip_grad_norm(model.parameters(), max_norm);
        adamw.step(lr);
        CHECK(losses_close(state.losses, want));
        CHECK(std::abs(norm - cpu_norm) <= 1e-3 * cpu_norm);
    }
    const Tensor<float, 1> values = to_host<float, 1>(ctx, model.parameters().values());
    int bad = 0;
    for (const nn::ParameterInfo& p : reference.store().parameters())
        bad += compare_buffers(p.name.c_str(), p.shape, values.data() + p.offset, reference.store().values().data() + p.offset, p.size,
                               Tolerance{5e-4, 1e-3});
    CHECK(bad == 0);
}

TEST_CASE("cuda: the trainer's loss curve on the GPU follows the CPU run's for the first steps") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    const SVilmConfig config = small_trainer_config();
    const train::TrainerOptions options = small_trainer_options(6);
    // the same seeds: the same initial weights, clips, cut-and-paste and Gumbel noise (all drawn on the host)
    const std::vector<train::StepResult> want = cpu_training_run(config, 5, 100, options);
    SVilm<float, cuda> model(ctx, config, 5);
    IndexedSource source(config, 100);
    train::Trainer<cuda> trainer(model, test_tokenizer(), source, options);
    const std::vector<train::StepResult> got = trainer.run();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        CAPTURE(got[i].losses.total);
        CAPTURE(want[i].losses.total);
        const auto close = [](double a, double b) { return std::abs(a - b) <= 1e-4 + 2e-3 * std::abs(b); };
        CHECK(close(got[i].losses.contrastive, want[i].losses.contrastive));
        CHECK(close(got[i].losses.temporal, want[i].losses.temporal));
        CHECK(close(got[i].losses.grounding, want[i].losses.grounding));
        CHECK(close(got[i].grad_norm, want[i].grad_norm));
        CHECK(got[i].lr == want[i].lr);
    }
}

TEST_CASE("cuda: a checkpoint the GPU trainer writes continues on the CPU from the same weights and step") {
    if (!device_or_skip()) return;
    const Context<cuda> ctx;
    const SVilmConfig config = small_trainer_config();
    const TempDir dir;
    train::TrainerOptions options = small_trainer_options(5, dir.path / "gpu");
    options.checkpoint_every = 3;
    SVilm<float, cuda> model(ctx, config, 5);
    IndexedSource source(config, 100);
    train::Trainer<cuda> trainer(model, test_tokenizer(), source, options);
    const std::vector<train::StepResult> gpu = trainer.run();  // checkpoints after steps 3 and 5
    REQUIRE(gpu.size() == 5);

    // the step-3 checkpoint, as the GPU wrote it, resumed by the CPU trainer for steps 4 and 5
    const std::filesystem::path checkpoint = dir.path / "step3.safetensors";
    {
        SVilm<float, cuda> again(ctx, config, 5);
        IndexedSource replay(config, 100);
        train::TrainerOptions three = options;
        three.run_dir.clear();
        train::Trainer<cuda> first(again, test_tokenizer(), replay, three);
        for (int i = 0; i < 3; ++i) first.step();
        first.save(checkpoint);
        const Tensor<float, 1> gpu_values = to_host<float, 1>(ctx, again.parameters().values());
        train::TrainerOptions cpu_options = options;
        cpu_options.run_dir = dir.path / "cpu";
        Tensor<float, 1> resumed;
        const std::vector<train::StepResult> cpu = cpu_resumed_run(config, 100, cpu_options, checkpoint, resumed);
        CHECK(std::memcmp(resumed.data(), gpu_values.data(), resumed.bytes()) == 0);  // the file carries the bits
        REQUIRE(cpu.size() == 2);
        for (std::size_t i = 0; i < cpu.size(); ++i) {
            CAPTURE(i);
            CHECK(cpu[i].step == gpu[3 + i].step);
            CHECK(std::abs(cpu[i].losses.total - gpu[3 + i].losses.total) <= 1e-4 + 2e-3 * std::abs(gpu[3 + i].losses.total));
        }
    }
}

}  // namespace
}  // namespace svilm::testing
