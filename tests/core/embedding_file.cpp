#include <doctest/doctest.h>

#include <cmath>
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

// n unit rows of dimension d, row i pointing mostly along axis i % d.
Tensor<float, 2> unit_rows(index_t n, index_t d) {
    Tensor<float, 2> v({n, d});
    for (index_t i = 0; i < n; ++i) {
        double norm2 = 0;
        for (index_t j = 0; j < d; ++j) {
            v(i, j) = float((j == i % d ? 3.0 : 0.0) + 0.1 * double((i + 2 * j) % 5));
            norm2 += double(v(i, j)) * v(i, j);
        }
        for (index_t j = 0; j < d; ++j) v(i, j) = float(v(i, j) / std::sqrt(norm2));
    }
    return v;
}

io::EmbeddingSet windows_set() {
    io::EmbeddingSet set;
    set.vectors = unit_rows(3, 4);
    set.rows = {{"a", "videos/a.mp4"}, {"b@0.0-2.0", "videos/b.mp4", 0.0, 2.0}, {"b@2.0-4.5", "videos/b.mp4", 2.0, 4.5}};
    set.info = {{"model", "m.safetensors"}, {"model_sha256", "00ff"}, {"kind", "video"}};
    return set;
}

void expect_format_error(const fs::path& p, const std::string& expected) {
    INFO(expected);
    CHECK_THROWS_WITH_AS(io::load_embeddings(p), doctest::Contains(expected.c_str()), FormatError);
    try {
        io::load_embeddings(p);
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
    }
}

TEST_CASE("embeddings files round-trip vectors, rows, time ranges and info") {
    TempDir dir;
    const io::EmbeddingSet set = windows_set();
    const fs::path path = dir.path / "e.safetensors";
    io::save_embeddings(set, path);
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);  // no temporary left

    const io::EmbeddingSet back = io::load_embeddings(path);
    REQUIRE(back.vectors.shape() == set.vectors.shape());
    CHECK(std::memcmp(back.vectors.data(), set.vectors.data(), set.vectors.bytes()) == 0);
    REQUIRE(back.rows.size() == 3);
    CHECK(back.rows[0].id == "a");
    CHECK(back.rows[0].video == "videos/a.mp4");
    CHECK(std::isnan(back.rows[0].start));
    CHECK(std::isnan(back.rows[0].end));
    CHECK(back.rows[2].id == "b@2.0-4.5");
    CHECK(back.rows[2].start == 2.0);
    CHECK(back.rows[2].end == 4.5);
    CHECK(back.info == set.info);

    // The layout other tools read: named tensors and metadata.
    const io::SafetensorsFile file(path);
    CHECK(file.metadata().at("format") == "svilm-embeddings");
    CHECK(nlohmann::json::parse(file.metadata().at("rows"))[1] == nlohmann::json{{"id", "b@0.0-2.0"}, {"video", "videos/b.mp4"}});
    CHECK(file.info("start").dtype == io::DType::F64);
    CHECK(file.info("embeddings").dtype == io::DType::F32);

    // Whole-video embeddings only: no start and end tensors.
    io::EmbeddingSet whole;
    whole.vectors = unit_rows(2, 3);
    whole.rows = {{"x", "x.mp4"}, {"y", "y.mp4"}};
    io::save_embeddings(whole, path);
    CHECK_FALSE(io::SafetensorsFile(path).contains("start"));
    const io::EmbeddingSet whole_back = io::load_embeddings(path);
    CHECK(std::isnan(whole_back.rows[1].end));
    CHECK(whole_back.info == nlohmann::json::object());
}

