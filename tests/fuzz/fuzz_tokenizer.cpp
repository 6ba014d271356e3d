// libFuzzer target: arbitrary bytes through the tokenizer (strict and lenient UTF-8), encode,
// decode and the noun extractor. Any crash, sanitizer report or exception other than
// svilm::TextError is a bug.
//
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DSVILM_BUILD_FUZZERS=ON
//   cmake --build build/fuzz --target svilm_fuzz_tokenizer
//   ./build/fuzz/tests/fuzz/svilm_fuzz_tokenizer -max_total_time=600 -max_len=4096
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "svilm/text.hpp"

namespace {

const svilm::text::Tokenizer& tokenizer(svilm::text::InvalidUtf8 policy) {
    static const svilm::text::Vocabulary vocab =
        svilm::text::Vocabulary::load(std::string(SVILM_DATA_DIR) + "/vocab/bert-base-uncased-vocab.txt");
    static const svilm::text::Tokenizer strict(vocab, {true, 100, svilm::text::InvalidUtf8::reject});
    static const svilm::text::Tokenizer lenient(vocab, {true, 100, svilm::text::InvalidUtf8::replace});
    return policy == svilm::text::InvalidUtf8::reject ? strict : lenient;
}

const svilm::text::NounExtractor& nouns() {
    static const svilm::text::NounExtractor extractor = svilm::text::NounExtractor::load();
    return extractor;
}

}  // namespace

// Invariants beyond "no crash": a fixed-length encoding whose mask is ones then zeros, and on
// valid UTF-8 the strict and lenient tokenizers agree.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto& lenient = tokenizer(svilm::text::InvalidUtf8::replace);
    const auto ids = lenient.token_ids(text);
    (void)lenient.decode(ids);
    try {
        const auto e = tokenizer(svilm::text::InvalidUtf8::reject).encode(text, 32);
        if (e.ids.size() != 32 || e.attention_mask.size() != 32) __builtin_trap();
        for (std::size_t i = 1; i < 32; ++i)
            if (e.attention_mask[i] > e.attention_mask[i - 1]) __builtin_trap();
        if (tokenizer(svilm::text::InvalidUtf8::reject).token_ids(text) != ids) __builtin_trap();
        (void)tokenizer(svilm::text::InvalidUtf8::reject).decode(e.ids);
    } catch (const svilm::TextError&) {
    }
    (void)nouns().extract(text, 4);
    return 0;
}
