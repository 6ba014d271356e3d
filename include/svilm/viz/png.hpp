// svilm/viz/png.hpp: PNG encoding and writing of 8-bit images (H, W, C), C = 1 (grey), 3 (RGB)
// or 4 (RGBA), through stb_image_write (Debian's libstb-dev; link svilm::viz, which adds its
// include directory).
//
// Header-only without a .cpp of our own: stb's implementation is compiled here with
// STB_IMAGE_WRITE_STATIC, so every translation unit that includes this header gets a private
// (internal-linkage) copy of the encoder and several of them link together without duplicate
// symbols. The price: a translation unit that includes this header must not include
// <stb_image_write.h> itself (the second inclusion would meet stb's include guard, or define the
// encoder twice); this header refuses to compile after it.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"

#if defined(INCLUDE_STB_IMAGE_WRITE_H)
#error "svilm/viz/png.hpp compiles its own private copy of stb_image_write: include it instead of <stb_image_write.h>"
#endif
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO  // files are written below, with errors that name the path
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image_write.h>
#pragma GCC diagnostic pop
#undef STBI_WRITE_NO_STDIO
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_STATIC

namespace svilm::viz {

// (H, W, 3) sRGB, row 0 at the top: what every figure function returns.
using Image = Tensor<std::uint8_t, 3>;

// The PNG file of image (H, W, C), C in {1, 3, 4}, as bytes.
inline std::vector<unsigned char> encode_png(TensorView<const std::uint8_t, 3> image) {
    const index_t H = image.extent(0), W = image.extent(1), C = image.extent(2);
    if (H < 1 || W < 1 || (C != 1 && C != 3 && C != 4))
        throw ShapeError("encode_png: image " + to_string<3>(image.shape()) + " is not (H, W, 1|3|4) with H, W >= 1");
    if (H > (1 << 24) || W > (1 << 24)) throw ShapeError("encode_png: image " + to_string<3>(image.shape()) + " too large");
    expect_contiguous("encode_png", "image", image);
    std::vector<unsigned char> bytes;
    auto append = [](void* context, void* data, int size) {
        auto* out = static_cast<std::vector<unsigned char>*>(context);
        const auto* begin = static_cast<const unsigned char*>(data);
        out->insert(out->end(), begin, begin + size);
    };
    if (!stbi_write_png_to_func(append, &bytes, int(W), int(H), int(C), image.data(), int(W * C)))
        throw Error("encode_png: stb_image_write failed on image " + to_string<3>(image.shape()));
    return bytes;
}

// Writes image (H, W, C) as a PNG file, replacing any file at `path`.
// Throws IoError naming the path (and the system's reason) when the file cannot be written.
inline void write_png(const std::filesystem::path& path, TensorView<const std::uint8_t, 3> image) {
    const std::vector<unsigned char> bytes = encode_png(image);
    auto fail = [&](const char* what) {
        throw IoError("write_png: cannot " + std::string(what) + " " + path.string() + ": " + std::strerror(errno));
    };
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (!file) fail("open");
    const bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
    const int saved_errno = errno;
    if (std::fclose(file) != 0 || !written) {
        if (!written) errno = saved_errno;
        fail("write");
    }
}

}  // namespace svilm::viz
