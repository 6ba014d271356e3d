// The CUDA backend against the CPU: copies (strided views of rank 2 to 4 too) and fills, the
// caching pool, cuBLAS GEMM (fp32, TF32, fp64, transposed operands; TF32 and bf16 tensor-core
// modes; batched), attention, GELU, layer norm, softmax, embedding, L2 normalisation and mean
// pooling forward/backward, the shared bias, the straight-through assignment, cross-entropy, the
// residual helpers, the tubelet unfold and the video embedding, with docs/conventions.md's
// tolerances (normalised MSE: fp32 1e-7, TF32 5e-4). Where no GPU exists every test says so and
// passes without checking anything on a device; the error path runs everywhere.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cuda/cpu_reference.hpp"
#include "cuda/cuda_test_support.hpp"

namespace svilm::testing {
namespace {

// sum (a - b)^2 / sum b^2
template <class T, int Rank>
double normalised_mse(const Tensor<T, Rank>& a, const Tensor<T, Rank>& b) {
    double num = 0, den = 0;
    for (index_t i = 0; i < a.size(); ++i) {
        REQUIRE(std::isfinite(double(a.data()[i])));
        num += (double(a.data()[i]) - double(b.data()[i])) * (double(a.data()[i]) - double(b.data()[i]));
        den += double(b.data()[i]) * double(b.data()[i]);
    }
    return den > 0 ? num / den : num;
}

TEST_CASE("cuda: a failing call names itself, the file and the line") {
    try {
        SVILM_CUDA_CHECK(cudaSetDevice(1 << 20));
        FAIL("cudaSetDevice(1 << 20) succeeded");
    } catch (const CudaError& e) {
        const std::string what = e.what();
        CHECK(what.find("cudaSetDevice") != std::string::npos);
        CHECK(what.find("cuda_core.cu:") != std::string::npos);
    }
}

TEST_CASE("cuda: host -> device -> host round trip, device copy and zero") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    MESSAGE("device: " << ctx.description());
    const Tensor<float, 2> host = random_tensor<float, 2>({37, 19}, 1);
    const Tensor<float, 2, cuda> device = to_device<float, 2>(ctx, host);
    Tensor<float, 2, cuda> twin({37, 19}, uninitialized);
    copy<float, 2>(ctx, twin, device);
    const Tensor<float, 2> back = to_host<float, 2>(ctx, twin);
    CHECK(std::memcmp(back.data(), host.data(), host.bytes()) == 0);
    zero<float, 2>(ctx, twin);
    const Tensor<float, 2> zeros = to_host<float, 2>(ctx, twin);
    for (index_t i = 0; i < zeros.size(); ++i) CHECK(zeros.data()[i] == 0.0f);
}

TEST_CASE("cuda: the pool hands a freed block out again instead of calling cudaMalloc") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    auto& pool = cuda_memory::Pool::instance();
    const void* first = nullptr;
    {
        Tensor<float, 1, cuda> t({1000}, uninitialized);
        first = t.data();
    }
    const auto before = pool.stats();
    Tensor<float, 1, cuda> again({900}, uninitialized);  // rounds to the same 4 KiB block
    CHECK(again.data() == first);
    CHECK(pool.stats().device_allocations == before.device_allocations);
    CHECK(pool.stats().in_use >= 3600);
}

template <class T>
void check_matmul(Context<cuda>& ctx, index_t M, index_t K, index_t N, bool transpose_a, bool transpose_b, double tolerance) {
    INFO("M " << M << " K " << K << " N " << N << " ta " << transpose_a << " tb " << transpose_b);
    const Tensor<T, 2> a = transpose_a ? random_tensor<T, 2>({K, M}, 2) : random_tensor<T, 2>({M, K}, 2);
    const Tensor<T, 2> b = transpose_b ? random_tensor<T, 2>({N, K}, 3) : random_tensor<T, 2>({K, N}, 3);
    Tensor<T, 2> c_cpu = random_tensor<T, 2>({M, N}, 4);
    const Tensor<T, 2> c0 = c_cpu;
    const TensorView<const T, 2> av = transpose_a ? a.view().transpose(0, 1) : a.view();
    const TensorView<const T, 2> bv = transpose_b ? b.view().transpose(0, 1) : b.view();
    cpu_matmul(c_cpu, av, bv, T(0.5));
    const Tensor<T, 2, cuda> ad = to_device<T, 2>(ctx, a), bd = to_device<T, 2>(ctx, b);
    Tensor<T, 2, cuda> cd = to_device<T, 2>(ctx, c0);
    const TensorView<const T, 2, cuda> adv = transpose_a ? ad.view().transpose(0, 1) : ad.view();
    const TensorView<const T, 2, cuda> bdv = transpose_b ? bd.view().transpose(0, 1) : bd.view();
    matmul<T>(ctx, cd, adv, bdv, T(0.5));
    const Tensor<T, 2> c_gpu = to_host<T, 2>(ctx, cd);
    CHECK(normalised_mse(c_gpu, c_cpu) <= tolerance);
}

