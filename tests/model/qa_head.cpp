// The video QA answer head (svilm/model/qa_head.hpp) against the PyTorch reference
// (tests/reference/svilm_ref.py, Decisions D19-D20; tests/data/qa_head_fixture.safetensors, see
// tests/reference/MODEL_FIXTURES.md): the features [v, q, v * q], the logits, the loss with the
// labels at -1 left out and over every question, and every gradient of three backward passes,
// in double and in float. Then what the head and its loss refuse, and the loss's edge cases.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "support/compare.hpp"
#include "support/context.hpp"
#include "support/random.hpp"
#include "svilm/io/safetensors.hpp"
#include "svilm/io/weights.hpp"
#include "svilm/model.hpp"

namespace svilm::testing {
namespace {

const io::SafetensorsFile& qa_fixture() {
    static const io::SafetensorsFile file(std::string(SVILM_TEST_DATA_DIR) + "/qa_head_fixture.safetensors");
    return file;
}

// The reference computes in float64: our double run agrees to rounding. In float the head's
// products are short (3D = 12 and hidden = 8 terms), so the fp32 tolerance of the numerics policy
// applies (docs/conventions.md §4).
template <class T>
constexpr Tolerance qa_tolerance = Tolerance{1e-12, 1e-10};
template <>
constexpr Tolerance qa_tolerance<float> = fp32_tolerance;

template <class T, int Rank>
void expect_fixture(const std::string& key, TensorView<const T, Rank> ours) {
    const Tensor<double, Rank> ref = qa_fixture().read<double, Rank>(key);
    REQUIRE(all_finite<double, Rank>(ref));
    expect_close<T, double, Rank>(key + (sizeof(T) == 8 ? " (double)" : " (float)"), ours, ref.view(), qa_tolerance<T>);
}

// The head of the fixture's sizes, under "qa_head", with the fixture's weights.
template <class T>
struct FixtureHead {
    nn::ParameterStore<T> store;
    QaHead<T> head;

    FixtureHead() {
        const auto& fc1 = qa_fixture().info("weight.qa_head.fc1.weight").shape;
        const auto& fc2 = qa_fixture().info("weight.qa_head.fc2.weight").shape;
        REQUIRE(fc1[1] % 3 == 0);
        head = QaHead<T>(store, "qa_head", {fc1[1] / 3, fc1[0], fc2[0]});
        store.allocate(cpu_ctx);
        const io::LoadReport report = io::load_parameters(store, qa_fixture(), {true, "weight."});
        REQUIRE(report.loaded.size() == 4);
    }

