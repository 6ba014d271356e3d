#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/temp_dir.hpp"
#include "svilm/core.hpp"
#include "svilm/io.hpp"

namespace svilm {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::read_file_bytes;

void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string length_prefix(std::uint64_t n) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((n >> (8 * i)) & 0xff);
    return out;
}

// A file with one header and raw data, to build broken cases by hand.
std::string make_file(const std::string& header, const std::string& data) {
    return length_prefix(header.size()) + header + data;
}

// One tensor entry of a header: "name":{"dtype":...,"shape":[...],"data_offsets":[b,e]}.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, std::size_t begin,
                  std::size_t end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
           std::to_string(begin) + "," + std::to_string(end) + "]}";
}

// Writes `bytes` as <dir>/<name>.safetensors and expects a FormatError that names the file and
// contains `expected`.
void expect_rejected(const TempDir& dir, const std::string& name, const std::string& bytes, const std::string& expected) {
    INFO(name);
    const fs::path p = dir.path / (name + ".safetensors");
    write_bytes(p, bytes);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile{p}, doctest::Contains(expected.c_str()), FormatError);
    try {
        io::SafetensorsFile{p};
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
    }
}

io::SafetensorsFile accepted(const TempDir& dir, const std::string& name, const std::string& bytes) {
    const fs::path p = dir.path / (name + ".safetensors");
    write_bytes(p, bytes);
    return io::SafetensorsFile(p);
}

TEST_CASE("safetensors round trip keeps every dtype, shape and metadata") {
    TempDir dir;
    Tensor<float, 2> f({2, 3});
    Tensor<double, 1> d({4});
    Tensor<std::int64_t, 1> ids({3});
    Tensor<bfloat16, 1> h({2});
    Tensor<float, 0> scalar(Extents<0>{});
    Generator(1).normal<float, 2>(f);
    Generator(2).normal<double, 1>(d);
    ids(0) = -5;
    ids(2) = 1ll << 40;
    h(1) = bfloat16(1.5f);
    scalar() = 3.25f;
    io::SafetensorsWriter w;
    w.add("weights.f", f);
    w.add("weights.d", d);
    w.add("ids", ids);
    w.add("half", h);
    w.add("scalar", scalar);
    w.set_metadata("format", "pt");
    const fs::path path = dir.path / "round.safetensors";
    w.write(path);
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);  // no temp left

    io::SafetensorsFile file(path);
    CHECK(file.metadata().at("format") == "pt");
    CHECK(file.tensors().size() == 5);
    const auto f2 = file.read<float, 2>("weights.f");
    CHECK(std::memcmp(f2.data(), f.data(), f.bytes()) == 0);
    CHECK(file.read<double, 1>("weights.d")(3) == d(3));
    CHECK(file.read<std::int64_t, 1>("ids")(2) == (1ll << 40));
    CHECK(file.read<float, 1>("half")(1) == 1.5f);  // BF16 widened to float
    CHECK(file.read<float, 0>("scalar")() == 3.25f);
    CHECK(file.read<double, 2>("weights.f")(1, 2) == double(f(1, 2)));  // F32 widened to double
    CHECK_THROWS_WITH_AS((file.read<float, 3>("weights.f")), doctest::Contains("'weights.f' has rank 2, expected 3"),
                         ShapeError);
    CHECK(file.read<float, 1>("ids")(0) == -5.0f);  // integers widen to floating types
    CHECK_THROWS_WITH_AS((file.read<std::int64_t, 2>("weights.f")), doctest::Contains("dtype F32"), FormatError);
    CHECK_THROWS_WITH_AS(file.info("missing"), doctest::Contains("no tensor named 'missing'"), FormatError);
    // Header of a written file starts the data 8-byte aligned.
    const std::string bytes = read_file_bytes(path);
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    CHECK(header_len % 8 == 0);
}

TEST_CASE("reads F16 tensors written by other tools") {
    TempDir dir;
    // 1.0, -2.0, 65504 (max half), 2^-24 (smallest subnormal)
    const std::uint16_t halves[] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    const std::string header = R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})";
    write_bytes(dir.path / "h.safetensors", make_file(header, std::string(reinterpret_cast<const char*>(halves), 8)));
    const auto t = io::SafetensorsFile(dir.path / "h.safetensors").read<float, 1>("h");
    CHECK(t(0) == 1.0f);
    CHECK(t(1) == -2.0f);
    CHECK(t(2) == 65504.0f);
    CHECK(t(3) == std::ldexp(1.0f, -24));
}

