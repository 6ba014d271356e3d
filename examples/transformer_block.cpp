// transformer_block: a pre-norm ViT block built from svilm's ops, forward and explicit backward,
// its parameter gradients checked against finite differences in double, then timed in float
// on a video-sized input. The main job until the S-ViLM demo lands.
//
//   x1 = x + proj(attention(qkv(LN1(x))))       (B, N, C)
//   y  = x1 + fc2(GELU(fc1(LN2(x1))))
//
// Usage: transformer_block [--tokens N] [--width C] [--heads H] [--threads T]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "svilm/svilm.hpp"

namespace {

using namespace svilm;

// CPU ops and modules take this context first (svilm/core/context.hpp).
const Context<cpu> cpu_ctx;

template <class T>
struct Block {
    index_t width, heads, hidden;
    Tensor<T, 1> ln1_w, ln1_b, ln2_w, ln2_b, qkv_b, proj_b, fc1_b, fc2_b;
    Tensor<T, 2> qkv_w, proj_w, fc1_w, fc2_w;

    Block(index_t c, index_t h, Generator& rng)
        : width(c), heads(h), hidden(4 * c), ln1_w(Tensor<T, 1>::full({c}, T(1))), ln1_b({c}),
          ln2_w(Tensor<T, 1>::full({c}, T(1))), ln2_b({c}), qkv_b({3 * c}), proj_b({c}), fc1_b({4 * c}), fc2_b({c}),
          qkv_w({3 * c, c}), proj_w({c, c}), fc1_w({4 * c, c}), fc2_w({c, 4 * c}) {
        for (Tensor<T, 2>* w : {&qkv_w, &proj_w, &fc1_w, &fc2_w}) rng.truncated_normal<T, 2>(*w, T(0), T(0.02));
        for (Tensor<T, 1>* b : {&ln1_b, &ln2_b, &qkv_b, &fc1_b}) rng.normal<T, 1>(*b, T(0), T(0.1));
    }

    // Activations forward keeps for backward, all (B * N, *) except the attention views.
    struct Saved {
        Tensor<T, 2> ln1, qkv, attended, x1, ln2, hidden_pre, hidden_act;
        LayerNormSaved<T> ln1_stats, ln2_stats;
        AttentionSaved<T> attention;
    };

    // y (B, N, C) from x (B, N, C).
    void forward(const Context<cpu>& ctx, TensorView<T, 3> y, Saved& s, TensorView<const T, 3> x) const {
        const index_t B = x.extent(0), N = x.extent(1), R = B * N, C = width;
        const auto x2 = as_matrix(x);
        s.ln1 = Tensor<T, 2>({R, C});
        s.qkv = Tensor<T, 2>({R, 3 * C});
        s.attended = Tensor<T, 2>({R, C});
        s.x1 = Tensor<T, 2>({R, C});
        s.ln2 = Tensor<T, 2>({R, C});
        s.hidden_pre = Tensor<T, 2>({R, hidden});
        s.hidden_act = Tensor<T, 2>({R, hidden});
        layer_norm_forward<T>(ctx, s.ln1, s.ln1_stats, x2, ln1_w, ln1_b, T(1e-6));
        linear_forward<T>(ctx, s.qkv, s.ln1, qkv_w, qkv_b);
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        attention_forward<T>(ctx, s.attended.view().template reshape<3>({B, N, C}), s.attention, qkv3.narrow(2, 0, C),
                             qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C), {}, heads);
        linear_forward<T>(ctx, s.x1, s.attended, proj_w, proj_b);
        add_into<T, 2>(ctx, s.x1, x2);
        layer_norm_forward<T>(ctx, s.ln2, s.ln2_stats, s.x1, ln2_w, ln2_b, T(1e-6));
        linear_forward<T>(ctx, s.hidden_pre, s.ln2, fc1_w, fc1_b);
        gelu_forward<T>(ctx, s.hidden_act.view().template reshape<1>({R * hidden}), s.hidden_pre.view().template reshape<1>({R * hidden}));
        const auto y2 = as_matrix(y);
        linear_forward<T>(ctx, y2, s.hidden_act, fc2_w, fc2_b);
        add_into<T, 2>(ctx, y2, s.x1);
    }

