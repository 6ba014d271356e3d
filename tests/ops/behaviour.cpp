// Op behaviour beyond gradients and parity: the blockwise attention against the materialised
// reference across block boundaries, edge cases (masked rows, clamped norms), errors on bad
// input, and bitwise determinism across thread counts.
#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <string>

#include "support/context.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/threads.hpp"
#include "svilm/ops.hpp"
#include "svilm/ops/attention_reference.hpp"

namespace svilm::testing {
namespace {

template <class T>
void blockwise_matches_reference(Tolerance tol) {
    // 150 queries and 600 keys cross the 128-query and 512-key blocks, including ragged last blocks.
    const index_t B = 2, Nq = 150, Nk = 600, H = 2, d = 8, C = H * d;
    const auto q = random_tensor<T, 3>({B, Nq, C}, 1), k = random_tensor<T, 3>({B, Nk, C}, 2);
    const auto v = random_tensor<T, 3>({B, Nk, C}, 3), dout = random_tensor<T, 3>({B, Nq, C}, 4);
    Tensor<std::uint8_t, 2> keep = Tensor<std::uint8_t, 2>::full({B, Nk}, 1);
    for (index_t j = 250; j < Nk; ++j) keep(1, j) = 0;  // batch 1: padding starts inside the first key block
    for (index_t j = 0; j < 520; ++j) keep(0, j) = 0;   // batch 0: the first key block is all padding
    Tensor<T, 3> out({B, Nq, C}), ref_out({B, Nq, C});
    Tensor<T, 4> probs({B, H, Nq, Nk});
    AttentionSaved<T> saved;
    attention_forward<T>(cpu_ctx, out, saved, q, k, v, keep, H);
    attention_reference_forward<T>(cpu_ctx, ref_out, probs, q, k, v, keep, H);
    expect_close<T, T, 3>("attention out", out, ref_out, tol);

    Tensor<T, 3> dq(q.shape()), dk(k.shape()), dv(v.shape()), rdq(q.shape()), rdk(k.shape()), rdv(v.shape());
    attention_backward<T>(cpu_ctx, dq, dk, dv, dout, saved, q, k, v, out, keep, H);
    attention_reference_backward<T>(cpu_ctx, rdq, rdk, rdv, dout, probs, q, k, v, H);
    expect_close<T, T, 3>("attention dq", dq, rdq, tol);
    expect_close<T, T, 3>("attention dk", dk, rdk, tol);
    expect_close<T, T, 3>("attention dv", dv, rdv, tol);
}

TEST_CASE("blockwise attention equals the materialised reference across block boundaries") {
    blockwise_matches_reference<double>(Tolerance{1e-12, 1e-10});
    blockwise_matches_reference<float>(gemm_tolerance);
}

TEST_CASE("attention rejects shapes that do not fit, naming the op and shapes") {
    Tensor<float, 3> q({1, 4, 6}), k({1, 5, 6}), v({1, 5, 6}), out({1, 4, 6});
    AttentionSaved<float> saved;
    CHECK_THROWS_WITH_AS(attention_forward<float>(cpu_ctx, out, saved, q, k, v, {}, 4),
                         doctest::Contains("attention_forward: channels 6 do not split into 4 heads"), ShapeError);
    Tensor<float, 3> bad_v({1, 4, 6});
    CHECK_THROWS_WITH_AS(attention_forward<float>(cpu_ctx, out, saved, q, k, bad_v, {}, 2),
                         doctest::Contains("v (1, 4, 6) expected (1, 5, 6)"), ShapeError);
}

TEST_CASE("linear reports mismatched extents with both shapes") {
    Tensor<float, 2> x({4, 16}), w({24, 15}), y({4, 24});
    Tensor<float, 1> b({24});
    CHECK_THROWS_WITH_AS(linear_forward<float>(cpu_ctx, y, x, w, b), "linear_forward: x (4, 16) vs weight (24, 15)", ShapeError);
}

TEST_CASE("embedding and cross-entropy reject out-of-range indices") {
    Tensor<float, 2> w({5, 3}), y({2, 3});
    Tensor<std::int64_t, 1> ids({2});
    ids(1) = 5;
    CHECK_THROWS_WITH_AS(embedding_forward<float>(cpu_ctx, y, w, ids), doctest::Contains("id 5 at position 1"), ValueError);
    Tensor<float, 2> logits({2, 4});
    Tensor<std::int64_t, 1> targets({2});
    targets(0) = -1;
    CrossEntropySaved<float> saved;
    CHECK_THROWS_AS(cross_entropy_forward<float>(cpu_ctx, saved, logits, targets), ValueError);
}

TEST_CASE("a fully masked softmax row is zero, with a zero gradient") {
    Tensor<float, 3> x = random_tensor<float, 3>({1, 2, 4}, 9), y({1, 2, 4}), dx({1, 2, 4});
    Tensor<float, 2> mask = Tensor<float, 2>::full({1, 4}, -INFINITY);
    softmax_forward<float>(cpu_ctx, y, x, mask);
    softmax_backward<float>(cpu_ctx, dx, x, y);
    for (index_t i = 0; i < y.size(); ++i) {
        CHECK(y.data()[i] == 0.0f);
        CHECK(dx.data()[i] == 0.0f);
    }
}

TEST_CASE("l2_normalize clamps tiny norms at eps in both directions") {
    Tensor<double, 2> x = Tensor<double, 2>::full({1, 4}, 1e-14), y({1, 4}), dy = Tensor<double, 2>::full({1, 4}, 2.0),
                      dx({1, 4});
    L2NormalizeSaved<double> saved;
    l2_normalize_forward<double>(cpu_ctx, y, saved, x);
    l2_normalize_backward<double>(cpu_ctx, dx, dy, y, saved);
    CHECK(y(0, 0) == doctest::Approx(1e-2));  // 1e-14 / 1e-12
    CHECK(dx(0, 0) == doctest::Approx(2e12));
}

TEST_CASE("backward functions check indices and layouts before writing") {
    Tensor<float, 2> dweight({5, 3}), dy({2, 3});
    Tensor<std::int64_t, 1> ids({2});
    ids(0) = 7;
    CHECK_THROWS_AS(embedding_backward<float>(cpu_ctx, dweight, dy, ids), ValueError);
    Tensor<float, 2> logits({2, 4}), dlogits({2, 4});
    Tensor<std::int64_t, 1> targets({2});
    CrossEntropySaved<float> saved;
    cross_entropy_forward<float>(cpu_ctx, saved, logits, targets);
    targets(1) = 4;
    CHECK_THROWS_AS(cross_entropy_backward<float>(cpu_ctx, dlogits, 1.0f, saved, logits, targets), ValueError);
    Tensor<float, 2> x({4, 3}), w({2, 3}), y_t({2, 4});
    Tensor<float, 1> b = Tensor<float, 1>::full({2}, 9.0f);
    CHECK_THROWS_AS(linear_forward<float>(cpu_ctx, y_t.view().transpose(0, 1), x, w, b), ShapeError);
    for (index_t i = 0; i < y_t.size(); ++i) CHECK(y_t.data()[i] == 0.0f);  // nothing written
    Tensor<float, 2> c({2, 2});
    CHECK_THROWS_AS(gemm<float>(cpu_ctx, Trans::no, Trans::no, 2, 2, 3, 1.0f, x.data(), 2, w.data(), 2, 0.0f, c.data(), 2), ShapeError);
}

TEST_CASE("gemm with beta = 0 overwrites NaN and accepts transposed views") {
    const auto a = random_tensor<float, 2>({5, 3}, 11), b = random_tensor<float, 2>({5, 4}, 12);
    Tensor<float, 2> c = Tensor<float, 2>::full({3, 4}, std::numeric_limits<float>::quiet_NaN());
    matmul<float>(cpu_ctx, c, a.view().transpose(0, 1), b);  // (3, 5) @ (5, 4)
    for (index_t i = 0; i < 3; ++i)
        for (index_t j = 0; j < 4; ++j) {
            double expected = 0;
            for (index_t r = 0; r < 5; ++r) expected += double(a(r, i)) * b(r, j);
            CHECK(c(i, j) == doctest::Approx(expected).epsilon(1e-5));
        }
}

template <class Run>
void expect_same_bits_for_1_and_2_threads(const char* what, Run run) {
    INFO(what);
    const int before = num_threads();
    set_num_threads(1);
    const auto one = run();
    set_num_threads(2);
    const auto two = run();
    set_num_threads(before);
    REQUIRE(one.size() == two.size());
    CHECK(std::memcmp(one.data(), two.data(), one.bytes()) == 0);
}

TEST_CASE("parameter gradients and attention are bitwise identical for any thread count") {
    const auto x = random_tensor<float, 2>({1000, 64}, 21), dy = random_tensor<float, 2>({1000, 64}, 22);
    const auto w = random_tensor<float, 1>({64}, 23), b = random_tensor<float, 1>({64}, 24);
    expect_same_bits_for_1_and_2_threads("layer_norm dweight", [&] {
        LayerNormSaved<float> saved;
        Tensor<float, 2> y(x.shape());
        Tensor<float, 1> dw({64});
        layer_norm_forward<float>(cpu_ctx, y, saved, x, w, b, 1e-6f);
        layer_norm_backward<float>(cpu_ctx, {}, dw, {}, dy, saved, x, w);
        return dw;
    });
    expect_same_bits_for_1_and_2_threads("linear dbias", [&] {
        Tensor<float, 1> db({64});
        Tensor<float, 2> weight({64, 64});
        linear_backward<float>(cpu_ctx, {}, {}, db, dy, x, weight);
        return db;
    });
    const auto q = random_tensor<float, 3>({2, 200, 32}, 25), k = random_tensor<float, 3>({2, 300, 32}, 26);
    expect_same_bits_for_1_and_2_threads("attention forward", [&] {
        Tensor<float, 3> out(q.shape());
        AttentionSaved<float> saved;
        attention_forward<float>(cpu_ctx, out, saved, q, k, k, {}, 4);
        return out;
    });
    expect_same_bits_for_1_and_2_threads("attention backward", [&] {
        Tensor<float, 3> out(q.shape()), dq(q.shape()), dk(k.shape()), dv(k.shape());
        AttentionSaved<float> saved;
        attention_forward<float>(cpu_ctx, out, saved, q, k, k, {}, 4);
        attention_backward<float>(cpu_ctx, dq, dk, dv, q, saved, q, k, k, out, {}, 4);
        Tensor<float, 1> all({dq.size() + dk.size() + dv.size()});
        std::copy_n(dq.data(), dq.size(), all.data());
        std::copy_n(dk.data(), dk.size(), all.data() + dq.size());
        std::copy_n(dv.data(), dv.size(), all.data() + dq.size() + dk.size());
        return all;
    });
    expect_same_bits_for_1_and_2_threads("embedding backward with repeated ids", [&] {
        Tensor<std::int64_t, 1> ids({1000});
        for (index_t i = 0; i < 1000; ++i) ids(i) = (i * 7) % 13;
        Tensor<float, 2> dweight({13, 64});
        embedding_backward<float>(cpu_ctx, dweight, dy, ids);
        return dweight;
    });
}

}  // namespace
}  // namespace svilm::testing

