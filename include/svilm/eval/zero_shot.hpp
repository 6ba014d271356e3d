// svilm/eval/zero_shot.hpp: zero-shot classification of videos against class names (docs/model.md
// §8: action recognition "zero-shot with prompts made from class names"), with prompt ensembling.
//
//   const std::vector<std::string> templates = {"a video of {}.", "someone {}."};
//   const ZeroShotClassifier classifier = ZeroShotClassifier::build(names, templates, encode);
//   const Tensor<float, 2> scores = classifier.scores(video_embeddings);   // (N, C) cosine
//   for (const std::string& p : classifier.prompts(0)) std::puts(p.c_str()); // what class 0 was asked with
//
// Each class's embedding is the mean of its prompts' L2-normalised text embeddings, normalised
// again (CLIP's prompt ensembling); a video's score for a class is the cosine of the two. The
// text encoder is a callback from prompts to (P, D) embeddings, so the same code serves the CPU
// and the GPU model (svilm encode_text) and tests with a known encoder.
#pragma once

#include <cctype>
#include <cmath>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"

namespace svilm::eval {

// "ApplyEyeMakeup" -> "apply eye makeup", "moves_left" -> "moves left", "YoYo" -> "yo yo": words
// split at underscores, spaces and lower-to-upper case changes, then lower-cased.
inline std::string readable_class_name(std::string_view name) {
    std::string out;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(name[i]);
        const bool separator = c == '_' || c == ' ' || c == '-';
        const bool new_word = std::isupper(c) && i > 0 && std::islower(static_cast<unsigned char>(name[i - 1]));
        if ((separator || new_word) && !out.empty() && out.back() != ' ') out += ' ';
        if (!separator) out += char(std::tolower(c));
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

// `text` with every "{}" replaced by `name`. requires: the template holds "{}".
inline std::string fill_template(std::string_view text, std::string_view name) {
    std::string out;
    std::size_t at = 0, found = 0, count = 0;
    while ((found = text.find("{}", at)) != std::string_view::npos) {
        out.append(text.substr(at, found - at)).append(name);
        at = found + 2;
        ++count;
    }
    if (count == 0) throw ValueError("fill_template: the prompt template '" + std::string(text) + "' has no {}");
    return out.append(text.substr(at));
}

class ZeroShotClassifier {
public:
    // Prompts (P, ...) -> their text embeddings (P, D) on the host.
    using TextEncoder = std::function<Tensor<float, 2>(const std::vector<std::string>&)>;

    // One prompt per (class, template): template t filled with class c's name; the encoder sees
    // them all at once, class by class. requires: names and templates not empty.
    static ZeroShotClassifier build(const std::vector<std::string>& class_names, const std::vector<std::string>& templates,
                                    const TextEncoder& encode) {
        const char* op = "ZeroShotClassifier::build";
        if (class_names.empty() || templates.empty()) throw ValueError(std::string(op) + ": no class names or no templates");
        ZeroShotClassifier z;
        z.names_ = class_names;
        z.templates_ = templates;
        std::vector<std::string> prompts;
        for (const std::string& name : class_names)
            for (const std::string& t : templates) prompts.push_back(fill_template(t, name));
        const Tensor<float, 2> embedded = encode(prompts);
        const index_t C = index_t(class_names.size()), P = index_t(templates.size());
        if (embedded.extent(0) != C * P || embedded.extent(1) < 1)
            throw ShapeError(std::string(op) + ": the encoder gave " + to_string<2>(embedded.shape()) + " for " +
                             std::to_string(C * P) + " prompts");
        const index_t D = embedded.extent(1);
        z.classes_ = Tensor<float, 2>({C, D});
        for (index_t c = 0; c < C; ++c) {
            std::vector<double> mean(static_cast<std::size_t>(D), 0.0);
            for (index_t p = 0; p < P; ++p) {
                const index_t row = c * P + p;
                const double norm = row_norm(embedded, row);
                if (!(norm > 0) || !std::isfinite(norm))
                    throw ValueError(std::string(op) + ": the prompt '" + prompts[std::size_t(row)] +
                                     "' has an embedding of norm " + std::to_string(norm));
                for (index_t d = 0; d < D; ++d) mean[std::size_t(d)] += double(embedded(row, d)) / norm / double(P);
            }
            double norm = 0;
            for (double v : mean) norm += v * v;
            norm = std::sqrt(norm);
            if (!(norm > 0))
                throw ValueError(std::string(op) + ": the prompts of class '" + class_names[std::size_t(c)] + "' cancel out");
            for (index_t d = 0; d < D; ++d) z.classes_(c, d) = float(mean[std::size_t(d)] / norm);
        }
        return z;
    }

    index_t classes() const { return classes_.extent(0); }
    const std::vector<std::string>& class_names() const { return names_; }
    const std::vector<std::string>& templates() const { return templates_; }
    // The prompts class c was described with, in template order.
    std::vector<std::string> prompts(index_t c) const {
        std::vector<std::string> out;
        for (const std::string& t : templates_) out.push_back(fill_template(t, names_.at(std::size_t(c))));
        return out;
    }
    // (C, D) the ensembled, L2-normalised class embeddings.
    TensorView<const float, 2> class_embeddings() const { return classes_; }

    // Cosine scores (N, C) of videos (N, D): each video row is normalised here.
    Tensor<float, 2> scores(TensorView<const float, 2> videos) const {
        const index_t N = videos.extent(0), C = classes_.extent(0), D = classes_.extent(1);
        if (videos.extent(1) != D)
            throw ShapeError("ZeroShotClassifier::scores: videos " + to_string<2>(videos.shape()) + " vs class embeddings " +
                             to_string<2>(classes_.shape()));
        Tensor<float, 2> out({N, C}, uninitialized);
        for (index_t i = 0; i < N; ++i) {
            double norm = 0;
            for (index_t d = 0; d < D; ++d) norm += double(videos(i, d)) * double(videos(i, d));
            norm = std::sqrt(norm);
            if (!(norm > 0) || !std::isfinite(norm))
                throw ValueError("ZeroShotClassifier::scores: video " + std::to_string(i) + " has an embedding of norm " +
                                 std::to_string(norm));
            for (index_t c = 0; c < C; ++c) {
                double dot = 0;
                for (index_t d = 0; d < D; ++d) dot += double(videos(i, d)) * double(classes_(c, d));
                out(i, c) = float(dot / norm);
            }
        }
        return out;
    }

private:
    static double row_norm(const Tensor<float, 2>& m, index_t row) {
        double s = 0;
        for (index_t d = 0; d < m.extent(1); ++d) s += double(m(row, d)) * double(m(row, d));
        return std::sqrt(s);
    }

    std::vector<std::string> names_, templates_;
    Tensor<float, 2> classes_;  // (C, D)
};

}  // namespace svilm::eval
