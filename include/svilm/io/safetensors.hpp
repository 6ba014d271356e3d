// svilm/io/safetensors.hpp: read (memory-mapped, or from memory) and write safetensors files.
//
// Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name
// to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section,
// which follows the header), plus an optional "__metadata__" string map.
//
// The reader is as strict as the reference reader (Hugging Face's safetensors crate), and
// stricter where the crate lets through what the format's specification forbids or what makes a
// file mean two things (a header not starting with '{', padding other than spaces, duplicate
// names, unknown fields). Everything is checked on open, before any tensor is touched; a
// violation is a FormatError naming the file and the key:
// - header: at most 100,000,000 bytes inside the file; a JSON object in UTF-8 starting with '{'
//   (no BOM, no leading whitespace), no NUL byte, padded only with trailing spaces (0x20);
// - names: no tensor twice, also when JSON escapes make two spellings ("a", "\u0061"); no
//   metadata key twice; "__metadata__", if present, an object of string -> string;
// - entries: exactly "dtype" (one of the 15 of DType), "shape" (non-negative integers) and
//   "data_offsets" ([begin, end]), no field missing, repeated or unknown;
// - data: each tensor's byte count is its shape's product x its dtype's size, and the byte
//   ranges, sorted, tile the data section: the first starts at 0, each starts where the previous
//   ends (no hole, no overlap, not even an empty tensor inside another's range) and the last
//   ends at the end of the file.
// The header is checked event by event while it is parsed (nlohmann's SAX interface): no JSON
// document is built and nesting stops at the format's three levels, so parsing needs memory
// linear in the header, whatever the header holds. A PyTorch checkpoint (zip or pickle) given
// by mistake is named as such.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/bfloat16.hpp"
#include "svilm/core/float16.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/io/mapped_file.hpp"

