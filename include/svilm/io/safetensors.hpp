// svilm/io/safetensors.hpp: read (memory-mapped) and write safetensors files.
//
// Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name
// to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section,
// which follows the header), plus an optional "__metadata__" string map. Every length and
// offset is validated against the file size before any tensor is touched: a truncated file,
// overlapping or out-of-range offsets, a size that disagrees with dtype x shape, an unknown
// dtype or a header larger than the file is a FormatError naming the file and the key.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <bit>

#include "svilm/core/bfloat16.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/io/mapped_file.hpp"

namespace svilm::io {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; big-endian hosts are not supported");

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

inline std::size_t dtype_size(DType t) {
    switch (t) {
        case DType::F64:
        case DType::I64: return 8;
        case DType::F32:
        case DType::I32: return 4;
        case DType::F16:
        case DType::BF16:
        case DType::I16: return 2;
        case DType::I8:
        case DType::U8:
        case DType::BOOL: return 1;
    }
    return 0;
}

inline const char* dtype_name(DType t) {
    switch (t) {
        case DType::F64: return "F64";
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::I64: return "I64";
        case DType::I32: return "I32";
        case DType::I16: return "I16";
        case DType::I8: return "I8";
        case DType::U8: return "U8";
        case DType::BOOL: return "BOOL";
    }
    return "?";
}

inline bool parse_dtype(const std::string& name, DType& out) {
    static const std::pair<const char*, DType> table[] = {
        {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"I64", DType::I64},
        {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},   {"U8", DType::U8},     {"BOOL", DType::BOOL}};
    for (const auto& [text, value] : table)
        if (name == text) {
            out = value;
            return true;
        }
    return false;
}

template <class T>
constexpr DType dtype_of() {
    if constexpr (std::is_same_v<T, double>) return DType::F64;
    else if constexpr (std::is_same_v<T, float>) return DType::F32;
    else if constexpr (std::is_same_v<T, bfloat16>) return DType::BF16;
    else if constexpr (std::is_same_v<T, std::int64_t>) return DType::I64;
    else if constexpr (std::is_same_v<T, std::int32_t>) return DType::I32;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return DType::U8;
    else static_assert(sizeof(T) == 0, "no safetensors dtype for this element type");
}

namespace detail {

inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal half: renormalise
            int shift = 0;
            while (!(mantissa & 0x400u)) {
                mantissa <<= 1;
                ++shift;
            }
            bits = sign | (std::uint32_t(127 - 15 - shift + 1) << 23) | ((mantissa & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Loads element i of raw little-endian storage as T (floating dtypes to floating T, integer
// dtypes to integer T).
template <class T>
T load_element(const std::byte* base, DType dtype, std::size_t i) {
    auto read = [&](auto tag) {
        decltype(tag) v;
        std::memcpy(&v, base + i * sizeof(v), sizeof(v));
        return v;
    };
    switch (dtype) {
        case DType::F64: return T(read(double{}));
        case DType::F32: return T(read(float{}));
        case DType::F16: return T(half_to_float(read(std::uint16_t{})));
        case DType::BF16: return T(float(bfloat16::from_bits(read(std::uint16_t{}))));
        case DType::I64: return T(read(std::int64_t{}));
        case DType::I32: return T(read(std::int32_t{}));
        case DType::I16: return T(read(std::int16_t{}));
        case DType::I8: return T(read(std::int8_t{}));
        case DType::U8:
        case DType::BOOL: return T(read(std::uint8_t{}));
    }
    return T{};
}

inline bool is_floating(DType t) { return t == DType::F64 || t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace detail

struct TensorInfo {
    DType dtype;
    std::vector<index_t> shape;
    std::size_t begin;  // byte offsets into the data section
    std::size_t end;
};

// A safetensors file, memory-mapped and validated on open. Tensors are read on demand.
class SafetensorsFile {
public:
    static constexpr std::uint64_t max_header_bytes = 100u << 20;

    explicit SafetensorsFile(const std::filesystem::path& path) : map_(std::make_unique<MappedFile>(path)) { parse(); }

    const std::filesystem::path& path() const { return map_->path(); }
    const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

    const TensorInfo& info(const std::string& name) const {
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) throw FormatError(path().string() + ": no tensor named '" + name + "'");
        return it->second;
    }

    // The tensor's bytes inside the mapping (valid while this object lives).
    std::span<const std::byte> raw(const std::string& name) const {
        const TensorInfo& t = info(name);
        return map_->bytes().subspan(data_start_ + t.begin, t.end - t.begin);
    }

    // Reads `name` as a Tensor<T, Rank>, converting between floating dtypes (F64, F32, F16, BF16
    // to float or double) or between integer dtypes. A rank or kind mismatch is a ShapeError
    // naming the file and key.
    template <class T, int Rank>
    Tensor<T, Rank> read(const std::string& name) const {
        static_assert(!std::is_same_v<T, bool>, "read BOOL tensors as std::uint8_t");
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

    // Reads `name` into count elements at out (any rank), converting as read(); a different
    // element count is a ShapeError naming the file and key.
    template <class T>
    void read_into(const std::string& name, T* out, std::size_t count) const {
        const TensorInfo& t = info(name);
        constexpr bool want_float = std::is_floating_point_v<T> || std::is_same_v<T, bfloat16>;
        if (want_float != detail::is_floating(t.dtype))
            throw FormatError(path().string() + ": tensor '" + name + "' has dtype " + dtype_name(t.dtype) +
                              ", which does not convert to the requested element type");
        std::size_t elements = 1;
        for (index_t e : t.shape) elements *= std::size_t(e);
        if (elements != count)
            throw ShapeError(path().string() + ": tensor '" + name + "' has " + std::to_string(elements) +
                             " elements, expected " + std::to_string(count));
        const std::byte* base = raw(name).data();
        if (native_dtype<T>() == t.dtype) {
            if (count) std::memcpy(out, base, count * sizeof(T));
        } else {
            for (std::size_t i = 0; i < count; ++i) {
                if constexpr (std::is_same_v<T, bfloat16>)
                    out[i] = bfloat16(detail::load_element<float>(base, t.dtype, i));
                else
                    out[i] = detail::load_element<T>(base, t.dtype, i);
            }
        }
    }

private:
    // The file dtype whose bytes are exactly T's, if any; other types convert element by element.
    template <class T>
    static constexpr std::optional<DType> native_dtype() {
        if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float> || std::is_same_v<T, bfloat16> ||
                      std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::uint8_t>)
            return dtype_of<T>();
        else
            return std::nullopt;
    }

    [[noreturn]] void fail(const std::string& what) const { throw FormatError(path().string() + ": " + what); }

    void parse() {
        const auto bytes = map_->bytes();
        if (bytes.size() < 8) fail("file of " + std::to_string(bytes.size()) + " bytes is too short for a safetensors header");
        std::uint64_t header_len = 0;
        for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::uint64_t(bytes[std::size_t(i)]);
        if (header_len > bytes.size() - 8)
            fail("header length " + std::to_string(header_len) + " exceeds the file size " + std::to_string(bytes.size()));
        if (header_len > max_header_bytes) fail("header length " + std::to_string(header_len) + " exceeds 100 MiB");
        data_start_ = 8 + std::size_t(header_len);
        const std::size_t data_size = bytes.size() - data_start_;
        const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
        nlohmann::json header;
        try {
            header = nlohmann::json::parse(text, text + header_len);
        } catch (const nlohmann::json::exception& e) {
            fail(std::string("header is not valid JSON: ") + e.what());
        }
        if (!header.is_object()) fail("header is not a JSON object");
        for (const auto& [key, entry] : header.items()) {
            if (key == "__metadata__") {
                if (!entry.is_object()) fail("__metadata__ is not an object");
                for (const auto& [mk, mv] : entry.items()) {
                    if (!mv.is_string()) fail("__metadata__ value of '" + mk + "' is not a string");
                    metadata_[mk] = mv.get<std::string>();
                }
                continue;
            }
            tensors_[key] = parse_entry(key, entry, data_size);
        }
        std::vector<const std::pair<const std::string, TensorInfo>*> order;
        for (const auto& item : tensors_) order.push_back(&item);
        std::sort(order.begin(), order.end(), [](auto* a, auto* b) {
            return a->second.begin != b->second.begin ? a->second.begin < b->second.begin : a->second.end < b->second.end;
        });
        // Sorted by start: a tensor overlaps an earlier one iff it starts before the furthest end
        // seen so far (empty tensors occupy nothing).
        std::size_t furthest_end = 0;
        const std::string* furthest_name = nullptr;
        for (const auto* item : order) {
            const TensorInfo& t = item->second;
            if (t.begin == t.end) continue;
            if (furthest_name && t.begin < furthest_end)
                fail("tensor '" + item->first + "' overlaps tensor '" + *furthest_name + "'");
            if (t.end > furthest_end) {
                furthest_end = t.end;
                furthest_name = &item->first;
            }
        }
    }

    TensorInfo parse_entry(const std::string& key, const nlohmann::json& entry, std::size_t data_size) const {
        const std::string where = "tensor '" + key + "': ";
        if (!entry.is_object()) fail(where + "entry is not an object");
        if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail(where + "missing dtype");
        if (!entry.contains("shape") || !entry["shape"].is_array()) fail(where + "missing shape");
        if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
            fail(where + "missing data_offsets [begin, end]");
        TensorInfo info{};
        const std::string dtype = entry["dtype"].get<std::string>();
        if (!parse_dtype(dtype, info.dtype)) fail(where + "unknown dtype '" + dtype + "'");
        // Product of the non-zero extents stays below 2^62 (so no count, stride or byte size
        // can overflow), and any zero extent makes the tensor empty.
        std::uint64_t nonzero_product = 1;
        bool has_zero = false;
        for (const auto& e : entry["shape"]) {
            if (!e.is_number_unsigned()) fail(where + "shape holds a non-integer or negative extent");
            const std::uint64_t extent = e.get<std::uint64_t>();
            if (extent == 0) {
                has_zero = true;
            } else {
                if (nonzero_product > (std::uint64_t(1) << 62) / extent) fail(where + "shape is too large");
                nonzero_product *= extent;
            }
            info.shape.push_back(index_t(extent));
        }
        const std::uint64_t count = has_zero ? 0 : nonzero_product;
        for (const auto& e : entry["data_offsets"])
            if (!e.is_number_unsigned()) fail(where + "data_offsets hold a non-integer or negative value");
        const std::uint64_t begin = entry["data_offsets"][0].get<std::uint64_t>();
        const std::uint64_t end = entry["data_offsets"][1].get<std::uint64_t>();
        if (end < begin) fail(where + "data_offsets end before they begin");
        if (end > data_size)
            fail(where + "data ends at byte " + std::to_string(end) + " but the data section holds " +
                 std::to_string(data_size) + " bytes (truncated file?)");
        if ((end - begin) / dtype_size(info.dtype) != count || (end - begin) % dtype_size(info.dtype) != 0)
            fail(where + std::to_string(end - begin) + " bytes do not match dtype " + dtype + " x " +
                 std::to_string(count) + " elements");
        info.begin = std::size_t(begin);
        info.end = std::size_t(end);
        return info;
    }

    std::unique_ptr<MappedFile> map_;
    std::size_t data_start_ = 0;
    std::map<std::string, TensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

// Collects named tensors and writes them as one safetensors file, atomically.
// Views are not copied: they must stay alive until write() returns.
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
