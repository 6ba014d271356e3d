#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

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

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A file with one header and raw data, to build broken cases by hand.
std::string make_file(const std::string& header, const std::string& data) {
    std::string out(8, '\0');
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((n >> (8 * i)) & 0xff);
    return out + header + data;
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
    CHECK_THROWS_WITH_AS((file.read<float, 1>("ids")), doctest::Contains("dtype I64"), FormatError);
    CHECK_THROWS_WITH_AS(file.info("missing"), doctest::Contains("no tensor named 'missing'"), FormatError);
    // Header of a written file starts the data 8-byte aligned.
    const std::string bytes = read_bytes(path);
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
        INFO(name);
        const fs::path p = dir.path / (name + ".safetensors");
        write_bytes(p, bytes);
        CHECK_THROWS_WITH_AS(io::SafetensorsFile{p}, doctest::Contains(expected.c_str()), FormatError);
        try {
            io::SafetensorsFile{p};
        } catch (const FormatError& e) {
            CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
        }
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
    const std::string before = read_bytes(path);
    CHECK_THROWS_AS(io::write_file_atomically(path, [](const auto& append) {
                        append("partial", 7);
                        throw IoError("simulated failure mid-write");
                    }),
                    IoError);
    CHECK(read_bytes(path) == before);
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
    CHECK_THROWS_AS(w.write(dir.path / "no_such_dir" / "x.safetensors"), IoError);
}

}  // namespace
}  // namespace svilm