namespace svilm::io {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; big-endian hosts are not supported");

// Every dtype of the format. F8_E4M3 is torch.float8_e4m3fn (bias 7, no infinities, largest
// 448), F8_E5M2 torch.float8_e5m2 (the top byte of an F16).
enum class DType { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U64, U32, U16, U8, BOOL };

namespace detail {

struct DTypeRow {
    DType dtype;
    const char* name;
    std::size_t size;  // bytes per element
    bool floating;
};

// In DType's order, so a dtype indexes its row.
inline constexpr DTypeRow dtype_table[] = {
    {DType::F64, "F64", 8, true},  {DType::F32, "F32", 4, true},         {DType::F16, "F16", 2, true},
    {DType::BF16, "BF16", 2, true}, {DType::F8_E4M3, "F8_E4M3", 1, true}, {DType::F8_E5M2, "F8_E5M2", 1, true},
    {DType::I64, "I64", 8, false}, {DType::I32, "I32", 4, false},        {DType::I16, "I16", 2, false},
    {DType::I8, "I8", 1, false},   {DType::U64, "U64", 8, false},        {DType::U32, "U32", 4, false},
    {DType::U16, "U16", 2, false}, {DType::U8, "U8", 1, false},          {DType::BOOL, "BOOL", 1, false}};
static_assert([] {
    for (std::size_t i = 0; i < std::size(dtype_table); ++i)
        if (dtype_table[i].dtype != DType(i)) return false;
    return true;
}());

inline const DTypeRow& dtype_row(DType t) { return dtype_table[std::size_t(t)]; }
inline bool is_floating(DType t) { return dtype_row(t).floating; }

}  // namespace detail

inline std::size_t dtype_size(DType t) { return detail::dtype_row(t).size; }
inline const char* dtype_name(DType t) { return detail::dtype_row(t).name; }

inline bool parse_dtype(std::string_view name, DType& out) {
    for (const detail::DTypeRow& row : detail::dtype_table)
        if (name == row.name) {
            out = row.dtype;
            return true;
        }
    return false;
}

// The dtype whose elements are T's bytes. F8 dtypes have no storage type: read them as float.
template <class T>
constexpr DType dtype_of() {
    if constexpr (std::is_same_v<T, double>) return DType::F64;
    else if constexpr (std::is_same_v<T, float>) return DType::F32;
    else if constexpr (std::is_same_v<T, float16>) return DType::F16;
    else if constexpr (std::is_same_v<T, bfloat16>) return DType::BF16;
    else if constexpr (std::is_same_v<T, std::int64_t>) return DType::I64;
    else if constexpr (std::is_same_v<T, std::int32_t>) return DType::I32;
    else if constexpr (std::is_same_v<T, std::int16_t>) return DType::I16;
    else if constexpr (std::is_same_v<T, std::int8_t>) return DType::I8;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return DType::U64;
    else if constexpr (std::is_same_v<T, std::uint32_t>) return DType::U32;
    else if constexpr (std::is_same_v<T, std::uint16_t>) return DType::U16;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return DType::U8;
    else if constexpr (std::is_same_v<T, bool>) return DType::BOOL;
    else static_assert(sizeof(T) == 0, "no safetensors dtype for this element type");
}

namespace detail {

static_assert(sizeof(bool) == 1, "BOOL elements are written straight from bool storage");

// F8_E4M3: (1 + m/8) 2^(e-7), subnormals m/8 2^-6, S.1111.111 is NaN. Exact in float.
inline float f8_e4m3_to_float(std::uint8_t b) {
    const int exponent = (b >> 3) & 0xf, mantissa = b & 0x7;
    float magnitude;
    if (exponent == 0xf && mantissa == 0x7) magnitude = std::numeric_limits<float>::quiet_NaN();
    else if (exponent == 0) magnitude = std::ldexp(float(mantissa), -9);
    else magnitude = std::ldexp(float(8 + mantissa), exponent - 10);
    return b & 0x80 ? -magnitude : magnitude;
}

inline float f8_e5m2_to_float(std::uint8_t b) { return float(float16::from_bits(std::uint16_t(b << 8))); }

template <class S, class Decode, class F>
void for_each_stored(std::span<const std::byte> bytes, Decode decode, F& f) {
    for (std::size_t i = 0; i < bytes.size() / sizeof(S); ++i) {
        S stored;
        std::memcpy(&stored, bytes.data() + i * sizeof(S), sizeof(S));
        f(i, decode(stored));
    }
}

// Calls f(i, value) for every element of raw storage, decoded exactly: floating dtypes as float
// or double, integer dtypes as their own type, BOOL as std::uint8_t 0 or 1 (any non-zero byte
// is true, as in C++ and NumPy).
template <class F>
void for_each_element(std::span<const std::byte> bytes, DType dtype, F&& f) {
    const auto same = [](auto v) { return v; };
    switch (dtype) {
        case DType::F64: return for_each_stored<double>(bytes, same, f);
        case DType::F32: return for_each_stored<float>(bytes, same, f);
        case DType::F16:
            return for_each_stored<std::uint16_t>(bytes, [](std::uint16_t b) { return float(float16::from_bits(b)); }, f);
        case DType::BF16:
            return for_each_stored<std::uint16_t>(bytes, [](std::uint16_t b) { return float(bfloat16::from_bits(b)); }, f);
        case DType::F8_E4M3: return for_each_stored<std::uint8_t>(bytes, f8_e4m3_to_float, f);
        case DType::F8_E5M2: return for_each_stored<std::uint8_t>(bytes, f8_e5m2_to_float, f);
        case DType::I64: return for_each_stored<std::int64_t>(bytes, same, f);
        case DType::I32: return for_each_stored<std::int32_t>(bytes, same, f);
        case DType::I16: return for_each_stored<std::int16_t>(bytes, same, f);
        case DType::I8: return for_each_stored<std::int8_t>(bytes, same, f);
        case DType::U64: return for_each_stored<std::uint64_t>(bytes, same, f);
        case DType::U32: return for_each_stored<std::uint32_t>(bytes, same, f);
        case DType::U16: return for_each_stored<std::uint16_t>(bytes, same, f);
        case DType::U8: return for_each_stored<std::uint8_t>(bytes, same, f);
        case DType::BOOL: return for_each_stored<std::uint8_t>(bytes, [](std::uint8_t b) { return std::uint8_t(b != 0); }, f);
    }
}

// Whether integer v has a value T holds (bool: 0 or 1).
template <class T, class V>
constexpr bool fits(V v) {
    if constexpr (std::is_same_v<T, bool>) return v == V(0) || v == V(1);
    else return std::in_range<T>(v);
}

// A PyTorch checkpoint: a zip archive (torch.save's format) or a bare pickle, protocol 2 to 5
// (its legacy format).
inline bool is_pytorch_checkpoint(std::span<const std::byte> b) {
    const auto at = [&](std::size_t i) { return std::to_integer<unsigned>(b[i]); };
    if (b.size() >= 4 && at(0) == 'P' && at(1) == 'K' && at(2) == 3 && at(3) == 4) return true;
    return b.size() >= 2 && at(0) == 0x80 && at(1) >= 2 && at(1) <= 5;
}

}  // namespace detail

struct TensorInfo {
    DType dtype;
    std::vector<index_t> shape;
    std::size_t begin;  // byte offsets into the data section
    std::size_t end;
};

// A safetensors file, memory-mapped (or a safetensors image in memory) and validated on open.
// Tensors are read on demand.
class SafetensorsFile {
public:
    static constexpr std::uint64_t max_header_bytes = 100'000'000;  // the reference reader's limit

