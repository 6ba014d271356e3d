#include "cuda/cpu_reference_pipeline.hpp"

#include "svilm/pipeline.hpp"
#include "svilm/video/writer.hpp"

namespace svilm::testing {

PipelineFiles write_pipeline_files(const std::filesystem::path& dir) {
    PipelineFiles f{dir / "tiny.safetensors", {dir / "a.avi", dir / "b.avi", dir / "long.avi"}};
    const Context<cpu> ctx;
    save_model(SVilm<float>(ctx, preset("tiny"), 17), f.model);
    video::WriterOptions o;
    o.codec = "mpeg4";
    o.width = 96;
    o.height = 80;
    o.fps = {25, 1};
    o.gop = 10;
    o.codec_options = {{"b", "4M"}};
    const index_t lengths[] = {50, 40, 100};
    for (std::size_t v = 0; v < 3; ++v) {
        video::VideoWriter writer(f.videos[v], o);
        for (index_t i = 0; i < lengths[v]; ++i) {
            // a bright square moving over a gradient: frames differ in place and colour
            Tensor<std::uint8_t, 3> frame({o.height, o.width, 3});
            for (index_t y = 0; y < o.height; ++y)
                for (index_t x = 0; x < o.width; ++x) {
                    const bool square = std::abs(x - (10 + i) % o.width) < 12 && std::abs(y - 40) < 12;
                    frame(y, x, 0) = std::uint8_t(square ? 250 : (x * 2 + index_t(v) * 60) % 256);
                    frame(y, x, 1) = std::uint8_t(square ? 40 : y * 3 % 256);
                    frame(y, x, 2) = std::uint8_t(square ? 40 : (i * 5) % 256);
                }
            writer.write(frame.view());
        }
        writer.finish();
    }
    return f;
}

PipelineResults cpu_pipeline_results(const PipelineFiles& files) {
    PipelineOptions o;
    o.model = files.model;
    o.batch = 2;
    o.display_size = 48;
    const Pipeline<cpu> p(o);
    PipelineResults r;
    r.videos = p.embed_videos(files.videos).embeddings;
    r.text = p.embed_text(pipeline_texts);
    r.windows = p.embed_windows(files.videos[2], 1.5, 1.0).embeddings;
    for (const GroundedNoun& n : p.ground(files.videos[0], pipeline_caption).nouns) {
        r.groups.push_back(n.group);
        r.maps.push_back(n.map);
    }
    return r;
}

}  // namespace svilm::testing