TEST_CASE("cuda: cuBLAS GEMM equals the CPU GEMM (fp32, TF32 and bf16 opt-in, fp64; transposed operands)") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    for (const auto& [M, K, N] : {std::tuple<index_t, index_t, index_t>{7, 9, 11}, {128, 768, 96}, {1568, 768, 768}})
        for (const bool ta : {false, true})
            for (const bool tb : {false, true}) {
                check_matmul<float>(ctx, M, K, N, ta, tb, 1e-7);
                check_matmul<double>(ctx, M, K, N, ta, tb, 1e-20);
            }
    ctx.set_math(MathMode::tf32);
    check_matmul<float>(ctx, 1568, 768, 768, false, true, 5e-4);
    ctx.set_math(MathMode::bf16);
    check_matmul<float>(ctx, 1568, 768, 768, false, true, 1e-3);
}

TEST_CASE("cuda: GELU forward and backward equal the CPU op") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t n = 100003;
    Tensor<float, 1> x = random_tensor<float, 1>({n}, 5), dy = random_tensor<float, 1>({n}, 6);
    for (index_t i = 0; i < n; ++i) x(i) *= 3.0f;
    Tensor<float, 1> y({n}), dx({n});
    cpu_gelu(y, dx, x, dy);
    const Tensor<float, 1, cuda> xd = to_device<float, 1>(ctx, x), dyd = to_device<float, 1>(ctx, dy);
    Tensor<float, 1, cuda> yd({n}, uninitialized), dxd({n}, uninitialized);
    gelu_forward<float>(ctx, yd, xd);
    gelu_backward<float>(ctx, dxd, dyd, xd);
    const Tensor<float, 1> y_gpu = to_host<float, 1>(ctx, yd), dx_gpu = to_host<float, 1>(ctx, dxd);
    CHECK(mismatches("gelu y", y_gpu, y, Tolerance{1e-6, 1e-5}) == 0);
    CHECK(mismatches("gelu dx", dx_gpu, dx, Tolerance{1e-6, 1e-5}) == 0);
}

TEST_CASE("cuda: layer norm forward and backward equal the CPU op (rows of 768 and of 37)") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    for (const index_t cols : {index_t(768), index_t(37)}) {
        const index_t rows = 1571;
        Tensor<float, 2> x = random_tensor<float, 2>({rows, cols}, 7), dy = random_tensor<float, 2>({rows, cols}, 8);
        for (index_t i = 0; i < x.size(); ++i) x.data()[i] = 3 * x.data()[i] + 1.5f;
        Tensor<float, 1> w = random_tensor<float, 1>({cols}, 9), b = random_tensor<float, 1>({cols}, 10);
        Tensor<float, 2> y({rows, cols}), dx({rows, cols});
        Tensor<float, 1> dw = Tensor<float, 1>::full({cols}, 0.5f), db = Tensor<float, 1>::full({cols}, 0.5f);
        cpu_layer_norm(y, dx, dw, db, x, w, b, dy);
        const Tensor<float, 2, cuda> xd = to_device<float, 2>(ctx, x), dyd = to_device<float, 2>(ctx, dy);
        const Tensor<float, 1, cuda> wd = to_device<float, 1>(ctx, w), bd = to_device<float, 1>(ctx, b);
        const Tensor<float, 1> half = Tensor<float, 1>::full({cols}, 0.5f);
        Tensor<float, 1, cuda> dwd = to_device<float, 1>(ctx, half), dbd = to_device<float, 1>(ctx, half);
        Tensor<float, 2, cuda> yd({rows, cols}, uninitialized), dxd({rows, cols}, uninitialized);
        LayerNormSaved<float, cuda> saved;
        layer_norm_forward<float>(ctx, yd, saved, xd, wd, bd, 1e-6f);
        layer_norm_backward<float>(ctx, dxd, dwd, dbd, dyd, saved, xd, wd);
        INFO("cols " << cols);
        CHECK(mismatches("y", to_host<float, 2>(ctx, yd), y) == 0);
        CHECK(mismatches("dx", to_host<float, 2>(ctx, dxd), dx) == 0);
        // sums over 1571 rows in another order: the GEMM-heavy tolerance; accumulated onto 0.5 as on the CPU
        CHECK(mismatches("dw", to_host<float, 1>(ctx, dwd), dw, gemm_tolerance) == 0);
        CHECK(mismatches("db", to_host<float, 1>(ctx, dbd), db, gemm_tolerance) == 0);
    }
}