    // dx assigned; every parameter gradient in `grad` accumulates.
    void backward(const Context<cpu>& ctx, TensorView<T, 3> dx, Block& grad, TensorView<const T, 3> dy, const Saved& s, TensorView<const T, 3> x) const {
        const index_t B = x.extent(0), N = x.extent(1), R = B * N, C = width;
        const auto dy2 = as_matrix(dy);
        Tensor<T, 2> d_hidden({R, hidden}), dx1({R, C}), d_ln({R, C}), d_attended({R, C}), d_qkv({R, 3 * C});
        linear_backward<T>(ctx, d_hidden, grad.fc2_w, grad.fc2_b, dy2, s.hidden_act, fc2_w);
        gelu_backward<T>(ctx, d_hidden.view().template reshape<1>({R * hidden}), d_hidden.view().template reshape<1>({R * hidden}),
                         s.hidden_pre.view().template reshape<1>({R * hidden}));
        linear_backward<T>(ctx, d_ln, grad.fc1_w, grad.fc1_b, d_hidden, s.ln2, fc1_w);
        layer_norm_backward<T>(ctx, dx1, grad.ln2_w, grad.ln2_b, d_ln, s.ln2_stats, s.x1, ln2_w);
        add_into<T, 2>(ctx, dx1, dy2);  // the residual branch
        linear_backward<T>(ctx, d_attended, grad.proj_w, grad.proj_b, dx1, s.attended, proj_w);
        const auto qkv3 = s.qkv.view().template reshape<3>({B, N, 3 * C});
        const auto dqkv3 = d_qkv.view().template reshape<3>({B, N, 3 * C});
        attention_backward<T>(ctx, dqkv3.narrow(2, 0, C), dqkv3.narrow(2, C, 2 * C), dqkv3.narrow(2, 2 * C, 3 * C),
                              d_attended.view().template reshape<3>({B, N, C}), s.attention, qkv3.narrow(2, 0, C),
                              qkv3.narrow(2, C, 2 * C), qkv3.narrow(2, 2 * C, 3 * C),
                              s.attended.view().template reshape<3>({B, N, C}), {}, heads);
        linear_backward<T>(ctx, d_ln, grad.qkv_w, grad.qkv_b, d_qkv, s.ln1, qkv_w);
        const auto dx2 = as_matrix(dx);
        layer_norm_backward<T>(ctx, dx2, grad.ln1_w, grad.ln1_b, d_ln, s.ln1_stats, x.template reshape<2>({R, C}), ln1_w);
        add_into<T, 2>(ctx, dx2, dx1);
    }

    // A zeroed block of the same shapes, to receive gradients.
    Block zeros_like() const {
        Generator unused(0);
        Block g(width, heads, unused);
        for (Tensor<T, 2>* w : {&g.qkv_w, &g.proj_w, &g.fc1_w, &g.fc2_w}) fill<T, 2>(cpu_ctx, *w, T(0));
        for (Tensor<T, 1>* b : {&g.ln1_w, &g.ln1_b, &g.ln2_w, &g.ln2_b, &g.qkv_b, &g.proj_b, &g.fc1_b, &g.fc2_b})
            fill<T, 1>(cpu_ctx, *b, T(0));
        return g;
    }
};

// loss = sum(y * dy): its gradient with respect to y is dy.
double weighted_loss(const Block<double>& block, const Tensor<double, 3>& x, const Tensor<double, 3>& dy) {
    Tensor<double, 3> y(x.shape());
    Block<double>::Saved saved;
    block.forward(cpu_ctx, y, saved, x);
    double loss = 0;
    for (index_t i = 0; i < y.size(); ++i) loss += y.data()[i] * dy.data()[i];
    return loss;
}

