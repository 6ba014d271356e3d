// svilm/data/csv.hpp: RFC 4180 records, each with the line it starts on, for the manifest
// (manifest.hpp) and MSR-VTT's test CSV (msrvtt.hpp, docs/model.md §13).
//
// Fields are separated by commas and may be quoted with ", a quote inside doubled (""), commas
// and line breaks inside quotes kept. LF or CRLF line ends. A malformed record is a FormatError
// naming the source and the line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "svilm/core/error.hpp"

namespace svilm::data {

class CsvReader {
public:
    // `text` without a byte order mark (text_io.hpp's without_byte_order_mark); `source` names
    // it in errors and must outlive the reader.
    CsvReader(std::string_view text, const std::string& source) : text_(text), source_(source) {}

    // The next record's fields and the line it starts on; false at the end of the text. A blank
    // line is one empty field.
    bool next(std::vector<std::string>& fields, std::size_t& line) {
        if (pos_ >= text_.size()) return false;
        fields.assign(1, std::string());
        line = line_;
        bool quoted = false, was_quoted = false;
        while (pos_ < text_.size()) {
            const char ch = text_[pos_++];
            if (quoted) {
                if (ch == '"') {
                    if (pos_ < text_.size() && text_[pos_] == '"') {
                        fields.back().push_back('"');
                        ++pos_;
                    } else {
                        quoted = false;
                    }
                } else {
                    if (ch == '\n') ++line_;
                    fields.back().push_back(ch);
                }
            } else if (ch == '"') {
                if (!fields.back().empty() || was_quoted)
                    throw FormatError(source_ + ": line " + std::to_string(line_) + ": a quote inside an unquoted field");
                quoted = was_quoted = true;
            } else if (ch == ',') {
                fields.emplace_back();
                was_quoted = false;
            } else if (ch == '\n' || ch == '\r') {
                if (ch == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
                ++line_;
                return true;
            } else {
                if (was_quoted)
                    throw FormatError(source_ + ": line " + std::to_string(line_) + ": text after a closing quote");
                fields.back().push_back(ch);
            }
        }
        if (quoted) throw FormatError(source_ + ": line " + std::to_string(line) + ": a quoted field is not closed");
        return true;
    }

private:
    std::string_view text_;
    const std::string& source_;
    std::size_t pos_ = 0;
    std::size_t line_ = 1;
};

}  // namespace svilm::data
