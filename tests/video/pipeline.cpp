// svilm::Pipeline against the model called directly: every result equals what the model gives on
// the same input, bad videos are skipped with their reason, windows have the documented times.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "svilm/pipeline.hpp"
#include "video/media.hpp"

namespace svilm::testing {
namespace {

const Context<cpu> ctx;

// A tiny model file and three generated videos: 2 s, 2 s and 4 s at 25 fps.
struct Fixture {
    TempDir dir;
    std::filesystem::path model_file = dir / "tiny.safetensors";
    std::vector<std::filesystem::path> videos = {dir / "a.avi", dir / "b.avi", dir / "long.avi"};
    SVilm<float> model{ctx, preset("tiny"), 17};

    Fixture() {
        save_model(model, model_file);
        const video::WriterOptions o = index_video_options("mpeg4", 10, 0, {{"b", "4M"}});
        write_index_video(videos[0], o, 50);
        // b: the same frames in reverse order, so its embedding differs from a's
        video::VideoWriter writer(videos[1], o);
        for (index_t i = 49; i >= 0; --i) writer.write(index_frame(i, o.width, o.height).view());
        writer.finish();
        write_index_video(videos[2], o, 100);
    }

    PipelineOptions options() const {
        PipelineOptions p;
        p.model = model_file;
        p.batch = 2;
        return p;
    }

