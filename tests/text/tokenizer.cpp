#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "svilm/text.hpp"

namespace svilm::text {
namespace {

const std::string vocab_path = std::string(SVILM_DATA_DIR) + "/vocab/bert-base-uncased-vocab.txt";

const Tokenizer& bert() {
    static const Tokenizer tokenizer(Vocabulary::load(vocab_path));
    return tokenizer;
}

// The escapes of tests/data/tokenizer_cases.tsv: \\ \t \n \r \uXXXX.
std::string unescape(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 >= s.size()) {
            out.push_back(s[i]);
            continue;
        }
        const char e = s[++i];
        if (e == '\\') out.push_back('\\');
        else if (e == 't') out.push_back('\t');
        else if (e == 'n') out.push_back('\n');
        else if (e == 'r') out.push_back('\r');
        else if (e == 'u') {
            append_utf8(out, char32_t(std::stoul(s.substr(i + 1, 4), nullptr, 16)));
            i += 4;
        } else {
            FAIL("unknown escape \\" << e);
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> read_tsv(const std::string& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    std::vector<std::pair<std::string, std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '#') continue;
        const auto tab = line.find('\t');
        REQUIRE_MESSAGE(tab != std::string::npos, "no TAB in: " << line);
        rows.emplace_back(line.substr(0, tab), line.substr(tab + 1));
    }
    return rows;
}

std::string join(const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& p : pieces) out += (out.empty() ? "" : " ") + p;
    return out;
}

TEST_CASE("the bert-base-uncased vocabulary has the known ids") {
    const Vocabulary& v = bert().vocabulary();
    CHECK(v.size() == 30522);
    CHECK(v.specials().pad == 0);
    CHECK(v.specials().unk == 100);
    CHECK(v.specials().cls == 101);
    CHECK(v.specials().sep == 102);
    CHECK(v.specials().mask == 103);
    CHECK(v.find("i") == 1045);
    CHECK(v.find("like") == 2066);
    CHECK(v.find("straw") == 13137);
    CHECK(v.find("##berries") == 20968);
    CHECK(v.token(1) == "[unused0]");
    CHECK(bert().token_ids("I like strawberries") == std::vector<std::int64_t>{1045, 2066, 13137, 20968});
}

TEST_CASE("every caption of the reference table tokenizes to the same pieces") {
    const auto rows = read_tsv(std::string(SVILM_TEST_DATA_DIR) + "/tokenizer_cases.tsv");
    CHECK(rows.size() >= 40);
    int mismatches = 0;
    for (const auto& [escaped, expected] : rows) {
        const std::string caption = unescape(escaped);
        const std::string ours = join(bert().tokenize(caption));
        if (ours != expected && ++mismatches <= 10) MESSAGE("caption: " << escaped << "\n  ours:     " << ours << "\n  expected: " << expected);
    }
    CHECK(mismatches == 0);
}

TEST_CASE("encode adds [CLS] and [SEP], truncates, pads and masks") {
    const Encoding e = bert().encode("i like strawberries", 8);
    CHECK(e.ids == std::vector<std::int64_t>{101, 1045, 2066, 13137, 20968, 102, 0, 0});
    CHECK(e.attention_mask == std::vector<std::uint8_t>{1, 1, 1, 1, 1, 1, 0, 0});
    CHECK_FALSE(e.truncated);
    const Encoding t = bert().encode("i like strawberries", 4);
    CHECK(t.ids == std::vector<std::int64_t>{101, 1045, 2066, 102});
    CHECK(t.truncated);
    const Encoding empty = bert().encode("", 4);
    CHECK(empty.ids == std::vector<std::int64_t>{101, 102, 0, 0});
    CHECK_THROWS_AS(bert().encode("x", 1), ValueError);
    CHECK(bert().decode(e.ids) == "i like strawberries");
    CHECK(bert().decode(e.ids, true) == "[CLS] i like strawberries [SEP] [PAD] [PAD]");
}

TEST_CASE("batch encoding fills (B, L) tensors and counts truncation") {
    const std::vector<std::string> texts = {"a red circle moves left", "", "a blue star grows and a white ring stays still"};
    const BatchEncoding b = bert().encode_batch(texts, 8);
    CHECK(b.ids.shape() == Extents<2>{3, 8});
    CHECK(b.ids(1, 0) == 101);
    CHECK(b.ids(1, 1) == 102);
    CHECK(b.attention_mask(1, 2) == 0);
    CHECK(b.truncated == 1);
    for (index_t col = 0; col < 8; ++col) CHECK(b.ids(0, col) == bert().encode(texts[0], 8).ids[std::size_t(col)]);
}