    explicit SafetensorsFile(const std::filesystem::path& path)
        : map_(std::make_unique<MappedFile>(path)), path_(path), bytes_(map_->bytes()) {
        parse();
    }
    // The bytes are not copied: they must outlive this object. `name` stands for the path in
    // messages and path().
    SafetensorsFile(std::span<const std::byte> bytes, std::filesystem::path name) : path_(std::move(name)), bytes_(bytes) {
        parse();
    }

    const std::filesystem::path& path() const { return path_; }
    const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

    const TensorInfo& info(const std::string& name) const {
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) fail("no tensor named '" + name + "'");
        return it->second;
    }

    // The tensor's bytes, little-endian, whatever the dtype (valid while this object lives and,
    // for an image in memory, while that memory does).
    std::span<const std::byte> raw(const std::string& name) const {
        const TensorInfo& t = info(name);
        return bytes_.subspan(data_start_ + t.begin, t.end - t.begin);
    }

    // Reads `name` as a Tensor<T, Rank>, converting as read_into(). A rank mismatch is a
    // ShapeError naming the file and key.
    template <class T, int Rank>
    Tensor<T, Rank> read(const std::string& name) const {
        const TensorInfo& t = info(name);
        if (int(t.shape.size()) != Rank)
            throw ShapeError(path().string() + ": tensor '" + name + "' has rank " + std::to_string(t.shape.size()) +
                             ", expected " + std::to_string(Rank));
        Extents<Rank> shape{};
        for (int i = 0; i < Rank; ++i) shape[i] = t.shape[i];
        Tensor<T, Rank> out(shape, uninitialized);
        read_into<T>(name, out.data(), std::size_t(out.size()));
        return out;
    }

