// svilm/text/tokenizer.hpp: BERT's uncased tokenizer, the basic tokenizer followed by greedy
// longest-match-first WordPiece, with encoding to ids, attention masks and batches.
//
// Basic tokenizer, as google-research/bert's tokenization.py (uncased):
//   1. decode UTF-8 (invalid input: TextError, or U+FFFD under InvalidUtf8::replace);
//   2. clean: drop NUL, U+FFFD and control characters (Cc, Cf), map whitespace to a space;
//   3. put spaces around CJK ideographs; split on whitespace;
//   4. per word: lower-case, NFD, drop nonspacing marks, split off every punctuation character.
// WordPiece: each word of more than 100 code points is [UNK]; otherwise the longest vocabulary
// prefix is taken, then the longest "##" continuation, and so on; a word that cannot be covered
// completely is a single [UNK].
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "svilm/core/parallel.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/text/unicode.hpp"
#include "svilm/text/utf8.hpp"
#include "svilm/text/vocabulary.hpp"

namespace svilm::text {

struct TokenizerOptions {
    bool lower_case = true;                          // the uncased model; false keeps case and accents
    std::size_t max_chars_per_word = 100;            // longer words become [UNK]
    InvalidUtf8 invalid_utf8 = InvalidUtf8::reject;  // or replace with U+FFFD (then dropped)
};

// One encoded text: [CLS] pieces [SEP] then [PAD] up to max_length.
struct Encoding {
    std::vector<std::int64_t> ids;
    std::vector<std::uint8_t> attention_mask;  // 1 for real tokens (specials included), 0 for padding
    bool truncated = false;
};

// A batch: ids and attention_mask (B, max_length), ready for the text encoder.
struct BatchEncoding {
    Tensor<std::int64_t, 2> ids;
    Tensor<std::uint8_t, 2> attention_mask;
    std::size_t truncated = 0;  // how many texts lost pieces to max_length
};

class Tokenizer {
public:
    explicit Tokenizer(Vocabulary vocabulary, TokenizerOptions options = {})
        : vocab_(std::move(vocabulary)), options_(options) {}

    const Vocabulary& vocabulary() const { return vocab_; }

    // Words after the basic tokenizer (before WordPiece), as UTF-8.
    std::vector<std::string> basic_tokenize(std::string_view text) const {
        std::vector<std::string> words;
        for_each_word(text, [&](std::u32string_view word) { words.push_back(encode_utf8(word)); });
        return words;
    }

    // WordPiece pieces of `text`.
    std::vector<std::string> tokenize(std::string_view text) const {
        std::vector<std::string> pieces;
        for_each_piece(text, [&](std::int64_t id) { pieces.push_back(vocab_.token(id)); });
        return pieces;
    }

    // Ids of the pieces, without [CLS] / [SEP].
    std::vector<std::int64_t> token_ids(std::string_view text) const {
        std::vector<std::int64_t> ids;
        for_each_piece(text, [&](std::int64_t id) { ids.push_back(id); });
        return ids;
    }

    // [CLS] pieces [SEP] [PAD]...: pieces beyond max_length - 2 are dropped (truncated = true).
    // max_length must be at least 2.
    Encoding encode(std::string_view text, std::size_t max_length) const {
        if (max_length < 2) throw ValueError("Tokenizer::encode: max_length " + std::to_string(max_length) + " < 2");
        const auto& sp = vocab_.specials();
        Encoding e;
        e.ids.reserve(max_length);
        e.ids.push_back(sp.cls);
        for_each_piece(text, [&](std::int64_t id) {
            if (e.ids.size() < max_length - 1)
                e.ids.push_back(id);
            else
                e.truncated = true;
        });
        e.ids.push_back(sp.sep);
        e.attention_mask.assign(e.ids.size(), 1);
        e.ids.resize(max_length, sp.pad);
        e.attention_mask.resize(max_length, 0);
        return e;
    }

