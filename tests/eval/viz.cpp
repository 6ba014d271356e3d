// PNG figures: valid files (signature, IHDR, decoded pixels equal to the image), errors that
// name the path, exact pixels of a tiny heat map, overlays, p_t strips and loss curves; writes a
// preview of synthetic videos to <build>/tests/synthetic_preview.png for a human to look at.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include "svilm/data/synthetic.hpp"
#include "svilm/viz.hpp"

// A decoder for the round trip, private to this file like the encoder.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace svilm::testing {
namespace {

using namespace svilm::viz;
namespace fs = std::filesystem;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("svilm-viz-" + std::to_string(::getpid()));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

std::uint32_t big_endian(const std::vector<unsigned char>& b, std::size_t at) {
    return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 | std::uint32_t(b[at + 2]) << 8 | b[at + 3];
}

std::vector<unsigned char> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Checks the PNG signature, the IHDR chunk (width, height, 8-bit, colour type) and that the
// decoded pixels equal `image`.
void check_png(const std::vector<unsigned char>& bytes, const TensorView<const std::uint8_t, 3>& image) {
    const index_t H = image.extent(0), W = image.extent(1), C = image.extent(2);
    REQUIRE(bytes.size() > 33);
    const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(std::memcmp(bytes.data(), signature, 8) == 0);
    CHECK(big_endian(bytes, 8) == 13u);
    CHECK(std::memcmp(bytes.data() + 12, "IHDR", 4) == 0);
    CHECK(big_endian(bytes, 16) == std::uint32_t(W));
    CHECK(big_endian(bytes, 20) == std::uint32_t(H));
    CHECK(bytes[24] == 8);
    CHECK(bytes[25] == (C == 1 ? 0 : C == 3 ? 2 : 6));
    int w = 0, h = 0, c = 0;
    unsigned char* decoded = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c, int(C));
    REQUIRE(decoded != nullptr);
    CHECK(w == W);
    CHECK(h == H);
    CHECK(std::memcmp(decoded, image.data(), std::size_t(image.size())) == 0);
    stbi_image_free(decoded);
}

Rgb8 pixel(const Image& im, index_t i, index_t j) { return {im(i, j, 0), im(i, j, 1), im(i, j, 2)}; }

index_t count_colour(const Image& im, Rgb8 c) {
    index_t n = 0;
    for (index_t i = 0; i < im.extent(0); ++i)
        for (index_t j = 0; j < im.extent(1); ++j) n += pixel(im, i, j) == c;
    return n;
}

TEST_CASE("viz: PNG files are valid and decode to the written pixels; failures name the path") {
    TempDir dir;
    Image rgb({5, 7, 3});
    for (index_t p = 0; p < rgb.size(); ++p) rgb.data()[p] = std::uint8_t(p * 37 % 256);
    write_png(dir.path / "rgb.png", rgb);
    check_png(read_bytes(dir.path / "rgb.png"), rgb);
    Tensor<std::uint8_t, 3> grey({3, 2, 1}), rgba({2, 3, 4});
    grey(1, 1, 0) = 200, rgba(0, 2, 3) = 77;
    check_png(encode_png(grey), grey);
    check_png(encode_png(rgba), rgba);
    CHECK_THROWS_AS(encode_png(Tensor<std::uint8_t, 3>({2, 2, 2})), ShapeError);
    CHECK_THROWS_AS(encode_png(Tensor<std::uint8_t, 3>({0, 2, 3})), ShapeError);
    const fs::path missing = dir.path / "no-such-folder" / "x.png";
    try {
        write_png(missing, rgb);
        FAIL("write_png into a missing folder did not throw");
    } catch (const IoError& e) {
        CHECK(std::string(e.what()).find(missing.string()) != std::string::npos);
    }
}

TEST_CASE("viz: a tiny heat map has the colour map's exact colours, cells upscaled") {
    Tensor<float, 2> m({2, 2});
    m(0, 0) = -1, m(0, 1) = 1, m(1, 0) = 0, m(1, 1) = std::nanf("");
    const Image im = heat_map<float>(m, 3);
    REQUIRE(im.shape() == Extents<3>{6, 6, 3});
    for (index_t i = 0; i < 3; ++i)
        for (index_t j = 0; j < 3; ++j) {
            CHECK(pixel(im, i, j) == Rgb8{68, 1, 84});           // minimum: viridis(0) = #440154
            CHECK(pixel(im, i, 3 + j) == Rgb8{253, 231, 37});    // maximum: viridis(1) = #fde725
            CHECK(pixel(im, 3 + i, j) == Rgb8{33, 145, 140});    // middle: viridis(0.5) = #21918c
            CHECK(pixel(im, 3 + i, 3 + j) == not_a_number_colour);
        }
    // a fixed range: 0 is the bottom of [0, 2], 1 the middle
    const Image fixed = heat_map<float>(m, 1, {0, 2});
    CHECK(pixel(fixed, 1, 0) == viridis(0));
    CHECK(pixel(fixed, 0, 1) == viridis(0.5));
    CHECK(pixel(fixed, 0, 0) == viridis(0));  // clamped
    CHECK(viridis(0.0625) == Rgb8{70, 23, 104});  // half-way between the first two anchors
}

