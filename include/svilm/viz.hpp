// svilm/viz.hpp: figures as PNG images (heat maps, overlays, p_t strips, loss curves).
// Link svilm::viz (needs Debian's libstb-dev for stb_image_write).
#pragma once

#include "svilm/viz/colormap.hpp"
#include "svilm/viz/figures.hpp"
#include "svilm/viz/png.hpp"
