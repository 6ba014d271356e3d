// NcclCommunicator (svilm/distributed/nccl.cuh) on every rank of the MPI job (the executable's
// main holds the MpiSession): the gather of unequal shards, the sums ordered on the context's
// stream and bit-identical on every rank, and the errors that name the rank. Where a rank has no
// GPU, or two ranks would share one (NCCL does not allow it), every rank says so and passes
// without checking anything on a device; the decision is taken together, so no rank is left
// waiting in a collective the others skipped.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "svilm/distributed/nccl.cuh"

namespace svilm::testing {
namespace {

using dist::MpiCommunicator;
using dist::NcclCommunicator;

// The CUDA device this rank tests on, or -1 (with a MESSAGE) on every rank when one of them has
// no GPU or two of them landed on the same one.
int nccl_device_or_skip(MpiCommunicator& host) {
    struct Seen {
        char available = 0;
        char uuid[16] = {};
    } mine;
    int device = -1;
    std::string why;
    if (Context<cuda>::available()) {
        device = dist::device_for_local_rank();
        cudaDeviceProp properties{};
        if (cudaGetDeviceProperties(&properties, device) == cudaSuccess) {
            mine.available = 1;
            std::memcpy(mine.uuid, properties.uuid.bytes, sizeof mine.uuid);
        } else {
            cudaGetLastError();
        }
    }
    std::vector<Seen> all(std::size_t(host.size()));
    const std::vector<index_t> ones(std::size_t(host.size()), 1);
    host.all_gather_host(&mine, all.data(), ones, sizeof(Seen));
    for (int r = 0; r < host.size() && why.empty(); ++r) {
        if (!all[std::size_t(r)].available) why = "rank " + std::to_string(r) + " has no usable GPU";
        for (int q = 0; q < r && why.empty(); ++q)
            if (std::memcmp(all[std::size_t(q)].uuid, all[std::size_t(r)].uuid, sizeof mine.uuid) == 0)
                why = "ranks " + std::to_string(q) + " and " + std::to_string(r) + " share one GPU";
    }
    if (why.empty()) return device;
    if (host.rank() == 0) {
        std::string reason = Context<cuda>::available() ? std::string() : " (" + Context<cuda>::unavailable_reason() + ")";
        MESSAGE("NCCL test skipped over " << host.size() << " rank(s): " << why << reason);
    }
    return -1;
}

template <class T>
class DeviceBuffer {
public:
    explicit DeviceBuffer(std::size_t n) : n_(n) {
        SVILM_CUDA_CHECK(cudaMalloc(&data_, std::max<std::size_t>(n, 1) * sizeof(T)));
    }
    ~DeviceBuffer() { cudaFree(data_); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    T* data() const { return data_; }
    // Ordered on ctx's stream, like the kernels that would produce or consume the data.
    void upload(const Context<cuda>& ctx, const std::vector<T>& host) {
        REQUIRE(host.size() == n_);
        SVILM_CUDA_CHECK(cudaMemcpyAsync(data_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice, ctx.stream()));
    }
    std::vector<T> download(const Context<cuda>& ctx) const {
        std::vector<T> host(n_);
        SVILM_CUDA_CHECK(cudaMemcpyAsync(host.data(), data_, n_ * sizeof(T), cudaMemcpyDeviceToHost, ctx.stream()));
        ctx.synchronize();
        return host;
    }

private:
    T* data_ = nullptr;
    std::size_t n_ = 0;
};

// Element j of global row i: distinct, exact in float and double.
template <class T>
T gathered_value(index_t i, index_t j) {
    return T(double(i) * 8 + double(j) + 0.5);
}

template <class T>
void check_gather(NcclCommunicator& world, const Context<cuda>& ctx, index_t global, index_t row) {
    const BatchShard shard{global, world.rank(), world.size()};
    const std::vector<index_t> counts = shard.counts();
    std::vector<T> local(std::size_t(shard.count() * row));
    for (index_t i = 0; i < shard.count(); ++i)
        for (index_t j = 0; j < row; ++j) local[std::size_t(i * row + j)] = gathered_value<T>(shard.begin() + i, j);
    DeviceBuffer<T> local_device(local.size()), global_device(std::size_t(global * row));
    local_device.upload(ctx, local);
    // NaN where the gather must write: a row it forgets fails the comparison
    global_device.upload(ctx, std::vector<T>(std::size_t(global * row), std::numeric_limits<T>::quiet_NaN()));
    world.all_gather(ctx, local_device.data(), global_device.data(), counts, row);
    const std::vector<T> gathered = global_device.download(ctx);
    int wrong = 0;
    for (index_t i = 0; i < global; ++i)
        for (index_t j = 0; j < row; ++j)
            if (gathered[std::size_t(i * row + j)] != gathered_value<T>(i, j)) ++wrong;
    INFO("global batch ", global, ", rows of ", row, ", rank ", world.rank(), " of ", world.size());
    CHECK(wrong == 0);
}

TEST_CASE("nccl: device_for_local_rank picks a device, or names the rank when there is none") {
    if (Context<cuda>::available()) {
        const int device = dist::device_for_local_rank();
        CHECK(device >= 0);
        CHECK(device < Context<cuda>::device_count());
        return;
    }
    try {
        (void)dist::device_for_local_rank();
        FAIL("device_for_local_rank() returned without a device");
    } catch (const DistributedError& e) {
        CHECK(std::string(e.what()).find("rank " + std::to_string(dist::detail::world_identity().rank)) != std::string::npos);
    }
}

TEST_CASE("nccl: all_gather concatenates unequal shards in rank order, float and double") {
    MpiCommunicator host;
    const int device = nccl_device_or_skip(host);
    if (device < 0) return;
    Context<cuda> ctx(device);
    NcclCommunicator world(host, ctx);
    CHECK(world.backend() == "NCCL");
    CHECK(world.rank() == host.rank());
    CHECK(world.size() == host.size());
    const index_t ranks = world.size();
    // one rank more than the rest, then (over 2 ranks or more) a rank without a row
    for (const index_t global : {2 * ranks + 1, ranks > 1 ? ranks - 1 : index_t(1)}) {
        check_gather<float>(world, ctx, global, 3);
        check_gather<double>(world, ctx, global, 5);
    }
    const CommunicatorStats stats = world.stats();
    CHECK(stats.calls == 4);
    CHECK(stats.overlapped_seconds == 0);
}

TEST_CASE("nccl: start_all_reduce + finish_all_reduces sum on the context's stream, the same bits on every rank") {
    MpiCommunicator host;
    const int device = nccl_device_or_skip(host);
    if (device < 0) return;
    Context<cuda> ctx(device);
    NcclCommunicator world(host, ctx);
    const int ranks = world.size(), rank = world.rank();

    // exact: small integers plus quarters, so the float sum is exact in any order
    const std::size_t n_exact = 1000;
    std::vector<float> exact(n_exact);
    for (std::size_t i = 0; i < n_exact; ++i) exact[i] = float(i % 13) + 0.25f * float(rank + 1);
    // inexact: the order of the additions shows in the bits; large enough for several NCCL chunks
    const std::size_t n_float = (std::size_t(1) << 20) + 3, n_double = 4099;
    std::vector<float> noisy(n_float);
    for (std::size_t i = 0; i < n_float; ++i) noisy[i] = float(std::sin(0.001 * double(i) * double(rank + 1)) / 3.0);
    std::vector<double> noisy_double(n_double);
    for (std::size_t i = 0; i < n_double; ++i) noisy_double[i] = std::cos(0.37 * double(i) + double(rank)) / 7.0;

    DeviceBuffer<float> a(n_exact), b(n_float);
    DeviceBuffer<double> c(n_double);
    // the uploads are queued on ctx's stream: the sums must wait for them, and the downloads
    // (on the same stream) for the sums, with no synchronisation in between
    a.upload(ctx, exact);
    b.upload(ctx, noisy);
    c.upload(ctx, noisy_double);
    const CommunicatorStats before = world.stats();
    world.start_all_reduce(ctx, a.data(), n_exact);
    world.start_all_reduce(ctx, b.data(), n_float);
    world.start_all_reduce(ctx, c.data(), n_double);
    world.finish_all_reduces(ctx);
    const std::vector<float> summed_exact = a.download(ctx), summed = b.download(ctx);
    const std::vector<double> summed_double = c.download(ctx);

    int wrong = 0;
    for (std::size_t i = 0; i < n_exact; ++i) {
        const float expected = float(ranks) * float(i % 13) + 0.25f * float(ranks * (ranks + 1) / 2);
        if (summed_exact[i] != expected) ++wrong;
    }
    CHECK(wrong == 0);
    // close to the sum in double (the same formula as every rank's input)
    double worst = 0;
    for (std::size_t i = 0; i < n_float; i += 997) {
        double expected = 0;
        for (int r = 0; r < ranks; ++r) expected += double(float(std::sin(0.001 * double(i) * double(r + 1)) / 3.0));
        worst = std::max(worst, std::abs(double(summed[i]) - expected));
    }
    CHECK(worst <= 1e-6 * ranks);

    // every rank's bits against every other's, through the host communicator
    const auto same_everywhere = [&](const void* data, std::size_t bytes) {
        std::vector<unsigned char> all(bytes * std::size_t(ranks));
        const std::vector<index_t> ones(std::size_t(ranks), 1);
        world.all_gather_host(data, all.data(), ones, bytes);
        int differing = 0;
        for (int r = 0; r < ranks; ++r)
            if (std::memcmp(all.data() + std::size_t(r) * bytes, data, bytes) != 0) ++differing;
        return differing;
    };
    CHECK(same_everywhere(summed_exact.data(), n_exact * sizeof(float)) == 0);
    CHECK(same_everywhere(summed.data(), n_float * sizeof(float)) == 0);
    CHECK(same_everywhere(summed_double.data(), n_double * sizeof(double)) == 0);

    // the accounting: a ring's 2 (N-1)/N per summed buffer, and the three host gathers just above
    const CommunicatorStats after = world.stats();
    CHECK(after.calls - before.calls == (ranks > 1 ? 3u + 3u : 3u));
    const auto ring = [&](std::size_t bytes) {
        return 2 * std::uint64_t(bytes) * std::uint64_t(ranks - 1) / std::uint64_t(ranks);
    };
    const std::uint64_t reduced =
        ring(n_exact * sizeof(float)) + ring(n_float * sizeof(float)) + ring(n_double * sizeof(double));
    const std::uint64_t gathered = std::uint64_t(ranks - 1) * (n_exact + n_float) * sizeof(float) +
                                   std::uint64_t(ranks - 1) * n_double * sizeof(double);
    CHECK(after.bytes_sent - before.bytes_sent == reduced + gathered);
}

TEST_CASE("nccl: bad counts throw a DistributedError that names the rank") {
    MpiCommunicator host;
    const int device = nccl_device_or_skip(host);
    if (device < 0) return;
    Context<cuda> ctx(device);
    NcclCommunicator world(host, ctx);
    const std::string rank = "rank " + std::to_string(world.rank()) + " of " + std::to_string(world.size());
    DeviceBuffer<float> local(4), global(4 * std::size_t(world.size() + 1));
    const auto message_of = [&](std::span<const index_t> counts, index_t row) {
        try {
            world.all_gather(ctx, local.data(), global.data(), counts, row);
        } catch (const DistributedError& e) {
            return std::string(e.what());
        }
        return std::string("no DistributedError");
    };
    // one count more than there are ranks (the same on every rank: each throws before any NCCL call)
    const std::vector<index_t> too_many(std::size_t(world.size() + 1), 1);
    std::string what = message_of(too_many, 4);
    CHECK(what.find(rank) != std::string::npos);
    CHECK(what.find(std::to_string(too_many.size()) + " counts") != std::string::npos);
    const std::vector<index_t> negative(std::size_t(world.size()), -1);
    what = message_of(negative, 4);
    CHECK(what.find(rank) != std::string::npos);
    const std::vector<index_t> fine(std::size_t(world.size()), 1);
    what = message_of(fine, 0);
    CHECK(what.find(rank) != std::string::npos);
    // nothing was queued: the communicator still works
    check_gather<float>(world, ctx, 2 * index_t(world.size()), 2);
}

}  // namespace
}  // namespace svilm::testing
