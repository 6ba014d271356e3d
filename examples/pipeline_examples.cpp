// The jobs of the svilm program's embed, search, ground, features and classify commands, each in
// a few lines of svilm::Pipeline (svilm/pipeline.hpp, docs/api.md): what to copy into your own
// program. One executable, one job per first argument:
//
//   pipeline_examples embed    MODEL VIDEO...            one embedding per video
//   pipeline_examples search   MODEL QUERY VIDEO...      the videos ranked by cosine to a text
//   pipeline_examples ground   MODEL VIDEO CAPTION PNG   each noun's group map, as a figure
//   pipeline_examples features MODEL VIDEO WINDOW STRIDE one embedding per window of a long video
//   pipeline_examples classify MODEL CLASSES VIDEO...    zero-shot classes ("a,b,c") per video
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "svilm/pipeline.hpp"
#include "svilm/pipeline/figure.hpp"
#include "svilm/viz/png.hpp"

namespace {

using svilm::index_t;
using Paths = std::vector<std::filesystem::path>;

void embed(const svilm::Pipeline<>& p, const Paths& videos) {
    const svilm::EmbeddedVideos e = p.embed_videos(videos);
    for (std::size_t i = 0; i < e.videos.size(); ++i)
        std::printf("%s: %lld values, first %.4f\n", e.videos[i].c_str(), (long long)e.embeddings.extent(1),
                    double(e.embeddings(index_t(i), 0)));
    for (const svilm::SkippedVideo& s : e.skipped) std::printf("skipped %s\n", s.reason.c_str());
}

void search(const svilm::Pipeline<>& p, const std::string& query, const Paths& videos) {
    const svilm::EmbeddedVideos e = p.embed_videos(videos);
    const svilm::Tensor<float, 2> s = svilm::Pipeline<>::similarity(e.embeddings, p.embed_text({query}));  // (N, 1)
    std::vector<std::size_t> order(e.videos.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s(index_t(a), 0) > s(index_t(b), 0); });
    for (std::size_t r = 0; r < order.size(); ++r)
        std::printf("%zu. %.3f %s\n", r + 1, double(s(index_t(order[r]), 0)), e.videos[order[r]].c_str());
}

void ground(const svilm::Pipeline<>& p, const std::filesystem::path& video, const std::string& caption,
            const std::filesystem::path& png) {
    const svilm::Grounding g = p.ground(video, caption);
    for (const svilm::GroundedNoun& n : g.nouns)
        std::printf("\"%s\" -> group %lld, map (%lld, %lld, %lld)\n", n.phrase.c_str(), (long long)n.group,
                    (long long)n.map.extent(0), (long long)n.map.extent(1), (long long)n.map.extent(2));
    svilm::viz::write_png(png, svilm::grounding_figure(g));
    std::printf("wrote %s\n", png.c_str());
}

void features(const svilm::Pipeline<>& p, const std::filesystem::path& video, double window, double stride) {
    const svilm::WindowEmbeddings w = p.embed_windows(video, window, stride);
    for (std::size_t k = 0; k < w.start.size(); ++k)
        std::printf("window %zu: %.2f-%.2f s, first %.4f\n", k, w.start[k], w.end[k], double(w.embeddings(index_t(k), 0)));
}

void classify(const svilm::Pipeline<>& p, const std::string& classes, const Paths& videos) {
    std::vector<std::string> names, prompts;
    std::stringstream list(classes);
    for (std::string name; std::getline(list, name, ',');) {
        names.push_back(name);
        prompts.push_back("a video of " + name + ".");
    }
    const svilm::EmbeddedVideos e = p.embed_videos(videos);
    const svilm::Tensor<float, 2> s = svilm::Pipeline<>::similarity(e.embeddings, p.embed_text(prompts));  // (N, K)
    for (index_t i = 0; i < s.extent(0); ++i) {
        index_t best = 0;
        for (index_t k = 1; k < s.extent(1); ++k)
            if (s(i, k) > s(i, best)) best = k;
        std::printf("%s: %s (%.3f)\n", e.videos[std::size_t(i)].c_str(), names[std::size_t(best)].c_str(), double(s(i, best)));
    }
}

int usage() {
    std::fprintf(stderr,
                 "usage: pipeline_examples embed MODEL VIDEO... | search MODEL QUERY VIDEO... | ground MODEL VIDEO CAPTION PNG\n"
                 "       | features MODEL VIDEO WINDOW STRIDE | classify MODEL CLASSES VIDEO...\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) return usage();
    const std::string job = argv[1];
    const std::vector<std::string> args(argv + 3, argv + argc);
    try {
        svilm::PipelineOptions options;
        options.model = argv[2];
        const svilm::Pipeline<> p(options);  // the model file, the installed vocabulary, the CPU
        if (job == "embed") embed(p, Paths(args.begin(), args.end()));
        else if (job == "search" && args.size() >= 2) search(p, args[0], Paths(args.begin() + 1, args.end()));
        else if (job == "ground" && args.size() == 3) ground(p, args[0], args[1], args[2]);
        else if (job == "features" && args.size() == 3) features(p, args[0], std::stod(args[1]), std::stod(args[2]));
        else if (job == "classify" && args.size() >= 2) classify(p, args[0], Paths(args.begin() + 1, args.end()));
        else return usage();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pipeline_examples: %s\n", e.what());
        return 1;
    }
    return 0;
}
