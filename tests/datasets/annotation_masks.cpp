// Mask files of annotations (svilm/data/annotation_masks.hpp): non-zero colour = object, alpha
// ignored; a file that is not a PNG is named with the annotation field.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "svilm/data/annotation_masks.hpp"
#include "svilm/viz/png.hpp"

namespace svilm::data {
namespace {

TEST_CASE("annotation masks: grey and RGBA PNGs, non-zero colour is the object") {
    const auto dir = std::filesystem::temp_directory_path() / "svilm_annotation_masks_test";
    std::filesystem::create_directories(dir);
    viz::Image grey({3, 4, 1});
    grey(1, 2, 0) = 255;
    grey(2, 0, 0) = 1;
    viz::write_png(dir / "grey.png", grey);
    const Tensor<std::uint8_t, 2> g = read_mask_png(dir / "grey.png", "a.json: videos[0].objects[0].masks[0]");
    REQUIRE(g.shape() == Extents<2>{3, 4});
    index_t on = 0;
    for (index_t p = 0; p < g.size(); ++p) on += g.data()[p];
    CHECK(on == 2);
    CHECK(g(1, 2) == 1);
    CHECK(g(2, 0) == 1);

    viz::Image rgba({2, 2, 4});
    for (index_t i = 0; i < 2; ++i)
        for (index_t j = 0; j < 2; ++j) rgba(i, j, 3) = 255;  // opaque everywhere: alpha is not the object
    rgba(0, 1, 2) = 9;
    viz::write_png(dir / "rgba.png", rgba);
    const Tensor<std::uint8_t, 2> c = read_mask_png(dir / "rgba.png", "m");
    CHECK(c(0, 0) == 0);
    CHECK(c(0, 1) == 1);
    CHECK(c(1, 0) == 0);
    CHECK(c(1, 1) == 0);

    { std::ofstream(dir / "bad.png") << "not a png"; }
    CHECK_THROWS_WITH_AS(read_mask_png(dir / "bad.png", "a.json: videos[0].objects[0].masks[1]"),
                         doctest::Contains("bad.png (a.json: videos[0].objects[0].masks[1]): not a PNG that can be read"),
                         FormatError);
    CHECK_THROWS_AS(read_mask_png(dir / "absent.png", "m"), IoError);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace svilm::data
