// svilm/viz/label.hpp: short lines of text on figures (a noun under its maps, a title), drawn with
// stb_easy_font (Debian's libstb-dev): each character is a few axis-aligned bars, so no font
// file is needed and the text is crisp at any whole-number scale. Printable ASCII only; any
// other byte is drawn as '?'. A line is about 7 x scale pixels high (label_height below).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#include "svilm/core/error.hpp"
#include "svilm/viz/figures.hpp"

namespace svilm::viz {

// Bytes outside printable ASCII (32..126) become '?'; line breaks and tabs become spaces.
inline std::string printable(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c < 32 || c > 126) c = (c == '\n' || c == '\t') ? ' ' : '?';
    return out;
}

// Rows a label of `scale` takes, with a row of margin above and below.
inline index_t label_height(index_t scale) { return 12 * scale; }

// The width in pixels of `text` drawn at `scale`.
inline index_t label_width(std::string_view text, index_t scale) {
    std::string ascii = printable(text);
    return index_t(stb_easy_font_width(ascii.data())) * scale;
}

// Draws `text` with its top-left corner at column x, row y, each font unit `scale` pixels,
// clipped to the image.
inline void draw_label(TensorView<std::uint8_t, 3> image, index_t x, index_t y, std::string_view text, index_t scale = 2,
                       Rgb8 color = black) {
    if (scale < 1) throw ValueError("draw_label: scale must be at least 1 (got " + std::to_string(scale) + ")");
    if (image.extent(2) != 3) throw ShapeError("draw_label: image " + to_string<3>(image.shape()) + " is not RGB");
    std::string ascii = printable(text);
    // stb_easy_font writes 4 vertices of 16 bytes per bar; a character has at most a dozen bars
    std::vector<char> vertices(ascii.size() * 64 * 16 + 64);
    const int quads = stb_easy_font_print(0, 0, ascii.data(), nullptr, vertices.data(), int(vertices.size()));
    for (int q = 0; q < quads; ++q) {
        float corner[2][2];  // (x, y) of the quad's first and third vertex: opposite corners
        std::memcpy(corner[0], vertices.data() + q * 64, sizeof corner[0]);
        std::memcpy(corner[1], vertices.data() + q * 64 + 32, sizeof corner[1]);
        const index_t x0 = x + index_t(std::lround(std::min(corner[0][0], corner[1][0]) * float(scale)));
        const index_t x1 = x + index_t(std::lround(std::max(corner[0][0], corner[1][0]) * float(scale)));
        const index_t y0 = y + index_t(std::lround(std::min(corner[0][1], corner[1][1]) * float(scale)));
        const index_t y1 = y + index_t(std::lround(std::max(corner[0][1], corner[1][1]) * float(scale)));
        detail::fill_rect(image, y0, x0, y1, x1, color);
    }
}

// `image` with a white band of label_height(scale) rows above it holding `text`.
inline Image with_caption(const Image& image, std::string_view text, index_t scale = 2) {
    const index_t band = label_height(scale), H = image.extent(0), W = std::max(image.extent(1), label_width(text, scale) + 2 * scale);
    Image out = detail::blank(H + band, W);
    for (index_t i = 0; i < H; ++i) std::memcpy(&out(band + i, 0, 0), &image(i, 0, 0), std::size_t(image.extent(1) * 3));
    draw_label(out, scale, 2 * scale, text, scale);
    return out;
}

}  // namespace svilm::viz
