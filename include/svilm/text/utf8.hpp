// svilm/text/utf8.hpp: strict UTF-8 decoding and encoding.
//
// Invalid input (overlong forms, surrogates, code points above U+10FFFF, truncated or stray
// continuation bytes) is handled by policy: `reject` throws TextError naming the byte offset;
// `replace` substitutes U+FFFD for each maximal invalid subsequence (the Unicode-recommended
// practice), which the BERT tokenizer then drops like any other U+FFFD.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "svilm/core/error.hpp"

namespace svilm::text {

enum class InvalidUtf8 { reject, replace };

inline constexpr char32_t replacement_character = 0xFFFD;

// Decodes `text` into code points. `what` names the input in error messages (a file, a row).
inline std::u32string decode_utf8(std::string_view text, InvalidUtf8 policy = InvalidUtf8::reject,
                                  std::string_view what = "text") {
    std::u32string out;
    out.reserve(text.size());
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char lead = s[i];
        if (lead < 0x80) {
            out.push_back(lead);
            ++i;
            continue;
        }
        std::size_t length = 0;
        char32_t cp = 0, min = 0;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2, cp = lead & 0x1F, min = 0x80;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3, cp = lead & 0x0F, min = 0x800;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4, cp = lead & 0x07, min = 0x10000;
        }
        std::size_t consumed = 1;  // the maximal invalid subsequence ends before the first bad byte
        bool valid = length != 0;
        for (std::size_t k = 1; valid && k < length; ++k) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80) {
                valid = false;
                break;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
            consumed = k + 1;
            // Reject as early as the second byte allows: overlong, surrogate or too large.
            if (k == 1 && ((length == 3 && ((lead == 0xE0 && s[i + 1] < 0xA0) || (lead == 0xED && s[i + 1] > 0x9F))) ||
                           (length == 4 && ((lead == 0xF0 && s[i + 1] < 0x90) || (lead == 0xF4 && s[i + 1] > 0x8F))))) {
                valid = false;
                consumed = 1;
            }
        }
        if (valid && cp >= min) {
            out.push_back(cp);
            i += length;
            continue;
        }
        if (policy == InvalidUtf8::reject)
            throw TextError(std::string(what) + ": invalid UTF-8 at byte " + std::to_string(i));
        out.push_back(replacement_character);
        i += consumed;
    }
    return out;
}

inline void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(char(cp));
    } else if (cp < 0x800) {
        out.push_back(char(0xC0 | (cp >> 6)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(char(0xE0 | (cp >> 12)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (cp >> 18)));
        out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    }
}

inline std::string encode_utf8(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t cp : text) append_utf8(out, cp);
    return out;
}

}  // namespace svilm::text
