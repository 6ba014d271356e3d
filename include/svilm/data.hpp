// svilm/data.hpp: datasets. Manifests of (video, caption[, start, end]) and the synthetic
// structured-video benchmark need nothing more; the prefetching video loader comes with the
// svilm::video target (libav), which defines SVILM_HAVE_VIDEO.
#pragma once

#include "svilm/data/manifest.hpp"
#include "svilm/data/synthetic.hpp"
#if defined(SVILM_HAVE_VIDEO)
#include "svilm/data/video_loader.hpp"
#endif