TEST_CASE("broken safetensors files give FormatError naming the file and key") {
    TempDir dir;
    const std::string good_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
    const std::string good = make_file(good_header, std::string(12, '\1'));
    auto expect_format_error = [&](const std::string& name, const std::string& bytes, const std::string& expected) {
        expect_rejected(dir, name, bytes, expected);
    };
    write_bytes(dir.path / "good.safetensors", good);
    CHECK_NOTHROW(io::SafetensorsFile(dir.path / "good.safetensors"));

    expect_format_error("empty", "", "too short");
    expect_format_error("short", "abc", "too short");
    for (std::size_t cut : {std::size_t(9), good.size() - 13, good.size() - 1}) {
        const std::string truncated = good.substr(0, cut);
        expect_format_error("truncated_" + std::to_string(cut), truncated,
                            cut < 8 + good_header.size() ? "exceeds the file size" : "tensor 'b'");
    }
    expect_format_error("huge_header", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10), "exceeds the file size");
    expect_format_error("not_json", make_file("{not json", ""), "not valid JSON");
    expect_format_error("not_object", make_file("[1,2]", ""), "not a JSON object");
    expect_format_error("unknown_dtype", make_file(R"({"x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "a"),
                        "tensor 'x': unknown dtype 'F8'");
    expect_format_error("overlap",
                        make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                  std::string(8, '\0')),
                        "overlaps");
    expect_format_error("size_mismatch", make_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')),
                        "tensor 'x': 8 bytes do not match dtype F32 x 3 elements");
    expect_format_error("reversed", make_file(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", std::string(8, '\0')),
                        "end before they begin");
    expect_format_error("negative_shape", make_file(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", ""),
                        "negative extent");
    expect_format_error("missing_offsets", make_file(R"({"x":{"dtype":"F32","shape":[1]}})", "abcd"), "missing data_offsets");
    expect_format_error("bad_metadata", make_file(R"({"__metadata__":{"k":1}})", ""), "__metadata__ value of 'k'");
    expect_format_error("overlap_not_adjacent",
                        make_file(R"({"a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]},"e":{"dtype":"U8","shape":[0],"data_offsets":[10,10]},"c":{"dtype":"U8","shape":[10],"data_offsets":[50,60]}})",
                                  std::string(100, '\0')),
                        "overlaps");
    expect_format_error("count_times_size_wraps",
                        make_file(R"({"x":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", ""),
                        "0 bytes do not match dtype F64");
    expect_format_error("zero_hides_huge_extent",
                        make_file(R"({"x":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}})", ""),
                        "too large");
    expect_format_error("shape_overflow",
                        make_file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", ""),
                        "too large");
}

TEST_CASE("BOOL tensors read as bytes or as wider integers without overrunning") {
    TempDir dir;
    const std::string header = R"({"flags":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
    write_bytes(dir.path / "b.safetensors", make_file(header, std::string("\1\0\1", 3)));
    const io::SafetensorsFile file(dir.path / "b.safetensors");
    CHECK(file.read<std::uint8_t, 1>("flags")(2) == 1);
    const auto wide = file.read<std::int16_t, 1>("flags");
    CHECK(wide(0) == 1);
    CHECK(wide(1) == 0);
}

TEST_CASE("missing files, directories and FIFOs give IoError naming the path") {
    TempDir dir;
    const fs::path fifo = dir.path / "pipe.safetensors";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile{fifo}, doctest::Contains("not a regular file"), IoError);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile(dir.path / "nope.safetensors"), doctest::Contains("nope.safetensors: cannot open"),
                         IoError);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile(dir.path), doctest::Contains("not a regular file"), IoError);
}

TEST_CASE("an atomic write that fails leaves the previous file intact") {
    TempDir dir;
    const fs::path path = dir.path / "w.safetensors";
    Tensor<float, 1> t = Tensor<float, 1>::full({3}, 1.0f);
    io::SafetensorsWriter w;
    w.add("t", t);
    w.write(path);
    const std::string before = read_file_bytes(path);
    CHECK_THROWS_AS(io::write_file_atomically(path, [](const auto& append) {
                        append("partial", 7);
                        throw IoError("simulated failure mid-write");
                    }),
                    IoError);
    CHECK(read_file_bytes(path) == before);
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
    CHECK_THROWS_AS(w.write(dir.path / "no_such_dir" / "x.safetensors"), IoError);
}


