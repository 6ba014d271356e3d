// svilm::Pipeline<cuda> against Pipeline<cpu> on the same model file and videos: video, text and
// window embeddings, and the grounding of a caption's nouns (chosen groups and their maps). Where
// no GPU exists the test says so and passes without checking anything on a device.
#include <doctest/doctest.h>

#include "cuda/cpu_reference_pipeline.hpp"
#include "cuda/cuda_test_support.hpp"
#include "svilm/pipeline/pipeline.hpp"

namespace svilm::testing {
namespace {

TEST_CASE("Pipeline<cuda>: embeddings, windows and grounding equal Pipeline<cpu>'s") {
    if (!device_or_skip()) return;
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "svilm_cuda_pipeline";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const PipelineFiles files = write_pipeline_files(dir);
    const PipelineResults want = cpu_pipeline_results(files);

    const Context<cuda> ctx;
    PipelineOptions o;
    o.model = files.model;
    o.batch = 2;
    o.display_size = 48;
    const Pipeline<cuda> p(o, ctx);
    CHECK(mismatches("video embeddings", p.embed_videos(files.videos).embeddings, want.videos, gemm_tolerance) == 0);
    CHECK(mismatches("text embeddings", p.embed_text(pipeline_texts), want.text, gemm_tolerance) == 0);
    CHECK(mismatches("window embeddings", p.embed_windows(files.videos[2], 1.5, 1.0).embeddings, want.windows, gemm_tolerance) == 0);
    const Grounding g = p.ground(files.videos[0], pipeline_caption);
    REQUIRE(g.nouns.size() == want.groups.size());
    for (std::size_t k = 0; k < g.nouns.size(); ++k) {
        CHECK(g.nouns[k].group == want.groups[k]);
        if (g.nouns[k].group == want.groups[k])
            CHECK(mismatches("group map", g.nouns[k].map, want.maps[k], gemm_tolerance) == 0);
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace svilm::testing