TEST_CASE("cuda: softmax with a key mask, forward and backward, equals the CPU op (a fully masked batch too)") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t B = 3, R = 5, N = 1000;
    const Tensor<float, 3> x = random_tensor<float, 3>({B, R, N}, 11), dy = random_tensor<float, 3>({B, R, N}, 12);
    Tensor<float, 2> mask({B, N});
    for (index_t n = 700; n < N; ++n) mask(1, n) = -INFINITY;  // batch 1 pads its last keys
    for (index_t n = 0; n < N; ++n) mask(2, n) = -INFINITY;    // batch 2: nothing left
    Tensor<float, 3> y({B, R, N}), dx({B, R, N});
    cpu_softmax(y, dx, x, mask, dy);
    const Tensor<float, 3, cuda> xd = to_device<float, 3>(ctx, x), dyd = to_device<float, 3>(ctx, dy);
    const Tensor<float, 2, cuda> maskd = to_device<float, 2>(ctx, mask);
    Tensor<float, 3, cuda> yd({B, R, N}, uninitialized), dxd({B, R, N}, uninitialized);
    softmax_forward<float>(ctx, yd, xd, maskd);
    softmax_backward<float>(ctx, dxd, dyd, yd);
    CHECK(mismatches("y", to_host<float, 3>(ctx, yd), y) == 0);
    CHECK(mismatches("dx", to_host<float, 3>(ctx, dxd), dx) == 0);
}

TEST_CASE("cuda: embedding lookup and its deterministic scatter equal the CPU op; a bad id is named") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t V = 50, C = 96, R = 300;
    const Tensor<float, 2> weight = random_tensor<float, 2>({V, C}, 13), dy = random_tensor<float, 2>({R, C}, 14);
    Tensor<std::int64_t, 1> ids({R});
    for (index_t r = 0; r < R; ++r) ids(r) = (r * 7) % V;  // every id repeats
    Tensor<float, 2> y({R, C}), dweight = Tensor<float, 2>::full({V, C}, 0.5f);
    cpu_embedding(y, dweight, weight, ids, dy);
    const Tensor<float, 2, cuda> wd = to_device<float, 2>(ctx, weight), dyd = to_device<float, 2>(ctx, dy);
    const Tensor<std::int64_t, 1, cuda> idd = cuda_detail::device_ids(ctx, "test", ids, V);
    const Tensor<float, 2> half = Tensor<float, 2>::full({V, C}, 0.5f);
    Tensor<float, 2, cuda> yd({R, C}, uninitialized), dwd = to_device<float, 2>(ctx, half);
    embedding_forward<float>(ctx, yd, wd, idd);
    embedding_backward<float>(ctx, dwd, dyd, idd);
    CHECK(mismatches("y", to_host<float, 2>(ctx, yd), y) == 0);
    CHECK(mismatches("dweight", to_host<float, 2>(ctx, dwd), dweight) == 0);
    ids(3) = V;
    CHECK_THROWS_WITH_AS(cuda_detail::device_ids(ctx, "test", ids, V), doctest::Contains("id 50 at position 3"), ValueError);
}

TEST_CASE("cuda: L2 normalisation forward and backward equal the CPU op (a near-zero row too)") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t R = 64, C = 256;
    Tensor<float, 2> x = random_tensor<float, 2>({R, C}, 15);
    const Tensor<float, 2> dy = random_tensor<float, 2>({R, C}, 16);
    for (index_t c = 0; c < C; ++c) x(5, c) *= 1e-3f;
    Tensor<float, 2> y({R, C}), dx({R, C});
    cpu_l2_normalize(y, dx, x, dy);
    const Tensor<float, 2, cuda> xd = to_device<float, 2>(ctx, x), dyd = to_device<float, 2>(ctx, dy);
    Tensor<float, 2, cuda> yd({R, C}, uninitialized), dxd({R, C}, uninitialized);
    L2NormalizeSaved<float, cuda> saved;
    l2_normalize_forward<float>(ctx, yd, saved, xd);
    l2_normalize_backward<float>(ctx, dxd, dyd, yd, saved);
    CHECK(mismatches("y", to_host<float, 2>(ctx, yd), y) == 0);
    CHECK(mismatches("dx", to_host<float, 2>(ctx, dxd), dx, gemm_tolerance) == 0);
}

TEST_CASE("cuda: mean pooling and the residual helpers equal the CPU ops") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t O = 16, N = 196, I = 96;  // (B * N_t, N_s, C): the spatial mean of the temporal head
    const Tensor<float, 3> x = random_tensor<float, 3>({O, N, I}, 17);
    const Tensor<float, 2> dy = random_tensor<float, 2>({O, I}, 18);
    Tensor<float, 2> y({O, I});
    Tensor<float, 3> dx({O, N, I});
    cpu_mean_pool(y, dx, x, dy);
    const Tensor<float, 3, cuda> xd = to_device<float, 3>(ctx, x);
    const Tensor<float, 2, cuda> dyd = to_device<float, 2>(ctx, dy);
    Tensor<float, 2, cuda> yd({O, I}, uninitialized);
    Tensor<float, 3, cuda> dxd({O, N, I}, uninitialized);
    mean_pool_forward<float>(ctx, yd, xd);
    mean_pool_backward<float>(ctx, dxd, dyd);
    CHECK(mismatches("y", to_host<float, 2>(ctx, yd), y) == 0);
    CHECK(mismatches("dx", to_host<float, 3>(ctx, dxd), dx) == 0);

    Tensor<float, 2, cuda> acc = to_device<float, 2>(ctx, dy);
    add_into<float, 2>(ctx, acc, yd, 2.0f);
    scale_forward<float, 2>(ctx, acc, acc, 0.5f);
    Tensor<float, 2> expected(dy.shape(), uninitialized);
    for (index_t i = 0; i < dy.size(); ++i) expected.data()[i] = 0.5f * (dy.data()[i] + 2.0f * y.data()[i]);
    CHECK(mismatches("expected", to_host<float, 2>(ctx, acc), expected) == 0);
}