// Rule: sorted by offset, the tensors' byte ranges tile the data section exactly.
TEST_CASE("safetensors data offsets must tile the data section: from 0, no hole, no overlap, no trailing bytes") {
    TempDir dir;
    const std::string four(4, '\1'), eight(8, '\1');
    // Header order does not matter, offsets do: b is listed first but comes second.
    const auto ok = accepted(dir, "ok", make_file("{" + entry("b", "U8", "4", 4, 8) + "," + entry("a", "F32", "1", 0, 4) + "}", eight));
    CHECK(ok.info("b").begin == 4);
    // Empty tensors may sit at the start, between two tensors and at the end of the data.
    CHECK_NOTHROW(accepted(dir, "empty_at_edges",
                           make_file("{" + entry("e0", "F32", "0", 0, 0) + "," + entry("a", "U8", "4", 0, 4) + "," +
                                         entry("e4", "F32", "2,0", 4, 4) + "," + entry("b", "U8", "4", 4, 8) + "," +
                                         entry("e8", "U8", "0", 8, 8) + "}",
                                     eight)));
    CHECK_NOTHROW(accepted(dir, "nothing", make_file("{}", "")));

    expect_rejected(dir, "hole_at_start", make_file("{" + entry("x", "U8", "4", 4, 8) + "}", eight),
                    "data bytes 0 to 4 (before tensor 'x') belong to no tensor");
    expect_rejected(dir, "hole_between",
                    make_file("{" + entry("a", "U8", "4", 0, 4) + "," + entry("b", "U8", "4", 8, 12) + "}", eight + four),
                    "data bytes 4 to 8 (before tensor 'b') belong to no tensor");
    expect_rejected(dir, "overlap",
                    make_file("{" + entry("a", "F32", "2", 0, 8) + "," + entry("b", "F32", "2", 4, 12) + "}", eight + four),
                    "tensor 'b' overlaps tensor 'a'");
    expect_rejected(dir, "same_range", make_file("{" + entry("a", "U8", "4", 0, 4) + "," + entry("b", "U8", "4", 0, 4) + "}", four),
                    "tensor 'b' overlaps tensor 'a'");
    expect_rejected(dir, "empty_inside_another",
                    make_file("{" + entry("a", "U8", "8", 0, 8) + "," + entry("e", "U8", "0", 4, 4) + "}", eight),
                    "tensor 'e' overlaps tensor 'a'");
    expect_rejected(dir, "trailing_bytes", make_file("{" + entry("a", "U8", "4", 0, 4) + "}", four + "xy"),
                    "the last 2 data bytes belong to no tensor");
    expect_rejected(dir, "data_without_tensors", make_file("{}", "abc"), "the last 3 data bytes belong to no tensor");
    expect_rejected(dir, "bytes_not_shape_times_size", make_file("{" + entry("h", "F16", "2", 0, 2) + "}", "ab"),
                    "tensor 'h': 2 bytes do not match dtype F16 x 2 elements");
    expect_rejected(dir, "bytes_not_multiple_of_size", make_file("{" + entry("h", "F64", "1", 0, 9) + "}", eight + "x"),
                    "tensor 'h': 9 bytes do not match dtype F64 x 1 elements");
}

// Rule: no duplicate tensor names (after unescaping), entry fields or metadata keys.
TEST_CASE("safetensors headers with duplicate names, fields or metadata keys are rejected") {
    TempDir dir;
    const std::string eight(8, '\1');
    expect_rejected(dir, "same_name", make_file("{" + entry("a", "U8", "4", 0, 4) + "," + entry("a", "U8", "4", 4, 8) + "}", eight),
                    "tensor name 'a' appears twice");
    expect_rejected(dir, "same_name_escaped",
                    make_file("{" + entry("a", "U8", "4", 0, 4) + "," + entry("\\u0061", "U8", "4", 4, 8) + "}", eight),
                    "tensor name 'a' appears twice");
    expect_rejected(dir, "same_field",
                    make_file(R"({"a":{"dtype":"U8","shape":[4],"dtype":"U8","data_offsets":[0,4]}})", "abcd"),
                    "tensor 'a': field 'dtype' appears twice");
    expect_rejected(dir, "same_field_escaped",
                    make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"sh\u0061pe":[4]}})", "abcd"),
                    "tensor 'a': field 'shape' appears twice");
    expect_rejected(dir, "same_metadata_key", make_file(R"({"__metadata__":{"k":"1","j":"2","k":"3"}})", ""),
                    "__metadata__ key 'k' appears twice");
    expect_rejected(dir, "two_metadata_objects", make_file(R"({"__metadata__":{},"__metadata__":{"k":"1"}})", ""),
                    "__metadata__ appears twice");
    // Escapes decode: a name spelled with them is the decoded name.
    const auto file = accepted(dir, "escaped", make_file("{" + entry("gr\\u00f6\\u00dfe", "U8", "4", 0, 4) + "}", "abcd"));
    CHECK(file.contains("gr\xc3\xb6\xc3\x9f" "e"));
}

