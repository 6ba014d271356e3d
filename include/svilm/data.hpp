// svilm/data.hpp: datasets. Manifests of (video, caption[, start, end]), the synthetic
// structured-video benchmark and its downstream tasks, and the readers of the downstream
// datasets' own annotation formats (docs/model.md §13) and the object and scene-change annotations
// of one's own videos (annotations.hpp, docs/annotations.md) need nothing more; the prefetching video
// loader comes with the svilm::video target (libav), which defines SVILM_HAVE_VIDEO.
#pragma once

#include "svilm/data/action_recognition.hpp"
#include "svilm/data/activitynet.hpp"
#include "svilm/data/annotations.hpp"
#include "svilm/data/manifest.hpp"
#include "svilm/data/msrvtt.hpp"
#include "svilm/data/synthetic.hpp"
#include "svilm/data/synthetic_downstream.hpp"
#include "svilm/data/video_files.hpp"
#include "svilm/data/video_qa.hpp"
#if defined(SVILM_HAVE_VIDEO)
#include "svilm/data/video_loader.hpp"
#endif
