// svilm/ops/detail/column_sum.hpp: deterministic parallel sums over rows.
//
// Parameter gradients such as a bias gradient sum a term over every row. Rows are split into
// fixed chunks of 64 whatever the thread count, each chunk is summed on one thread, then the
// chunk partials are added in chunk order: the same bits for any number of threads.
#pragma once

#include <vector>

#include "svilm/core/parallel.hpp"
#include "svilm/core/shape.hpp"

namespace svilm::detail {

inline constexpr index_t column_sum_chunk_rows = 64;

// out[c] += sum over r < rows of term(r, c, partial_row) where term adds into partial_row[c]
// for all c of row r; `row_terms(r, partial)` must do partial[c] += value(r, c) for every c.
template <class T, class RowTerms>
void accumulate_column_sums(T* out, index_t rows, index_t cols, RowTerms row_terms) {
    const index_t chunks = (rows + column_sum_chunk_rows - 1) / column_sum_chunk_rows;
    if (chunks == 0) return;
    std::vector<T> partial(std::size_t(chunks * cols), T(0));
    parallel_for(
        chunks,
        [&](index_t k) {
            T* p = partial.data() + k * cols;
            const index_t end = std::min(rows, (k + 1) * column_sum_chunk_rows);
            for (index_t r = k * column_sum_chunk_rows; r < end; ++r) row_terms(r, p);
        },
        chunks > 1);
    for (index_t k = 0; k < chunks; ++k) {
        const T* p = partial.data() + k * cols;
#pragma omp simd
        for (index_t c = 0; c < cols; ++c) out[c] += p[c];
    }
}

}  // namespace svilm::detail