    // Reads `name` into count elements at out (any rank). T is a dtype_of() type. Every dtype
    // converts to a floating T (double, float, float16, bfloat16; into float, F8, F16, BF16 and
    // integers up to 2^24 are exact, into double also F32 and integers up to 2^53). Integer and
    // BOOL dtypes convert to an integer T or bool when every value fits (bool: 0 or 1), else a
    // FormatError names the element. Floating dtypes do not convert to integers (a FormatError),
    // and a different element count is a ShapeError, both naming the file and key.
    template <class T>
    void read_into(const std::string& name, T* out, std::size_t count) const {
        constexpr DType native = dtype_of<T>();
        constexpr bool want_integer = std::is_integral_v<T>;
        const TensorInfo& t = info(name);
        if (want_integer && detail::is_floating(t.dtype))
            fail("tensor '" + name + "' has dtype " + dtype_name(t.dtype) +
                 ", which does not convert to the requested element type " + dtype_name(native));
        std::size_t elements = 1;
        for (index_t e : t.shape) elements *= std::size_t(e);
        if (elements != count)
            throw ShapeError(path().string() + ": tensor '" + name + "' has " + std::to_string(elements) +
                             " elements, expected " + std::to_string(count));
        const std::span<const std::byte> bytes = raw(name);
        // BOOL storage may hold bytes other than 0 and 1, which are no valid bool.
        if (t.dtype == native && native != DType::BOOL) {
            if (count) std::memcpy(out, bytes.data(), bytes.size());
            return;
        }
        detail::for_each_element(bytes, t.dtype, [&](std::size_t i, auto value) {
            if constexpr (!want_integer) {
                out[i] = T(value);
            } else if constexpr (std::is_integral_v<decltype(value)>) {  // floating dtypes were refused above
                if (!detail::fits<T>(value))
                    fail("tensor '" + name + "': element " + std::to_string(i) + " (" + std::to_string(value) +
                         ") does not fit the requested element type " + dtype_name(native));
                out[i] = T(value);
            }
        });
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw FormatError(path().string() + ": " + what); }

    // For the checks a PyTorch checkpoint fails first: a valid header length can begin with
    // PyTorch's magic bytes too, so they only name the file once it is not safetensors.
    [[noreturn]] void fail_unless_pytorch(const std::string& what) const {
        if (detail::is_pytorch_checkpoint(bytes_))
            fail("this is a PyTorch checkpoint, not safetensors; convert it with scripts/convert_weights.py");
        fail(what);
    }

    void parse() {
        if (bytes_.size() < 8)
            fail_unless_pytorch("file of " + std::to_string(bytes_.size()) + " bytes is too short for a safetensors header");
        std::uint64_t header_len = 0;
        for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<std::uint64_t>(bytes_[std::size_t(i)]);
        if (header_len > bytes_.size() - 8)
            fail_unless_pytorch("header length " + std::to_string(header_len) + " exceeds the file size " +
                                std::to_string(bytes_.size()));
        if (header_len > max_header_bytes)
            fail_unless_pytorch("header length " + std::to_string(header_len) + " exceeds the limit of " +
                                std::to_string(max_header_bytes) + " bytes");
        data_start_ = 8 + std::size_t(header_len);
        const std::string_view json = header_json({reinterpret_cast<const char*>(bytes_.data() + 8), std::size_t(header_len)});
        HeaderReader reader(*this, bytes_.size() - data_start_);
        nlohmann::json::sax_parse(json.begin(), json.end(), &reader);
        // The strict parse allowed JSON whitespace after the object; the format allows spaces only.
        if (json.back() != '}') fail("header is padded with bytes other than spaces (0x20)");
        check_tiling(bytes_.size() - data_start_);
    }

    // The header's framing, checked before it is parsed: it starts with '{' (so no BOM), holds no
    // NUL byte, and its trailing spaces are padding. Returns the header without them.
    std::string_view header_json(std::string_view header) const {
        if (!header.starts_with('{'))
            fail_unless_pytorch(header.starts_with("\xEF\xBB\xBF") ? "header starts with a UTF-8 byte order mark"
                                                                   : "header is not a JSON object: it must start with '{'");
        if (const std::size_t nul = header.find('\0'); nul != std::string_view::npos)
            fail("header byte " + std::to_string(nul) + " is NUL");
        return header.substr(0, header.find_last_not_of(' ') + 1);
    }

