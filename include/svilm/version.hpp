// svilm/version.hpp: the library version (kept equal to the CMake project version).
#pragma once

#define SVILM_VERSION_MAJOR 0
#define SVILM_VERSION_MINOR 1
#define SVILM_VERSION_PATCH 0

namespace svilm {
inline constexpr const char* version_string = "0.1.0";
}