TEST_CASE("cuda: the straight-through Gumbel assignment and its normalisation equal the CPU ops") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t B = 2, M = 32, L = 1568;  // base: 32 groups over 1568 video tokens
    const Tensor<float, 3> logits = random_tensor<float, 3>({B, M, L}, 19), dy = random_tensor<float, 3>({B, M, L}, 20),
                           da = random_tensor<float, 3>({B, M, L}, 21);
    Tensor<float, 3> noise({B, M, L});
    Generator(22).gumbel<float, 3>(noise);
    const float tau = 0.7f;
    Tensor<float, 3> hard({B, M, L}), dlogits({B, M, L}), a({B, M, L}), dnorm({B, M, L});
    cpu_gumbel_assign(hard, dlogits, a, dnorm, logits, noise, dy, da, tau);
    const Tensor<float, 3, cuda> ld = to_device<float, 3>(ctx, logits), nd = to_device<float, 3>(ctx, noise),
                                 dyd = to_device<float, 3>(ctx, dy), dad = to_device<float, 3>(ctx, da);
    Tensor<float, 3, cuda> hd({B, M, L}, uninitialized), dld({B, M, L}, uninitialized), ad({B, M, L}, uninitialized),
        dnd({B, M, L}, uninitialized);
    GumbelAssignSaved<float, cuda> saved;
    gumbel_assign_forward<float>(ctx, hd, saved, ld, nd, tau);
    gumbel_assign_backward<float>(ctx, dld, dyd, saved, tau);
    assign_normalize_forward<float>(ctx, ad, hd);
    assign_normalize_backward<float>(ctx, dnd, dad, hd);
    CHECK(mismatches("hard", to_host<float, 3>(ctx, hd), hard, Tolerance{0, 0}) == 0);  // the same argmax everywhere
    CHECK(mismatches("dlogits", to_host<float, 3>(ctx, dld), dlogits) == 0);
    CHECK(mismatches("a", to_host<float, 3>(ctx, ad), a) == 0);
    CHECK(mismatches("dnorm", to_host<float, 3>(ctx, dnd), dnorm) == 0);
}

TEST_CASE("cuda: cross-entropy forward and backward equal the CPU op; a bad target is named") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t R = 64, K = 64;  // a contrastive batch: 64 clips against 64 captions
    Tensor<float, 2> logits = random_tensor<float, 2>({R, K}, 23);
    for (index_t i = 0; i < logits.size(); ++i) logits.data()[i] *= 14.0f;  // the initial logit scale
    Tensor<std::int64_t, 1> targets({R});
    for (index_t r = 0; r < R; ++r) targets(r) = r;
    Tensor<float, 2> dlogits({R, K});
    const float loss = cpu_cross_entropy(dlogits, logits, targets, 0.5f);
    const Tensor<float, 2, cuda> ld = to_device<float, 2>(ctx, logits);
    Tensor<float, 2, cuda> dld({R, K}, uninitialized);
    CrossEntropySaved<float, cuda> saved;
    const float gpu_loss = cross_entropy_forward<float>(ctx, saved, ld, targets);
    cross_entropy_backward<float>(ctx, dld, 0.5f, saved, ld, targets);
    CHECK(std::abs(gpu_loss - loss) <= 1e-5f + 1e-4f * std::abs(loss));
    CHECK(mismatches("dlogits", to_host<float, 2>(ctx, dld), dlogits) == 0);
    targets(7) = K;
    CHECK_THROWS_WITH_AS(cross_entropy_forward<float>(ctx, saved, ld, targets), doctest::Contains("target 64 of row 7"),
                         ValueError);
}

// dst = src through `view` applied to host and device buffers alike (a transposed or narrowed
// view of each); the device copy against the CPU copy, every element of dst's buffer compared
// exactly, the ones outside the view too.
template <int Rank, class View>
void check_strided_copy(Context<cuda>& ctx, const Extents<Rank>& src_shape, const Extents<Rank>& dst_shape, View view,
                        std::uint64_t seed) {
    const Tensor<float, Rank> src = random_tensor<float, Rank>(src_shape, seed);
    Tensor<float, Rank> dst = random_tensor<float, Rank>(dst_shape, seed + 1);
    const Tensor<float, Rank, cuda> src_d = to_device<float, Rank>(ctx, src);
    Tensor<float, Rank, cuda> dst_d = to_device<float, Rank>(ctx, dst);
    const auto [dst_view, src_view] = view(dst.view(), src.view());
    const auto [dst_view_d, src_view_d] = view(dst_d.view(), src_d.view());
    cpu_copy(dst_view, src_view);
    copy<float, Rank>(ctx, dst_view_d, src_view_d);
    CHECK(mismatches("dst", to_host<float, Rank>(ctx, dst_d), dst, Tolerance{0, 0}) == 0);
}