// Rule: the header is a UTF-8 JSON object (no BOM, no NUL), padded with spaces only, at most
// 100,000,000 bytes, and its entries hold exactly the format's fields.
TEST_CASE("safetensors header framing, encoding, size limit and schema are enforced") {
    TempDir dir;
    const std::string one_entry = "{" + entry("a", "U8", "1", 0, 1) + "}";
    CHECK(accepted(dir, "padded", make_file(one_entry + "     ", "z")).contains("a"));
    CHECK(accepted(dir, "utf8_name", make_file("{" + entry("\xe6\x97\xa5\xe6\x9c\xac", "U8", "1", 0, 1) + "}", "z"))
              .contains("\xe6\x97\xa5\xe6\x9c\xac"));

    expect_rejected(dir, "bom", make_file("\xEF\xBB\xBF" + one_entry, "z"), "header starts with a UTF-8 byte order mark");
    expect_rejected(dir, "leading_space", make_file(" " + one_entry, "z"), "must start with '{'");
    expect_rejected(dir, "empty_header", make_file("", ""), "must start with '{'");
    expect_rejected(dir, "array", make_file("[1,2]", ""), "not a JSON object");
    expect_rejected(dir, "nul_padding", make_file(one_entry + std::string(3, '\0'), "z"),
                    "header byte " + std::to_string(one_entry.size()) + " is NUL");
    expect_rejected(dir, "nul_inside", make_file(R"({"a)" + std::string(1, '\0') + R"(":1})", ""), "header byte 3 is NUL");
    expect_rejected(dir, "newline_padding", make_file(one_entry + "\n  ", "z"), "padded with bytes other than spaces");
    expect_rejected(dir, "tab_padding", make_file(one_entry + "\t", "z"), "padded with bytes other than spaces");
    expect_rejected(dir, "text_after_object", make_file(one_entry + " x", "z"), "not valid JSON");
    expect_rejected(dir, "invalid_utf8", make_file("{" + entry("\xff", "U8", "1", 0, 1) + "}", "z"), "not valid JSON");
    expect_rejected(dir, "overlong_utf8", make_file("{" + entry("\xc0\xaf", "U8", "1", 0, 1) + "}", "z"), "not valid JSON");
    expect_rejected(dir, "lone_surrogate", make_file("{" + entry("\\ud800", "U8", "1", 0, 1) + "}", "z"), "not valid JSON");
    expect_rejected(dir, "comment", make_file("{/* c */}", ""), "not valid JSON");

    // Schema: the three fields, each of its kind, and nothing else.
    expect_rejected(dir, "unknown_field", make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"stride":[1]}})", "z"),
                    "tensor 'a': unknown field 'stride'");
    expect_rejected(dir, "missing_dtype", make_file(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", "z"), "tensor 'a': missing dtype");
    expect_rejected(dir, "missing_shape", make_file(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", "z"), "tensor 'a': missing shape");
    expect_rejected(dir, "entry_not_object", make_file(R"({"a":5})", ""), "tensor 'a': entry is not an object");
    expect_rejected(dir, "dtype_not_string", make_file(R"({"a":{"dtype":1}})", ""), "tensor 'a': dtype is not a string");
    expect_rejected(dir, "lowercase_dtype", make_file(R"({"a":{"dtype":"f32"}})", ""), "tensor 'a': unknown dtype 'f32'");
    expect_rejected(dir, "shape_not_array", make_file(R"({"a":{"shape":3}})", ""), "tensor 'a': shape is not an array");
    expect_rejected(dir, "float_extent", make_file(R"({"a":{"shape":[1.0]}})", ""), "shape holds a non-integer or negative extent");
    expect_rejected(dir, "exponent_extent", make_file(R"({"a":{"shape":[1e0]}})", ""), "shape holds a non-integer or negative extent");
    expect_rejected(dir, "extent_above_2_64", make_file(R"({"a":{"shape":[18446744073709551616]}})", ""), "non-integer or negative");
    expect_rejected(dir, "three_offsets", make_file(R"({"a":{"data_offsets":[0,1,2]}})", ""), "data_offsets must be [begin, end]");
    expect_rejected(dir, "one_offset", make_file(R"({"a":{"data_offsets":[0]}})", ""), "data_offsets must be [begin, end]");
    expect_rejected(dir, "negative_offset", make_file(R"({"a":{"data_offsets":[-1,0]}})", ""), "non-integer or negative value");
    expect_rejected(dir, "metadata_not_object", make_file(R"({"__metadata__":["k","v"]})", ""), "__metadata__ is not an object");
    expect_rejected(dir, "metadata_null", make_file(R"({"__metadata__":null})", ""), "__metadata__ is not an object");
    expect_rejected(dir, "metadata_nested", make_file(R"({"__metadata__":{"k":{"x":"y"}}})", ""),
                    "__metadata__ value of 'k' is not a string");
    // "-0" is zero in JSON, as the reference reader takes it.
    CHECK(accepted(dir, "minus_zero", make_file(R"({"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,-0]}})", "")).info("a").shape ==
          std::vector<index_t>{0});

    // Size limit: one byte over 100,000,000 (a sparse file long enough to hold it).
    const fs::path big = dir.path / "header_over_limit.safetensors";
    write_bytes(big, length_prefix(io::SafetensorsFile::max_header_bytes + 1) + "{}");
    fs::resize_file(big, 8 + io::SafetensorsFile::max_header_bytes + 1);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile{big}, doctest::Contains("header length 100000001 exceeds the limit of 100000000 bytes"),
                         FormatError);
}

