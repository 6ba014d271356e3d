// svilm/video.hpp: video decoding with libav (metadata, exact frame access by index, sampling),
// preprocessing to the model's input, cut-and-paste, and a video writer.
// Link svilm::video (needs Debian's libavformat-dev libavcodec-dev libavutil-dev libswscale-dev).
// svilm/video/cut_and_paste.hpp and svilm/video/sampling.hpp alone need no libav.
#pragma once

#include "svilm/video/clip.hpp"
#include "svilm/video/cut_and_paste.hpp"
#include "svilm/video/libav.hpp"
#include "svilm/video/preprocess.hpp"
#include "svilm/video/reader.hpp"
#include "svilm/video/sampling.hpp"
#include "svilm/video/writer.hpp"