    // What the model gives on a clip loaded by hand with the pipeline's input settings.
    Tensor<float, 2> direct(const std::filesystem::path& video, const video::ClipOptions& clip) const {
        const video::Clip c = video::load_clip(video, clip);
        Tensor<float, 5> batch({1, c.pixels.extent(0), 3, c.pixels.extent(2), c.pixels.extent(3)}, uninitialized);
        std::copy(c.pixels.data(), c.pixels.data() + c.pixels.size(), batch.data());
        return model.encode_video(ctx, batch.view());
    }
};

void check_equal_rows(TensorView<const float, 2> a, index_t row, TensorView<const float, 2> b, index_t b_row) {
    REQUIRE(a.extent(1) == b.extent(1));
    for (index_t d = 0; d < a.extent(1); ++d) CHECK(a(row, d) == doctest::Approx(b(b_row, d)).epsilon(1e-5));
}

TEST_CASE("Pipeline: video embeddings are the model's on the inference clip; bad videos are skipped with their reason") {
    Fixture f;
    const Pipeline<> p(f.options(), ctx);
    CHECK(p.clip_options().sampling.count == f.model.config().video.frames);
    CHECK(p.clip_options().size == int(f.model.config().video.image_size));
    const std::filesystem::path missing = f.dir / "missing.mp4", corrupt = f.dir / "corrupt.mp4";
    write_bytes(corrupt, "this is not a video");
    std::vector<index_t> progress;
    const EmbeddedVideos e = p.embed_videos({f.videos[0], missing, f.videos[1], corrupt, f.videos[2]},
                                            [&](index_t done, index_t total) {
                                                CHECK(total == 5);
                                                progress.push_back(done);
                                            });
    REQUIRE(e.embeddings.extent(0) == 3);
    CHECK(e.embeddings.extent(1) == p.embedding_dim());
    CHECK(e.inputs == std::vector<std::size_t>{0, 2, 4});
    CHECK(e.videos == std::vector<std::filesystem::path>{f.videos[0], f.videos[1], f.videos[2]});
    REQUIRE(e.skipped.size() == 2);
    CHECK(e.skipped[0].path == missing);
    CHECK(e.skipped[0].reason.find("missing.mp4") != std::string::npos);
    CHECK(e.skipped[1].path == corrupt);
    CHECK(e.skipped[1].reason.find("corrupt.mp4") != std::string::npos);
    REQUIRE_FALSE(progress.empty());
    CHECK(progress.back() == 5);
    for (index_t i = 0; i < 3; ++i) {
        check_equal_rows(e.embeddings, i, f.direct(e.videos[std::size_t(i)], p.clip_options()), 0);
        double norm = 0;
        for (index_t d = 0; d < e.embeddings.extent(1); ++d) norm += double(e.embeddings(i, d)) * e.embeddings(i, d);
        CHECK(std::sqrt(norm) == doctest::Approx(1.0).epsilon(1e-5));
    }
    // a and b show the same frames in another order: different clips, different embeddings
    CHECK(std::abs(e.embeddings(0, 0) - e.embeddings(1, 0)) + std::abs(e.embeddings(0, 1) - e.embeddings(1, 1)) > 1e-6);

    const Tensor<float, 2> one = p.embed_video(f.videos[1]);
    check_equal_rows(one, 0, e.embeddings, 1);
    CHECK_THROWS_WITH_AS(p.embed_video(missing), doctest::Contains("missing.mp4"), VideoError);
}

TEST_CASE("Pipeline: text embeddings and similarities are the model's") {
    Fixture f;
    const Pipeline<> p(f.options(), ctx);
    const std::vector<std::string> texts = {"a red ball moves left", "a blue cube", "Überraschung: ein grüner Würfel"};
    const Tensor<float, 2> t = p.embed_text(texts);
    const text::BatchEncoding enc = p.tokenizer().encode_batch(texts, std::size_t(f.model.config().text.max_length));
    const Tensor<float, 2> direct = f.model.encode_text(ctx, enc.ids, enc.attention_mask);
    for (index_t i = 0; i < 3; ++i) check_equal_rows(t, i, direct, i);
    CHECK_THROWS_AS(p.embed_text({}), ValueError);

    const EmbeddedVideos v = p.embed_videos({f.videos[0], f.videos[1]});
    const Tensor<float, 2> s = Pipeline<>::similarity(v.embeddings, t);
    REQUIRE(s.shape() == Extents<2>{2, 3});
    for (index_t i = 0; i < 2; ++i)
        for (index_t j = 0; j < 3; ++j) {
            double dot = 0;
            for (index_t d = 0; d < t.extent(1); ++d) dot += double(v.embeddings(i, d)) * t(j, d);
            CHECK(s(i, j) == doctest::Approx(dot).epsilon(1e-5));
        }
    CHECK_THROWS_AS(Pipeline<>::similarity(v.embeddings, Tensor<float, 2>({1, 3})), ShapeError);
}

TEST_CASE("Pipeline: windows cover the video at the documented times, each the model's clip of its window") {
    Fixture f;
    const Pipeline<> p(f.options(), ctx);
    // 4 s: windows of 1.5 s every 1 s start at 0, 1, 2 (2 + 1.5 <= 4), then one ends at the end
    const WindowEmbeddings w = p.embed_windows(f.videos[2], 1.5, 1.0);
    CHECK(w.duration == doctest::Approx(4.0).epsilon(0.01));
    CHECK(w.fps == doctest::Approx(25.0));
    CHECK(w.frames_per_window == f.model.config().video.frames);
    REQUIRE(w.start.size() == 4);
    REQUIRE(w.embeddings.extent(0) == 4);
    for (std::size_t k = 0; k < 3; ++k) {
        CHECK(w.start[k] == doctest::Approx(double(k)));
        CHECK(w.end[k] == doctest::Approx(double(k) + 1.5));
    }
    CHECK(w.start[3] == doctest::Approx(w.duration - 1.5));
    CHECK(w.end[3] == doctest::Approx(w.duration));
    for (std::size_t k = 0; k < 4; ++k) {
        video::ClipOptions clip = p.clip_options();
        clip.sampling.range = {w.start[k], w.end[k]};
        check_equal_rows(w.embeddings, index_t(k), f.direct(f.videos[2], clip), 0);
    }
    // a window longer than the video: one window, the whole video
    const WindowEmbeddings whole = p.embed_windows(f.videos[0], 10.0, 5.0);
    REQUIRE(whole.start.size() == 1);
    CHECK(whole.end[0] == doctest::Approx(whole.duration));
    check_equal_rows(whole.embeddings, 0, f.direct(f.videos[0], p.clip_options()), 0);
    CHECK_THROWS_AS(p.embed_windows(f.videos[0], 0.0, 1.0), ValueError);
    CHECK_THROWS_WITH_AS(p.embed_windows(f.dir / "none.avi", 1.0, 1.0), doctest::Contains("none.avi"), VideoError);
}

TEST_CASE("Pipeline: ground picks each noun's most similar group and maps its assignment over the display frames") {
    Fixture f;
    PipelineOptions o = f.options();
    o.display_size = 48;
    const Pipeline<> p(o, ctx);
    const Grounding g = p.ground(f.videos[0], "a red ball rolls towards a blue cube");
    const VideoConfig& vc = f.model.config().video;
    const index_t T = vc.frames, M = vc.grouping.num_group_tokens;
    CHECK(g.frames.shape() == Extents<4>{T, 48, 48, 3});
    REQUIRE(g.frame_indices.size() == std::size_t(T));
    // each display frame's time is its frame's presentation time (25 fps, from 0)
    for (index_t t = 0; t < T; ++t) CHECK(g.times[std::size_t(t)] == doctest::Approx(double(g.frame_indices[std::size_t(t)]) / 25.0));
    REQUIRE(g.nouns.size() == 2);
    CHECK(g.nouns[0].phrase == "red ball");
    CHECK(g.nouns[1].phrase == "blue cube");
    CHECK(g.nouns[0].prompt == "a video of a red ball.");

    // the same computation by hand: model on the clip, prompts through the text encoder
    const video::Clip clip = video::load_clip(f.videos[0], p.clip_options());
    Tensor<float, 5> batch({1, T, 3, vc.image_size, vc.image_size}, uninitialized);
    std::copy(clip.pixels.data(), clip.pixels.data() + clip.pixels.size(), batch.data());
    VideoEncoderSaved<float> enc;
    const VideoEmbeddings<float> e = f.model.embed_video(ctx, batch.view(), enc);
    const Tensor<float, 2> nouns = p.embed_text({"a video of a red ball.", "a video of a blue cube."});
    const index_t side = vc.image_size / vc.patch_size;
    for (std::size_t k = 0; k < 2; ++k) {
        const GroundedNoun& n = g.nouns[k];
        REQUIRE(n.similarities.size() == std::size_t(M));
        const index_t expected = eval::most_similar_group<float>(nouns.view().select(0, index_t(k)), e.groups.view().select(0, 0));
        CHECK(n.group == expected);
        for (index_t m = 0; m < M; ++m) CHECK(n.similarities[std::size_t(m)] <= n.similarities[std::size_t(n.group)]);
        const Tensor<float, 3> map = eval::group_heat_map<float>(enc.grouping.back().block.soft.view().select(0, 0), n.group,
                                                                 eval::TokenGrid{vc.temporal_positions(), side, side}, T, 48, 48);
        REQUIRE(n.map.shape() == map.shape());
        for (index_t i = 0; i < map.size(); ++i) CHECK(n.map.data()[i] == doctest::Approx(map.data()[i]));
    }
    CHECK(p.ground(f.videos[0], "quickly and slowly").nouns.empty());
    CHECK_THROWS_WITH_AS(p.ground(f.dir / "none.avi", "a ball"), doctest::Contains("none.avi"), VideoError);
}

TEST_CASE("Pipeline: a missing model file or bad options are named") {
    Fixture f;
    PipelineOptions o = f.options();
    o.model = f.dir / "absent.safetensors";
    CHECK_THROWS_WITH_AS(Pipeline<>(o, ctx), doctest::Contains("absent.safetensors"), Error);
    o = f.options();
    o.batch = 0;
    CHECK_THROWS_AS(Pipeline<>(o, ctx), ValueError);
    o = f.options();
    o.prompt_template = "no placeholder";
    CHECK_THROWS_WITH_AS(Pipeline<>(o, ctx), doctest::Contains("no placeholder"), ValueError);
    o = f.options();
    o.data_dir = f.dir / "no-data-here";
    CHECK_THROWS_WITH_AS(Pipeline<>(o, ctx), doctest::Contains("no-data-here"), Error);
}

}  // namespace
}  // namespace svilm::testing