// Rule: parsing stops at the first level the format does not have, so any nesting is rejected
// early and with little memory (these took gigabytes or ended in std::bad_alloc before).
TEST_CASE("deeply nested safetensors headers are rejected without building anything") {
    TempDir dir;
    struct Case {
        const char* head;  // then `count` times `open`
        char open;
        std::size_t count;
        const char* expected;
    };
    const std::size_t mb60 = 60u << 20;
    const Case cases[] = {
        {"", '[', 10u << 20, "not a JSON object"},
        {R"({"a":)", '[', mb60, "tensor 'a': entry is not an object"},
        {R"({"a":{"shape":)", '[', mb60, "tensor 'a': shape holds a non-integer"},
        {R"({"a":)", '{', mb60, "not valid JSON"},
        {R"({"__metadata__":{"k":)", '[', mb60, "__metadata__ value of 'k' is not a string"},
    };
    const fs::path path = dir.path / "nested.safetensors";
    for (const Case& c : cases) {
        INFO(c.head << c.open);
        {
            std::ofstream out(path, std::ios::binary | std::ios::trunc);
            const std::string head = length_prefix(std::strlen(c.head) + c.count) + c.head;
            out.write(head.data(), std::streamsize(head.size()));
            const std::string opens(1 << 20, c.open);
            for (std::size_t written = 0; written < c.count; written += opens.size())
                out.write(opens.data(), std::streamsize(std::min(opens.size(), c.count - written)));
        }
        CHECK_THROWS_WITH_AS(io::SafetensorsFile{path}, doctest::Contains(c.expected), FormatError);
    }
}

// Rule: every dtype of the format reads as raw bytes and converts where meaningful.
TEST_CASE("safetensors files of every dtype read raw and converted") {
    TempDir dir;
    auto le = [](auto v) { return std::string(reinterpret_cast<const char*>(&v), sizeof(v)); };
    struct Case {
        const char* name;
        const char* dtype;
        std::string bytes;       // two elements
        double first, second;    // their values
    };
    const Case cases[] = {
        {"f64", "F64", le(-0.5) + le(1e300), -0.5, 1e300},
        {"f32", "F32", le(3.25f) + le(-1e-40f), 3.25, double(-1e-40f)},
        {"f16", "F16", le(std::uint16_t(0x3555)) + le(std::uint16_t(0x8001)), 0.333251953125, -std::ldexp(1.0, -24)},
        {"bf16", "BF16", le(std::uint16_t(0x3eab)) + le(std::uint16_t(0xff80)), 0.333984375, -HUGE_VAL},
        {"f8e4m3", "F8_E4M3", "\x7e\x81", 448.0, -std::ldexp(1.0, -9)},
        {"f8e5m2", "F8_E5M2", "\x7b\x7c", 57344.0, HUGE_VAL},
        {"i64", "I64", le(std::int64_t(-3)) + le(std::int64_t(1) << 53), -3, std::ldexp(1.0, 53)},
        {"i32", "I32", le(std::int32_t(-2147483647 - 1)) + le(std::int32_t(7)), -2147483648.0, 7},
        {"i16", "I16", le(std::int16_t(-300)) + le(std::int16_t(300)), -300, 300},
        {"i8", "I8", "\x80\x7f", -128, 127},
        {"u64", "U64", le(std::uint64_t(1) << 63) + le(std::uint64_t(5)), std::ldexp(1.0, 63), 5},
        {"u32", "U32", le(std::uint32_t(4000000000u)) + le(std::uint32_t(0)), 4e9, 0},
        {"u16", "U16", le(std::uint16_t(65535)) + le(std::uint16_t(1)), 65535, 1},
        {"u8", "U8", "\xff\x01", 255, 1},
        {"bool", "BOOL", std::string("\x02\x00", 2), 1, 0},  // any non-zero byte is true
    };
    std::string header = "{", data;
    for (const Case& c : cases) {
        header += (data.empty() ? "" : ",") + entry(c.name, c.dtype, "2", data.size(), data.size() + c.bytes.size());
        data += c.bytes;
    }
    const auto file = accepted(dir, "all", make_file(header + "}", data));
    for (const Case& c : cases) {
        INFO(c.name);
        CHECK(dtype_name(file.info(c.name).dtype) == std::string(c.dtype));
        const auto raw = file.raw(c.name);
        CHECK(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()) == c.bytes);
        const auto d = file.read<double, 1>(c.name);
        CHECK(d(0) == c.first);
        CHECK(d(1) == c.second);
        CHECK(file.read<float, 1>(c.name)(0) == float(c.first));
    }
    // Integers (and BOOL) convert to integer types when every value fits.
    CHECK(file.read<std::int64_t, 1>("i32")(0) == -2147483648ll);
    CHECK(file.read<std::uint64_t, 1>("u64")(0) == std::uint64_t(1) << 63);
    CHECK(file.read<std::int16_t, 1>("u8")(0) == 255);
    CHECK(file.read<std::int8_t, 1>("bool")(0) == 1);
    const auto flags = file.read<bool, 1>("bool");
    CHECK((flags(0) && !flags(1)));
    CHECK_THROWS_WITH_AS((file.read<bool, 1>("u16")), doctest::Contains("element 0 (65535) does not fit the requested element type BOOL"),
                         FormatError);
    CHECK_THROWS_WITH_AS((file.read<std::int64_t, 1>("u64")), doctest::Contains("element 0 (9223372036854775808) does not fit"),
                         FormatError);
    CHECK_THROWS_WITH_AS((file.read<std::int8_t, 1>("i16")), doctest::Contains("tensor 'i16': element 0 (-300)"), FormatError);
    CHECK_THROWS_WITH_AS((file.read<std::uint8_t, 1>("i8")), doctest::Contains("element 0 (-128) does not fit"), FormatError);
    CHECK_THROWS_WITH_AS((file.read<std::int32_t, 1>("f8e4m3")), doctest::Contains("dtype F8_E4M3, which does not convert"),
                         FormatError);
    CHECK_THROWS_WITH_AS((file.read<bool, 1>("f32")), doctest::Contains("dtype F32"), FormatError);
    // Same storage type: the bytes as they are.
    CHECK(file.read<float16, 1>("f16")(1) == float16::from_bits(0x8001));
    CHECK(file.read<bfloat16, 1>("f16")(0) == bfloat16(0.333251953125f));
}