TEST_CASE("saving inconsistent embeddings is refused naming the file") {
    TempDir dir;
    const fs::path path = dir.path / "bad.safetensors";
    io::EmbeddingSet set = windows_set();
    set.rows.pop_back();
    CHECK_THROWS_WITH_AS(io::save_embeddings(set, path), doctest::Contains("2 rows describe 3 embeddings"), ValueError);
    set = windows_set();
    set.vectors(1, 0) *= 2;
    CHECK_THROWS_WITH_AS(io::save_embeddings(set, path), doctest::Contains("row 1 ('b@0.0-2.0'): L2 norm"), ValueError);
    set = windows_set();
    set.rows[1].end = std::nan("");
    CHECK_THROWS_WITH_AS(io::save_embeddings(set, path), doctest::Contains("both be set or both be NaN"), ValueError);
    set = windows_set();
    set.rows[2].start = 5.0;
    CHECK_THROWS_WITH_AS(io::save_embeddings(set, path), doctest::Contains("is not 0 <= start <= end"), ValueError);
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("broken embeddings files give FormatError naming the file") {
    TempDir dir;
    const fs::path good = dir.path / "good.safetensors";
    io::save_embeddings(windows_set(), good);
    const std::string bytes = read_file_bytes(good);

    const fs::path truncated = dir.path / "truncated.safetensors";
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() - 5));
    expect_format_error(truncated, "truncated file?");

    // rows and tensor disagree on N
    const Tensor<float, 2> vectors = unit_rows(3, 4);
    const auto write = [&](const fs::path& p, const std::string& format, const std::string& rows) {
        io::SafetensorsWriter w;
        w.add("embeddings", vectors);
        if (!format.empty()) w.set_metadata("format", format);
        if (!rows.empty()) w.set_metadata("rows", rows);
        w.write(p);
    };
    const fs::path mismatch = dir.path / "mismatch.safetensors";
    write(mismatch, "svilm-embeddings", R"([{"id":"a","video":"a.mp4"},{"id":"b","video":"b.mp4"}])");
    expect_format_error(mismatch, "'rows' describes 2 rows but tensor 'embeddings' holds 3");

    const fs::path model = dir.path / "model.safetensors";
    write(model, "svilm", "");
    expect_format_error(model, "not an embeddings file: metadata 'format' is 'svilm'");
    write(model, "svilm-embeddings", "");
    expect_format_error(model, "no 'rows' in the metadata");
    write(model, "svilm-embeddings", "[{\"id\":1}, ");
    expect_format_error(model, "metadata 'rows' is not valid JSON");
    write(model, "svilm-embeddings", R"([{"id":"a","video":"a.mp4"},{"id":"b"},{"id":"c","video":"c.mp4"}])");
    expect_format_error(model, "entry 1 has no string 'video'");

    // a start tensor without its end
    const Tensor<double, 1> start({3});
    io::SafetensorsWriter w;
    w.add("embeddings", vectors);
    w.add("start", start);
    w.set_metadata("format", "svilm-embeddings");
    w.set_metadata("rows", R"([{"id":"a","video":"a"},{"id":"b","video":"b"},{"id":"c","video":"c"}])");
    w.write(model);
    expect_format_error(model, "'start' and 'end' must come together");

    CHECK_THROWS_AS(io::load_embeddings(dir.path / "missing.safetensors"), IoError);
}

TEST_CASE("save_npy writes a NumPy format 1.0 header and the rows in C order") {
    TempDir dir;
    Tensor<float, 2> m({2, 3});
    for (index_t i = 0; i < 6; ++i) m.data()[i] = float(i) - 1.5f;
    const fs::path path = dir.path / "m.npy";
    io::save_npy(m.view(), path);
    const std::string bytes = read_file_bytes(path);
    REQUIRE(bytes.size() > 10);
    CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    const std::size_t header_len = std::uint8_t(bytes[8]) | (std::size_t(std::uint8_t(bytes[9])) << 8);
    CHECK((10 + header_len) % 64 == 0);
    const std::string header = bytes.substr(10, header_len);
    CHECK(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
    CHECK(header.back() == '\n');
    REQUIRE(bytes.size() == 10 + header_len + 6 * sizeof(float));
    CHECK(std::memcmp(bytes.data() + 10 + header_len, m.data(), m.bytes()) == 0);

    // a strided view (the transpose) is written in its own row order
    const TensorView<const float, 2> transposed = m.view().transpose(0, 1);
    io::save_npy(transposed, path);
    const std::string t = read_file_bytes(path);
    CHECK(t.find("'shape': (3, 2)") != std::string::npos);
    float second = 0;  // row 0, column 1 of the transpose: m(1, 0)
    std::memcpy(&second, t.data() + t.size() - 6 * sizeof(float) + sizeof(float), sizeof(float));
    CHECK(second == m(1, 0));
}

}  // namespace
}  // namespace svilm
