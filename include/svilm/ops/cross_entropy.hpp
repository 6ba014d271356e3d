// svilm/ops/cross_entropy.hpp: softmax cross-entropy with integer targets, averaged over rows
// (F.cross_entropy with reduction="mean"), fused so backward is softmax - one_hot.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "svilm/core/profile.hpp"
#include "svilm/ops/detail/vector_math.hpp"
#include "svilm/core/context.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/saved.hpp"

namespace svilm {

namespace detail {

inline void check_targets(const char* op, TensorView<const std::int64_t, 1> targets, index_t classes) {
    for (index_t r = 0; r < targets.extent(0); ++r)
        if (targets(r) < 0 || targets(r) >= classes)
            throw ValueError(std::string(op) + ": target " + std::to_string(targets(r)) + " at row " + std::to_string(r) +
                             " is outside [0, " + std::to_string(classes) + ")");
}

}  // namespace detail

template <class T>
struct CrossEntropySaved<T, cpu> {
    Tensor<T, 1> logsumexp;  // (R)
};

// Returns mean over r of logsumexp(logits[r]) - logits[r, targets[r]].
// logits (R, K), targets (R) in [0, K) else ValueError. R must be positive.
template <class T>
T cross_entropy_forward(const Context<cpu>&, CrossEntropySaved<T>& saved, TensorView<const T, 2> logits,
                        TensorView<const std::int64_t, 1> targets) {
    const profile::Scope profile_scope(__func__);
    const char* op = "cross_entropy_forward";
    const index_t rows = logits.extent(0), classes = logits.extent(1);
    expect_shape(op, "targets", targets, {rows});
    expect_contiguous(op, "logits", logits);
    if (rows == 0) throw ShapeError(std::string(op) + ": logits " + to_string<2>(logits.shape()) + " has no rows");
    detail::check_targets(op, targets, classes);
    if (saved.logsumexp.extent(0) != rows) saved.logsumexp = Tensor<T, 1>({rows}, uninitialized);
    T total = 0;  // serial over rows: a loss is a handful of rows, and the order stays fixed
    for (index_t r = 0; r < rows; ++r) {
        const T* row = logits.data() + r * classes;
        const T m = detail::max_of(row, classes);
        T sum = 0;
        for (index_t k = 0; k < classes; ++k) sum += std::exp(row[k] - m);
        const T lse = m + std::log(sum);
        saved.logsumexp(r) = lse;
        total += lse - row[targets(r)];
    }
    return total / T(rows);
}

// dlogits (R, K) = dloss * (softmax(logits) - one_hot(targets)) / R; assigned.
template <class T>
void cross_entropy_backward(const Context<cpu>&, TensorView<T, 2> dlogits, T dloss, const CrossEntropySaved<T>& saved,
                            std::type_identity_t<TensorView<const T, 2>> logits,
                            TensorView<const std::int64_t, 1> targets) {
    const profile::Scope profile_scope(__func__);
    const char* op = "cross_entropy_backward";
    const index_t rows = logits.extent(0), classes = logits.extent(1);
    expect_shape(op, "dlogits", dlogits, logits.shape());
    expect_shape(op, "saved.logsumexp", saved.logsumexp.view(), {rows});
    expect_shape(op, "targets", targets, {rows});
    detail::check_targets(op, targets, classes);
    const T scale = dloss / T(rows);
    for (index_t r = 0; r < rows; ++r) {
        const T lse = saved.logsumexp(r);
        for (index_t k = 0; k < classes; ++k) dlogits(r, k) = scale * std::exp(logits(r, k) - lse);
        dlogits(r, targets(r)) -= scale;
    }
}

}  // namespace svilm
