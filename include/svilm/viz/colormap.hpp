// svilm/viz/colormap.hpp: the colours of svilm's figures: viridis for heat maps (perceptually
// uniform, readable in grey and by colour-blind readers) and the tab10 palette for curves.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace svilm::viz {

using Rgb8 = std::array<std::uint8_t, 3>;

// Shown for a value that is not a number.
inline constexpr Rgb8 not_a_number_colour = {128, 128, 128};

// matplotlib's viridis sampled at 9 evenly spaced points (#440154 ... #fde725), interpolated
// linearly in between (a close, not exact, match of matplotlib's 256-entry table).
inline Rgb8 viridis(double t) {
    static constexpr std::array<Rgb8, 9> anchors = {{{68, 1, 84},
                                                     {71, 45, 123},
                                                     {59, 82, 139},
                                                     {44, 114, 142},
                                                     {33, 145, 140},
                                                     {40, 174, 128},
                                                     {94, 201, 98},
                                                     {173, 220, 48},
                                                     {253, 231, 37}}};
    if (std::isnan(t)) return not_a_number_colour;
    const double x = std::clamp(t, 0.0, 1.0) * double(anchors.size() - 1);
    const std::size_t lo = std::min(std::size_t(x), anchors.size() - 2);
    const double w = x - double(lo);
    Rgb8 out;
    for (std::size_t c = 0; c < 3; ++c)
        out[c] = std::uint8_t(std::lround((1 - w) * anchors[lo][c] + w * anchors[lo + 1][c]));
    return out;
}

// Colour of curve i: the tab10 palette (matplotlib's default cycle), repeating after 10.
inline Rgb8 series_colour(std::size_t i) {
    static constexpr std::array<Rgb8, 10> tab10 = {{{31, 119, 180},
                                                    {255, 127, 14},
                                                    {44, 160, 44},
                                                    {214, 39, 40},
                                                    {148, 103, 189},
                                                    {140, 86, 75},
                                                    {227, 119, 194},
                                                    {127, 127, 127},
                                                    {188, 189, 34},
                                                    {23, 190, 207}}};
    return tab10[i % tab10.size()];
}

}  // namespace svilm::viz