TEST_CASE("F8 and F16 decode exactly: special values and monotonic codes") {
    // Every finite positive code decodes above the previous one (so no code is misplaced), and
    // the edges are the formats' documented values.
    auto e4m3 = [](int b) { return io::detail::f8_e4m3_to_float(std::uint8_t(b)); };
    auto e5m2 = [](int b) { return io::detail::f8_e5m2_to_float(std::uint8_t(b)); };
    for (int b = 1; b <= 0x7e; ++b) CHECK(e4m3(b) > e4m3(b - 1));
    for (int b = 1; b <= 0x7c; ++b) CHECK(e5m2(b) > e5m2(b - 1));
    for (int b = 0; b < 0x80; ++b) {
        if (b != 0x7f) CHECK(e4m3(b | 0x80) == -e4m3(b));
        if (b < 0x7d) CHECK(e5m2(b | 0x80) == -e5m2(b));
    }
    CHECK(e4m3(0x01) == std::ldexp(1.0f, -9));  // smallest subnormal
    CHECK(e4m3(0x08) == std::ldexp(1.0f, -6));  // smallest normal
    CHECK(e4m3(0x38) == 1.0f);
    CHECK(e4m3(0x7e) == 448.0f);  // largest
    CHECK(std::isnan(e4m3(0x7f)));
    CHECK(std::isnan(e4m3(0xff)));
    CHECK(std::signbit(e4m3(0x80)));
    CHECK(e5m2(0x01) == std::ldexp(1.0f, -16));
    CHECK(e5m2(0x3c) == 1.0f);
    CHECK(e5m2(0x7b) == 57344.0f);
    CHECK(std::isinf(e5m2(0x7c)));
    CHECK(std::isnan(e5m2(0x7d)));
    // F16: every non-NaN code widens and rounds back to itself.
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
        const float f = float(float16::from_bits(std::uint16_t(h)));
        if (std::isnan(f)) continue;
        if (float16(f).bits != h) FAIL_CHECK("half " << h << " does not round-trip");
    }
}

TEST_CASE("float16 and bfloat16 round to nearest even") {
    const float ulp_h = std::ldexp(1.0f, -10), ulp_b = std::ldexp(1.0f, -7), tiny = std::ldexp(1.0f, -24);
    CHECK(float16(1.0f + ulp_h / 2).bits == 0x3c00);        // tie, down to even
    CHECK(float16(1.0f + 3 * ulp_h / 2).bits == 0x3c02);    // tie, up to even
    CHECK(float16(1.0f + ulp_h / 2 + ulp_h / 64).bits == 0x3c01);  // above the tie
    CHECK(float16(65504.0f).bits == 0x7bff);
    CHECK(float16(65519.0f).bits == 0x7bff);
    CHECK(float16(65520.0f).bits == 0x7c00);  // tie between 65504 and 2^16: to infinity (even)
    CHECK(float16(-1e9f).bits == 0xfc00);
    CHECK(float16(tiny).bits == 0x0001);
    CHECK(float16(tiny / 2).bits == 0x0000);        // tie, to even (zero)
    CHECK(float16(tiny * 0.75f).bits == 0x0001);
    CHECK(float16(tiny * 1.5f).bits == 0x0002);     // subnormal tie, to even
    CHECK(float16(tiny * 2.5f).bits == 0x0002);
    CHECK(float16(std::ldexp(1.0f, -14) - tiny / 2).bits == 0x0400);  // rounds up into the normals
    CHECK(float16(-0.0f).bits == 0x8000);
    CHECK((float16(std::numeric_limits<float>::quiet_NaN()).bits & 0x7e00) == 0x7e00);
    CHECK(float16(std::numeric_limits<float>::infinity()).bits == 0x7c00);
    CHECK(bfloat16(1.0f + ulp_b / 2).bits == 0x3f80);
    CHECK(bfloat16(1.0f + 3 * ulp_b / 2).bits == 0x3f82);
}