// Finite differences on a few entries of every weight matrix. An entry passes when
// |analytic - numeric| <= 1e-7 + 1e-5 |numeric| (docs/conventions.md §4); returns the number
// of entries that fail.
int check_gradients() {
    Generator rng(2024);
    Block<double> block(16, 2, rng);
    Tensor<double, 3> x({2, 9, 16}), dy({2, 9, 16}), dx({2, 9, 16});
    rng.normal<double, 3>(x);
    rng.normal<double, 3>(dy);
    Block<double>::Saved saved;
    Tensor<double, 3> y(x.shape());
    block.forward(cpu_ctx, y, saved, x);
    Block<double> grad = block.zeros_like();
    block.backward(cpu_ctx, dx, grad, dy, saved, x);

    int failures = 0;
    const std::pair<const char*, Tensor<double, 2> Block<double>::*> weights[] = {
        {"qkv.weight", &Block<double>::qkv_w}, {"proj.weight", &Block<double>::proj_w},
        {"fc1.weight", &Block<double>::fc1_w}, {"fc2.weight", &Block<double>::fc2_w}};
    for (const auto& [name, member] : weights) {
        Tensor<double, 2>& w = block.*member;
        for (index_t probe = 0; probe < 5; ++probe) {
            const index_t i = (probe * 7919) % w.size();
            const double saved_value = w.data()[i], h = 1e-6;
            w.data()[i] = saved_value + h;
            const double plus = weighted_loss(block, x, dy);
            w.data()[i] = saved_value - h;
            const double minus = weighted_loss(block, x, dy);
            w.data()[i] = saved_value;
            const double numeric = (plus - minus) / (2 * h), analytic = (grad.*member).data()[i];
            const double err = std::abs(numeric - analytic);
            const bool ok = err <= 1e-7 + 1e-5 * std::abs(numeric);
            failures += !ok;
            std::printf("  %-12s[%5lld]  analytic % .8e  numeric % .8e  abs.err %.1e %s\n", name, (long long)i, analytic,
                        numeric, err, ok ? "ok" : "MISMATCH");
        }
    }
    return failures;
}

index_t int_flag(int argc, char** argv, const std::string& flag, index_t fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == flag) return std::atoll(argv[i + 1]);
    return fallback;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const index_t tokens = int_flag(argc, argv, "--tokens", 1568), width = int_flag(argc, argv, "--width", 768);
        const index_t heads = int_flag(argc, argv, "--heads", 12);
        set_num_threads(int(int_flag(argc, argv, "--threads", 0)));
        std::printf("svilm %s | threads %d | GEMM: %s\n\n", version_string, num_threads(), gemm_backend_description().c_str());

        std::printf("1. Gradient check of a pre-norm transformer block in double (C=16, 2 heads, 2 x 9 tokens):\n");
        const int failures = check_gradients();
        const bool passed = failures == 0;
        std::printf("   %s (tolerance 1e-7 + 1e-5 |numeric|)\n\n", passed ? "PASSED" : "FAILED");

        std::printf("2. One block in float: B=1, N=%lld tokens, C=%lld, %lld heads (ViT-B/16 over 16 frames, tubelet 2):\n",
                    (long long)tokens, (long long)width, (long long)heads);
        Generator rng(1);
        Block<float> block(width, heads, rng);
        Block<float> grad = block.zeros_like();
        Tensor<float, 3> x({1, tokens, width}), y({1, tokens, width}), dy({1, tokens, width}), dx({1, tokens, width});
        rng.normal<float, 3>(x);
        rng.normal<float, 3>(dy);
        Block<float>::Saved saved;
        const double flops_forward = 24.0 * tokens * width * width + 4.0 * tokens * tokens * width;
        const int steps = 3;
        double forward_s = 0, backward_s = 0;
        for (int step = 1; step <= steps; ++step) {
            auto t0 = std::chrono::steady_clock::now();
            block.forward(cpu_ctx, y, saved, x);
            auto t1 = std::chrono::steady_clock::now();
            block.backward(cpu_ctx, dx, grad, dy, saved, x);
            auto t2 = std::chrono::steady_clock::now();
            forward_s += std::chrono::duration<double>(t1 - t0).count();
            backward_s += std::chrono::duration<double>(t2 - t1).count();
            const double elapsed = forward_s + backward_s;
            std::printf("\r   step %d/%d  %.2f steps/s  ETA %.1f s   ", step, steps, step / elapsed,
                        (steps - step) * elapsed / step);
            std::fflush(stdout);
        }
        std::printf("\n   forward  %7.1f ms  (%.0f GFLOP/s)\n", 1e3 * forward_s / steps, flops_forward * steps / forward_s / 1e9);
        std::printf("   backward %7.1f ms  (%.0f GFLOP/s nominal, 2x forward)\n", 1e3 * backward_s / steps,
                    2 * flops_forward * steps / backward_s / 1e9);
        return passed ? 0 : 1;
    } catch (const svilm::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}
