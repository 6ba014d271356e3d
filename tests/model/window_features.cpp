// Sliding-window features: where the windows start (every frame covered, the last window flush
// with the end), that each feature is the model's embedding of that window's clip whatever the
// batching, the seconds of each window, and refused inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "support/context.hpp"
#include "svilm/model/window_features.hpp"
#include "svilm/svilm.hpp"

namespace svilm::testing {
namespace {

// The tiny preset on 4-frame windows: small enough to encode a few windows one by one.
SVilmConfig window_config() {
    SVilmConfig c = preset("tiny");
    c.video.frames = 4;
    return c;
}

TEST_CASE("window features: starts every stride, plus one flush with the end") {
    CHECK(window_starts(16, 8, 4) == std::vector<index_t>{0, 4, 8});
    CHECK(window_starts(17, 8, 4) == std::vector<index_t>{0, 4, 8, 9});
    CHECK(window_starts(8, 8, 3) == std::vector<index_t>{0});
    CHECK(window_starts(20, 8, 8) == std::vector<index_t>{0, 8, 12});
    CHECK_THROWS_AS(window_starts(7, 8, 4), ValueError);
    CHECK_THROWS_AS(window_starts(16, 8, 0), ValueError);
}

TEST_CASE("window features: each row is the model's embedding of its window, for any batch") {
    const SVilmConfig config = window_config();
    const VideoConfig& v = config.video;
    const SVilm<float> model(cpu_ctx, config, 3);
    const index_t T = 3 * v.frames + 1;
    Tensor<float, 4> frames({T, 3, v.image_size, v.image_size});
    Generator rng(5);
    rng.normal<float, 4>(frames);
    const index_t stride = v.frames / 2;
    const WindowFeatures one = window_features(cpu_ctx, model, frames, stride, 8.0, 1);
    const WindowFeatures three = window_features(cpu_ctx, model, frames, stride, 8.0, 3);
    REQUIRE(one.count() == index_t(window_starts(T, v.frames, stride).size()));
    CHECK(one.start_frame.back() == T - v.frames);
    CHECK(one.window == v.frames);
    CHECK(one.end_seconds(0) == doctest::Approx(double(v.frames) / 8.0));
    CHECK(one.start_seconds(1) == doctest::Approx(double(stride) / 8.0));
    for (index_t w = 0; w < one.count(); ++w) {
        Tensor<float, 5> clip({1, v.frames, 3, v.image_size, v.image_size});
        for (index_t f = 0; f < v.frames; ++f)
            for (index_t c = 0; c < 3; ++c)
                for (index_t y = 0; y < v.image_size; ++y)
                    for (index_t x = 0; x < v.image_size; ++x) clip(0, f, c, y, x) = frames(one.start_frame[std::size_t(w)] + f, c, y, x);
        const Tensor<float, 2> expected = model.encode_video(cpu_ctx, clip);
        double norm = 0;
        for (index_t d = 0; d < config.embed_dim; ++d) {
            CHECK(one.features(w, d) == doctest::Approx(expected(0, d)).epsilon(1e-5));
            CHECK(three.features(w, d) == doctest::Approx(expected(0, d)).epsilon(1e-5));
            norm += double(one.features(w, d)) * one.features(w, d);
        }
        CHECK(std::sqrt(norm) == doctest::Approx(1).epsilon(1e-5));
    }
}

TEST_CASE("window features: frames of the wrong size or too few are refused") {
    const SVilmConfig config = window_config();
    const SVilm<float> model(cpu_ctx, config, 3);
    const VideoConfig& v = config.video;
    const Tensor<float, 4> small({v.frames, 3, v.image_size / 2, v.image_size / 2});
    CHECK_THROWS_AS(window_features(cpu_ctx, model, small, 2, 8.0), ShapeError);
    const Tensor<float, 4> short_video({v.frames - 1, 3, v.image_size, v.image_size});
    CHECK_THROWS_AS(window_features(cpu_ctx, model, short_video, 2, 8.0), ValueError);
    const Tensor<float, 4> ok({v.frames, 3, v.image_size, v.image_size});
    CHECK_THROWS_AS(window_features(cpu_ctx, model, ok, 2, 0.0), ValueError);
}

}  // namespace
}  // namespace svilm::testing
