// svilm/core/communicator.hpp: what data-parallel training asks of the processes it runs on, and
// how a global batch splits over them. Device-free (nvcc reads it too); the implementations are
// svilm/distributed/mpi.hpp (MPI, host memory) and svilm/distributed/nccl.cuh (NCCL on CUDA
// memory, bootstrapped through MPI).
//
// Every rank of a communicator runs the same program on its share of each global batch and calls
// the collectives below in the same order with the same sizes (they block until every rank
// arrives). "Device memory" is memory of the context's device: host memory on the CPU.
//
//   svilm::dist::MpiCommunicator world;                      // after svilm::dist::MpiSession
//   svilm::train::Trainer<svilm::cpu> trainer(model, tokenizer, source, options, &nouns, &world);
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/core/device.hpp"
#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"

namespace svilm {

// The rows [begin(r), begin(r) + count(r)) of a global batch that rank r of `ranks` holds: the
// first global % ranks ranks take one row more, so shards are contiguous and in rank order.
struct BatchShard {
    index_t global = 0;
    int rank = 0, ranks = 1;

    index_t count(int r) const { return global / ranks + (r < global % ranks ? 1 : 0); }
    index_t begin(int r) const { return r * (global / ranks) + std::min<index_t>(r, global % ranks); }
    index_t count() const { return count(rank); }
    index_t begin() const { return begin(rank); }
    // The rank that holds global row i: the first global % ranks ranks hold q + 1 rows each.
    int owner(index_t i) const {
        const index_t q = global / ranks, longer = global % ranks, in_longer = longer * (q + 1);
        return int(i < in_longer ? i / (q + 1) : longer + (i - in_longer) / q);
    }
    std::vector<index_t> counts() const {
        std::vector<index_t> c(static_cast<std::size_t>(ranks));
        for (int r = 0; r < ranks; ++r) c[std::size_t(r)] = count(r);
        return c;
    }
};

// A collective failed, or another rank stopped the run; the message names the rank(s).
class DistributedError : public Error {
public:
    using Error::Error;
};

// Time and bytes spent in collectives since construction, this rank's view.
struct CommunicatorStats {
    double seconds = 0;             // the caller waited in collectives (communication not hidden behind compute)
    double overlapped_seconds = 0;  // MPI: the reduction thread's busy time, partly behind the caller's compute
    std::uint64_t bytes_sent = 0;
    std::uint64_t calls = 0;
};

template <class Device>
class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // "MPI", "NCCL": for logs.
    virtual std::string backend() const = 0;

    // Rows of `row` elements, counts[r] of them from rank r, concatenated in rank order into
    // `global` (sum(counts) * row elements), on every rank. local holds counts[rank()] rows.
    virtual void all_gather(const Context<Device>& ctx, const float* local, float* global, std::span<const index_t> counts,
                            index_t row) = 0;
    virtual void all_gather(const Context<Device>& ctx, const double* local, double* global,
                            std::span<const index_t> counts, index_t row) = 0;

    // The same on host memory, rows of `row_bytes` bytes, whatever the device.
    virtual void all_gather_host(const void* local, void* global, std::span<const index_t> counts,
                                 std::size_t row_bytes) = 0;
    // Rank r's send_counts[q] rows (in order, from `send`) go to rank q, which finds them after
    // the rows of ranks < r in `recv` (recv_counts[r] rows). Host memory.
    virtual void all_to_all_host(const void* send, std::span<const index_t> send_counts, void* recv,
                                 std::span<const index_t> recv_counts, std::size_t row_bytes) = 0;

    // Starts summing `n` elements of device memory in place over every rank and returns; the sum
    // follows the work queued on ctx so far. Every rank ends with the same bits, whatever the
    // timing (MPI: a fixed rank order; NCCL: its algorithm's order, see svilm/distributed/nccl.cuh).
    // finish_all_reduces(ctx) makes ctx's later work follow every sum started (on the CPU it
    // returns when they are done; on CUDA it orders ctx's stream, and the host synchronises ctx
    // before reading). In between, the memory is neither touched nor freed.
    virtual void start_all_reduce(const Context<Device>& ctx, float* data, std::size_t n) = 0;
    virtual void start_all_reduce(const Context<Device>& ctx, double* data, std::size_t n) = 0;
    virtual void finish_all_reduces(const Context<Device>& ctx) = 0;

    // Every rank arrives before any leaves.
    virtual void barrier() = 0;
    // Rank 0's `bytes` (its std::string) on every rank.
    virtual void broadcast_string(std::string& bytes) = 0;

    virtual CommunicatorStats stats() const = 0;
};

// The shard of a global batch of `global` rows this communicator's rank holds.
template <class Device>
BatchShard shard_of(const Communicator<Device>& comm, index_t global) {
    if (global < comm.size())
        throw ValueError("a global batch of " + std::to_string(global) + " clips over " + std::to_string(comm.size()) +
                         " ranks leaves a rank without a clip");
    return BatchShard{global, comm.rank(), comm.size()};
}

}  // namespace svilm