// The writer: F16, BF16, I8, I16, BOOL and the unsigned types round-trip through a file.
TEST_CASE("the safetensors writer round-trips F16, BF16, I8, I16, U16, U32, U64 and BOOL") {
    TempDir dir;
    const float values[] = {1.0f + std::ldexp(1.0f, -11), -65520.0f, 0.1f, std::ldexp(1.0f, -25) * 3};
    Tensor<float16, 1> h({4});
    Tensor<bfloat16, 1> b({4});
    for (index_t i = 0; i < 4; ++i) {
        h(i) = float16(values[i]);
        b(i) = bfloat16(values[i]);
    }
    Tensor<std::int8_t, 1> i8({3});
    Tensor<std::int16_t, 2> i16({1, 2});
    Tensor<std::uint16_t, 1> u16({1});
    Tensor<std::uint32_t, 1> u32({1});
    Tensor<std::uint64_t, 1> u64({1});
    Tensor<bool, 1> flags({3});
    i8(0) = -128;
    i8(2) = 127;
    i16(0, 1) = -32768;
    u16(0) = 65535;
    u32(0) = 4294967295u;
    u64(0) = ~std::uint64_t(0);
    flags(1) = true;
    io::SafetensorsWriter w;
    w.add("h", h);
    w.add("b", b);
    w.add("i8", i8);
    w.add("i16", i16);
    w.add("u16", u16);
    w.add("u32", u32);
    w.add("u64", u64);
    w.add("flags", flags);
    const fs::path path = dir.path / "dtypes.safetensors";
    w.write(path);

    const io::SafetensorsFile file(path);
    CHECK(file.info("h").dtype == io::DType::F16);
    CHECK(file.info("b").dtype == io::DType::BF16);
    CHECK(file.info("flags").dtype == io::DType::BOOL);
    const auto h2 = file.read<float, 1>("h");
    CHECK(h2(0) == 1.0f);  // the tie rounded to even
    CHECK(std::isinf(h2(1)));
    CHECK(h2(2) == float(float16(0.1f)));
    CHECK(h2(3) == std::ldexp(1.0f, -23));  // 1.5 x 2^-24, a subnormal tie, to even
    CHECK(file.read<float16, 1>("h")(2).bits == 0x2e66);  // 0.1 rounded to nearest
    const auto b2 = file.read<float, 1>("b");
    CHECK(b2(0) == 1.0f);
    CHECK(b2(1) == -65536.0f);
    CHECK(file.read<bfloat16, 1>("b")(2).bits == 0x3dcd);
    CHECK(file.read<std::int8_t, 1>("i8")(0) == -128);
    CHECK(file.read<std::int8_t, 1>("i8")(2) == 127);
    CHECK(file.read<std::int16_t, 2>("i16")(0, 1) == -32768);
    CHECK(file.read<std::uint16_t, 1>("u16")(0) == 65535);
    CHECK(file.read<std::uint32_t, 1>("u32")(0) == 4294967295u);
    CHECK(file.read<std::uint64_t, 1>("u64")(0) == ~std::uint64_t(0));
    const auto flags2 = file.read<bool, 1>("flags");
    CHECK((!flags2(0) && flags2(1) && !flags2(2)));
    CHECK(file.read<std::int64_t, 1>("flags")(1) == 1);
}

// Rule: a PyTorch checkpoint (zip or pickle) is named as such, not as a bad header length.
TEST_CASE("PyTorch checkpoints are recognised and the converter is named") {
    TempDir dir;
    const std::string expected = "this is a PyTorch checkpoint, not safetensors; convert it with scripts/convert_weights.py";
    // A zip archive (torch.save since 1.6): local file header magic, then "archive/data.pkl".
    expect_rejected(dir, "zip", std::string("PK\x03\x04\x00\x00\x08\x00\x00\x00", 10) + "archive/data.pkl", expected);
    // A zip whose magic read as a header length (67 MB) fits the file: caught at the missing '{'.
    const fs::path big = dir.path / "zip_fits.pth";
    write_bytes(big, std::string("PK\x03\x04\x00\x00\x00\x00", 8));
    fs::resize_file(big, 8 + 0x04034b50 + 8);  // sparse
    CHECK_THROWS_WITH_AS(io::SafetensorsFile{big}, doctest::Contains(expected.c_str()), FormatError);
    // Legacy pickles, protocols 2 and 4 (an empty dict, and the start of torch's magic number).
    expect_rejected(dir, "pickle2", std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15), expected);
    expect_rejected(dir, "pickle4", std::string("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.", 14), expected);
    expect_rejected(dir, "pickle_short", std::string("\x80\x02}.", 4), expected);
    // Bytes that only resemble them stay safetensors errors.
    expect_rejected(dir, "pickle_protocol_1", std::string("\x80\x01}.", 4), "too short");
    expect_rejected(dir, "pk_not_zip", "PK", "too short");
    // A real safetensors file whose header length (640 = 0x280) starts with the pickle bytes.
    const auto file = accepted(dir, "length_640", make_file("{}" + std::string(638, ' '), ""));
    CHECK(file.tensors().empty());
}

