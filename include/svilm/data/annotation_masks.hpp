// svilm/data/annotation_masks.hpp: reading an annotation's mask files (annotations.hpp): a PNG,
// grey, grey + alpha, RGB or RGBA, 8 or 16 bits, whose non-zero pixels (any channel but alpha)
// are the object. Decoded with stb_image (Debian's libstb-dev; link svilm::viz, which adds its
// include directory), compiled here privately as png.hpp does stb_image_write: a translation
// unit that includes this header must not include <stb_image.h> itself.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/data/text_io.hpp"

#if defined(STBI_INCLUDE_STB_IMAGE_H)
#error "svilm/data/annotation_masks.hpp compiles its own private copy of stb_image: include it instead of <stb_image.h>"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO  // the file is read below, with errors that name the path
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#include <stb_image.h>
#pragma GCC diagnostic pop
#undef STBI_NO_STDIO
#undef STBI_ONLY_PNG
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_STATIC

namespace svilm::data {

// The mask (H, W): 1 where the PNG at `path` has a non-zero colour, else 0. `where` names the
// annotation field for messages ("a.json: videos[0].objects[1].masks[2].file").
inline Tensor<std::uint8_t, 2> read_mask_png(const std::filesystem::path& path, const std::string& where) {
    const std::string bytes = read_text_file(path, "the mask of " + where);
    int width = 0, height = 0, channels = 0;
    // a 16-bit PNG is read at 16 bits: stb's conversion to 8 would turn its small values into 0
    const bool sixteen = stbi_is_16_bit_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(bytes.size()));
    void* pixels = sixteen ? static_cast<void*>(stbi_load_16_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                                                         int(bytes.size()), &width, &height, &channels, 0))
                           : static_cast<void*>(stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                                                      int(bytes.size()), &width, &height, &channels, 0));
    if (!pixels)
        throw FormatError(path.string() + " (" + where + "): not a PNG that can be read (" + stbi_failure_reason() + ")");
    const int colours = channels == 2 || channels == 4 ? channels - 1 : channels;  // alpha says nothing of the object
    Tensor<std::uint8_t, 2> mask({height, width});
    for (index_t p = 0; p < index_t(width) * height; ++p) {
        bool on = false;
        for (int c = 0; c < colours; ++c)
            on = on || (sixteen ? static_cast<const std::uint16_t*>(pixels)[p * channels + c] != 0
                                : static_cast<const std::uint8_t*>(pixels)[p * channels + c] != 0);
        mask.data()[p] = on;
    }
    stbi_image_free(pixels);
    return mask;
}

}  // namespace svilm::data