    // Sorted by (begin, end), the tensors must tile the data section: each starts where the
    // previous one ended, the first at 0, and the last ends at the end of the data.
    void check_tiling(std::size_t data_size) const {
        std::vector<const std::pair<const std::string, TensorInfo>*> order;
        order.reserve(tensors_.size());
        for (const auto& item : tensors_) order.push_back(&item);
        std::sort(order.begin(), order.end(), [](auto* a, auto* b) {
            return std::pair(a->second.begin, a->second.end) < std::pair(b->second.begin, b->second.end);
        });
        std::size_t covered = 0;
        const std::string* previous = nullptr;  // the tensor ending at `covered`
        for (const auto* item : order) {
            const TensorInfo& t = item->second;
            if (t.begin < covered) fail("tensor '" + item->first + "' overlaps tensor '" + *previous + "'");
            if (t.begin > covered)
                fail("data bytes " + std::to_string(covered) + " to " + std::to_string(t.begin) +
                     " (before tensor '" + item->first + "') belong to no tensor");
            covered = t.end;
            previous = &item->first;
        }
        if (covered != data_size)
            fail("the last " + std::to_string(data_size - covered) + " data bytes belong to no tensor");
    }

    // Reads the header against the format's schema, one parser event at a time (nlohmann's SAX
    // interface), straight into tensors_ and metadata_:
    //   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
    //    "__metadata__": {"<key>": "<value>", ...}}
    // The first event the schema does not allow is a FormatError, so the parser never holds
    // more than three open levels, and no JSON document is built.
    class HeaderReader {
    public:
        HeaderReader(SafetensorsFile& file, std::size_t data_size) : file_(file), data_size_(data_size) {}

        bool start_object(std::size_t) {
            if (state_ == State::start) state_ = State::top;
            else if (state_ == State::top_value) state_ = name_ == "__metadata__" ? State::metadata : State::entry;
            else unexpected();
            return true;
        }
        bool key(std::string& key) {
            if (state_ == State::top) {
                const bool metadata = key == "__metadata__";
                if (metadata ? seen_metadata_ : file_.tensors_.count(key) != 0)
                    file_.fail(metadata ? "__metadata__ appears twice" : "tensor name '" + key + "' appears twice");
                seen_metadata_ = seen_metadata_ || metadata;
                name_ = std::move(key);
                state_ = State::top_value;
            } else if (state_ == State::metadata) {
                if (file_.metadata_.count(key)) file_.fail("__metadata__ key '" + key + "' appears twice");
                key_ = std::move(key);
                state_ = State::metadata_value;
            } else {  // State::entry, the only other object the schema opens
                if (key == "dtype") field_ = Field::dtype;
                else if (key == "shape") field_ = Field::shape;
                else if (key == "data_offsets") field_ = Field::data_offsets;
                else file_.fail(where() + "unknown field '" + key + "'");
                const unsigned bit = 1u << int(field_);
                if (fields_seen_ & bit) file_.fail(where() + "field '" + key + "' appears twice");
                fields_seen_ |= bit;
                state_ = State::entry_value;
            }
            return true;
        }
        bool string(std::string& value) {
            if (state_ == State::metadata_value) {
                file_.metadata_.emplace(std::move(key_), std::move(value));
                state_ = State::metadata;
            } else if (state_ == State::entry_value && field_ == Field::dtype) {
                if (!parse_dtype(value, dtype_)) file_.fail(where() + "unknown dtype '" + value + "'");
                state_ = State::entry;
            } else {
                unexpected();
            }
            return true;
        }
        bool start_array(std::size_t) {
            if (state_ != State::entry_value || field_ == Field::dtype) unexpected();
            state_ = State::array;
            return true;
        }
        bool number_unsigned(std::uint64_t value) {
            if (state_ != State::array) unexpected();
            if (field_ == Field::shape) {
                if (value > max_elements) file_.fail(where() + "shape is too large");
                shape_.push_back(index_t(value));
            } else {
                if (offset_count_ == 2) file_.fail(where() + "data_offsets must be [begin, end]");
                offsets_[offset_count_++] = value;
            }
            return true;
        }
        bool number_integer(std::int64_t value) {  // only a leading '-' gets here: "-0" is still 0
            if (value < 0) unexpected();
            return number_unsigned(std::uint64_t(value));
        }
        bool end_array() {
            if (field_ == Field::data_offsets && offset_count_ != 2) file_.fail(where() + "data_offsets must be [begin, end]");
            state_ = State::entry;
            return true;
        }
        bool end_object() {
            if (state_ == State::entry) finish_entry();
            state_ = state_ == State::top ? State::done : State::top;
            return true;
        }
        bool null() { unexpected(); }
        bool boolean(bool) { unexpected(); }
        bool number_float(double, const std::string&) { unexpected(); }
        bool binary(nlohmann::json::binary_t&) { unexpected(); }
        bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& e) {
            file_.fail(std::string("header is not valid JSON: ") + e.what());
        }