TEST_CASE("viz: strips of frames, heat overlays and p_t bars") {
    Tensor<std::uint8_t, 4> frames({4, 6, 5, 3});
    for (index_t p = 0; p < frames.size(); ++p) frames.data()[p] = std::uint8_t(40 + p % 50);
    const Image strip = frame_strip(frames, 2);
    REQUIRE(strip.shape() == Extents<3>{6, 4 * 5 + 3 * 2, 3});
    CHECK(pixel(strip, 2, 3 * 7 + 4) == Rgb8{frames(3, 2, 4, 0), frames(3, 2, 4, 1), frames(3, 2, 4, 2)});
    CHECK(pixel(strip, 0, 5) == white);  // the gap

    Tensor<float, 3> heat({4, 6, 5});
    heat(1, 2, 3) = 5;
    const Image none = overlay_strip<float>(frames, heat, 0.0);
    CHECK(std::memcmp(none.data(), strip.data(), strip.bytes()) == 0);
    const Image full = overlay_strip<float>(frames, heat, 1.0);
    CHECK(pixel(full, 2, 7 + 3) == viridis(1));
    CHECK(pixel(full, 0, 0) == viridis(0));
    CHECK_THROWS_AS(overlay_strip<float>(frames, Tensor<float, 3>({4, 6, 4})), ShapeError);

    const std::vector<float> p = {0.9f, 0.1f};  // one value per temporal position (2 frames each)
    const std::vector<float> truth = {1.0f, 0.0f};
    const Image bars = value_strip<float>(frames, p, truth, 2);
    const index_t panel = 8, base = 6 + 2;  // panel rows: max(8, H / 2); the panel starts under the gap
    REQUIRE(bars.shape() == Extents<3>{base + panel, strip.extent(1), 3});
    const Rgb8 orange = {255, 127, 14};
    // 0.9 of the 7 rows above the panel's bottom row: the bar starts at row 1
    CHECK(pixel(bars, base + 1, 2) == orange);
    CHECK(pixel(bars, base + 1, 7 + 2) == orange);  // frame 1 shares position 0
    CHECK(pixel(bars, base, 2) == white);           // ground truth 1: a line at the top
    CHECK(pixel(bars, base + 6, 14 + 2) == orange);  // frames 2-3: 0.1, a bar of two rows
    CHECK(pixel(bars, base + 5, 14 + 2) != orange);
    CHECK(pixel(bars, base + 7, 14 + 2) == white);  // ground truth 0: a line at the bottom
    CHECK(std::memcmp(bars.data(), strip.data(), strip.bytes()) == 0);  // frames on top, unchanged
    CHECK_THROWS_AS(value_strip<float>(frames, std::vector<float>{1, 2, 3}), ShapeError);
}

TEST_CASE("viz: loss curves are drawn in distinct colours with a legend") {
    std::vector<std::vector<double>> series(3);
    for (int i = 0; i < 50; ++i) {
        series[0].push_back(4.0 * std::exp(-i / 10.0));
        series[1].push_back(1.0 + 0.5 * std::sin(i / 5.0));
        series[2].push_back(i == 20 ? std::nan("") : 2.0);
    }
    const Image plot = line_plot(series, {320, 200});
    REQUIRE(plot.shape() == Extents<3>{200, 320, 3});
    for (std::size_t s = 0; s < 3; ++s) CHECK(count_colour(plot, series_colour(s)) > 12 * 12 + 50);  // legend + curve
    CHECK(count_colour(plot, series_colour(3)) == 0);
    CHECK(pixel(plot, 199, 319) == white);
    const Image log_plot = line_plot(series, {320, 200, true});
    CHECK(count_colour(log_plot, series_colour(0)) > 12 * 12 + 50);
    CHECK_THROWS_AS(line_plot(series, {32, 32}), ValueError);
}

TEST_CASE("viz: a preview of synthetic videos (build/tests/synthetic_preview.png)") {
    data::SyntheticConfig config;
    config.scene_change_probability = 0.3;
    std::vector<Image> rows;
    for (data::SyntheticSplit split : {data::SyntheticSplit::train, data::SyntheticSplit::test_unseen}) {
        config.split = split;
        const data::SyntheticDataset dataset(config);
        for (index_t i = 0; i < 4; ++i) rows.push_back(frame_strip(dataset.item(i).frames));
    }
    const Image preview = stack_images(rows, 4);
    const fs::path path = fs::path(SVILM_TEST_OUTPUT_DIR) / "synthetic_preview.png";
    write_png(path, preview);
    MESSAGE("synthetic preview: " << path.string());
    check_png(read_bytes(path), preview);
}

}  // namespace
}  // namespace svilm::testing
