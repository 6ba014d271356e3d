// svilm/io/embedding_file.hpp: a set of video embeddings as one safetensors file, and a matrix as
// a NumPy .npy file.
//
// Layout of an embeddings file (format "svilm-embeddings"):
// - tensor `embeddings`: F32 (N, D), one L2-normalised row per video or window;
// - tensors `start` and `end`: F64 (N), seconds, only when some row is a time window; a
//   whole-video row holds NaN in both;
// - metadata `format` = "svilm-embeddings", `rows` = a JSON array of N {"id", "video"} objects
//   (row i describes embeddings row i), `info` = a JSON object (the model file and its sha256,
//   the preprocessing settings, the kind of embedding).
// Everything is checked on load; a violation is a FormatError naming the file and what is wrong.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "svilm/core/error.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/io/mapped_file.hpp"
#include "svilm/io/safetensors.hpp"

namespace svilm::io {

struct EmbeddingRow {
    std::string id;      // the video's id (its manifest/file stem; for windows "<id>@<start>-<end>")
    std::string video;   // the video's path as given
    double start = std::numeric_limits<double>::quiet_NaN();  // seconds; NaN for a whole-video embedding
    double end = std::numeric_limits<double>::quiet_NaN();
};

struct EmbeddingSet {
    Tensor<float, 2> vectors;        // (N, D), rows L2-normalised
    std::vector<EmbeddingRow> rows;  // N
    nlohmann::json info = nlohmann::json::object();  // model path, model_sha256, preprocessing settings, kind
};

inline constexpr const char* embeddings_format = "svilm-embeddings";

namespace detail {

// Rows are unit vectors up to float rounding; search scores are cosines only if they are.
inline constexpr double unit_norm_tolerance = 1e-3;

// An empty string when the set is consistent, else what is wrong with it (row numbers from 0).
inline std::string embedding_set_problem(const EmbeddingSet& set) {
    const index_t n = set.vectors.extent(0), d = set.vectors.extent(1);
    if (index_t(set.rows.size()) != n)
        return std::to_string(set.rows.size()) + " rows describe " + std::to_string(n) + " embeddings";
    if (n > 0 && d == 0) return "the embeddings have dimension 0";
    if (!set.info.is_object()) return "info is not a JSON object";
    for (index_t i = 0; i < n; ++i) {
        const EmbeddingRow& row = set.rows[std::size_t(i)];
        const std::string where = "row " + std::to_string(i) + " ('" + row.id + "'): ";
        if (row.id.empty()) return where + "empty id";
        if (std::isnan(row.start) != std::isnan(row.end)) return where + "start and end must both be set or both be NaN";
        if (!std::isnan(row.start) && !(std::isfinite(row.start) && std::isfinite(row.end) && row.start >= 0 &&
                                        row.start <= row.end))
            return where + "time range " + std::to_string(row.start) + " to " + std::to_string(row.end) +
                   " is not 0 <= start <= end";
        double norm2 = 0;
        for (index_t j = 0; j < d; ++j) {
            const double v = set.vectors(i, j);
            if (!std::isfinite(v)) return where + "element " + std::to_string(j) + " is not finite";
            norm2 += v * v;
        }
        if (std::abs(std::sqrt(norm2) - 1.0) > unit_norm_tolerance)
            return where + "L2 norm " + std::to_string(std::sqrt(norm2)) + " is not 1";
    }
    return {};
}

[[noreturn]] inline void embedding_format_error(const std::filesystem::path& path, const std::string& what) {
    throw FormatError(path.string() + ": " + what);
}

}  // namespace detail

// Writes `set` as an embeddings file, atomically. A set whose rows do not match its vectors, a
// row that is not a unit vector or a bad time range is a ValueError naming the file.
inline void save_embeddings(const EmbeddingSet& set, const std::filesystem::path& path) {
    if (const std::string problem = detail::embedding_set_problem(set); !problem.empty())
        throw ValueError(path.string() + ": cannot save embeddings: " + problem);
    const index_t n = set.vectors.extent(0);
    nlohmann::json rows = nlohmann::json::array();
    bool windows = false;
    std::vector<double> start(std::size_t(n), 0.0), end(std::size_t(n), 0.0);
    for (std::size_t i = 0; i < set.rows.size(); ++i) {
        rows.push_back({{"id", set.rows[i].id}, {"video", set.rows[i].video}});
        start[i] = set.rows[i].start;
        end[i] = set.rows[i].end;
        windows = windows || !std::isnan(start[i]);
    }
    SafetensorsWriter writer;
    writer.add("embeddings", set.vectors.view());
    if (windows) {
        writer.add("start", start.data(), {n});
        writer.add("end", end.data(), {n});
    }
    writer.set_metadata("format", embeddings_format);
    try {
        writer.set_metadata("rows", rows.dump());
        writer.set_metadata("info", set.info.dump());
    } catch (const nlohmann::json::exception& e) {
        throw ValueError(path.string() + ": cannot save embeddings: an id, a video path or the info is not valid UTF-8: " +
                         e.what());
    }
    writer.write(path);
}

// Reads an embeddings file written by save_embeddings (or by anything following the layout above).
inline EmbeddingSet load_embeddings(const std::filesystem::path& path) {
    const SafetensorsFile file(path);
    const auto fail = [&](const std::string& what) { detail::embedding_format_error(path, what); };
    const auto& metadata = file.metadata();
    const auto format = metadata.find("format");
    if (format == metadata.end() || format->second != embeddings_format)
        fail("not an embeddings file: metadata 'format' is " +
             (format == metadata.end() ? std::string("missing") : "'" + format->second + "'") + ", expected '" +
             embeddings_format + "'");
    const auto parse = [&](const char* key) {
        const auto it = metadata.find(key);
        if (it == metadata.end()) fail(std::string("no '") + key + "' in the metadata");
        nlohmann::json value = nlohmann::json::parse(it->second, nullptr, false);
        if (value.is_discarded()) fail(std::string("metadata '") + key + "' is not valid JSON");
        return value;
    };

    EmbeddingSet set;
    if (!file.contains("embeddings")) fail("no tensor 'embeddings'");
    const TensorInfo& info = file.info("embeddings");
    if (info.dtype != DType::F32 || info.shape.size() != 2)
        fail("tensor 'embeddings' must be F32 (N, D), not " + std::string(dtype_name(info.dtype)) + " of rank " +
             std::to_string(info.shape.size()));
    set.vectors = file.read<float, 2>("embeddings");
    const index_t n = set.vectors.extent(0);

    const nlohmann::json rows = parse("rows");
    if (!rows.is_array()) fail("metadata 'rows' is not a JSON array");
    if (index_t(rows.size()) != n)
        fail("metadata 'rows' describes " + std::to_string(rows.size()) + " rows but tensor 'embeddings' holds " +
             std::to_string(n));
    set.rows.resize(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const nlohmann::json& row = rows[i];
        for (const char* key : {"id", "video"})
            if (!row.is_object() || !row.contains(key) || !row[key].is_string())
                fail("metadata 'rows' entry " + std::to_string(i) + " has no string '" + key + "'");
        set.rows[i].id = row["id"].get<std::string>();
        set.rows[i].video = row["video"].get<std::string>();
    }

    const bool has_start = file.contains("start"), has_end = file.contains("end");
    if (has_start != has_end) fail("tensors 'start' and 'end' must come together");
    if (has_start) {
        for (const char* name : {"start", "end"}) {
            const TensorInfo& t = file.info(name);
            if (t.dtype != DType::F64 || t.shape.size() != 1 || t.shape[0] != n)
                fail(std::string("tensor '") + name + "' must be F64 (" + std::to_string(n) + ")");
        }
        const Tensor<double, 1> start = file.read<double, 1>("start"), end = file.read<double, 1>("end");
        for (index_t i = 0; i < n; ++i) {
            set.rows[std::size_t(i)].start = start(i);
            set.rows[std::size_t(i)].end = end(i);
        }
    }

    if (metadata.count("info")) set.info = parse("info");
    if (const std::string problem = detail::embedding_set_problem(set); !problem.empty()) fail(problem);
    return set;
}

// Writes a (N, D) matrix as a NumPy .npy file, format version 1.0 (little-endian float32, C order),
// atomically: numpy.load reads it.
inline void save_npy(TensorView<const float, 2> matrix, const std::filesystem::path& path) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(matrix.extent(0)) +
                         ", " + std::to_string(matrix.extent(1)) + "), }";
    // The magic (6), version (2) and header length (2) precede the header, which ends in '\n' and is
    // padded with spaces so that the data starts 64-byte aligned, as NumPy writes it.
    const std::size_t prefix = 10;
    header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
    header.push_back('\n');
    const std::uint16_t header_len = std::uint16_t(header.size());  // under 200 bytes: two integers at most
    write_file_atomically(path, [&](const auto& append) {
        const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
        append(magic, 8);
        const unsigned char length[2] = {std::uint8_t(header_len & 0xff), std::uint8_t(header_len >> 8)};
        append(length, 2);
        append(header.data(), header.size());
        const std::size_t row_bytes = std::size_t(matrix.extent(1)) * sizeof(float);
        if (matrix.is_contiguous()) {
            append(matrix.data(), std::size_t(matrix.size()) * sizeof(float));
        } else {
            std::vector<float> row(std::size_t(matrix.extent(1)));
            for (index_t i = 0; i < matrix.extent(0); ++i) {
                for (index_t j = 0; j < matrix.extent(1); ++j) row[std::size_t(j)] = matrix(i, j);
                append(row.data(), row_bytes);
            }
        }
    });
}

}  // namespace svilm::io
