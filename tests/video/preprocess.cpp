// Preprocessing: normalisation per docs/model.md §2 (exact on lossless RGB video), crop geometry, flips,
// torchvision's random resized crop, and whole clips with their generator draws.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "video/media.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::video;

// Lossless RGB video: raw rgb24 frames, so decoded pixels equal the written ones.
WriterOptions lossless(int width, int height) {
    WriterOptions o;
    o.codec = "rawvideo";
    o.width = width;
    o.height = height;
    o.pixel_format = "rgb24";
    return o;
}

// Columns [0, a) colour0, [a, b) colour1, [b, width) colour2.
Tensor<std::uint8_t, 3> stripes(int width, int height, int a, int b, const std::array<std::array<std::uint8_t, 3>, 3>& colours) {
    Tensor<std::uint8_t, 3> rgb({height, width, 3});
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < 3; ++c) rgb(y, x, c) = colours[x < a ? 0 : x < b ? 1 : 2][std::size_t(c)];
    return rgb;
}

float normalised(std::uint8_t v, int c) {
    const Normalization n;
    return (float(v) / 255.0f - n.mean[std::size_t(c)]) / n.std[std::size_t(c)];
}

TEST_CASE("normalisation: (v / 255 - mean) / std per channel, exact on lossless RGB") {
    TempDir dir;
    const std::array<std::uint8_t, 3> colour = {200, 100, 37};
    {
        VideoWriter writer(dir / "solid.nut", lossless(32, 32));
        writer.write(stripes(32, 32, 32, 32, {colour, colour, colour}).view());
    }
    VideoReader reader(dir / "solid.nut");
    FrameConverter converter;
    Tensor<float, 3> out({3, 32, 32});
    const std::vector<index_t> first = {0};
    reader.decode(first, [&](std::size_t, const AVFrame& frame, index_t) {
        converter.to_tensor<float>(frame, center_crop(32, 32, 32), out, "solid");
    });
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x) REQUIRE(out(c, y, x) == doctest::Approx(normalised(colour[std::size_t(c)], c)).epsilon(1e-6));
}

TEST_CASE("YUV video converts to the right colours (BT.601, limited range)") {
    TempDir dir;
    WriterOptions o;
    o.codec = "mpeg4";
    o.width = 64;
    o.height = 64;
    o.codec_options = {{"b", "4M"}};
    const std::array<std::array<std::uint8_t, 3>, 3> colours = {{{230, 40, 40}, {40, 180, 60}, {40, 80, 230}}};
    {
        VideoWriter writer(dir / "yuv.avi", o);
        writer.write(stripes(64, 64, 16, 48, colours).view());
    }
    VideoReader reader(dir / "yuv.avi");
    FrameConverter converter;
    const std::vector<index_t> first = {0};
    reader.decode(first, [&](std::size_t, const AVFrame& frame, index_t) {
        CHECK(std::string(av_get_pix_fmt_name(AVPixelFormat(frame.format))) == "yuv420p");
        const Tensor<std::uint8_t, 3> rgb = converter.to_rgb(frame, "yuv");
        for (const auto& [x, colour] : {std::pair{4, 0}, std::pair{32, 1}, std::pair{60, 2}})
            for (int c = 0; c < 3; ++c) CHECK(std::abs(int(rgb(32, x, c)) - int(colours[std::size_t(colour)][std::size_t(c)])) <= 4);
    });
}

TEST_CASE("center crop: the centered square of the shorter side; flip mirrors it") {
    CHECK(center_crop(640, 360, 224).crop.x == 140);
    CHECK(center_crop(640, 360, 224).crop.width == 360);
    CHECK(center_crop(360, 640, 224).crop.y == 140);
    CHECK_THROWS_AS(center_crop(0, 10, 224), ValueError);

    // 160 x 90: red [0, 35), green [35, 125), blue [125, 160); the crop is exactly the green part.
    TempDir dir;
    const std::array<std::uint8_t, 3> red = {255, 0, 0}, green = {0, 255, 0}, blue = {0, 0, 255};
    {
        VideoWriter writer(dir / "stripes.nut", lossless(160, 90));
        writer.write(stripes(160, 90, 35, 125, {red, green, blue}).view());
        writer.write(stripes(160, 90, 80, 80, {blue, blue, red}).view());
    }
    VideoReader reader(dir / "stripes.nut");
    FrameConverter converter;
    Tensor<float, 3> out({3, 45, 45});
    const std::vector<index_t> frames = {0, 1};
    reader.decode(frames, [&](std::size_t k, const AVFrame& frame, index_t) {
        FrameTransform t = center_crop(160, 90, 45);
        t.flip = k == 1;
        converter.to_tensor<float>(frame, t, out, "stripes");
        if (k == 0) {
            for (int y = 0; y < 45; ++y)
                for (int x = 0; x < 45; ++x) {
                    REQUIRE(out(0, y, x) == doctest::Approx(normalised(0, 0)));
                    REQUIRE(out(1, y, x) == doctest::Approx(normalised(255, 1)));
                }
        } else {
            // Frame 1 is blue left of x = 80 and red right of it; mirrored, red is on the left.
            CHECK(out(0, 20, 2) == doctest::Approx(normalised(255, 0)));
            CHECK(out(2, 20, 42) == doctest::Approx(normalised(255, 2)));
        }
    });
    Tensor<float, 3> wrong({3, 44, 45});
    reader.decode(frames, [&](std::size_t, const AVFrame& frame, index_t) {
        CHECK_THROWS_AS(converter.to_tensor<float>(frame, center_crop(160, 90, 45), wrong, "stripes"), ShapeError);
        CHECK_THROWS_AS(converter.to_tensor<float>(frame, {{150, 0, 20, 20}, 20, 20, false}, out.view().narrow(1, 0, 20).narrow(2, 0, 20), "stripes"),
                        ShapeError);
    });
}

