// libFuzzer target: arbitrary bytes as a safetensors image in memory (no file system): open,
// then every tensor read raw and converted to double, float and, for integer dtypes, int64.
// Any crash, sanitizer report or exception other than svilm::FormatError is a bug, and so is an
// accepted image that breaks the format's invariants.
//
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DSVILM_BUILD_FUZZERS=ON
//   cmake --build build/fuzz --target svilm_fuzz_safetensors
//   python3 tests/fuzz/make_safetensors_seeds.py build/fuzz/safetensors_corpus
//   ./build/fuzz/tests/fuzz/svilm_fuzz_safetensors -max_total_time=600 -max_len=4096 \
//       -dict=tests/fuzz/safetensors.dict build/fuzz/safetensors_corpus
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "svilm/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace svilm;
    const std::span<const std::byte> bytes = std::as_bytes(std::span(data, size));
    std::optional<io::SafetensorsFile> file;
    try {
        file.emplace(bytes, "fuzz input");
    } catch (const FormatError&) {
        return 0;
    }
    // Accepted: the tensors tile the data section, each holding shape product x dtype size bytes.
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, data, 8);
    const std::byte* data_section = bytes.data() + 8 + header_len;
    std::size_t covered = 0;
    for (const auto& [name, info] : file->tensors()) {
        const std::span<const std::byte> raw = file->raw(name);
        std::size_t count = 1;
        for (const index_t e : info.shape) count *= std::size_t(e);
        if (raw.size() != count * io::dtype_size(info.dtype) || raw.data() != data_section + info.begin) __builtin_trap();
        covered += raw.size();

        std::vector<double> wide(count);
        std::vector<float> narrow(count);
        file->read_into<double>(name, wide.data(), count);
        file->read_into<float>(name, narrow.data(), count);
        const bool small = io::dtype_size(info.dtype) <= 4;
        if (io::detail::is_floating(info.dtype)) {
            // Floating dtypes below 64 bits decode exactly: their float is their double.
            if (small)
                for (std::size_t i = 0; i < count; ++i)
                    if (double(narrow[i]) != wide[i] && !(std::isnan(narrow[i]) && std::isnan(wide[i]))) __builtin_trap();
        } else {
            std::vector<std::int64_t> ints(count);
            try {
                file->read_into<std::int64_t>(name, ints.data(), count);
            } catch (const FormatError&) {
                if (info.dtype != io::DType::U64) __builtin_trap();  // only U64 has values int64 lacks
                continue;
            }
            // Integers up to 32 bits are exact in double.
            if (small)
                for (std::size_t i = 0; i < count; ++i)
                    if (double(ints[i]) != wide[i]) __builtin_trap();
        }
    }
    if (8 + header_len + covered != size) __builtin_trap();
    return 0;
}