TEST_CASE("a large batch is encoded in parallel, row for row as encode, and names a bad text") {
    std::vector<std::string> texts;
    for (int i = 0; i < 300; ++i) texts.push_back("caption number " + std::to_string(i) + " of a café scene");
    const BatchEncoding b = bert().encode_batch(texts, 16);
    for (int i : {0, 137, 299}) {
        const Encoding e = bert().encode(texts[std::size_t(i)], 16);
        for (index_t col = 0; col < 16; ++col) {
            CHECK(b.ids(i, col) == e.ids[std::size_t(col)]);
            CHECK(b.attention_mask(i, col) == e.attention_mask[std::size_t(col)]);
        }
    }
    texts[280] = "bad \xC3\x28 text";
    CHECK_THROWS_WITH_AS(bert().encode_batch(texts, 16), doctest::Contains("text 280 of the batch"), TextError);
    CHECK_THROWS_AS(bert().encode_batch(texts, 1), ValueError);
}

TEST_CASE("invalid UTF-8 is rejected with its offset, or replaced and dropped") {
    const std::string bad[] = {"caf\xC3", "\xFF", "a\x80z", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82"};
    for (const std::string& s : bad) {
        INFO(s.size());
        CHECK_THROWS_AS(bert().tokenize(s), TextError);
    }
    CHECK_THROWS_WITH_AS(bert().tokenize("ok \xFF"), "text: invalid UTF-8 at byte 3", TextError);
    Tokenizer lenient(bert().vocabulary(), TokenizerOptions{true, 100, InvalidUtf8::replace});
    CHECK(join(lenient.tokenize("a\x80z dog")) == "az dog");  // U+FFFD is dropped by clean-up, as BERT does
    CHECK(join(lenient.tokenize("caf\xC3")) == "caf");
    const std::vector<std::string> batch = {"fine", "bro\xFFken"};
    CHECK_THROWS_WITH_AS(bert().encode_batch(batch, 8), doctest::Contains("text 1 of the batch"), TextError);
    CHECK(decode_utf8("\xF0\x9F\x98\x80") == U"\U0001F600");
    CHECK(decode_utf8("\xE0\x80\xAF", InvalidUtf8::replace).size() == 3);  // overlong: one U+FFFD per byte
}

TEST_CASE("words longer than 100 characters become [UNK]") {
    CHECK(join(bert().tokenize(std::string(101, 'a'))) == "[UNK]");
    CHECK(join(bert().tokenize(std::string(100, 'a'))) != "[UNK]");
}

TEST_CASE("vocabulary files are validated") {
    CHECK_THROWS_AS(Vocabulary::load("/nonexistent/vocab.txt"), IoError);
    CHECK_THROWS_WITH_AS(Vocabulary({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "dog", "dog"}, "v.txt"),
                         "v.txt: line 7: duplicate token 'dog'", FormatError);
    CHECK_THROWS_WITH_AS(Vocabulary({"[PAD]", "[UNK]", "dog"}, "v.txt"), doctest::Contains("[CLS] is missing"), FormatError);
    CHECK_THROWS_AS(Vocabulary({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "bad\xFF"}, "v.txt"), FormatError);
    const Tokenizer tiny(Vocabulary({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a"}, "tiny"));
    CHECK(join(tiny.tokenize("unaffable a unknown")) == "un ##aff ##able a [UNK]");
    CHECK_THROWS_AS(tiny.decode(std::vector<std::int64_t>{42}), ValueError);
}

TEST_CASE("prompts wrap noun phrases and mark missing slots") {
    CHECK(format_prompt(default_prompt_template, "red circle") == "a video of a red circle.");
    CHECK_THROWS_AS(format_prompt("no slot", "x"), ValueError);
    const std::vector<std::vector<std::string>> phrases = {{"man", "red tomato"}, {"dog"}, {}};
    const PromptBatch p = encode_prompts(bert(), phrases, 2, 12);
    CHECK(p.ids.shape() == Extents<2>{6, 12});
    CHECK(p.valid(0, 1) == 1);
    CHECK(p.valid(1, 1) == 0);
    CHECK(p.valid(2, 0) == 0);
    CHECK(bert().decode(std::vector<std::int64_t>(&p.ids(1, 0), &p.ids(1, 0) + 12)) == "a video of a red tomato .");
    CHECK(p.ids(3, 0) == 101);
    CHECK(p.ids(3, 1) == 102);

    const std::vector<std::string> templates = {"a video of a {}.", "a photo of the {}."};
    const PromptBatch ensemble = encode_prompts(bert(), phrases, 2, 12, templates);
    CHECK(ensemble.ids.shape() == Extents<2>{12, 12});
    CHECK(ensemble.templates == 2);
    // row (b * K + k) * T + t: caption 0, phrase 1, template 1
    CHECK(bert().decode(std::vector<std::int64_t>(&ensemble.ids(3, 0), &ensemble.ids(3, 0) + 12)) ==
          "a photo of the red tomato .");
    CHECK_THROWS_AS(encode_prompts(bert(), phrases, 2, 12, std::span<const std::string>{}), ValueError);
}

}  // namespace
}  // namespace svilm::text