TEST_CASE("random resized crop: torchvision's rule, reproducible, inside the frame") {
    Generator rng(3);
    int flips = 0;
    for (int trial = 0; trial < 500; ++trial) {
        const FrameTransform t = random_resized_crop(640, 360, 224, rng);
        const CropBox& b = t.crop;
        REQUIRE(b.x >= 0);
        REQUIRE(b.y >= 0);
        REQUIRE(b.x + b.width <= 640);
        REQUIRE(b.y + b.height <= 360);
        const double area = double(b.width) * b.height / (640.0 * 360.0), aspect = double(b.width) / b.height;
        CHECK(area >= 0.07);
        CHECK(aspect >= 0.74);
        CHECK(aspect <= 1.35);
        CHECK(t.out_width == 224);
        flips += t.flip;
    }
    CHECK(flips > 200);
    CHECK(flips < 300);
    Generator a(9), b(9);
    const FrameTransform ta = random_resized_crop(640, 360, 224, a), tb = random_resized_crop(640, 360, 224, b);
    CHECK(ta.crop.x == tb.crop.x);
    CHECK(ta.crop.width == tb.crop.width);
    CHECK(a.state() == b.state());
    // No box of the aspect range fits a 1000 x 10 strip: the center crop clamped to aspect 4/3.
    Generator c(1);
    const FrameTransform strip = random_resized_crop(1000, 10, 8, c, {0.5, 1.0, 0.75, 4.0 / 3.0, false});
    CHECK(strip.crop.width == 13);
    CHECK(strip.crop.height == 10);
    CHECK(strip.crop.x == 493);
    CHECK(c.state().offset == 20);  // 10 attempts of 2 draws, no flip
}

TEST_CASE("load_clip: (T, 3, S, S) from the sampled frames; training draws sampling then crop") {
    TempDir dir;
    WriterOptions o;
    o.codec = "mpeg4";
    o.width = 128;
    o.height = 96;
    o.gop = 10;
    o.codec_options = {{"b", "4M"}};
    write_index_video(dir / "clip.avi", o, 50);

    ClipOptions inference;
    inference.size = 32;
    const Clip clip = load_clip(dir / "clip.avi", inference);
    CHECK(clip.pixels.shape() == Extents<4>{8, 3, 32, 32});
    CHECK(clip.frames == std::vector<index_t>{3, 9, 15, 21, 28, 34, 40, 46});

    ClipOptions train = inference;
    train.train = true;
    train.sampling.method = Sampling::random_segment;
    Generator rng(21);
    const Clip a = load_clip(dir / "clip.avi", train, &rng);
    Generator replay(21);
    VideoReader reader(dir / "clip.avi");
    const auto samples = random_segment_samples(reader.frames(), 8, replay);
    random_resized_crop(128, 96, 32, replay);  // the crop's draws follow the sampling's
    CHECK(rng.state() == replay.state());
    for (std::size_t k = 0; k < 8; ++k) CHECK(a.frames[k] == samples[k].frame);
    Generator again(21);
    const Clip b = load_clip(dir / "clip.avi", train, &again);
    CHECK(std::equal(a.pixels.data(), a.pixels.data() + a.pixels.size(), b.pixels.data()));

    CHECK_THROWS_AS(load_clip(dir / "clip.avi", train), ValueError);  // training needs a generator
    ClipOptions rate = inference;
    rate.sampling = {Sampling::fixed_rate, 100, 5.0};
    CHECK(load_clip(dir / "clip.avi", rate).pixels.extent(0) == 10);  // 2 s at 5 fps
    Tensor<float, 4> too_long({12, 3, 32, 32});
    FrameConverter converter;
    CHECK_THROWS_WITH_AS(load_clip_into(reader, rate, nullptr, too_long, converter), doctest::Contains("too short"), VideoError);
}

}  // namespace
}  // namespace svilm::testing