TEST_CASE("cuda: copies between strided views of rank 2, 3 and 4 and fills of strided views equal the CPU ops") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    SUBCASE("rank 2: a transposed source, then a transposed destination") {
        check_strided_copy<2>(ctx, {13, 29}, {29, 13}, [](auto d, auto s) { return std::pair{d, s.transpose(0, 1)}; }, 40);
        check_strided_copy<2>(ctx, {13, 29}, {29, 13}, [](auto d, auto s) { return std::pair{d.transpose(0, 1), s}; }, 41);
    }
    SUBCASE("rank 3: the token and group slices of a joint (B, L + M, C) stream, both ways") {
        const index_t B = 3, L = 50, M = 8, C = 24;
        check_strided_copy<3>(ctx, {B, L + M, C}, {B, L, C}, [&](auto d, auto s) { return std::pair{d, s.narrow(1, 0, L)}; },
                                 42);
        check_strided_copy<3>(ctx, {B, M, C}, {B, L + M, C},
                                 [&](auto d, auto s) { return std::pair{d.narrow(1, L, L + M), s}; }, 43);
        // a per-clip transpose into a narrowed channel range: neither side contiguous
        check_strided_copy<3>(ctx, {B, C, M}, {B, M, 2 * C},
                                 [&](auto d, auto s) { return std::pair{d.narrow(2, C / 2, C / 2 + C), s.transpose(1, 2)}; }, 44);
    }
    SUBCASE("rank 4: axes 0 and 2 swapped into a narrowed last axis") {
        check_strided_copy<4>(ctx, {3, 4, 5, 6}, {5, 4, 3, 8},
                                 [](auto d, auto s) { return std::pair{d.narrow(3, 1, 7), s.transpose(0, 2)}; }, 45);
    }
    SUBCASE("fill: a narrowed, transposed rank-3 view, then a single element") {
        Tensor<float, 3> buffer = random_tensor<float, 3>({4, 6, 10}, 46);
        Tensor<float, 3, cuda> buffer_d = to_device<float, 3>(ctx, buffer);
        cpu_fill(buffer.view().narrow(2, 3, 8).transpose(0, 1), 2.5f);
        fill<float, 3>(ctx, buffer_d.view().narrow(2, 3, 8).transpose(0, 1), 2.5f);
        CHECK(mismatches("filled", to_host<float, 3>(ctx, buffer_d), buffer, Tolerance{0, 0}) == 0);
        fill<float, 0>(ctx, buffer_d.view().select(0, 1).select(0, 2).select(0, 9), -7.0f);
        CHECK(read_scalar<float>(ctx, buffer_d.view().select(0, 1).select(0, 2).select(0, 9)) == -7.0f);
        CHECK(read_scalar<float>(ctx, buffer_d.view().select(0, 1).select(0, 2).select(0, 8)) == buffer(1, 2, 8));
    }
    Tensor<float, 2, cuda> a({3, 4}, uninitialized), b({4, 3}, uninitialized);
    CHECK_THROWS_WITH_AS((copy<float, 2>(ctx, a, b)), doctest::Contains("copy: src (4, 3) expected (3, 4)"), ShapeError);
}

TEST_CASE("cuda: a bias shared by all rows, forward and backward, equals the CPU op") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t R = 300, C = 96;  // 300 rows: several chunks of the column sum
    Tensor<float, 2> y = random_tensor<float, 2>({R, C}, 47);
    const Tensor<float, 2> dy = random_tensor<float, 2>({R, C}, 48);
    const Tensor<float, 1> bias = random_tensor<float, 1>({C}, 49);
    Tensor<float, 2, cuda> yd = to_device<float, 2>(ctx, y);
    const Tensor<float, 2, cuda> dyd = to_device<float, 2>(ctx, dy);
    const Tensor<float, 1, cuda> bd = to_device<float, 1>(ctx, bias);
    Tensor<float, 1> dbias = Tensor<float, 1>::full({C}, 0.5f);
    Tensor<float, 1, cuda> dbd = to_device<float, 1>(ctx, dbias);
    cpu_bias_add(y, dbias, bias, dy);
    bias_add_forward<float>(ctx, yd, bd);
    bias_add_backward<float>(ctx, dbd, dyd);
    CHECK(mismatches("y", to_host<float, 2>(ctx, yd), y, Tolerance{0, 0}) == 0);
    // sums over 300 rows in another order, accumulated onto 0.5 as on the CPU
    CHECK(mismatches("dbias", to_host<float, 1>(ctx, dbd), dbias, gemm_tolerance) == 0);
}