    private:
        enum class State { start, top, top_value, metadata, metadata_value, entry, entry_value, array, done };
        enum class Field { dtype, shape, data_offsets };
        static constexpr std::uint64_t max_elements = std::uint64_t(1) << 62;

        std::string where() const { return "tensor '" + name_ + "': "; }

        // A value where the schema wants another kind.
        [[noreturn]] void unexpected() const {
            switch (state_) {
                case State::top_value:
                    if (name_ == "__metadata__") file_.fail("__metadata__ is not an object");
                    file_.fail(where() + "entry is not an object");
                case State::metadata_value: file_.fail("__metadata__ value of '" + key_ + "' is not a string");
                case State::entry_value:
                    file_.fail(where() + (field_ == Field::dtype ? "dtype is not a string"
                                          : field_ == Field::shape ? "shape is not an array"
                                                                   : "data_offsets is not an array [begin, end]"));
                case State::array:
                    file_.fail(where() + (field_ == Field::shape ? "shape holds a non-integer or negative extent"
                                                                 : "data_offsets hold a non-integer or negative value"));
                default:  // the parser delivers values only where one of the states above waits for one
                    file_.fail("header does not follow the safetensors schema");
            }
        }

        void finish_entry() {
            for (const auto& [field, text] : {std::pair(Field::dtype, "dtype"), std::pair(Field::shape, "shape"),
                                              std::pair(Field::data_offsets, "data_offsets [begin, end]")})
                if (!(fields_seen_ & (1u << int(field)))) file_.fail(where() + "missing " + text);
            file_.tensors_.emplace(name_, checked_info());
            fields_seen_ = 0;
            offset_count_ = 0;
        }

        // Moves the shape out.
        TensorInfo checked_info() {
            // Product of the non-zero extents stays below 2^62 (so no count, stride or byte size
            // can overflow), and any zero extent makes the tensor empty.
            std::uint64_t nonzero_product = 1;
            bool has_zero = false;
            for (const index_t e : shape_) {
                const std::uint64_t extent = std::uint64_t(e);
                if (extent == 0) {
                    has_zero = true;
                } else {
                    if (nonzero_product > max_elements / extent) file_.fail(where() + "shape is too large");
                    nonzero_product *= extent;
                }
            }
            const std::uint64_t count = has_zero ? 0 : nonzero_product;
            const std::uint64_t begin = offsets_[0], end = offsets_[1];
            if (end < begin) file_.fail(where() + "data_offsets end before they begin");
            if (end > data_size_)
                file_.fail(where() + "data ends at byte " + std::to_string(end) + " but the data section holds " +
                           std::to_string(data_size_) + " bytes (truncated file?)");
            const std::size_t size = dtype_size(dtype_);
            if ((end - begin) / size != count || (end - begin) % size != 0)
                file_.fail(where() + std::to_string(end - begin) + " bytes do not match dtype " + dtype_name(dtype_) + " x " +
                           std::to_string(count) + " elements");
            return {dtype_, std::move(shape_), std::size_t(begin), std::size_t(end)};
        }

