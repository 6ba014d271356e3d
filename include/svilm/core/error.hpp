// svilm/core/error.hpp: the exception hierarchy every public function throws from.
//
// Every error a user can cause (bad shapes, corrupt files, invalid text, unreadable videos)
// is reported as a subclass of svilm::Error whose message names the operation, file or key.
// Programs catch svilm::Error at the top and print e.what() as one line.
#pragma once

#include <stdexcept>
#include <string>

namespace svilm {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Extents that do not fit an operation: "linear_forward: x (4, 16) vs weight (24, 15)".
class ShapeError : public Error {
public:
    using Error::Error;
};

// A value outside its domain: an embedding id >= vocabulary, a negative thread count.
class ValueError : public Error {
public:
    using Error::Error;
};

// The operating system refused: a missing file, a failed write or rename.
class IoError : public Error {
public:
    using Error::Error;
};

// A file that exists but whose content is malformed: truncated safetensors, unknown dtype.
class FormatError : public Error {
public:
    using Error::Error;
};

// Reserved for the video component (libav decoding).
class VideoError : public Error {
public:
    using Error::Error;
};

// Reserved for the text component (invalid UTF-8, missing vocabulary).
class TextError : public Error {
public:
    using Error::Error;
};

}  // namespace svilm