    // dv, dq and every parameter gradient of one backward from d_logits against `prefix`.<name>.
    void check_backward(const std::string& prefix, TensorView<const T, 2> d_logits, const QaHeadSaved<T>& s,
                        TensorView<const T, 2> v, TensorView<const T, 2> q) {
        Tensor<T, 2> dv = Tensor<T, 2>::full(v.shape(), std::numeric_limits<T>::quiet_NaN());
        Tensor<T, 2> dq = Tensor<T, 2>::full(q.shape(), std::numeric_limits<T>::quiet_NaN());
        store.zero_grad();
        head.backward(cpu_ctx, dv, dq, d_logits, s, v, q);
        expect_fixture<T, 2>(prefix + "v", dv);
        expect_fixture<T, 2>(prefix + "q", dq);
        for (const nn::ParameterInfo& p : store.parameters()) {
            Tensor<double, 1> ref({p.size}, uninitialized);
            qa_fixture().read_into<double>(prefix + p.name, ref.data(), std::size_t(p.size));
            expect_close<T, double, 1>(prefix + p.name, store.grad(p), ref.view(), qa_tolerance<T>);
        }
    }
};

template <class T>
void check_parity() {
    FixtureHead<T> f;
    const Tensor<T, 2> v = qa_fixture().read<T, 2>("input.v"), q = qa_fixture().read<T, 2>("input.q");
    const index_t B = v.extent(0), K = f.head.config().answers;
    Tensor<T, 2> logits = Tensor<T, 2>::full({B, K}, std::numeric_limits<T>::quiet_NaN());
    QaHeadSaved<T> s;
    f.head.forward(cpu_ctx, logits, s, v, q);
    expect_fixture<T, 2>("out.features", s.features);
    expect_fixture<T, 2>("out.logits", logits);

    for (const std::string tag : {"", "_all"}) {
        INFO("labels input.targets" << tag);
        const Tensor<std::int64_t, 1> labels = qa_fixture().read<std::int64_t, 1>("input.targets" + tag);
        QaLossSaved<T> ls;
        const T loss = qa_loss_forward(cpu_ctx, ls, TensorView<const T, 2>(logits), labels);
        Tensor<T, 0> loss_value(Extents<0>{});
        loss_value() = loss;
        expect_fixture<T, 0>("loss" + tag, loss_value);
        Tensor<T, 2> d_logits = Tensor<T, 2>::full({B, K}, std::numeric_limits<T>::quiet_NaN());
        qa_loss_backward(cpu_ctx, d_logits.view(), T(1), ls, TensorView<const T, 2>(logits));
        expect_fixture<T, 2>("grad" + tag + ".logits", d_logits);
        f.check_backward("grad" + tag + ".", d_logits, s, v, q);
    }
    f.check_backward("dy_grad.", qa_fixture().read<T, 2>("input.dy"), s, v, q);
}

TEST_CASE("qa head parity: features, logits, losses and every gradient match the PyTorch reference") {
    SUBCASE("double") { check_parity<double>(); }
    SUBCASE("float") { check_parity<float>(); }
}

TEST_CASE("qa head: parameter names and shapes, and the configurations and shapes it refuses") {
    nn::ParameterStore<float> store;
    const QaHead<float> head(store, "qa_head", {6, 10, 7});
    const std::pair<const char*, std::vector<index_t>> expected[] = {{"qa_head.fc1.weight", {10, 18}},
                                                                     {"qa_head.fc1.bias", {10}},
                                                                     {"qa_head.fc2.weight", {7, 10}},
                                                                     {"qa_head.fc2.bias", {7}}};
    REQUIRE(store.parameters().size() == 4);
    for (const auto& [name, shape] : expected) {
        const nn::ParameterInfo* p = store.find(name);
        REQUIRE_MESSAGE(p, name);
        CHECK(p->shape == shape);
    }
    for (const QaHeadConfig bad : {QaHeadConfig{0, 10, 7}, QaHeadConfig{6, 0, 7}, QaHeadConfig{6, 10, 0}}) {
        nn::ParameterStore<float> other;
        CHECK_THROWS_AS(QaHead<float>(other, "qa_head", bad), ValueError);
        CHECK(other.parameters().empty());
    }
    Generator rng(1);
    store.allocate(cpu_ctx, rng);
    const Tensor<float, 2> v = random_tensor<float, 2>({3, 6}, 2), q5 = random_tensor<float, 2>({3, 5}, 3);
    Tensor<float, 2> logits({3, 7}), wide({3, 8});
    QaHeadSaved<float> s;
    CHECK_THROWS_WITH_AS(head.forward(cpu_ctx, logits, s, v, q5), doctest::Contains("QaHead::forward"), ShapeError);
    CHECK_THROWS_WITH_AS(head.forward(cpu_ctx, wide, s, v, v), doctest::Contains("logits"), ShapeError);
}

TEST_CASE("qa loss: labels at -1 are left out, every label at -1 gives 0 and zero gradients, bad labels are named") {
    const index_t B = 6, K = 4;
    const Tensor<double, 2> logits = random_tensor<double, 2>({B, K}, 7);
    SUBCASE("the mean over the answerable rows equals cross_entropy over those rows alone") {
        Tensor<std::int64_t, 1> labels({B}), kept({3});
        const std::int64_t all[] = {-1, 2, 0, -1, -1, 3};
        for (index_t r = 0; r < B; ++r) labels(r) = all[r];
        kept(0) = 2;
        kept(1) = 0;
        kept(2) = 3;
        Tensor<double, 2> rows({3, K});
        for (index_t k = 0; k < K; ++k) {
            rows(0, k) = logits(1, k);
            rows(1, k) = logits(2, k);
            rows(2, k) = logits(5, k);
        }
        CrossEntropySaved<double> ce;
        const double want = cross_entropy_forward<double>(cpu_ctx, ce, rows, kept);
        Tensor<double, 2> d_rows({3, K});
        cross_entropy_backward<double>(cpu_ctx, d_rows, 0.5, ce, rows, kept);
        QaLossSaved<double> s;
        CHECK(qa_loss_forward<double>(cpu_ctx, s, logits, labels) == want);
        CHECK(s.kept == 3);
        CHECK(s.runs.size() == 2);
        Tensor<double, 2> d_logits = Tensor<double, 2>::full({B, K}, std::nan(""));
        qa_loss_backward<double>(cpu_ctx, d_logits, 0.5, s, logits);
        const index_t source[] = {-1, 0, 1, -1, -1, 2};
        for (index_t r = 0; r < B; ++r)
            for (index_t k = 0; k < K; ++k) CHECK(d_logits(r, k) == (source[r] < 0 ? 0.0 : d_rows(source[r], k)));
    }
    SUBCASE("no answerable question: loss 0, gradient 0") {
        const Tensor<std::int64_t, 1> labels = Tensor<std::int64_t, 1>::full({B}, -1);
        QaLossSaved<double> s;
        CHECK(qa_loss_forward<double>(cpu_ctx, s, logits, labels) == 0.0);
        Tensor<double, 2> d_logits = Tensor<double, 2>::full({B, K}, std::nan(""));
        qa_loss_backward<double>(cpu_ctx, d_logits, 1.0, s, logits);
        for (index_t i = 0; i < d_logits.size(); ++i) CHECK(d_logits.data()[i] == 0.0);
    }
    SUBCASE("a label below -1 or at K is refused, naming its row") {
        for (const std::int64_t bad : {std::int64_t(-2), std::int64_t(K)}) {
            Tensor<std::int64_t, 1> labels({B});
            labels(4) = bad;
            QaLossSaved<double> s;
            CHECK_THROWS_WITH_AS(qa_loss_forward<double>(cpu_ctx, s, logits, labels), doctest::Contains("of row 4"), ValueError);
        }
        QaLossSaved<double> s;
        CHECK_THROWS_AS(qa_loss_forward<double>(cpu_ctx, s, logits, Tensor<std::int64_t, 1>({B - 1})), ShapeError);
    }
}

}  // namespace
}  // namespace svilm::testing
