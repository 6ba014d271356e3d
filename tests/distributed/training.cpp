// Data-parallel training under mpirun: the collectives do what they say on every rank, N ranks
// with a global batch of B clips train the model one process trains on the same B clips (exactly
// for N = 1; within the rounding of a differently ordered sum for N = 2, 3, in double and in
// float), every rank holds the same bits, and a run resumes from its checkpoint with another
// number of ranks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "support/context.hpp"
#include "support/indexed_source.hpp"
#include "support/temp_dir.hpp"
#include "svilm/distributed/mpi.hpp"
#include "svilm/text/tokenizer.hpp"
#include "svilm/train.hpp"

namespace svilm::testing {
namespace {

namespace fs = std::filesystem;

constexpr index_t global_batch = 7;  // uneven over 2 and 3 ranks: shards of 4 + 3 and 3 + 2 + 2 clips

train::TrainerOptions parallel_options(std::int64_t steps) {
    train::TrainerOptions o = small_trainer_options(steps);
    o.batch_size = global_batch;
    o.micro_batches = 2;
    o.bucket_bytes = 4096;  // many buckets: the bucketing is exercised on a small model
    return o;
}

// One process on the same global batches: what every rank compares with.
template <class T>
struct Alone {
    SVilm<T> model;
    std::vector<train::StepResult> results;
};
template <class T>
Alone<T> train_alone(const train::TrainerOptions& options) {
    SVilm<T> model(cpu_ctx, small_trainer_config(), 5);
    IndexedSource source(small_trainer_config(), 100);
    std::vector<train::StepResult> results;
    {
        train::Trainer<cpu, T> trainer(model, test_tokenizer(), source, options);
        results = trainer.run();
    }
    return {std::move(model), std::move(results)};
}

template <class T>
double max_difference(const SVilm<T>& a, const SVilm<T>& b) {
    const auto x = a.parameters().values(), y = b.parameters().values();
    REQUIRE(x.size() == y.size());
    double worst = 0;
    for (index_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(double(x(i)) - double(y(i))));
    return worst;
}

// Whether every rank's parameters have rank 0's bits.
template <class T>
bool same_on_every_rank(dist::MpiCommunicator& world, const SVilm<T>& model) {
    const auto values = model.parameters().values();
    const std::size_t bytes = std::size_t(values.size()) * sizeof(T);
    std::vector<char> all(bytes * std::size_t(world.size()));
    const std::vector<index_t> ones(std::size_t(world.size()), 1);
    world.all_gather_host(values.data(), all.data(), ones, bytes);
    for (int r = 1; r < world.size(); ++r)
        if (std::memcmp(all.data(), all.data() + bytes * std::size_t(r), bytes) != 0) return false;
    return true;
}

TEST_CASE("communicator: gathers in rank order, exchanges rows, sums in a fixed order") {
    dist::MpiCommunicator world;
    const int N = world.size(), me = world.rank();
    const BatchShard shard{7, me, N};
    std::vector<float> local(std::size_t(shard.count() * 2));
    for (index_t i = 0; i < shard.count(); ++i)
        for (index_t c = 0; c < 2; ++c) local[std::size_t(i * 2 + c)] = float((shard.begin() + i) * 10 + c);
    std::vector<float> global(14, -1.0f);
    world.all_gather(cpu_ctx, local.data(), global.data(), shard.counts(), 2);
    for (index_t i = 0; i < 7; ++i) {
        CHECK(global[std::size_t(i * 2)] == float(i * 10));
        CHECK(global[std::size_t(i * 2 + 1)] == float(i * 10 + 1));
    }

    // rank r sends q + 1 rows of value 100 r + q to rank q
    std::vector<index_t> send_counts, recv_counts;
    std::vector<int> send;
    for (int q = 0; q < N; ++q) {
        send_counts.push_back(q + 1);
        recv_counts.push_back(me + 1);
        for (int k = 0; k <= q; ++k) send.push_back(100 * me + q);
    }
    std::vector<int> received(std::size_t((me + 1) * N), -1);
    world.all_to_all_host(send.data(), send_counts, received.data(), recv_counts, sizeof(int));
    for (int r = 0; r < N; ++r)
        for (int k = 0; k <= me; ++k) CHECK(received[std::size_t(r * (me + 1) + k)] == 100 * r + me);

    // 1/3 + ... in an order where float rounding shows: every rank must still hold the same bits
    std::vector<float> sums(1000);
    for (std::size_t i = 0; i < sums.size(); ++i) sums[i] = float(1.0 / double(3 + me + int(i)));
    std::vector<double> exact(sums.size());
    for (std::size_t i = 0; i < sums.size(); ++i)
        for (int r = 0; r < N; ++r) exact[i] += double(float(1.0 / double(3 + r + int(i))));
    world.start_all_reduce(cpu_ctx, sums.data(), 600);
    world.start_all_reduce(cpu_ctx, sums.data() + 600, 400);
    world.finish_all_reduces(cpu_ctx);
    for (std::size_t i = 0; i < sums.size(); ++i) CHECK(std::abs(sums[i] - exact[i]) <= 1e-6 * exact[i]);
    std::vector<float> everyone(sums.size() * std::size_t(N));
    const std::vector<index_t> ones(std::size_t(N), 1);
    world.all_gather_host(sums.data(), everyone.data(), ones, sums.size() * sizeof(float));
    for (int r = 1; r < N; ++r) CHECK(std::memcmp(everyone.data(), everyone.data() + sums.size() * std::size_t(r), sums.size() * sizeof(float)) == 0);

    const CommunicatorStats stats = world.stats();
    CHECK(stats.calls >= 3);  // the sums are no calls on one rank
    CHECK((N == 1 || stats.bytes_sent > 0));
}

TEST_CASE("communicator: counts that do not match the ranks are refused, naming the call") {
    dist::MpiCommunicator world;
    const std::vector<index_t> counts(std::size_t(world.size()) + 1, 1);
    float x = 0, y[8] = {};
    CHECK_THROWS_WITH_AS(world.all_gather(cpu_ctx, &x, y, counts, 1), doctest::Contains("MPI_Allgatherv"), DistributedError);
}

TEST_CASE_TEMPLATE("data parallel: N ranks train the model one process trains on the same global batches", T, double, float) {
    dist::MpiCommunicator world;
    const SVilmConfig config = small_trainer_config();
    const train::TrainerOptions options = parallel_options(3);

    const Alone<T> reference = train_alone<T>(options);
    const SVilm<T>& alone = reference.model;
    const std::vector<train::StepResult>& expected = reference.results;

    SVilm<T> parallel(cpu_ctx, config, 5);
    IndexedSource parallel_source(config, 100);
    train::Trainer<cpu, T> trainer(parallel, test_tokenizer(), parallel_source, options, nullptr, &world);
    const std::vector<train::StepResult> got = trainer.run();

    // double: sums of the same terms in another order, ~1e-16 relative per step; float: ~1e-7,
    // grown by three Adam steps (an update divides by the root of the gradient's square)
    const double loss_tolerance = std::is_same_v<T, double> ? 1e-12 : 1e-5;
    const double parameter_tolerance = std::is_same_v<T, double> ? 1e-10 : 1e-4;
    REQUIRE(got.size() == expected.size());
    for (std::size_t s = 0; s < got.size(); ++s) {
        CAPTURE(s);
        CHECK(got[s].clips == global_batch * 2);
        CHECK(got[s].ranks == world.size());
        for (const auto& [a, b] : {std::pair{got[s].losses.contrastive, expected[s].losses.contrastive},
                                   std::pair{got[s].losses.temporal, expected[s].losses.temporal},
                                   std::pair{got[s].losses.grounding, expected[s].losses.grounding}}) {
            CHECK(a > 0);
            if (world.size() == 1) CHECK(a == b);  // the same ops on the same shapes: the same bits
            else CHECK(std::abs(a - b) <= loss_tolerance * std::abs(b));
        }
    }
    const double difference = max_difference(parallel, alone);
    MESSAGE(world.size() << " rank(s), " << std::string(std::is_same_v<T, double> ? "double" : "float")
                         << ": largest parameter difference from one process after 3 steps: " << difference);
    if (world.size() == 1) CHECK(difference == 0);
    else CHECK(difference <= parameter_tolerance);
    CHECK(same_on_every_rank(world, parallel));
}

TEST_CASE("data parallel: a run resumes from its checkpoint on another number of ranks") {
    dist::MpiCommunicator world;
    const SVilmConfig config = small_trainer_config();
    const train::TrainerOptions options = parallel_options(4);

    const Alone<double> reference = train_alone<double>(options);
    const SVilm<double>& alone = reference.model;

    // rank 0 makes the folder; every rank learns its name
    std::optional<TempDir> dir;
    std::string folder;
    if (world.rank() == 0) {
        dir.emplace();
        folder = dir->path.string();
    }
    world.broadcast_string(folder);
    const fs::path checkpoint = fs::path(folder) / "checkpoint.safetensors";

    SVilm<double> first(cpu_ctx, config, 5);
    IndexedSource first_source(config, 100);
    train::Trainer<cpu, double> before(first, test_tokenizer(), first_source, options, nullptr, &world);
    before.step();
    before.step();
    before.save(checkpoint);  // every rank returns once rank 0 has written it

    // the last two steps on one rank fewer (on one rank when there is one)
    const int resumed_ranks = std::max(1, world.size() - 1);
    MPI_Comm part = MPI_COMM_NULL;
    MPI_Comm_split(world.handle(), world.rank() < resumed_ranks ? 0 : MPI_UNDEFINED, world.rank(), &part);
    if (part != MPI_COMM_NULL) {
        dist::MpiCommunicator fewer(part);
        SVilm<double> resumed(cpu_ctx, config, 999);  // other initial weights: everything comes from the file
        IndexedSource resumed_source(config, 100);
        train::Trainer<cpu, double> after(resumed, test_tokenizer(), resumed_source, options, nullptr, &fewer);
        after.resume(checkpoint);
        CHECK(after.steps_done() == 2);
        after.run();
        CHECK(after.steps_done() == 4);
        const double difference = max_difference(resumed, alone);
        MESSAGE("2 steps on " << world.size() << " rank(s), 2 on " << resumed_ranks << ": largest difference " << difference);
        CHECK(difference <= 1e-10);
        MPI_Comm_free(&part);
    }
    world.barrier();  // nobody reads the folder when rank 0 removes it
}

TEST_CASE("data parallel: a global batch smaller than the number of ranks is refused") {
    dist::MpiCommunicator world;
    if (world.size() < 3) return;  // cut-and-paste needs batches of 2 at least
    SVilm<float> model(cpu_ctx, small_trainer_config(), 5);
    IndexedSource source(small_trainer_config(), 100);
    train::TrainerOptions options = parallel_options(1);
    options.batch_size = 2;
    CHECK_THROWS_AS(train::Trainer<cpu>(model, test_tokenizer(), source, options, nullptr, &world), ValueError);
}

}  // namespace
}  // namespace svilm::testing
