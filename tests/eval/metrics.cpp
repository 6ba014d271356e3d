// Evaluation metrics on hand-made cases with known answers: retrieval ranks (identity,
// permutation, a graded circle layout, ties, chunking), grounding (bilinear upsampling against
// PyTorch's values, pointing and IoU of maps inside and outside a mask, the baselines), and the
// temporal metrics (foreground accuracy, block structure).
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "svilm/core/rng.hpp"
#include "svilm/eval.hpp"

namespace svilm::testing {
namespace {

using namespace svilm::eval;

Tensor<float, 2> identity(index_t n) {
    Tensor<float, 2> m({n, n});
    for (index_t i = 0; i < n; ++i) m(i, i) = 1;
    return m;
}

// Unit vectors at the given angles (degrees) in the plane.
Tensor<double, 2> on_circle(const std::vector<double>& degrees) {
    Tensor<double, 2> m({index_t(degrees.size()), 2});
    for (std::size_t i = 0; i < degrees.size(); ++i) {
        const double a = degrees[i] * std::numbers::pi / 180;
        m(index_t(i), 0) = std::cos(a), m(index_t(i), 1) = std::sin(a);
    }
    return m;
}

TEST_CASE("retrieval: identical distinct embeddings rank every pair first") {
    const Tensor<float, 2> e = identity(20);
    const RetrievalMetrics m = retrieval_metrics<float>(e, e);
    CHECK(m.count == 20);
    for (const RankSummary& s : {m.text_to_video, m.video_to_text}) {
        CHECK(s.r1 == 100);
        CHECK(s.r10 == 100);
        CHECK(s.median_rank == 1);
        CHECK(s.mean_rank == 1);
    }
    CHECK(m.protocol.find("one caption per video") != std::string::npos);
    CHECK(m.protocol.find("no dual softmax") != std::string::npos);
    const std::string table = format_retrieval(m);
    CHECK(table.find("text->video") != std::string::npos);
    CHECK(table.find("chance") != std::string::npos);
    CHECK(table.find("100.0") != std::string::npos);
}

TEST_CASE("retrieval: a graded layout on a circle gives the ranks worked out by hand") {
    // text i at 10 i degrees, video i at 10 i + 6: for text i > 0, video i - 1 (4 degrees away) beats
    // video i (6 away), so rank 2; text 0 ranks first. For video j < 9, text j + 1 is closer: rank 2.
    std::vector<double> text_deg, video_deg;
    for (int i = 0; i < 10; ++i) text_deg.push_back(10.0 * i), video_deg.push_back(10.0 * i + 6);
    const Tensor<double, 2> text = on_circle(text_deg), video = on_circle(video_deg);
    for (index_t chunk : {1, 3, 1024}) {
        const RetrievalMetrics m = retrieval_metrics<double>(text, video, chunk);
        CHECK(m.text_to_video_ranks == std::vector<index_t>{1, 2, 2, 2, 2, 2, 2, 2, 2, 2});
        CHECK(m.video_to_text_ranks == std::vector<index_t>{2, 2, 2, 2, 2, 2, 2, 2, 2, 1});
        CHECK(m.text_to_video.r1 == doctest::Approx(10));
        CHECK(m.text_to_video.r5 == 100);
        CHECK(m.text_to_video.median_rank == 2);
        CHECK(m.text_to_video.mean_rank == doctest::Approx(1.9));
    }
}

TEST_CASE("retrieval: dual softmax takes a hub video from the text it does not prefer") {
    // texts at 0, 50, 100 degrees; video 0 at -45 (45 from text 0), video 1 at 40 (10 from text 1,
    // 40 from text 0), video 2 at 100. By cosine, text 0 prefers video 1 (rank 2 for its own); with
    // dual softmax (temperature 0.01) video 1's prior over the texts is nearly all text 1's
    // (exp(-(0.985 - 0.766) / 0.01) ~ 3e-10 for text 0), so text 0 finds video 0 first.
    const Tensor<double, 2> text = on_circle({0, 50, 100}), video = on_circle({-45, 40, 100});
    const RetrievalMetrics plain = retrieval_metrics<double>(text, video);
    CHECK(plain.text_to_video_ranks == std::vector<index_t>{2, 1, 1});
    const RetrievalMetrics dual = retrieval_metrics<double>(text, video, RetrievalOptions{2, 0.01});
    CHECK(dual.text_to_video_ranks == std::vector<index_t>{1, 1, 1});
    CHECK(dual.video_to_text_ranks == std::vector<index_t>{1, 1, 1});
    CHECK(dual.protocol.find("dual softmax over the 3 queries (temperature 0.01)") != std::string::npos);
    CHECK_THROWS_AS(retrieval_metrics<double>(text, video, RetrievalOptions{2, -1}), ValueError);
}

TEST_CASE("retrieval: dual-softmax ranks equal the full matrix computed plainly, for any chunking") {
    // random unit vectors in 5-D; the reference builds the whole (N, N) matrix, its column
    // softmax over the queries, the reweighted scores and the pessimistic ranks
    const index_t N = 23, D = 5;
    Generator rng(7);
    Tensor<double, 2> text({N, D}), video({N, D});
    rng.normal<double, 2>(text);
    rng.normal<double, 2>(video);
    for (Tensor<double, 2>* m : {&text, &video})
        for (index_t i = 0; i < N; ++i) {
            double norm = 0;
            for (index_t d = 0; d < D; ++d) norm += (*m)(i, d) * (*m)(i, d);
            for (index_t d = 0; d < D; ++d) (*m)(i, d) /= std::sqrt(norm);
        }
    const double temperature = 0.05;
    std::vector<index_t> expected(static_cast<std::size_t>(N));
    std::vector<double> s(static_cast<std::size_t>(N * N)), weighted(s.size());
    for (index_t i = 0; i < N; ++i)
        for (index_t j = 0; j < N; ++j)
            for (index_t d = 0; d < D; ++d) s[std::size_t(i * N + j)] += text(i, d) * video(j, d);
    for (index_t j = 0; j < N; ++j) {
        double total = 0;
        for (index_t i = 0; i < N; ++i) total += std::exp(s[std::size_t(i * N + j)] / temperature);
        for (index_t i = 0; i < N; ++i)
            weighted[std::size_t(i * N + j)] = s[std::size_t(i * N + j)] * std::exp(s[std::size_t(i * N + j)] / temperature) / total;
    }
    for (index_t i = 0; i < N; ++i) {
        index_t above = 0;
        for (index_t j = 0; j < N; ++j) above += j != i && weighted[std::size_t(i * N + j)] >= weighted[std::size_t(i * N + i)];
        expected[std::size_t(i)] = 1 + above;
    }
    for (index_t chunk : {1, 4, 1024})
        CHECK(retrieval_metrics<double>(text, video, RetrievalOptions{chunk, temperature}).text_to_video_ranks == expected);
}

TEST_CASE("retrieval: a permutation and ties rank pessimistically") {
    // video i = text sigma(i): fixed points rank 1; elsewhere the true score (0) ties with N - 2
    // others and loses to one, so the pessimistic rank is N.
    const index_t N = 6;
    const index_t sigma[N] = {0, 2, 1, 3, 5, 4};
    const Tensor<float, 2> text = identity(N);
    Tensor<float, 2> video({N, N});
    for (index_t i = 0; i < N; ++i) video(i, sigma[i]) = 1;
    const RetrievalMetrics m = retrieval_metrics<float>(text, video, 4);
    CHECK(m.text_to_video_ranks == std::vector<index_t>{1, 6, 6, 1, 6, 6});
    CHECK(m.video_to_text_ranks == std::vector<index_t>{1, 6, 6, 1, 6, 6});
    CHECK(m.text_to_video.r1 == doctest::Approx(100.0 / 3));
    CHECK(m.text_to_video.median_rank == 6);
    // a collapsed model: every score equal, every rank N, R@1 = 0 (not 100)
    Tensor<float, 2> same({5, 3});
    for (index_t i = 0; i < 5; ++i) same(i, 1) = 1;
    const RetrievalMetrics collapsed = retrieval_metrics<float>(same, same);
    CHECK(collapsed.text_to_video.r1 == 0);
    CHECK(collapsed.text_to_video.mean_rank == 5);
}

TEST_CASE("retrieval: chance levels, medians of even counts, and refused inputs") {
    const RankSummary c = chance_ranks(100);
    CHECK(c.r1 == doctest::Approx(1));
    CHECK(c.r5 == doctest::Approx(5));
    CHECK(c.r10 == doctest::Approx(10));
    CHECK(c.median_rank == doctest::Approx(50.5));
    CHECK(chance_ranks(4).r5 == 100);
    const std::vector<index_t> ranks = {10, 1, 3, 2};
    CHECK(summarize_ranks(ranks).median_rank == 2.5);
    CHECK(summarize_ranks(ranks).mean_rank == 4);
    CHECK(summarize_ranks(ranks).r5 == 75);

    Tensor<float, 2> unnormalised = identity(3);
    unnormalised(1, 1) = 2;
    CHECK_THROWS_AS(retrieval_metrics<float>(unnormalised, identity(3)), ValueError);
    Tensor<float, 2> with_nan = identity(3);
    with_nan(2, 2) = std::nanf("");
    CHECK_THROWS_AS(retrieval_metrics<float>(identity(3), with_nan), ValueError);
    CHECK_THROWS_AS(retrieval_metrics<float>(identity(3), identity(4)), ShapeError);
    CHECK_THROWS_AS(retrieval_metrics<float>(identity(3), identity(3), 0), ValueError);
}

TEST_CASE("grounding: the most similar group wins, ties to the lowest index") {
    Tensor<float, 2> groups({3, 2});
    groups(0, 0) = 1;
    groups(1, 1) = 1;
    groups(2, 1) = 1;
    Tensor<float, 1> noun({2});
    noun(1) = 0.9f, noun(0) = 0.1f;
    CHECK(most_similar_group<float>(noun, groups) == 1);
    noun(0) = 0.95f;
    CHECK(most_similar_group<float>(noun, groups) == 0);
    CHECK_THROWS_AS(most_similar_group<float>(Tensor<float, 1>({3}), groups), ShapeError);
}

TEST_CASE("grounding: heat maps upsample as PyTorch's bilinear (align_corners=False) and follow tubelets") {
    // F.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode="bilinear")
    const float want[4][4] = {{0, 0.25f, 0.75f, 1}, {0.5f, 0.75f, 1.25f, 1.5f}, {1.5f, 1.75f, 2.25f, 2.5f}, {2, 2.25f, 2.75f, 3}};
    Tensor<float, 2> assignment({2, 8});  // M = 2 groups, N_t = 2 positions of 2 x 2 tokens
    for (index_t l = 0; l < 4; ++l) assignment(1, l) = float(l), assignment(1, 4 + l) = 10;
    const Tensor<float, 3> heat = group_heat_map<float>(assignment, 1, {2, 2, 2}, 4, 4, 4);
    for (index_t f = 0; f < 2; ++f)
        for (index_t i = 0; i < 4; ++i)
            for (index_t j = 0; j < 4; ++j) CHECK(heat(f, i, j) == doctest::Approx(want[i][j]));
    for (index_t f = 2; f < 4; ++f)
        for (index_t i = 0; i < 4; ++i)
            for (index_t j = 0; j < 4; ++j) CHECK(heat(f, i, j) == 10);
    CHECK_THROWS_AS(group_heat_map<float>(assignment, 1, {2, 2, 2}, 3, 4, 4), ShapeError);  // 3 frames, 2 positions
    CHECK_THROWS_AS(group_heat_map<float>(assignment, 2, {2, 2, 2}, 4, 4, 4), ValueError);
    CHECK_THROWS_AS(group_heat_map<float>(assignment, 0, {2, 3, 2}, 4, 4, 4), ShapeError);
}

// A (T, 8, 8) mask with the object in rows 0-3, columns 0-3 (a quarter of each frame), absent from
// the frames listed.
Tensor<std::uint8_t, 3> quarter_mask(index_t T, std::vector<index_t> absent = {}) {
    Tensor<std::uint8_t, 3> mask({T, 8, 8});
    for (index_t t = 0; t < T; ++t) {
        if (std::find(absent.begin(), absent.end(), t) != absent.end()) continue;
        for (index_t i = 0; i < 4; ++i)
            for (index_t j = 0; j < 4; ++j) mask(t, i, j) = 1;
    }
    return mask;
}

TEST_CASE("grounding: pointing and IoU of maps peaked inside and outside the mask, and a uniform map") {
    const Tensor<std::uint8_t, 3> mask = quarter_mask(3, {2});
    Tensor<float, 3> inside({3, 8, 8}), outside({3, 8, 8});
    for (index_t t = 0; t < 3; ++t) inside(t, 1, 2) = 1, outside(t, 6, 6) = 1;
    const GroundingScore hit = score_heat_map(inside, mask), miss = score_heat_map(outside, mask);
    CHECK(hit.frames == 2);  // frame 2 has no object and is not scored
    CHECK(hit.pointing == 1);
    CHECK(miss.pointing == 0);
    // thresholding at the mean keeps only the peak pixel: IoU = 1 / 16 inside, 0 outside
    CHECK(hit.iou == doctest::Approx(1.0 / 16));
    CHECK(miss.iou == 0);
    // the mask itself as a map: the mean threshold recovers it exactly; pointing ties spread over
    // the 16 peak pixels, all inside
    Tensor<float, 3> exact({3, 8, 8});
    for (index_t p = 0; p < exact.size(); ++p) exact.data()[p] = mask.data()[p];
    CHECK(score_heat_map(exact, mask).iou == 1);
    CHECK(score_heat_map(exact, mask).pointing == 1);
    // uniform: pointing = area fraction (expected hit of a random peak), IoU = area fraction
    const GroundingScore uniform = score_heat_map(Tensor<float, 3>::full({3, 8, 8}, 0.3f), mask);
    CHECK(uniform.pointing == doctest::Approx(0.25));
    CHECK(uniform.iou == doctest::Approx(0.25));
    // two tied peaks, one inside: half a hit
    Tensor<float, 3> split({1, 8, 8});
    split(0, 0, 0) = 2, split(0, 7, 7) = 2;
    CHECK(score_heat_map(split, quarter_mask(1)).pointing == doctest::Approx(0.5));
    // an object never visible scores nothing
    CHECK(score_heat_map(inside, quarter_mask(3, {0, 1, 2})).frames == 0);
    Tensor<float, 3> bad({3, 8, 8});
    bad(0, 0, 0) = std::nanf("");
    CHECK_THROWS_AS(score_heat_map(bad, mask), ValueError);
    CHECK_THROWS_AS(score_heat_map(Tensor<float, 3>({3, 8, 7}), mask), ShapeError);
}

TEST_CASE("grounding: a noun picks its group and is scored against the uniform and random-group baselines") {
    // M = 2 groups over N_t = 1 position of 2 x 2 tokens upsampled to 8 x 8 frames (T = 2):
    // group 0 puts its weight on the top-left token (where the object is), group 1 on the bottom-right.
    Tensor<float, 2> groups({2, 2}), assignment({2, 4});
    groups(0, 0) = 1, groups(1, 1) = 1;
    assignment(0, 0) = 0.9f, assignment(0, 1) = 0.05f, assignment(0, 2) = 0.05f;
    assignment(1, 3) = 0.9f, assignment(1, 1) = 0.05f, assignment(1, 2) = 0.05f;
    Tensor<float, 1> noun({2});
    noun(0) = 1;
    const Tensor<std::uint8_t, 3> mask = quarter_mask(2);
    const NounGrounding g = ground_noun<float>(noun, groups, assignment, {1, 2, 2}, mask);
    CHECK(g.group == 0);
    CHECK(g.chosen.pointing == 1);
    CHECK(g.chosen.iou > 0.5);
    CHECK(g.uniform.pointing == doctest::Approx(0.25));
    const GroundingScore other = score_heat_map(group_heat_map<float>(assignment, 1, {1, 2, 2}, 2, 8, 8), mask);
    CHECK(other.pointing == 0);
    CHECK(g.random_group.pointing == doctest::Approx((1 + other.pointing) / 2));
    CHECK(g.random_group.iou == doctest::Approx((g.chosen.iou + other.iou) / 2));

    GroundingTally tally;
    tally.add(g);
    NounGrounding invisible = g;
    invisible.chosen.frames = 0;
    tally.add(invisible);  // skipped
    NounGrounding wrong = g;
    wrong.chosen = other;
    wrong.chosen.frames = 2;
    tally.add(wrong);
    CHECK(tally.nouns() == 2);
    CHECK(tally.chosen().pointing == doctest::Approx(0.5));
    CHECK(tally.uniform().pointing == doctest::Approx(0.25));
    const std::string report = tally.report();
    CHECK(report.find("2 nouns") != std::string::npos);
    CHECK(report.find("random group") != std::string::npos);
    CHECK(report.find("50.0") != std::string::npos);
}

TEST_CASE("temporal: foreground accuracy counts p > 0.5 against the mask and skips clips without a change") {
    Tensor<float, 2> p({3, 4}), mask({3, 4});
    const float pv[3][4] = {{0.9f, 0.8f, 0.2f, 0.5f}, {0.1f, 0.1f, 0.1f, 0.1f}, {0.6f, 0.4f, 0.7f, 0.3f}};
    const float mv[3][4] = {{1, 1, 0, 1}, {1, 1, 1, 1}, {0, 0, 1, 1}};
    for (index_t i = 0; i < 3; ++i)
        for (index_t t = 0; t < 4; ++t) p(i, t) = pv[i][t], mask(i, t) = mv[i][t];
    ForegroundAccuracy a = foreground_accuracy<float>(p, mask);
    // clip 0: 3 of 4 (p = 0.5 is background); clip 1: all foreground, skipped; clip 2: 2 of 4
    CHECK(a.correct == 5);
    CHECK(a.positions == 8);
    CHECK(a.clips == 2);
    CHECK(a.skipped == 1);
    CHECK(a.accuracy() == doctest::Approx(5.0 / 8));
    a += foreground_accuracy<float>(p, mask);
    CHECK(a.accuracy() == doctest::Approx(5.0 / 8));
    CHECK(a.positions == 16);
    CHECK(std::isnan(ForegroundAccuracy{}.accuracy()));
    mask(0, 0) = 0.5f;
    CHECK_THROWS_AS(foreground_accuracy<float>(p, mask), ValueError);
    CHECK_THROWS_AS(foreground_accuracy<float>(p, Tensor<float, 2>({3, 5})), ShapeError);
}

TEST_CASE("temporal: block structure of a similarity matrix at the cut") {
    // z: steps 0-2 along e0, steps 3-5 along -e0 (+ a little e1): a perfect two-block matrix
    Tensor<double, 2> z({6, 2});
    for (index_t t = 0; t < 6; ++t) z(t, 0) = t < 3 ? 2.0 : -3.0;
    const Tensor<double, 2> sim = cosine_similarity_matrix<double>(z);
    CHECK(sim(0, 1) == doctest::Approx(1));
    CHECK(sim(0, 4) == doctest::Approx(-1));
    CHECK(block_structure_score<double>(sim, 3) == doctest::Approx(2));
    CHECK(block_structure_score<double>(sim, 2) < 2);  // the wrong cut scores lower
    // features blind to the cut: all similarities equal, score 0
    const Tensor<double, 2> flat = Tensor<double, 2>::full({6, 6}, 0.7);
    CHECK(block_structure_score<double>(flat, 3) == doctest::Approx(0));
    // cut-and-paste layout: background, pasted foreground, background again (one clip, one segment)
    Tensor<double, 2> pasted({5, 5});
    const int seg[5] = {0, 1, 1, 0, 0};
    for (index_t a = 0; a < 5; ++a)
        for (index_t b = 0; b < 5; ++b) pasted(a, b) = seg[a] == seg[b] ? 0.9 : 0.1;
    CHECK(block_structure_score<double>(pasted, std::span<const int>(seg)) == doctest::Approx(0.8));
    CHECK_THROWS_AS(block_structure_score<double>(Tensor<double, 2>({2, 2}), 1), ValueError);  // no pair within
    CHECK_THROWS_AS(block_structure_score<double>(sim, 0), ValueError);
    CHECK_THROWS_AS(block_structure_score<double>(sim, 6), ValueError);
    const int one_segment[6] = {0, 0, 0, 0, 0, 0};
    CHECK_THROWS_AS(block_structure_score<double>(sim, std::span<const int>(one_segment)), ValueError);
}

}  // namespace
}  // namespace svilm::testing
