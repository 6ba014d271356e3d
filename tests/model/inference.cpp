// The model's inference paths: the encoders without kept activations give the bits of the
// training forward; at an inference precision (ParameterStore::set_inference_precision):
// embeddings close to fp32's, the copies made once per weight and dropped on a change, fp32
// again bit for bit afterwards, training refused, and the precisions a store cannot run refused.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "support/context.hpp"
#include "svilm/svilm.hpp"

namespace svilm::testing {
namespace {

// Smallest cosine between matching rows of two (N, D) embedding matrices.
double min_row_cosine(const Tensor<float, 2>& a, const Tensor<float, 2>& b) {
    double worst = 1;
    for (index_t r = 0; r < a.extent(0); ++r) {
        double dot = 0, na = 0, nb = 0;
        for (index_t c = 0; c < a.extent(1); ++c) {
            dot += double(a(r, c)) * b(r, c);
            na += double(a(r, c)) * a(r, c);
            nb += double(b(r, c)) * b(r, c);
        }
        worst = std::min(worst, dot / std::sqrt(na * nb));
    }
    return worst;
}

struct Inputs {
    Tensor<float, 5> clips;
    Tensor<std::int64_t, 2> ids;
    Tensor<std::uint8_t, 2> mask;
};

Inputs inputs(const SVilmConfig& c) {
    Inputs in{Tensor<float, 5>({4, c.video.frames, 3, c.video.image_size, c.video.image_size}),
              Tensor<std::int64_t, 2>({6, 12}), Tensor<std::uint8_t, 2>::full({6, 12}, 1)};
    Generator(11).normal<float, 5>(in.clips);
    for (index_t i = 0; i < in.ids.size(); ++i) in.ids.data()[i] = 1000 + (i * 7919) % 20000;
    for (index_t j = 8; j < 12; ++j) in.mask(5, j) = 0;  // one padded caption
    return in;
}

TEST_CASE("inference: the text encoder without kept activations gives the training forward's bits") {
    // odd and even depths: the last output lands in one or the other of the two streams
    for (const index_t depth : {1, 2, 3}) {
        CAPTURE(depth);
        SVilmConfig config = preset("tiny");
        config.text.depth = depth;
        const SVilm<float> model(cpu_ctx, config, 4);
        const Inputs in = inputs(config);
        TextEncoderSaved<float> kept, lean;
        model.text.forward(cpu_ctx, kept, in.ids, in.mask);
        model.text.forward(cpu_ctx, lean, in.ids, in.mask, false);
        CHECK(lean.hidden.size() == 2);
        CHECK(lean.layers.size() == 1);
        REQUIRE(kept.hidden.back().shape() == lean.hidden.back().shape());
        CHECK(std::memcmp(kept.hidden.back().data(), lean.hidden.back().data(), kept.hidden.back().bytes()) == 0);
        CHECK(std::memcmp(kept.cls.data(), lean.cls.data(), kept.cls.bytes()) == 0);
        const Tensor<float, 2> d_cls({in.ids.extent(0), config.text.width});
        CHECK_THROWS_WITH_AS(model.text.backward(cpu_ctx, d_cls, lean),
                             "TextEncoder::backward: the forward did not keep activations", ValueError);
    }
}

TEST_CASE("precision: bf16 and int8 embeddings are within cosine 0.999 of fp32") {
    const SVilmConfig config = preset("tiny");
    SVilm<float> model(cpu_ctx, config, 5);
    const Inputs in = inputs(config);
    const Tensor<float, 2> video = model.encode_video(cpu_ctx, in.clips), text = model.encode_text(cpu_ctx, in.ids, in.mask);
    for (const Precision p : {Precision::bf16, Precision::int8}) {
        const std::string name = to_string(p);
        CAPTURE(name);
        model.parameters().set_inference_precision(p);
        const double v = min_row_cosine(model.encode_video(cpu_ctx, in.clips), video);
        const double t = min_row_cosine(model.encode_text(cpu_ctx, in.ids, in.mask), text);
        MESSAGE(name << ": smallest cosine to fp32: video " << v << ", text " << t);
        CHECK(v >= 0.999);
        CHECK(t >= 0.999);
        CHECK(v < 1.0);  // the precision was used
    }
}

TEST_CASE("precision: copies made on first use, dropped on a change; fp32 again gives the same bits") {
    const SVilmConfig config = preset("tiny");
    SVilm<float> model(cpu_ctx, config, 6);
    const Inputs in = inputs(config);
    const Tensor<float, 2> before = model.encode_text(cpu_ctx, in.ids, in.mask);
    auto& store = model.parameters();
    CHECK(store.inference_precision() == Precision::fp32);
    store.set_inference_precision(Precision::int8);
    CHECK(store.low_precision_bytes() == 0);
    (void)model.encode_text(cpu_ctx, in.ids, in.mask);
    const std::size_t int8_bytes = store.low_precision_bytes();
    CHECK(int8_bytes > 0);
    (void)model.encode_text(cpu_ctx, in.ids, in.mask);
    CHECK(store.low_precision_bytes() == int8_bytes);  // made once
    store.set_inference_precision(Precision::bf16);
    CHECK(store.low_precision_bytes() == 0);
    (void)model.encode_text(cpu_ctx, in.ids, in.mask);
    CHECK(store.low_precision_bytes() > int8_bytes);  // 2 bytes a weight against 1 and a scale per row
    store.set_inference_precision(Precision::fp32);
    CHECK(store.low_precision_bytes() == 0);
    const Tensor<float, 2> after = model.encode_text(cpu_ctx, in.ids, in.mask);
    CHECK(std::memcmp(before.data(), after.data(), before.bytes()) == 0);
}

TEST_CASE("precision: loading weights drops the copies; a weight that cannot be copied leaves none") {
    const SVilmConfig config = preset("tiny");
    SVilm<float> model(cpu_ctx, config, 9);
    const Inputs in = inputs(config);
    auto& store = model.parameters();
    store.set_inference_precision(Precision::int8);
    const Tensor<float, 2> first = model.encode_text(cpu_ctx, in.ids, in.mask);
    CHECK(store.low_precision_bytes() > 0);
    // other values copied in: the next forward must use copies of them, not the old ones
    SVilm<float> other(cpu_ctx, config, 10);
    store.copy_values_from(other.parameters());
    CHECK(store.low_precision_bytes() == 0);
    other.parameters().set_inference_precision(Precision::int8);
    const Tensor<float, 2> copied = model.encode_text(cpu_ctx, in.ids, in.mask);
    const Tensor<float, 2> expected = other.encode_text(cpu_ctx, in.ids, in.mask);
    CHECK(std::memcmp(copied.data(), expected.data(), copied.bytes()) == 0);
    CHECK(std::memcmp(copied.data(), first.data(), copied.bytes()) != 0);
    // a NaN in a Linear weight: the forward is refused naming it, and nothing half-made remains
    const nn::ParameterInfo* fc1 = store.find("text.encoder.layer.0.intermediate.dense.weight");
    REQUIRE(fc1 != nullptr);
    store.set_inference_precision(Precision::int8);
    store.value(*fc1).data()[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(model.encode_text(cpu_ctx, in.ids, in.mask),
                         "int8 copy of 'text.encoder.layer.0.intermediate.dense.weight': element 3 is not finite", ValueError);
    CHECK_NOTHROW((void)store.low_precision_bytes());
}

TEST_CASE("precision: training is refused until the precision is fp32 again") {
    const SVilmConfig config = preset("tiny");
    SVilm<float> model(cpu_ctx, config, 7);
    const VideoConfig& v = config.video;
    Tensor<float, 5> clip({1, v.frames, 3, v.image_size, v.image_size});
    Generator(3).normal<float, 5>(clip);
    VideoEncoderSaved<float> saved;
    Tensor<float, 3> d_tokens({1, v.tokens(), v.width}), d_groups({1, v.grouping.num_group_tokens, v.width});
    Tensor<float, 2> d_pooled({1, v.width});
    model.parameters().set_inference_precision(Precision::bf16);
    model.video.forward(cpu_ctx, saved, clip, {});
    CHECK_THROWS_WITH_AS(model.video.backward(cpu_ctx, d_tokens, d_groups, d_pooled, saved),
                         "Linear::backward: the parameters' inference precision is bf16; training needs fp32 "
                         "(set_inference_precision)",
                         ValueError);
    model.parameters().set_inference_precision(Precision::fp32);
    model.video.forward(cpu_ctx, saved, clip, {});
    CHECK_NOTHROW(model.video.backward(cpu_ctx, d_tokens, d_groups, d_pooled, saved));
}

TEST_CASE("precision: a double store runs fp32 only") {
    SVilm<double> model(cpu_ctx, preset("tiny"), 8);
    CHECK_NOTHROW(model.parameters().set_inference_precision(Precision::fp32));
    CHECK_THROWS_WITH_AS(model.parameters().set_inference_precision(Precision::int8),
                         "ParameterStore::set_inference_precision: int8 runs on the CPU with float parameters; this "
                         "store is on the CPU with double parameters",
                         ValueError);
}

}  // namespace
}  // namespace svilm::testing
