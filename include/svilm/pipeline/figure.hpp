// svilm/pipeline/figure.hpp: a Grounding as the paper's Figure 4: one row per noun phrase, its
// label above the display frames with the chosen group's map blended over them. Needs svilm::viz.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "svilm/pipeline/results.hpp"
#include "svilm/viz/figures.hpp"
#include "svilm/viz/label.hpp"

namespace svilm {

// One row per noun: "phrase -> group m (cosine c)" over the frames with the map at `alpha`, each
// noun's map scaled over its own clip; a caption without nouns gives the frames alone under the
// caption. Time stamps (seconds) label the frames of the first row.
inline viz::Image grounding_figure(const Grounding& g, double alpha = 0.55, index_t scale = 2) {
    std::vector<viz::Image> rows;
    const index_t W = g.frames.extent(2), gap = 2;
    viz::Image times = viz::detail::blank(viz::label_height(scale), g.frames.extent(0) * (W + gap) - gap);
    for (std::size_t t = 0; t < g.times.size(); ++t) {
        char text[32];
        std::snprintf(text, sizeof text, "%.2f s", g.times[t]);
        viz::draw_label(times, index_t(t) * (W + gap) + scale, 2 * scale, text, scale);
    }
    rows.push_back(viz::with_caption(times, "\"" + g.caption + "\"", scale));
    if (g.nouns.empty()) rows.push_back(viz::with_caption(viz::frame_strip(g.frames, gap), "no groundable noun", scale));
    for (const GroundedNoun& n : g.nouns) {
        char text[160];
        std::snprintf(text, sizeof text, " -> group %lld (cosine %.2f)", (long long)n.group,
                      double(n.similarities[std::size_t(n.group)]));
        rows.push_back(viz::with_caption(viz::overlay_strip<float>(g.frames, n.map, alpha, {}, gap), n.phrase + text, scale));
    }
    return viz::stack_images(rows, 4 * scale);
}

}  // namespace svilm