TEST_CASE("cuda: batched GEMM equals the CPU's batched GEMM (strided batches, transposed operands, the fp32 override)") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t batch = 5, M = 33, K = 20, N = 17, pad = 3;  // rows padded: leading dimensions past the row length
    for (const bool ta : {false, true})
        for (const bool tb : {false, true}) {
            CAPTURE(ta);
            CAPTURE(tb);
            const index_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
            const index_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
            const index_t stride_a = a_rows * lda + 7, stride_b = b_rows * ldb + 5, stride_c = M * ldc + 2;
            const Tensor<float, 1> a = random_tensor<float, 1>({batch * stride_a}, 50);
            const Tensor<float, 1> b = random_tensor<float, 1>({batch * stride_b}, 51);
            Tensor<float, 1> c = random_tensor<float, 1>({batch * stride_c}, 52);
            const Tensor<float, 1, cuda> ad = to_device<float, 1>(ctx, a), bd = to_device<float, 1>(ctx, b);
            Tensor<float, 1, cuda> cd = to_device<float, 1>(ctx, c);
            cpu_gemm_batched(ta, tb, M, N, K, 0.75f, a.data(), lda, stride_a, b.data(), ldb, stride_b, 0.5f, c.data(), ldc,
                             stride_c, batch);
            ctx.set_math(MathMode::bf16);  // overridden: this product asks for fp32
            gemm_batched<float>(ctx, ta ? Trans::yes : Trans::no, tb ? Trans::yes : Trans::no, M, N, K, 0.75f, ad.data(), lda,
                                stride_a, bd.data(), ldb, stride_b, 0.5f, cd.data(), ldc, stride_c, batch, MathMode::fp32);
            ctx.set_math(MathMode::fp32);
            // the padding between rows and batches is left as it was
            CHECK(normalised_mse(to_host<float, 1>(ctx, cd), c) <= 1e-7);
        }
}

TEST_CASE("cuda: the tubelet unfold and the video embedding, forward and backward, equal the CPU ops") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    const index_t B = 2, frames = 4, H = 32, W = 48, t = 2, p = 16;
    const index_t Ns = (H / p) * (W / p), Nt = frames / t, L = Ns * Nt, M = 4, C = 40;
    const Tensor<float, 5> video = random_tensor<float, 5>({B, frames, 3, H, W}, 53);
    const Tensor<float, 5, cuda> video_d = to_device<float, 5>(ctx, video);
    Tensor<float, 2> patches({B * L, 3 * t * p * p});
    cpu_tubelet_unfold(patches, video, t, p);
    Tensor<float, 2, cuda> patches_d = nan_device<2>(ctx, {B * L, 3 * t * p * p});
    tubelet_unfold<float>(ctx, patches_d, video_d, t, p);
    CHECK(mismatches("patches", to_host<float, 2>(ctx, patches_d), patches, Tolerance{0, 0}) == 0);
    CHECK_THROWS_WITH_AS(tubelet_unfold<float>(ctx, patches_d, video_d, 3, p), doctest::Contains("T % 3 == 0"), ShapeError);

    const Tensor<float, 3> tokens = random_tensor<float, 3>({B, L, C}, 54), d_stream = random_tensor<float, 3>({B, L + M, C}, 55);
    const Tensor<float, 2> spatial = random_tensor<float, 2>({Ns, C}, 56), temporal = random_tensor<float, 2>({Nt, C}, 57),
                           group = random_tensor<float, 2>({M, C}, 58);
    Tensor<float, 3> stream({B, L + M, C});
    Tensor<float, 2> d_spatial = Tensor<float, 2>::full({Ns, C}, 0.5f), d_temporal = Tensor<float, 2>::full({Nt, C}, 0.5f),
                     d_group = Tensor<float, 2>::full({M, C}, 0.5f);
    Tensor<float, 2, cuda> d_spatial_d = to_device<float, 2>(ctx, d_spatial), d_temporal_d = to_device<float, 2>(ctx, d_temporal),
                           d_group_d = to_device<float, 2>(ctx, d_group);
    cpu_video_embed(stream, d_spatial, d_temporal, d_group, tokens, spatial, temporal, group, d_stream);
    Tensor<float, 3, cuda> stream_d = nan_device<3>(ctx, {B, L + M, C});
    video_embed_forward<float>(ctx, stream_d, to_device<float, 3>(ctx, tokens), to_device<float, 2>(ctx, spatial),
                               to_device<float, 2>(ctx, temporal), to_device<float, 2>(ctx, group));
    video_embed_backward<float>(ctx, d_spatial_d, d_temporal_d, d_group_d, to_device<float, 3>(ctx, d_stream));
    CHECK(mismatches("stream", to_host<float, 3>(ctx, stream_d), stream, Tolerance{0, 0}) == 0);
    // sums over clips and positions, accumulated onto 0.5 as on the CPU
    CHECK(mismatches("d_spatial", to_host<float, 2>(ctx, d_spatial_d), d_spatial) == 0);
    CHECK(mismatches("d_temporal", to_host<float, 2>(ctx, d_temporal_d), d_temporal) == 0);
    CHECK(mismatches("d_group", to_host<float, 2>(ctx, d_group_d), d_group) == 0);
}

