// A consumer of svilm::video: the component links (libav through pkg-config), errors read well.
#include <cstdio>

#include <svilm/data.hpp>
#include <svilm/video.hpp>

int main() {
    using namespace svilm;
    try {
        video::VideoReader reader("/nonexistent/clip.mp4");
        return 1;
    } catch (const VideoError& e) {
        std::printf("consumer_video: svilm::video works (libavformat %s); errors read: %s\n", LIBAVFORMAT_IDENT, e.what());
    }
    return 0;
}