        SafetensorsFile& file_;
        const std::size_t data_size_;
        State state_ = State::start;
        std::string name_;  // the entry being read (or "__metadata__")
        std::string key_;   // the metadata key being read
        bool seen_metadata_ = false;
        Field field_ = Field::dtype;
        unsigned fields_seen_ = 0;
        DType dtype_ = DType::F32;
        std::vector<index_t> shape_;
        std::uint64_t offsets_[2] = {};
        int offset_count_ = 0;
    };

    std::unique_ptr<MappedFile> map_;  // null for an image in memory
    std::filesystem::path path_;
    std::span<const std::byte> bytes_;
    std::size_t data_start_ = 0;
    std::map<std::string, TensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

// Collects named tensors and writes them as one safetensors file, atomically.
// Views are not copied: they must stay alive until write() returns. Element types are those of
// dtype_of(), so every dtype but the F8 ones; float16(x) and bfloat16(x) round x to nearest even.
class SafetensorsWriter {
public:
    template <class T, int Rank>
    void add(const std::string& name, TensorView<const T, Rank> view) {
        expect_contiguous("SafetensorsWriter::add", name.c_str(), view);
        if (name == "__metadata__" || entries_.count(name))
            throw ValueError("SafetensorsWriter::add: duplicate or reserved name '" + name + "'");
        Entry e{dtype_of<T>(), {}, reinterpret_cast<const std::byte*>(view.data()), std::size_t(view.size()) * sizeof(T)};
        for (int i = 0; i < Rank; ++i) e.shape.push_back(view.extent(i));
        entries_.emplace(name, std::move(e));
    }
    template <class T, int Rank>
    void add(const std::string& name, const Tensor<T, Rank>& tensor) {
        add<T, Rank>(name, tensor.view());
    }
    // count elements at data, with a run-time shape (the caller keeps data alive until write()).
    template <class T>
    void add(const std::string& name, const T* data, std::vector<index_t> shape) {
        if (name == "__metadata__" || entries_.count(name))
            throw ValueError("SafetensorsWriter::add: duplicate or reserved name '" + name + "'");
        std::size_t count = 1;
        for (index_t e : shape) count *= std::size_t(e);
        entries_.emplace(name, Entry{dtype_of<T>(), std::move(shape), reinterpret_cast<const std::byte*>(data),
                                     count * sizeof(T)});
    }
    // A temporary would be gone before write(): refuse it at compile time.
    template <class T, int Rank>
    void add(const std::string& name, Tensor<T, Rank>&& tensor) = delete;

    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    void write(const std::filesystem::path& path) const {
        nlohmann::json header = nlohmann::json::object();
        if (!metadata_.empty()) header["__metadata__"] = metadata_;
        std::size_t offset = 0;
        for (const auto& [name, e] : entries_) {
            header[name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes}}};
            offset += e.bytes;
        }
        std::string text;
        try {
            text = header.dump();
        } catch (const nlohmann::json::exception& e) {
            throw ValueError(path.string() + ": a tensor name or metadata is not valid UTF-8: " + e.what());
        }
        text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
        if (text.size() > SafetensorsFile::max_header_bytes)
            throw ValueError(path.string() + ": a header of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                             std::to_string(SafetensorsFile::max_header_bytes) + " bytes that readers accept");
        write_file_atomically(path, [&](const auto& append) {
            std::uint8_t length[8];
            for (int i = 0; i < 8; ++i) length[i] = std::uint8_t(std::uint64_t(text.size()) >> (8 * i));
            append(length, 8);
            append(text.data(), text.size());
            for (const auto& item : entries_) append(item.second.data, item.second.bytes);
        });
    }

private:
    struct Entry {
        DType dtype;
        std::vector<index_t> shape;
        const std::byte* data;
        std::size_t bytes;
    };
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace svilm::io
