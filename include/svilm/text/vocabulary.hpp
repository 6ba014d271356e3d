// svilm/text/vocabulary.hpp: a WordPiece vocabulary (BERT's vocab.txt: one token per line, the
// line number is the id).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "svilm/core/error.hpp"
#include "svilm/text/utf8.hpp"

namespace svilm::text {

struct SpecialTokens {
    std::int64_t pad, unk, cls, sep, mask;
};

class Vocabulary {
public:
    // Reads vocab.txt. Lines are trimmed of surrounding whitespace as BERT's loader does; an
    // unreadable file is an IoError, invalid UTF-8, an empty or duplicate token, or a missing
    // special token ([PAD] [UNK] [CLS] [SEP] [MASK]) a FormatError naming the file and line.
    static Vocabulary load(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw IoError(path.string() + ": cannot open vocabulary");
        std::vector<std::string> tokens;
        std::string line;
        while (std::getline(in, line)) {
            const auto begin = line.find_first_not_of(" \t\r\n");
            const auto end = line.find_last_not_of(" \t\r\n");
            tokens.push_back(begin == std::string::npos ? std::string() : line.substr(begin, end - begin + 1));
        }
        if (in.bad()) throw IoError(path.string() + ": read error");
        return Vocabulary(std::move(tokens), path.string());
    }

    Vocabulary(std::vector<std::string> tokens, std::string source) : tokens_(std::move(tokens)), source_(std::move(source)) {
        ids_.reserve(tokens_.size());
        for (std::size_t i = 0; i < tokens_.size(); ++i) {
            const std::string where = source_ + ": line " + std::to_string(i + 1);
            if (tokens_[i].empty()) throw FormatError(where + " is empty");
            try {
                const std::u32string cps = decode_utf8(tokens_[i], InvalidUtf8::reject, where);
                const bool continuation = tokens_[i].rfind("##", 0) == 0 && tokens_[i].size() > 2;
                max_piece_chars_ = std::max(max_piece_chars_, cps.size() - (continuation ? 2 : 0));
            } catch (const TextError& e) {
                throw FormatError(e.what());
            }
            if (!ids_.emplace(tokens_[i], std::int64_t(i)).second)
                throw FormatError(where + ": duplicate token '" + tokens_[i] + "'");
        }
        specials_ = {required("[PAD]"), required("[UNK]"), required("[CLS]"), required("[SEP]"), required("[MASK]")};
    }

    std::size_t size() const { return tokens_.size(); }
    const SpecialTokens& specials() const { return specials_; }
    const std::string& source() const { return source_; }
    // Longest piece in code points, without a "##" prefix: WordPiece never tries a longer one.
    std::size_t max_piece_chars() const { return max_piece_chars_; }

    std::optional<std::int64_t> find(std::string_view token) const {
        const auto it = ids_.find(token);
        if (it == ids_.end()) return std::nullopt;
        return it->second;
    }

    const std::string& token(std::int64_t id) const {
        if (id < 0 || std::size_t(id) >= tokens_.size())
            throw ValueError(source_ + ": id " + std::to_string(id) + " is outside the vocabulary of " +
                             std::to_string(tokens_.size()));
        return tokens_[std::size_t(id)];
    }

private:
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    std::int64_t required(const char* token) const {
        const auto id = find(token);
        if (!id) throw FormatError(source_ + ": the special token " + token + " is missing");
        return *id;
    }

    std::vector<std::string> tokens_;
    std::string source_;
    std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> ids_;
    SpecialTokens specials_{};
    std::size_t max_piece_chars_ = 1;
};

}  // namespace svilm::text
