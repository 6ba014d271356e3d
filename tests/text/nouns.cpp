#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "svilm/text/nouns.hpp"
#include "svilm/text/unicode.hpp"
#include "svilm/text/utf8.hpp"

namespace svilm::text {
namespace {

const NounExtractor& wordnet() {
    static const NounExtractor extractor = NounExtractor::load();
    return extractor;
}

// lower-cased, accents stripped: how the scorer compares phrases ("résumé" is "resume")
std::u32string fold(const std::string& phrase) {
    std::u32string lower, folded;
    append_lower(lower, decode_utf8(phrase));
    append_stripped_accents(folded, lower);
    return folded;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i)
        if (i == s.size() || s[i] == sep) {
            if (i > start) out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    return out;
}

TEST_CASE("noun phrases of the synthetic benchmark's captions are its colour-shape pairs") {
    CHECK(wordnet().extract("a red circle moves left") == std::vector<std::string>{"red circle"});
    CHECK(wordnet().extract("a blue star grows and a white ring stays still") ==
          std::vector<std::string>{"blue star", "white ring"});
    CHECK(wordnet().extract("a green square moves up, then a pink hexagon shrinks") ==
          std::vector<std::string>{"green square", "pink hexagon"});
    // "right" has more adverb than noun senses: a direction here, not a phrase
    CHECK(wordnet().extract("a red circle moves right and a blue square grows") ==
          std::vector<std::string>{"red circle", "blue square"});
    CHECK(wordnet().extract("an orange ring moves right, then a white star moves down") ==
          std::vector<std::string>{"orange ring", "white star"});
    CHECK(wordnet().extract("a man is slicing a red tomato on a wooden board") ==
          std::vector<std::string>{"man", "red tomato"});
    CHECK(wordnet().extract("a man is slicing a red tomato on a wooden board", 3).size() == 3);
    CHECK(wordnet().extract("").empty());
}

using Phrases = std::vector<std::string>;

// Each failure kind of the earlier rule, with the issue's own examples (none of them is a caption
// of the held-out sets in tests/data/nouns/).
TEST_CASE("compounds WordNet knows, and runs of nouns, stay whole; the longest match wins") {
    CHECK(wordnet().extract("a man hits a golf ball", 9) == Phrases{"man", "golf ball"});
    CHECK(wordnet().extract("a fire truck parks next to a coffee table", 9) == Phrases{"fire truck", "coffee table"});
    CHECK(wordnet().extract("kids jump into a swimming pool", 9) == Phrases{"kids", "swimming pool"});
    CHECK(wordnet().extract("the traffic light turns green", 9) == Phrases{"traffic light"});
    CHECK(wordnet().extract("a boy eats a hot dog", 9) == Phrases{"boy", "hot dog"});
    CHECK(wordnet().extract("a woman wipes the kitchen counter", 9) == Phrases{"woman", "kitchen counter"});
    // a person is followed by what it does, not by the next noun of a compound
    CHECK(wordnet().extract("a woman walks her dog", 9) == Phrases{"woman", "dog"});
    CHECK(wordnet().extract("two men load a couch", 9) == Phrases{"men", "couch"});
}

TEST_CASE("partitive and collective heads give way to what they quantify; alone they are nouns") {
    CHECK(wordnet().extract("a flock of birds flies over a stack of plates", 9) == Phrases{"birds", "plates"});
    CHECK(wordnet().extract("a group of friends holds a pair of shoes, a piece of paper and a bunch of bananas", 9) ==
          Phrases{"friends", "shoes", "paper", "bananas"});
    CHECK(wordnet().extract("a couple of dogs play", 9) == Phrases{"dogs"});
    CHECK(wordnet().extract("the crowd cheers", 9) == Phrases{"crowd"});
}

TEST_CASE("accented words are looked up folded, as the uncased tokenizer folds them, and kept as written") {
    CHECK(wordnet().extract("a woman reads her résumé in front of the old façade", 9) ==
          Phrases{"woman", "résumé", "old façade"});
    CHECK(wordnet().extract("an old señor", 9) == Phrases{"old señor"});
    CHECK(wordnet().extract("a waiter serves crêpes in a café", 9) == Phrases{"waiter", "crêpes", "café"});
}

TEST_CASE("events, times, talk and words about the video itself are not groundable") {
    CHECK(wordnet().extract("friends dance at a birthday party", 9) == Phrases{"friends"});
    CHECK(wordnet().extract("a band plays at a concert", 9) == Phrases{"band"});
    CHECK(wordnet().extract("a moment of silence").empty());
    CHECK(wordnet().extract("the title appears on screen").empty());
    CHECK(wordnet().extract("slow motion video of a dog", 9) == Phrases{"dog"});
    CHECK(wordnet().extract("time lapse of clouds over a mountain", 9) == Phrases{"clouds", "mountain"});
}

TEST_CASE("numbers, hyphenated modifiers, names and contractions") {
    CHECK(wordnet().extract("a 5-year-old boy rides a bike", 9) == Phrases{"boy", "bike"});
    CHECK(wordnet().extract("a three-legged dog wears a blue t-shirt", 9) == Phrases{"dog", "blue t-shirt"});
    CHECK(wordnet().extract("a man walks through Paris with his dog", 9) == Phrases{"man", "dog"});
    CHECK(wordnet().extract("now we're going to remove the old faucet", 9) == Phrases{"old faucet"});
    CHECK(wordnet().extract("set the timer for twenty minutes", 9) == Phrases{"timer"});
}

TEST_CASE("noun phrases against 92 hand-annotated captions: precision and recall") {
    std::ifstream in(std::string(SVILM_TEST_DATA_DIR) + "/caption_nouns.tsv");
    REQUIRE(in.good());
    std::string line;
    int captions = 0, predicted = 0, expected = 0, correct = 0, exact_captions = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto tab = line.find('\t');
        REQUIRE(tab != std::string::npos);
        const std::string caption = line.substr(0, tab);
        const std::vector<std::string> gold = split(line.substr(tab + 1), '|');
        const std::vector<std::string> ours = wordnet().extract(caption, 2);
        ++captions;
        predicted += int(ours.size());
        expected += int(gold.size());
        int hits = 0;
        for (const auto& p : ours) hits += std::find(gold.begin(), gold.end(), p) != gold.end();
        correct += hits;
        if (ours == gold) ++exact_captions;
        else MESSAGE(caption << "  ->  ours: " << (ours.empty() ? "" : ours[0]) << (ours.size() > 1 ? " | " + ours[1] : "")
                             << "   gold: " << line.substr(tab + 1));
    }
    const double precision = double(correct) / predicted, recall = double(correct) / expected;
    MESSAGE("noun phrases on " << captions << " captions: precision " << precision << ", recall " << recall
                               << ", captions exactly right " << exact_captions);
    CHECK(captions >= 60);
    // This set was annotated before docs/noun_annotation.md and counts events, talk and sports
    // as nouns ("a speech", "the news", "playing soccer", "a group of people" -> group|people),
    // which the guidelines and the extractor now leave out: measured precision 0.994 and recall
    // 0.931 (80 of 92 exactly right; 10 of the 12 misses are such words, the other two "waves"
    // and "clothes" after a verb). The floors sit a little lower.
    CHECK(precision >= 0.95);
    CHECK(recall >= 0.90);
}

// The development half of the hand-annotated set (tests/data/nouns/captions_dev.tsv, written
// and annotated from docs/noun_annotation.md by someone who never saw the extractor): the rule
// was tuned on it, so it guards against regressions; the test half is scored only by
// scripts/score_nouns.py, and its numbers are in the README.
TEST_CASE("noun phrases against the development captions: every phrase, accents folded") {
    std::ifstream in(std::string(SVILM_TEST_DATA_DIR) + "/nouns/captions_dev.tsv");
    REQUIRE(in.good());
    std::string line;
    int captions = 0, predicted = 0, expected = 0, correct = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto first = line.find('\t'), second = line.find('\t', first + 1);
        REQUIRE(second != std::string::npos);
        const std::string caption = line.substr(first + 1, second - first - 1);
        std::vector<std::string> gold = split(line.substr(second + 1), '|'), ours = wordnet().extract(caption, 64);
        for (auto* list : {&gold, &ours})
            for (std::string& p : *list) p = encode_utf8(fold(p));
        ++captions;
        predicted += int(ours.size());
        expected += int(gold.size());
        for (const auto& p : ours) correct += std::find(gold.begin(), gold.end(), p) != gold.end();
    }
    const double precision = double(correct) / predicted, recall = double(correct) / expected;
    MESSAGE("development captions: " << captions << ", precision " << precision << ", recall " << recall);
    CHECK(captions >= 150);
    // measured 0.942 and 0.944
    CHECK(precision >= 0.93);
    CHECK(recall >= 0.93);
}

TEST_CASE("a missing lexicon names the file and the package") {
    CHECK_THROWS_WITH_AS(NounExtractor::load("/nonexistent"), doctest::Contains("/nonexistent/index.noun"), IoError);
}

}  // namespace
}  // namespace svilm::text