namespace svilm::testing {
namespace {

TEST_CASE("attention reads q, k, v in place from a fused (B, N, 3C) qkv buffer") {
    const index_t B = 2, N = 600, H = 3, d = 4, C = H * d;  // two key blocks
    const auto qkv = random_tensor<double, 3>({B, N, 3 * C}, 31), dout = random_tensor<double, 3>({B, N, C}, 32);
    const auto q = qkv.view().narrow(2, 0, C), k = qkv.view().narrow(2, C, 2 * C), v = qkv.view().narrow(2, 2 * C, 3 * C);
    Tensor<double, 3> qc({B, N, C}), kc({B, N, C}), vc({B, N, C});
    copy<double, 3>(cpu_ctx, qc, q);
    copy<double, 3>(cpu_ctx, kc, k);
    copy<double, 3>(cpu_ctx, vc, v);
    Tensor<double, 3> out({B, N, C}), ref({B, N, C}), dqkv({B, N, 3 * C}), dq({B, N, C}), dk({B, N, C}), dv({B, N, C});
    AttentionSaved<double> saved, ref_saved;
    attention_forward<double>(cpu_ctx, out, saved, q, k, v, {}, H);
    attention_forward<double>(cpu_ctx, ref, ref_saved, qc, kc, vc, {}, H);
    expect_close<double, double, 3>("strided out", out, ref, Tolerance{0, 0});
    attention_backward<double>(cpu_ctx, dqkv.view().narrow(2, 0, C), dqkv.view().narrow(2, C, 2 * C), dqkv.view().narrow(2, 2 * C, 3 * C),
                               dout, saved, q, k, v, out, {}, H);
    attention_backward<double>(cpu_ctx, dq, dk, dv, dout, ref_saved, qc, kc, vc, ref, {}, H);
    Tensor<double, 3> dq_strided({B, N, C});
    copy<double, 3>(cpu_ctx, dq_strided, dqkv.view().narrow(2, 0, C));
    expect_close<double, double, 3>("strided dq", dq_strided, dq, Tolerance{0, 0});
    Tensor<double, 3> dk_strided({B, N, C});
    copy<double, 3>(cpu_ctx, dk_strided, dqkv.view().narrow(2, C, 2 * C));
    expect_close<double, double, 3>("strided dk", dk_strided, dk, Tolerance{0, 0});
    Tensor<double, 3> dv_strided({B, N, C});
    copy<double, 3>(cpu_ctx, dv_strided, dqkv.view().narrow(2, 2 * C, 3 * C));
    expect_close<double, double, 3>("strided dv", dv_strided, dv, Tolerance{0, 0});
}

}  // namespace
}  // namespace svilm::testing