// One attention case: q from (B, Nq, C) or from the first third of a fused (B, N, 3C) buffer, k
// and v likewise; the device op against the CPU op for out and the three input gradients.
void check_attention(index_t B, index_t Nq, index_t Nk, index_t C, index_t heads, bool fused, bool masked,
                     std::uint64_t seed) {
    CAPTURE(B);
    CAPTURE(Nq);
    CAPTURE(Nk);
    CAPTURE(C);
    CAPTURE(heads);
    Context<cuda> ctx;
    const index_t width = fused ? 3 * C : C;
    const Tensor<float, 3> qbuf = random_tensor<float, 3>({B, Nq, width}, seed);
    const Tensor<float, 3> kvbuf = fused ? Tensor<float, 3>() : random_tensor<float, 3>({B, Nk, 2 * C}, seed + 1);
    const Tensor<float, 3> dout = random_tensor<float, 3>({B, Nq, C}, seed + 2);
    const auto q = qbuf.view().narrow(2, 0, C);
    const auto k = fused ? qbuf.view().narrow(2, C, 2 * C) : kvbuf.view().narrow(2, 0, C);
    const auto v = fused ? qbuf.view().narrow(2, 2 * C, 3 * C) : kvbuf.view().narrow(2, C, 2 * C);
    Tensor<std::uint8_t, 2> mask;
    if (masked) {
        mask = Tensor<std::uint8_t, 2>::full({B, Nk}, std::uint8_t(1));
        for (index_t j = Nk / 3; j < Nk; ++j) mask(0, j) = 0;  // batch 0 pads two thirds
        for (index_t j = 0; j < Nk; ++j) mask(B - 1, j) = 0;    // the last batch: nothing left
    }
    Tensor<float, 3> out({B, Nq, C}), dq({B, Nq, C}), dk({B, Nk, C}), dv({B, Nk, C});
    cpu_attention(out, dq, dk, dv, q, k, v, mask, dout, heads);

    const Tensor<float, 3, cuda> qbuf_d = to_device<float, 3>(ctx, qbuf), dout_d = to_device<float, 3>(ctx, dout);
    const Tensor<float, 3, cuda> kvbuf_d = fused ? Tensor<float, 3, cuda>() : to_device<float, 3>(ctx, kvbuf);
    const Tensor<std::uint8_t, 2, cuda> mask_d = masked ? to_device<std::uint8_t, 2>(ctx, mask) : Tensor<std::uint8_t, 2, cuda>();
    const auto qd = qbuf_d.view().narrow(2, 0, C);
    const auto kd = fused ? qbuf_d.view().narrow(2, C, 2 * C) : kvbuf_d.view().narrow(2, 0, C);
    const auto vd = fused ? qbuf_d.view().narrow(2, 2 * C, 3 * C) : kvbuf_d.view().narrow(2, C, 2 * C);
    Tensor<float, 3, cuda> out_d = nan_device<3>(ctx, {B, Nq, C}), dq_d = nan_device<3>(ctx, {B, Nq, C});
    Tensor<float, 3, cuda> dk_d = nan_device<3>(ctx, {B, Nk, C}), dv_d = nan_device<3>(ctx, {B, Nk, C});
    AttentionSaved<float, cuda> saved;
    attention_forward<float>(ctx, out_d, saved, qd, kd, vd, mask_d, heads);
    attention_backward<float>(ctx, dq_d, dk_d, dv_d, dout_d, saved, qd, kd, vd, out_d, mask_d, heads);
    CHECK(mismatches("out", to_host<float, 3>(ctx, out_d), out, gemm_tolerance) == 0);
    CHECK(mismatches("dq", to_host<float, 3>(ctx, dq_d), dq, gemm_tolerance) == 0);
    CHECK(mismatches("dk", to_host<float, 3>(ctx, dk_d), dk, gemm_tolerance) == 0);
    CHECK(mismatches("dv", to_host<float, 3>(ctx, dv_d), dv, gemm_tolerance) == 0);
}

TEST_CASE("cuda: fused attention forward and backward equal the CPU op (fused qkv views, masks, cross-attention)") {
    if (!device_or_skip()) return;
    SUBCASE("ViT self-attention over a fused qkv buffer, head size 64, rows not a tile multiple") {
        check_attention(2, 197, 197, 128, 2, true, false, 21);
    }
    SUBCASE("grouping cross-attention: 8 queries, 300 keys, head size 32, padded and empty batches") {
        check_attention(3, 8, 300, 96, 3, false, true, 22);
    }
    SUBCASE("BERT self-attention with padding, head size 16") { check_attention(3, 40, 40, 64, 4, true, true, 23); }
    SUBCASE("head sizes 8 and 128") {
        check_attention(1, 70, 33, 16, 2, false, false, 24);
        check_attention(2, 65, 130, 256, 2, false, true, 25);
    }
}

