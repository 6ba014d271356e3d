// svilm/text/unicode.hpp: the character classes and normalisations of BERT's basic tokenizer,
// with Unicode data from utf8proc (Debian's libutf8proc), not hand-written tables.
//
// The reference tokenizer runs on Python 3.11's Unicode 14.0 tables; Debian 12's utf8proc
// (2.8) has Unicode 15.0: the two can differ only on characters added in 15.0.
#pragma once

#include <utf8proc.h>

#include <string>
#include <string_view>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/text/utf8.hpp"

namespace svilm::text {

inline utf8proc_category_t category(char32_t cp) { return utf8proc_category(utf8proc_int32_t(cp)); }

// BERT's whitespace: space, tab, newline, carriage return, and category Zs. Python's
// str.split() additionally splits on the line and paragraph separators.
inline bool is_whitespace(char32_t cp) {
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
    if (cp < 0x80) return false;
    return category(cp) == UTF8PROC_CATEGORY_ZS || cp == 0x2028 || cp == 0x2029;
}

// BERT's control characters (removed by clean-up): categories Cc and Cf, except tab, newline
// and carriage return, which count as whitespace.
inline bool is_control(char32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF;
}

// BERT's punctuation: the ASCII symbol ranges (so "$", "^", "`" split although Unicode calls
// them symbols), plus every category P*.
inline bool is_punctuation(char32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
        return true;
    if (cp < 0x80) return false;
    const auto c = category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

// The CJK Unified Ideograph blocks BERT surrounds with spaces (not Hiragana, Katakana, Hangul).
inline bool is_cjk_ideograph(char32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

inline bool is_cased_letter(char32_t cp) {
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

// Unicode's Case_Ignorable: marks, format characters, modifiers, and the word-internal
// punctuation of Word_Break MidLetter / MidNumLet / Single_Quote.
inline bool is_case_ignorable(char32_t cp) {
    switch (cp) {
        case '\'': case '.': case ':': case 0x00B7: case 0x0387: case 0x055F: case 0x05F4: case 0x2018: case 0x2019:
        case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
            return true;
        default: break;
    }
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_ME || c == UTF8PROC_CATEGORY_CF ||
           c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_SK;
}

// Unicode's Final_Sigma context at word[i]: a cased letter before it and none after it, each
// looking past case-ignorable characters.
inline bool is_final_sigma(std::u32string_view word, std::size_t i) {
    bool cased_before = false;
    for (std::size_t j = i; j-- > 0;) {
        if (is_case_ignorable(word[j])) continue;
        cased_before = is_cased_letter(word[j]);
        break;
    }
    if (!cased_before) return false;
    for (std::size_t j = i + 1; j < word.size(); ++j) {
        if (is_case_ignorable(word[j])) continue;
        return !is_cased_letter(word[j]);
    }
    return true;
}

// Python's str.lower() on a word: the simple mapping, plus the two full mappings it applies:
// U+0130 (I with dot above) -> "i" + U+0307, and capital sigma -> final sigma in the
// Final_Sigma context.
inline void append_lower(std::u32string& out, std::u32string_view word) {
    for (std::size_t i = 0; i < word.size(); ++i) {
        const char32_t cp = word[i];
        if (cp < 0x80) {
            out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
        } else if (cp == 0x130) {
            out.push_back('i');
            out.push_back(0x307);
        } else if (cp == 0x3A3) {
            out.push_back(is_final_sigma(word, i) ? char32_t(0x3C2) : char32_t(0x3C3));
        } else {
            out.push_back(char32_t(utf8proc_tolower(utf8proc_int32_t(cp))));
        }
    }
}

// NFD (canonical decomposition and ordering), then drops nonspacing marks (Mn): BERT's
// strip-accents step, "café" -> "cafe".
inline void append_stripped_accents(std::u32string& out, std::u32string_view word) {
    bool ascii = true;
    for (char32_t cp : word) ascii = ascii && cp < 0x80;
    if (ascii) {
        out.append(word);
        return;
    }
    // utf8proc decomposes UTF-8 input into code points, with canonical ordering.
    std::string utf8;
    for (char32_t cp : word) append_utf8(utf8, cp);
    std::vector<utf8proc_int32_t> buffer(word.size() * 4 + 8, 0);
    for (;;) {
        const utf8proc_ssize_t n = utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                                                      utf8proc_ssize_t(utf8.size()), buffer.data(),
                                                      utf8proc_ssize_t(buffer.size()), UTF8PROC_DECOMPOSE);
        if (n < 0) throw TextError(std::string("NFD decomposition failed: ") + utf8proc_errmsg(n));
        if (std::size_t(n) > buffer.size()) {
            buffer.assign(std::size_t(n), 0);
            continue;
        }
        for (utf8proc_ssize_t k = 0; k < n; ++k) {
            const char32_t cp = char32_t(buffer[std::size_t(k)]);
            if (category(cp) != UTF8PROC_CATEGORY_MN) out.push_back(cp);
        }
        return;
    }
}

}  // namespace svilm::text
