// The CUDA backend against the CPU. Every op of the op table (tests/ops/op_table.hpp), at each
// setting and its device sizes, outputs and every gradient, in one loop; then what the table does
// not cover: copies (strided views of rank 2 to 4) and fills compared bit for bit over the whole
// buffer, the caching pool, cuBLAS GEMM in fp64 and in the TF32 and bf16 tensor-core modes, the
// batched GEMM's fp32 override, the tensor-core attention, and the error paths, with
// docs/conventions.md's tolerances (normalised MSE: fp32 1e-7, TF32 5e-4). Where no GPU exists
// every test says so and passes without checking anything on a device; the first error path
// runs everywhere.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <exception>
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

TEST_CASE("cuda: cuBLAS GEMM equals the CPU GEMM in fp64 and in the TF32 and bf16 opt-in modes (transposed operands)") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    // fp32 without tensor cores: the op table's gemm and matmul cases
    for (const auto& [M, K, N] : {std::tuple<index_t, index_t, index_t>{7, 9, 11}, {128, 768, 96}, {1568, 768, 768}})
        for (const bool ta : {false, true})
            for (const bool tb : {false, true}) check_matmul<double>(ctx, M, K, N, ta, tb, 1e-20);
    ctx.set_math(MathMode::tf32);
    check_matmul<float>(ctx, 1568, 768, 768, false, true, 5e-4);
    ctx.set_math(MathMode::bf16);
    check_matmul<float>(ctx, 1568, 768, 768, false, true, 1e-3);
}

// One buffer of a CUDA run against the same buffer of the CPU run, as the case registered it.
void expect_agrees(const std::string& what, const optest::Shape& shape, const optest::HostBuffer& gpu,
                   const optest::HostBuffer& cpu, const optest::Agreement& agree) {
    REQUIRE(gpu.size() == cpu.size());
    if (agree.nmse < 0) {
        CHECK(compare_buffers(what, shape, gpu.data(), cpu.data(), index_t(cpu.size()), Tolerance{agree.atol, agree.rtol}) == 0);
        return;
    }
    double num = 0, den = 0;
    bool finite = true;
    for (std::size_t i = 0; i < cpu.size(); ++i) {
        finite = finite && std::isfinite(gpu[i]);
        num += (gpu[i] - cpu[i]) * (gpu[i] - cpu[i]);
        den += cpu[i] * cpu[i];
    }
    INFO(what);
    CHECK(finite);
    CHECK((den > 0 ? num / den : num) <= agree.nmse);
}

TEST_CASE("cuda: every op of the op table, at each setting, equals the CPU op: outputs and every gradient") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    for (const optest::OpCase<float, cuda>& c : optest::op_table<float, cuda>())
        for (const optest::Sizes& sizes : c.device_sizes()) {
            const std::string name = c.op + " [" + c.setting + "] " + sizes.label();
            const optest::Signature sig = c.signature(sizes);
            const optest::HostBuffers args = optest::fill_args(sig, 11), douts = optest::draw_output_grads(sig, 12);
            optest::OpResults gpu, cpu;
            try {
                cpu = cpu_run_op(c.op, c.setting, sizes, args, douts);
                gpu = optest::run_case(ctx, c, sizes, args, douts);
            } catch (const std::exception& e) {
                FAIL_CHECK(name << ": " << e.what());
                continue;
            }
            for (std::size_t k = 0; k < sig.outputs.size(); ++k) {
                const optest::Output& o = sig.outputs[k];
                expect_agrees(name + " " + o.name, o.shape, gpu.outputs[k], cpu.outputs[k], o.agree);
            }
            if (!c.backward) continue;
            for (std::size_t k = 0; k < sig.args.size(); ++k) {  // parameters accumulate onto 0.5 on both devices
                const optest::Arg& a = sig.args[k];
                if (a.role == optest::Role::constant) continue;
                expect_agrees(name + " d" + a.name, a.shape, gpu.grads[k], cpu.grads[k], a.agree);
            }
        }
}

TEST_CASE("cuda: a bad id, a bad target and a video of the wrong length are named") {
    if (!device_or_skip()) return;
    Context<cuda> ctx;
    Tensor<std::int64_t, 1> ids({4});
    ids(3) = 50;
    CHECK_THROWS_WITH_AS(cuda_detail::device_ids(ctx, "test", ids, 50), doctest::Contains("id 50 at position 3"), ValueError);
    const Tensor<float, 2, cuda> logits = zeros<float, 2, cuda>(ctx, {8, 64});
    Tensor<std::int64_t, 1> targets({8});
    targets(7) = 64;
    CrossEntropySaved<float, cuda> saved;
    CHECK_THROWS_WITH_AS(cross_entropy_forward<float>(ctx, saved, logits, targets), doctest::Contains("target 64 of row 7"),
                         ValueError);
    const Tensor<float, 5, cuda> video({2, 4, 3, 32, 48}, uninitialized);  // refused before it is read
    Tensor<float, 2, cuda> patches({2 * 2 * 6, 3 * 2 * 16 * 16}, uninitialized);
    CHECK_THROWS_WITH_AS(tubelet_unfold<float>(ctx, patches, video, 3, 16), doctest::Contains("T % 3 == 0"), ShapeError);
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
    Tensor<float, 3, cuda> x({1, 4, 24}, uninitialized), out({1, 4, 24}, uninitialized);  // refused before use
    AttentionSaved<float, cuda> saved;
    CHECK_THROWS_WITH_AS(attention_forward<float>(ctx, out, saved, x, x, x, {}, 2),
                         doctest::Contains("head size 12"), ShapeError);
}

}  // namespace
}  // namespace svilm::testing