TEST_CASE("cuda: in the TF32 and bf16 modes the tensor-core attention equals the CPU op within the mode's rounding") {
    if (!device_or_skip()) return;
    for (const auto& [mode, bound] : {std::pair{MathMode::tf32, 1e-5}, std::pair{MathMode::bf16, 1e-4}}) {
        CAPTURE(to_string(mode));
        Context<cuda> ctx;
        ctx.set_math(mode);
        // ViT-B's heads (64 channels) over a fused qkv buffer, and a masked cross-attention with an
        // empty batch; row counts that are not tile multiples
        for (const auto& [B, Nq, Nk, fused] : {std::tuple{index_t(2), index_t(197), index_t(197), true},
                                               std::tuple{index_t(3), index_t(70), index_t(300), false}}) {
            const index_t C = 128, heads = 2, width = fused ? 3 * C : C;
            const Tensor<float, 3> qbuf = random_tensor<float, 3>({B, Nq, width}, 90);
            const Tensor<float, 3> kvbuf = random_tensor<float, 3>({B, Nk, 2 * C}, 91);
            const auto q = qbuf.view().narrow(2, 0, C);
            const auto k = fused ? qbuf.view().narrow(2, C, 2 * C) : kvbuf.view().narrow(2, 0, C);
            const auto v = fused ? qbuf.view().narrow(2, 2 * C, 3 * C) : kvbuf.view().narrow(2, C, 2 * C);
            Tensor<std::uint8_t, 2> mask = Tensor<std::uint8_t, 2>::full({B, Nk}, std::uint8_t(1));
            if (!fused)
                for (index_t j = 0; j < Nk; ++j) {
                    mask(0, j) = j % 3 != 0;
                    mask(B - 1, j) = 0;
                }
            const Tensor<float, 3> dout = random_tensor<float, 3>({B, Nq, C}, 92);
            Tensor<float, 3> out({B, Nq, C}), dq({B, Nq, C}), dk({B, Nk, C}), dv({B, Nk, C});
            cpu_attention(out, dq, dk, dv, q, k, v, mask, dout, heads);
            const Tensor<float, 3, cuda> qbuf_d = to_device<float, 3>(ctx, qbuf), kvbuf_d = to_device<float, 3>(ctx, kvbuf);
            const Tensor<std::uint8_t, 2, cuda> mask_d = to_device<std::uint8_t, 2>(ctx, mask);
            const auto qd = qbuf_d.view().narrow(2, 0, C);
            const auto kd = fused ? qbuf_d.view().narrow(2, C, 2 * C) : kvbuf_d.view().narrow(2, 0, C);
            const auto vd = fused ? qbuf_d.view().narrow(2, 2 * C, 3 * C) : kvbuf_d.view().narrow(2, C, 2 * C);
            Tensor<float, 3, cuda> out_d = nan_device<3>(ctx, {B, Nq, C}), dq_d = nan_device<3>(ctx, {B, Nq, C});
            Tensor<float, 3, cuda> dk_d = nan_device<3>(ctx, {B, Nk, C}), dv_d = nan_device<3>(ctx, {B, Nk, C});
            const Tensor<float, 3, cuda> dout_d = to_device<float, 3>(ctx, dout);
            AttentionSaved<float, cuda> saved;
            attention_forward<float>(ctx, out_d, saved, qd, kd, vd, mask_d, heads);
            attention_backward<float>(ctx, dq_d, dk_d, dv_d, dout_d, saved, qd, kd, vd, out_d, mask_d, heads);
            const Tensor<float, 3> got = to_host<float, 3>(ctx, out_d);
            CHECK(normalised_mse(got, out) <= bound);
            CHECK(normalised_mse(to_host<float, 3>(ctx, dq_d), dq) <= 5 * bound);
            CHECK(normalised_mse(to_host<float, 3>(ctx, dk_d), dk) <= 5 * bound);
            CHECK(normalised_mse(to_host<float, 3>(ctx, dv_d), dv) <= 5 * bound);
            if (!fused)  // the last batch has no live key: exact zeros, as on the CPU
                for (index_t i = 0; i < Nq * C; ++i) CHECK(got.data()[(B - 1) * Nq * C + i] == 0.0f);
        }
    }
}

TEST_CASE("cuda: attention refuses a head size it was not compiled for, naming it") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    Tensor<float, 3, cuda> x({1, 4, 24}), out({1, 4, 24});
    AttentionSaved<float, cuda> saved;
    CHECK_THROWS_WITH_AS(attention_forward<float>(ctx, out, saved, x, x, x, {}, 2),
                         doctest::Contains("head size 12"), ShapeError);
}

}  // namespace
}  // namespace svilm::testing