TEST_CASE("a safetensors image in memory reads like a file and errors carry its name") {
    const std::string bytes = make_file("{" + entry("x", "I16", "2", 0, 4) + "}", std::string("\x01\x00\xff\xff", 4));
    const io::SafetensorsFile file(std::as_bytes(std::span(bytes.data(), bytes.size())), "image in memory");
    CHECK(file.path() == "image in memory");
    const auto x = file.read<std::int64_t, 1>("x");
    CHECK((x(0) == 1 && x(1) == -1));
    const std::string broken = make_file("{}", "x");
    CHECK_THROWS_WITH_AS(io::SafetensorsFile(std::as_bytes(std::span(broken.data(), broken.size())), "image in memory"),
                         doctest::Contains("image in memory: the last 1 data bytes belong to no tensor"), FormatError);
}


// The converter's --raw mode (every tensor unchanged; its ViT and BERT conversions are tested by
// tests/scripts/convert_weights_test.py) on a tiny checkpoint, in both PyTorch formats (zip and
// legacy pickle), when Debian's python3-torch is installed; svilm refuses the checkpoints and
// reads the conversions.
TEST_CASE("scripts/convert_weights.py --raw converts PyTorch checkpoints that svilm then reads") {
    const std::string python = "/usr/bin/python3";
    if (std::system((python + " -c 'import torch' 2>/dev/null").c_str()) != 0) {
        MESSAGE("SKIPPED: PyTorch is not installed (Debian: apt-get install python3-torch)");
        return;
    }
    TempDir dir;
    const fs::path maker = dir.path / "make_checkpoints.py", zip = dir.path / "tiny.pth", legacy = dir.path / "legacy.pt";
    std::ofstream(maker) << R"(import sys, torch
w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
sd = {"w": w, "t": w.t(),  # t: a transposed view of w's storage
      "h": torch.tensor([1.5, -2.0, 65504.0], dtype=torch.float16),
      "b": torch.tensor([0.333984375, -1.0], dtype=torch.bfloat16),
      "ids": torch.tensor([-5, 1 << 40]), "i8": torch.tensor([-128, 127], dtype=torch.int8),
      "mask": torch.tensor([True, False, True]), "empty": torch.zeros(0, 4),
      "scalar": torch.tensor(3.25, dtype=torch.float64)}
torch.save({"model": sd, "epoch": 3}, sys.argv[1])  # as training scripts save
torch.save(sd, sys.argv[2], _use_new_zipfile_serialization=False)
)";
    REQUIRE(std::system((python + " " + maker.string() + " " + zip.string() + " " + legacy.string()).c_str()) == 0);
    const std::string script = std::string(SVILM_DATA_DIR) + "/../scripts/convert_weights.py --raw";
    for (const fs::path& checkpoint : {zip, legacy}) {
        INFO(checkpoint.string());
        CHECK_THROWS_WITH_AS(io::SafetensorsFile{checkpoint}, doctest::Contains("this is a PyTorch checkpoint, not safetensors"),
                             FormatError);
        const fs::path out = fs::path(checkpoint).replace_extension(".safetensors");
        REQUIRE(std::system((python + " " + script + " " + checkpoint.string() + " " + out.string() + " >/dev/null").c_str()) == 0);
        const io::SafetensorsFile file(out);
        CHECK(file.tensors().size() == 9);
        CHECK(file.metadata().at("format") == "pt");
        const auto w = file.read<float, 2>("w");
        const auto t = file.read<float, 2>("t");
        CHECK((w(1, 2) == 5.0f && t(2, 1) == 5.0f && t(0, 1) == 3.0f));
        const auto h = file.read<float, 1>("h");
        CHECK((file.info("h").dtype == io::DType::F16 && h(0) == 1.5f && h(1) == -2.0f && h(2) == 65504.0f));
        CHECK(file.info("b").dtype == io::DType::BF16);
        CHECK(file.read<float, 1>("b")(0) == 0.333984375f);
        CHECK(file.read<std::int64_t, 1>("ids")(1) == (1ll << 40));
        CHECK(file.read<std::int8_t, 1>("i8")(0) == -128);
        const auto mask = file.read<bool, 1>("mask");
        CHECK((mask(0) && !mask(1) && mask(2)));
        CHECK(file.info("empty").shape == std::vector<index_t>{0, 4});
        CHECK(file.read<double, 0>("scalar")() == 3.25);
    }
}

}  // namespace
}  // namespace svilm
