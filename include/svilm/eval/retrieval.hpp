// svilm/eval/retrieval.hpp: text-video retrieval metrics (docs/model.md §8): R@1, R@5, R@10, median and
// mean rank in both directions, with the protocol printed next to the numbers.
//
// Protocol: row i of text (N, D) and row i of video (N, D) are a pair (one caption per video);
// similarity is the dot product of L2-normalised embeddings (cosine); by default no dual softmax or
// other re-normalisation over the gallery. Ties are ranked pessimistically: the rank of the true
// match is 1 + the number of other items scoring at least as high, so a collapsed model (every
// score equal) gets rank N, never a lucky 1.
//
// Dual softmax (an option, off by default; docs/model.md §8 asks that the protocol be printed):
// each score is reweighted by how strongly its target prefers this query over the other queries,
// s'(i, j) = s(i, j) * softmax over queries i' of s(i', j) / temperature, evaluated at i (CAMoE's
// inverted-softmax prior; temperature 0.01 is its usual value). It uses every query of the set
// at once (transductive), which is why it is reported as a separate protocol.
//
// Memory: scores are computed chunk_rows queries at a time, (chunk_rows, N) floats, never the
// N x N matrix (unless N <= chunk_rows); dual softmax makes one more pass for the columns'
// log-sum-exp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/gemm.hpp"

