// The prefetching loader: an epoch over a manifest with bad entries, skipped and reported;
// strict mode; the same batches for any number of workers; bounded prefetch.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "svilm/data.hpp"
#include "video/media.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::data;

// 8 good clips (25 frames at 25 fps) and 6 bad entries, in one CSV manifest; made once.
struct Dataset {
    TempDir dir;
    std::filesystem::path manifest = dir / "train.csv";
    std::set<std::string> bad = {"missing.avi", "empty.avi", "text.avi", "good0.avi", "truncated.avi", "directory"};

    Dataset() {
        video::WriterOptions o;
        o.codec = "mpeg4";
        o.width = 64;
        o.height = 48;
        o.gop = 6;
        o.codec_options = {{"b", "2M"}};
        std::ofstream csv(manifest);
        csv << "video,caption,start,end\n";
        for (int i = 0; i < 8; ++i) {
            write_index_video(dir / ("good" + std::to_string(i) + ".avi"), o, 25);
            csv << "good" << i << ".avi,\"clip " << i << ", a test\"," << (i == 3 ? "0.4,0.8" : ",") << "\n";
            if (i == 1) csv << "missing.avi,gone,,\n";
            if (i == 4) csv << "empty.avi,nothing,,\n";
            if (i == 5) csv << "text.avi,words,,\n";
            if (i == 6) csv << "good0.avi,too short: starts after its end,5,6\n";
        }
        write_bytes(dir / "empty.avi", "");
        write_bytes(dir / "text.avi", "not a video at all\n");
        const std::string whole = read_bytes(dir / "good7.avi");
        write_bytes(dir / "truncated.avi", whole.substr(0, whole.size() / 3));
        csv << "truncated.avi,cut,,\n";
        csv << "directory,a folder,,\n";
        std::filesystem::create_directory(dir / "directory");
    }
};

const Dataset& dataset() {
    static const Dataset d;
    return d;
}

VideoLoaderOptions small_options() {
    VideoLoaderOptions o;
    o.batch_size = 3;
    o.clip.sampling.count = 4;
    o.clip.size = 16;
    o.workers = 3;
    o.prefetch = 1;
    return o;
}

std::vector<VideoBatch> epoch(VideoLoader& loader, index_t number) {
    loader.start_epoch(number);
    std::vector<VideoBatch> batches;
    while (auto b = loader.next()) batches.push_back(std::move(*b));
    return batches;
}

TEST_CASE("an epoch over a manifest with bad entries skips, counts and reports them") {
    const Dataset& d = dataset();
    VideoLoader loader(Manifest::load(d.manifest), small_options());
    const auto batches = epoch(loader, 0);
    REQUIRE(batches.size() == 3);  // 8 good clips in batches of 3: 3, 3, 2
    CHECK(batches[2].video.shape() == Extents<5>{2, 4, 3, 16, 16});
    std::vector<std::string> captions;
    for (const auto& b : batches) captions.insert(captions.end(), b.captions.begin(), b.captions.end());
    CHECK(captions == std::vector<std::string>{"clip 0, a test", "clip 1, a test", "clip 2, a test", "clip 3, a test",
                                               "clip 4, a test", "clip 5, a test", "clip 6, a test", "clip 7, a test"});
    CHECK(batches[0].items == std::vector<index_t>{0, 1, 3});  // item 2 is the missing file
    CHECK(batches[0].frames[0] == std::vector<index_t>{3, 9, 15, 21});  // uniform over 25 frames
    CHECK(batches[1].frames[0] == std::vector<index_t>{11, 13, 16, 18});  // clip 3: [0.4, 0.8) s = frames 10 .. 19
    CHECK(batches[1].number == 1);

    const LoaderStats s = loader.stats();
    CHECK(s.items == 14);
    CHECK(s.loaded == 8);
    CHECK(s.skipped_count == 6);
    CHECK(s.batches == 3);
    CHECK(s.max_waiting <= 3);  // prefetch 1 batch of 3
    REQUIRE(s.skipped.size() == 6);
    const std::vector<std::string> reasons = {"does not exist", "empty file", "not a readable video", "no frame in [5",
                                              "not a readable video", "is a directory"};
    for (std::size_t k = 0; k < 6; ++k) {
        INFO(s.skipped[k].reason);
        CHECK(d.bad.count(std::filesystem::path(s.skipped[k].path).filename().string()) == 1);
        CHECK(s.skipped[k].reason.find(s.skipped[k].path) == 0);
        CHECK(s.skipped[k].reason.find(reasons[k]) != std::string::npos);
    }
    CHECK(s.skipped[0].line == 4);
    CHECK(s.skipped[0].item == 2);
}

TEST_CASE("strict mode makes the first bad item an error") {
    VideoLoaderOptions o = small_options();
    o.strict = true;
    VideoLoader loader(Manifest::load(dataset().manifest), o);
    loader.start_epoch(0);
    CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("missing.avi: does not exist"), VideoError);
}

TEST_CASE("batches do not depend on the number of workers; epochs reshuffle") {
    VideoLoaderOptions o = small_options();
    o.shuffle = true;
    o.seed = 77;
    o.clip.train = true;
    o.clip.sampling.method = video::Sampling::random_segment;
    o.drop_last = true;
    std::vector<std::vector<VideoBatch>> runs;
    for (const int workers : {1, 4}) {
        o.workers = workers;
        VideoLoader loader(Manifest::load(dataset().manifest), o);
        runs.push_back(epoch(loader, 0));
        if (workers == 4) {
            const auto second = epoch(loader, 1);
            REQUIRE(second.size() == 2);
            CHECK(second[0].items != runs[1][0].items);
        }
    }
    REQUIRE(runs[0].size() == 2);  // drop_last: the partial third batch is dropped
    REQUIRE(runs[1].size() == 2);
    for (std::size_t b = 0; b < 2; ++b) {
        CHECK(runs[0][b].items == runs[1][b].items);
        CHECK(runs[0][b].frames == runs[1][b].frames);
        const auto& x = runs[0][b].video;
        const auto& y = runs[1][b].video;
        CHECK(std::equal(x.data(), x.data() + x.size(), y.data()));
    }
}

TEST_CASE("the loader checks its options, and stops mid-epoch cleanly") {
    VideoLoaderOptions o = small_options();
    o.batch_size = 0;
    CHECK_THROWS_AS(VideoLoader(Manifest::load(dataset().manifest), o), ValueError);
    o = small_options();
    o.clip.sampling.method = video::Sampling::fixed_rate;
    CHECK_THROWS_AS(VideoLoader(Manifest::load(dataset().manifest), o), ValueError);
    VideoLoader loader(Manifest::load(dataset().manifest), small_options());
    loader.start_epoch(0);
    CHECK(loader.next());
    loader.start_epoch(1);  // abandons epoch 0 while its workers run
    CHECK(loader.next());
}  // destroyed with workers running

}  // namespace
}  // namespace svilm::testing