    // Encodes every text in parallel. A text that fails (invalid UTF-8 under `reject`) throws a
    // TextError naming its index once all threads are done; any other exception (e.g.
    // std::bad_alloc) is rethrown as it was, never lost inside the parallel region.
    BatchEncoding encode_batch(std::span<const std::string> texts, std::size_t max_length) const {
        if (max_length < 2) throw ValueError("Tokenizer::encode_batch: max_length " + std::to_string(max_length) + " < 2");
        const index_t batch = index_t(texts.size()), length = index_t(max_length);
        BatchEncoding out{Tensor<std::int64_t, 2>({batch, length}), Tensor<std::uint8_t, 2>({batch, length}), 0};
        std::vector<std::exception_ptr> errors(texts.size());
        std::atomic<std::size_t> truncated{0};
        parallel_for(
            batch,
            [&](index_t b) {
                try {
                    const Encoding e = encode(texts[std::size_t(b)], max_length);
                    std::copy(e.ids.begin(), e.ids.end(), &out.ids(b, 0));
                    std::copy(e.attention_mask.begin(), e.attention_mask.end(), &out.attention_mask(b, 0));
                    if (e.truncated) truncated.fetch_add(1, std::memory_order_relaxed);
                } catch (...) {
                    errors[std::size_t(b)] = std::current_exception();
                }
            },
            batch > 256, 16);
        for (std::size_t b = 0; b < errors.size(); ++b) {
            if (!errors[b]) continue;
            try {
                std::rethrow_exception(errors[b]);
            } catch (const TextError& e) {
                throw TextError("text " + std::to_string(b) + " of the batch: " + e.what());
            }
        }
        out.truncated = truncated.load();
        return out;
    }

    // Pieces joined back into text: "##" continuations attach to the previous piece; [PAD],
    // [CLS] and [SEP] are skipped unless keep_special. Lower-casing and accents are not undone.
    std::string decode(std::span<const std::int64_t> ids, bool keep_special = false) const {
        const auto& sp = vocab_.specials();
        std::string out;
        for (const std::int64_t id : ids) {
            if (!keep_special && (id == sp.pad || id == sp.cls || id == sp.sep)) continue;
            const std::string& piece = vocab_.token(id);
            if (piece.size() > 2 && piece.rfind("##", 0) == 0) {
                out.append(piece, 2);
            } else {
                if (!out.empty()) out.push_back(' ');
                out.append(piece);
            }
        }
        return out;
    }

private:
    // Calls on_word for each word of the basic tokenizer (code points).
    template <class OnWord>
    void for_each_word(std::string_view text, OnWord on_word) const {
        const std::u32string chars = decode_utf8(text, options_.invalid_utf8);
        std::u32string word, normalised;
        auto flush = [&] {
            if (word.empty()) return;
            normalised.clear();
            if (options_.lower_case) {
                std::u32string lowered;
                append_lower(lowered, word);
                append_stripped_accents(normalised, lowered);
            } else {
                normalised = word;
            }
            // split off every punctuation character as its own word
            std::size_t start = 0;
            for (std::size_t i = 0; i < normalised.size(); ++i) {
                if (!is_punctuation(normalised[i])) continue;
                if (i > start) on_word(std::u32string_view(normalised).substr(start, i - start));
                on_word(std::u32string_view(normalised).substr(i, 1));
                start = i + 1;
            }
            if (start < normalised.size()) on_word(std::u32string_view(normalised).substr(start));
            word.clear();
        };
        for (const char32_t cp : chars) {
            if (cp == 0 || cp == replacement_character || is_control(cp)) continue;
            if (is_whitespace(cp)) {
                flush();
            } else if (is_cjk_ideograph(cp)) {
                flush();
                word.push_back(cp);
                flush();
            } else {
                word.push_back(cp);
            }
        }
        flush();
    }

    // Calls on_piece with the id of each WordPiece piece.
    template <class OnPiece>
    void for_each_piece(std::string_view text, OnPiece on_piece) const {
        std::string utf8, key;
        std::vector<std::size_t> offsets;  // byte offset of each code point in utf8, plus the end
        std::vector<std::int64_t> word_ids;
        for_each_word(text, [&](std::u32string_view word) {
            const std::int64_t unk = vocab_.specials().unk;
            if (word.size() > options_.max_chars_per_word) {
                on_piece(unk);
                return;
            }
            utf8.clear();
            offsets.clear();
            for (const char32_t cp : word) {
                offsets.push_back(utf8.size());
                append_utf8(utf8, cp);
            }
            offsets.push_back(utf8.size());
            word_ids.clear();
            const std::size_t n = word.size();
            std::size_t start = 0;
            while (start < n) {
                std::size_t end = std::min(n, start + vocab_.max_piece_chars());
                std::int64_t found = -1;
                for (; end > start; --end) {
                    key.assign(start > 0 ? "##" : "");
                    key.append(utf8, offsets[start], offsets[end] - offsets[start]);
                    if (const auto id = vocab_.find(key)) {
                        found = *id;
                        break;
                    }
                }
                if (found < 0) {  // no piece covers this position: the whole word is unknown
                    on_piece(unk);
                    return;
                }
                word_ids.push_back(found);
                start = end;
            }
            for (const std::int64_t id : word_ids) on_piece(id);
        });
    }

    Vocabulary vocab_;
    TokenizerOptions options_;
};

}  // namespace svilm::text