namespace svilm::eval {

// Recalls in percent; ranks are 1-based.
struct RankSummary {
    double r1 = 0, r5 = 0, r10 = 0;
    double median_rank = 0, mean_rank = 0;
};

struct RetrievalMetrics {
    index_t count = 0;                     // N pairs
    RankSummary text_to_video, video_to_text;
    RankSummary chance;                    // a random ranking of the N items
    std::vector<index_t> text_to_video_ranks, video_to_text_ranks;  // per query, 1-based
    std::string protocol;
};

// Recall@k over 1-based ranks, median (mean of the two middle ranks for an even count, as
// numpy's median) and mean rank.
// requires: ranks not empty.
inline RankSummary summarize_ranks(std::span<const index_t> ranks) {
    if (ranks.empty()) throw ValueError("summarize_ranks: no ranks");
    const double n = double(ranks.size());
    RankSummary s;
    std::vector<index_t> sorted(ranks.begin(), ranks.end());
    std::sort(sorted.begin(), sorted.end());
    double total = 0;
    for (index_t r : sorted) {
        s.r1 += r <= 1;
        s.r5 += r <= 5;
        s.r10 += r <= 10;
        total += double(r);
    }
    s.r1 *= 100.0 / n;
    s.r5 *= 100.0 / n;
    s.r10 *= 100.0 / n;
    const std::size_t mid = sorted.size() / 2;
    s.median_rank = sorted.size() % 2 ? double(sorted[mid]) : (double(sorted[mid - 1]) + double(sorted[mid])) / 2.0;
    s.mean_rank = total / n;
    return s;
}

// Expected metrics of a uniformly random ranking of N items: R@k = min(k, N) / N, median and
// mean rank (N + 1) / 2.
inline RankSummary chance_ranks(index_t N) {
    if (N < 1) throw ValueError("chance_ranks: N must be positive");
    const double n = double(N);
    return {100.0 * std::min(1.0, 1.0 / n), 100.0 * std::min(1.0, 5.0 / n), 100.0 * std::min(1.0, 10.0 / n),
            (n + 1) / 2, (n + 1) / 2};
}

namespace detail {

template <class T>
void expect_unit_rows(const char* op, const char* name, TensorView<const T, 2> x) {
    for (index_t i = 0; i < x.extent(0); ++i) {
        double squares = 0;
        for (index_t d = 0; d < x.extent(1); ++d) squares += double(x(i, d)) * double(x(i, d));
        const double norm = std::sqrt(squares);
        if (!(std::abs(norm - 1.0) <= 1e-3))
            throw ValueError(std::string(op) + ": " + name + " row " + std::to_string(i) + " has norm " +
                             std::to_string(norm) + "; embeddings must be L2-normalised and finite");
    }
}

// log sum_i exp(<query_i, target_j> / temperature) for every target j, a chunk of queries at a
// time (online maximum, so no exponent overflows).
template <class T>
std::vector<double> column_log_sum_exp(TensorView<const T, 2> queries, TensorView<const T, 2> targets, index_t chunk_rows,
                                       double temperature) {
    const index_t N = queries.extent(0), M = targets.extent(0);
    std::vector<double> top(static_cast<std::size_t>(M), -INFINITY), sum(static_cast<std::size_t>(M), 0.0);
    Tensor<T, 2> scores({std::min(chunk_rows, N), M}, uninitialized);
    for (index_t begin = 0; begin < N; begin += chunk_rows) {
        const index_t rows = std::min(chunk_rows, N - begin);
        TensorView<T, 2> chunk = scores.view().narrow(0, 0, rows);
        matmul<T>(Context<cpu>{}, chunk, queries.narrow(0, begin, begin + rows), targets.transpose(0, 1));
        for (index_t r = 0; r < rows; ++r)
            for (index_t j = 0; j < M; ++j) {
                const double x = double(chunk(r, j)) / temperature;
                double& m = top[std::size_t(j)];
                if (x > m) {
                    sum[std::size_t(j)] = sum[std::size_t(j)] * std::exp(m - x) + 1.0;
                    m = x;
                } else {
                    sum[std::size_t(j)] += std::exp(x - m);
                }
            }
    }
    for (index_t j = 0; j < M; ++j) top[std::size_t(j)] += std::log(sum[std::size_t(j)]);
    return top;
}

// ranks[i] = 1 + #{j != i : s(i, j) >= s(i, i)}, s the cosine, or with dual_softmax_temperature > 0
// the dual-softmax score of the header comment.
template <class T>
std::vector<index_t> pessimistic_ranks(TensorView<const T, 2> queries, TensorView<const T, 2> targets, index_t chunk_rows,
                                       double dual_softmax_temperature = 0) {
    const index_t N = queries.extent(0);
    std::vector<index_t> ranks(static_cast<std::size_t>(N));
    std::vector<double> lse;
    if (dual_softmax_temperature > 0) lse = column_log_sum_exp<T>(queries, targets, chunk_rows, dual_softmax_temperature);
    Tensor<T, 2> scores({std::min(chunk_rows, N), N}, uninitialized);
    for (index_t begin = 0; begin < N; begin += chunk_rows) {
        const index_t rows = std::min(chunk_rows, N - begin);
        TensorView<T, 2> chunk = scores.view().narrow(0, 0, rows);
        matmul<T>(Context<cpu>{}, chunk, queries.narrow(0, begin, begin + rows), targets.transpose(0, 1));
        if (!lse.empty())
            for (index_t r = 0; r < rows; ++r)
                for (index_t j = 0; j < N; ++j) {
                    const double x = double(chunk(r, j));
                    chunk(r, j) = T(x * std::exp(x / dual_softmax_temperature - lse[std::size_t(j)]));
                }
        for (index_t r = 0; r < rows; ++r) {
            const index_t i = begin + r;
            const T own = chunk(r, i);
            index_t above = 0;
            for (index_t j = 0; j < N; ++j) above += j != i && chunk(r, j) >= own;
            ranks[std::size_t(i)] = 1 + above;
        }
    }
    return ranks;
}

inline std::string retrieval_protocol(index_t N, double dual_softmax_temperature) {
    char dual[96] = "no dual softmax";
    if (dual_softmax_temperature > 0)
        std::snprintf(dual, sizeof dual, "dual softmax over the %lld queries (temperature %g)", (long long)N,
                      dual_softmax_temperature);
    return std::to_string(N) + " pairs, one caption per video, cosine similarity of L2-normalised embeddings, " + dual +
           ", ties ranked pessimistically";
}

}  // namespace detail

struct RetrievalOptions {
    index_t chunk_rows = 1024;
    double dual_softmax_temperature = 0;  // > 0: the dual-softmax protocol (0.01 is usual)
};

// Retrieval metrics of N (text, video) pairs, text (N, D) and video (N, D), both directions.
// requires: equal shapes, N >= 1, every row finite with unit L2 norm (within 1e-3: the metric
// is cosine similarity only for normalised rows), chunk_rows >= 1, temperature >= 0.
// ensures: ranks in [1, N]; identical embeddings in both tables give R@1 = 100 when the rows
// are distinct.
template <class T>
RetrievalMetrics retrieval_metrics(std::type_identity_t<TensorView<const T, 2>> text,
                                   std::type_identity_t<TensorView<const T, 2>> video, const RetrievalOptions& options) {
    const char* op = "retrieval_metrics";
    const index_t chunk_rows = options.chunk_rows;
    const double temperature = options.dual_softmax_temperature;
    if (!(temperature >= 0)) throw ValueError(std::string(op) + ": the dual-softmax temperature must be >= 0");
    if (text.shape() != video.shape())
        throw ShapeError(std::string(op) + ": text " + to_string<2>(text.shape()) + " vs video " +
                         to_string<2>(video.shape()));
    if (text.extent(0) < 1) throw ValueError(std::string(op) + ": no pairs");
    if (chunk_rows < 1) throw ValueError(std::string(op) + ": chunk_rows must be positive");
    detail::expect_unit_rows<T>(op, "text", text);
    detail::expect_unit_rows<T>(op, "video", video);
    const index_t N = text.extent(0);
    RetrievalMetrics m;
    m.count = N;
    m.text_to_video_ranks = detail::pessimistic_ranks<T>(text, video, chunk_rows, temperature);
    m.video_to_text_ranks = detail::pessimistic_ranks<T>(video, text, chunk_rows, temperature);
    m.text_to_video = summarize_ranks(m.text_to_video_ranks);
    m.video_to_text = summarize_ranks(m.video_to_text_ranks);
    m.chance = chance_ranks(N);
    m.protocol = detail::retrieval_protocol(N, temperature);
    return m;
}

template <class T>
RetrievalMetrics retrieval_metrics(std::type_identity_t<TensorView<const T, 2>> text,
                                   std::type_identity_t<TensorView<const T, 2>> video, index_t chunk_rows = 1024) {
    return retrieval_metrics<T>(text, video, RetrievalOptions{chunk_rows, 0});
}

// The protocol line and a small table, e.g.
//   retrieval: 1000 pairs, one caption per video, cosine similarity ..., ties ranked pessimistically
//                   R@1    R@5   R@10    MdR     MnR
//   text->video    28.6   55.1   65.1    5.0    40.2
//   video->text    ...
//   chance          0.1    0.5    1.0  500.5   500.5
inline std::string format_retrieval(const RetrievalMetrics& m) {
    std::string out = "retrieval: " + m.protocol + "\n";
    char line[160];
    std::snprintf(line, sizeof line, "%-13s %6s %6s %6s %8s %8s\n", "", "R@1", "R@5", "R@10", "MdR", "MnR");
    out += line;
    const std::pair<const char*, const RankSummary*> rows[] = {
        {"text->video", &m.text_to_video}, {"video->text", &m.video_to_text}, {"chance", &m.chance}};
    for (const auto& [label, s] : rows) {
        std::snprintf(line, sizeof line, "%-13s %6.1f %6.1f %6.1f %8.1f %8.1f\n", label, s->r1, s->r5, s->r10,
                      s->median_rank, s->mean_rank);
        out += line;
    }
    return out;
}

}  // namespace svilm::eval
