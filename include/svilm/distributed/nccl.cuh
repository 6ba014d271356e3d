// svilm/distributed/nccl.cuh: data-parallel training over NCCL on CUDA GPUs, one GPU per MPI rank;
// NCCL's communicator is bootstrapped through MPI (svilm/distributed/mpi.hpp). nvcc compiles it
// (NCCL 2.14 or later: nccl.h and libnccl, from NVIDIA's libnccl-dev package or beside the CUDA
// toolkit in /usr/local/cuda).
//
//   int main(int argc, char** argv) {
//       svilm::dist::MpiSession mpi(argc, argv);
//       return svilm::dist::run_or_abort([&] {
//           svilm::dist::MpiCommunicator host;                                    // MPI_COMM_WORLD
//           svilm::Context<svilm::cuda> ctx(svilm::dist::device_for_local_rank()); // one GPU per rank
//           svilm::dist::NcclCommunicator world(host, ctx);                       // NCCL on ctx's GPU
//           // ... the model on ctx ...
//           svilm::train::Trainer<svilm::cuda> trainer(model, tokenizer, source, options, &nouns, &world);
//           trainer.run();
//       });
//   }
//   $ mpirun -np 8 ./train          # one node of 8 GPUs; or: mpirun --hostfile hosts -np 16 ./train
//
// Why NCCL and not MPI on device memory: NCCL moves the data GPU to GPU (NVLink, PCIe peer to peer,
// GPUDirect RDMA) with kernels queued on CUDA streams, so a gradient sum is ordered after the
// backward kernels that produce it without the host waiting for them, and runs while later kernels
// compute. MPI carries what lives on the host (the bootstrap, barriers, the batch's masks, and the
// raw clips a rank needs as cut-and-paste backgrounds): every host-memory call forwards to the
// MpiCommunicator.
//
// Streams. all_gather is queued on ctx's stream. The sums of start_all_reduce run on this
// communicator's own stream: it first waits (a CUDA event, not the host) for the work queued on
// ctx so far, and finish_all_reduces makes ctx's stream wait for them in turn, so ctx's later
// kernels see the sums; no call here waits on the host for the GPU. NCCL runs the operations of
// one communicator one after another, in the order they were queued, whatever their streams
// (NCCL's maintainers, github.com/NVIDIA/nccl/issues/574).
//
// Bits. An NCCL all-reduce finishes each element's sum once and passes it on unchanged, so every
// rank ends with the same bits (NCCL's maintainers, issues/855 and 1497). That a second run
// repeats the first is not something NCCL's documentation promises: for each call NCCL picks the
// algorithm (ring, tree, NVLS, CollNet), the protocol and the number of channels from the buffer's
// size, the topology it found at initialisation and its NCCL_* settings (issues/754), so the order
// of the additions can only be expected to repeat when all of those do: the same sizes, machines,
// rank to GPU mapping, NCCL version and environment. NVLS (the in-switch reduction of NVSwitch
// systems such as HGX H100/H200) is known to differ from call to call (issues/1497): a job that
// needs runs to repeat bit for bit turns it off (NCCL_NVLS_ENABLE=0, or NCCL_ALGO=Ring). The bits
// may differ from the MPI backend's rank-order owner reduction, and from a run on another number
// of ranks.
//
// One thread uses a communicator at a time (NCCL's communicators are not thread-safe).
#pragma once

#include <nccl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "svilm/cuda/check.hpp"
#include "svilm/cuda/context.hpp"
#include "svilm/distributed/mpi.hpp"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 14, 0)
#error "svilm/distributed/nccl.cuh needs NCCL 2.14 or later (ncclConfig_t's blocking attribute)"
#endif

namespace svilm::dist {

// The CUDA device this rank should use: local_rank() modulo the devices it sees, so the ranks of a
// node take one GPU each (with CUDA_VISIBLE_DEVICES narrowed per rank by the launcher, device 0).
// NCCL refuses two ranks of one communicator on the same GPU: start at most as many ranks per node
// as it has GPUs.
inline int device_for_local_rank() {
    const int devices = Context<cuda>::device_count();
    if (devices == 0)
        throw DistributedError("rank " + std::to_string(detail::world_identity().rank) + " has no CUDA device (" +
                               Context<cuda>::unavailable_reason() + ")");
    return local_rank() % devices;
}

namespace detail {

inline std::string nccl_failure(const char* call, ncclResult_t status, int rank, int size) {
    std::string message = std::string(call) + " failed on rank " + std::to_string(rank) + " of " +
                          std::to_string(size) + ": " + ncclGetErrorString(status);
    // NCCL's own account of the failure (it may name the peer or the CUDA error); empty when none.
    const char* last = ncclGetLastError(nullptr);
    if (last && *last) message += " (" + std::string(last) + ")";
    return message;
}

template <class T>
ncclDataType_t nccl_type();
template <>
inline ncclDataType_t nccl_type<float>() { return ncclFloat32; }
template <>
inline ncclDataType_t nccl_type<double>() { return ncclFloat64; }

}  // namespace detail

class NcclCommunicator : public Communicator<cuda> {
public:
    // Collective over `host`'s ranks: every rank constructs one, with ctx on its own GPU. host and
    // the GPU memory the calls are given must outlive it; ctx's device becomes the current one.
    NcclCommunicator(MpiCommunicator& host, const Context<cuda>& ctx) : host_(host), device_(ctx.device()) {
        // Each rank first prepares what is local (device, stream, events; rank 0 the NCCL id),
        // then every rank learns whether every other one succeeded, so a failure stops all ranks
        // here with an error instead of leaving the others waiting in NCCL's initialisation.
        std::string failure;
        ncclUniqueId id{};
        try {
            SVILM_CUDA_CHECK(cudaSetDevice(device_));
            SVILM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
            SVILM_CUDA_CHECK(cudaEventCreateWithFlags(&queued_, cudaEventDisableTiming));
            SVILM_CUDA_CHECK(cudaEventCreateWithFlags(&summed_, cudaEventDisableTiming));
            if (rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        } catch (const std::exception& e) {
            failure = e.what();
        }
        try {
            std::vector<char> ok(static_cast<std::size_t>(size()));
            const char mine = failure.empty() ? 1 : 0;
            const std::vector<index_t> ones(static_cast<std::size_t>(size()), index_t(1));
            host_.all_gather_host(&mine, ok.data(), ones, 1);
            std::string failed;
            for (int r = 0; r < size(); ++r)
                if (!ok[std::size_t(r)]) failed += (failed.empty() ? "" : ", ") + std::to_string(r);
            if (!failure.empty())
                throw DistributedError("NcclCommunicator: setting up rank " + std::to_string(rank()) + " of " +
                                       std::to_string(size()) + " on CUDA device " + std::to_string(device_) +
                                       " failed: " + failure);
            if (!failed.empty())
                throw DistributedError("NcclCommunicator: rank " + std::to_string(rank()) + " stops: setting up rank(s) " +
                                       failed + " failed");

            std::string bytes(reinterpret_cast<const char*>(&id), sizeof id);
            host_.broadcast_string(bytes);
            if (bytes.size() != sizeof id)
                throw DistributedError("NcclCommunicator: rank " + std::to_string(rank()) + " received an NCCL id of " +
                                       std::to_string(bytes.size()) + " bytes, not " + std::to_string(sizeof id));
            std::memcpy(&id, bytes.data(), sizeof id);
            // blocking whatever NCCL_COMM_BLOCKING says: every call returns once its work is queued
            ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
            config.blocking = 1;
            check(ncclCommInitRankConfig(&comm_, size(), id, rank(), &config), "ncclCommInitRankConfig");
        } catch (...) {
            release(true);
            throw;
        }
        uncaught_at_construction_ = std::uncaught_exceptions();
    }

    // Every rank destroys its communicator (ncclCommDestroy finishes the queued operations, and
    // NCCL expects the ranks of a node to call it together). While an exception unwinds the stack,
    // or after NCCL reported an asynchronous error, the communicator is aborted instead: a rank
    // that failed must not wait for peers that will never queue their half of an operation.
    ~NcclCommunicator() override { release(std::uncaught_exceptions() > uncaught_at_construction_ || async_failed()); }
    NcclCommunicator(const NcclCommunicator&) = delete;
    NcclCommunicator& operator=(const NcclCommunicator&) = delete;

    int rank() const override { return host_.rank(); }
    int size() const override { return host_.size(); }
    std::string backend() const override { return "NCCL"; }
    ncclComm_t handle() const { return comm_; }
    // The stream the sums of start_all_reduce run on.
    cudaStream_t reduction_stream() const { return stream_; }
    int device() const { return device_; }

    // One ncclBroadcast per rank r, from r's `local` to its rows of `global`, grouped into one
    // launch on ctx's stream; returns once queued (ctx's later work sees `global`).
    void all_gather(const Context<cuda>& ctx, const float* local, float* global, std::span<const index_t> counts,
                    index_t row) override {
        gather_rows(ctx, local, global, counts, row);
    }
    void all_gather(const Context<cuda>& ctx, const double* local, double* global, std::span<const index_t> counts,
                    index_t row) override {
        gather_rows(ctx, local, global, counts, row);
    }

    // Host memory: the MpiCommunicator's collectives.
    void all_gather_host(const void* local, void* global, std::span<const index_t> counts, std::size_t row_bytes) override {
        on_host([&] { host_.all_gather_host(local, global, counts, row_bytes); });
    }
    void all_to_all_host(const void* send, std::span<const index_t> send_counts, void* recv,
                         std::span<const index_t> recv_counts, std::size_t row_bytes) override {
        on_host([&] { host_.all_to_all_host(send, send_counts, recv, recv_counts, row_bytes); });
    }
    void barrier() override {
        on_host([&] { host_.barrier(); });
    }
    void broadcast_string(std::string& bytes) override {
        on_host([&] { host_.broadcast_string(bytes); });
    }

    // ncclAllReduce (sum, in place) on the communicator's stream, after the work queued on ctx.
    void start_all_reduce(const Context<cuda>& ctx, float* data, std::size_t n) override { reduce(ctx, data, n); }
    void start_all_reduce(const Context<cuda>& ctx, double* data, std::size_t n) override { reduce(ctx, data, n); }

    // Orders ctx's later work after every sum started; the host does not wait. An error NCCL
    // found meanwhile (a peer lost, a failed kernel) is thrown here.
    void finish_all_reduces(const Context<cuda>& ctx) override {
        Timed timer(*this, false);
        check_device(ctx, "finish_all_reduces");
        if (pending_) {
            SVILM_CUDA_CHECK(cudaEventRecord(summed_, stream_));
            SVILM_CUDA_CHECK(cudaStreamWaitEvent(ctx.stream(), summed_, 0));
            pending_ = false;
        }
        check_async("finish_all_reduces");
    }

    // seconds: host time inside this communicator's calls, since construction. The host-memory
    // calls block until every rank arrives; the device-memory ones (all_gather, the reductions)
    // only queue work on streams, so they count the time to queue it (NCCL connects to its peers
    // on first use, which can take a while), not the GPU time, which the host never waits for.
    // overlapped_seconds stays 0: the sums run on their own stream and are not timed here (an
    // Nsight Systems trace shows them). bytes_sent counts 2 (N-1)/N of each summed buffer (a ring
    // all-reduce's traffic per rank), this rank's rows times N - 1 for a gather, and the host
    // calls' bytes as the MpiCommunicator counts them. calls: every collective started.
    CommunicatorStats stats() const override { return stats_; }

private:
    // Adds a call's host time (and, for `counted`, one call) to the statistics, also on throw.
    struct Timed {
        NcclCommunicator& comm;
        bool counted;
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        Timed(NcclCommunicator& c, bool count) : comm(c), counted(count) {}
        ~Timed() {
            comm.stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (counted) ++comm.stats_.calls;
        }
        Timed(const Timed&) = delete;
        Timed& operator=(const Timed&) = delete;
    };

    void check(ncclResult_t status, const char* call) const {
        if (status != ncclSuccess)
            throw DistributedError(detail::nccl_failure(call, status, rank(), size()));
    }
    std::string where() const { return " on rank " + std::to_string(rank()) + " of " + std::to_string(size()); }
    void check_device(const Context<cuda>& ctx, const char* op) const {
        if (ctx.device() != device_)
            throw DistributedError(std::string(op) + where() + ": the context is on CUDA device " +
                                   std::to_string(ctx.device()) + ", the communicator on device " + std::to_string(device_));
    }
    // An asynchronous NCCL error (a peer that died, a failed NCCL kernel) since the last check.
    bool async_failed() const noexcept {
        if (!comm_) return false;
        ncclResult_t status = ncclSuccess;
        return ncclCommGetAsyncError(comm_, &status) != ncclSuccess || (status != ncclSuccess && status != ncclInProgress);
    }
    void check_async(const char* op) const {
        ncclResult_t status = ncclSuccess;
        check(ncclCommGetAsyncError(comm_, &status), "ncclCommGetAsyncError");
        check(status, op);
    }

    template <class Call>
    void on_host(Call&& call) {
        Timed timer(*this, true);
        const std::uint64_t before = host_.stats().bytes_sent;
        call();
        // the host communicator's count also takes in its own reductions, if any finished meanwhile
        stats_.bytes_sent += host_.stats().bytes_sent - before;
    }

    template <class T>
    void gather_rows(const Context<cuda>& ctx, const T* local, T* global, std::span<const index_t> counts, index_t row) {
        const char* op = "all_gather (ncclBroadcast)";
        check_device(ctx, op);
        if (index_t(counts.size()) != size())
            throw DistributedError(std::string(op) + where() + ": " + std::to_string(counts.size()) + " counts for " +
                                   std::to_string(size()) + " ranks");
        for (index_t c : counts)
            if (c < 0) throw DistributedError(std::string(op) + where() + ": a count of " + std::to_string(c));
        if (row < 1) throw DistributedError(std::string(op) + where() + ": rows of " + std::to_string(row) + " elements");
        const std::size_t row_elements = std::size_t(row);
        Timed timer(*this, true);
        check(ncclGroupStart(), "ncclGroupStart");
        std::size_t offset = 0;  // rows
        ncclResult_t status = ncclSuccess;
        for (int r = 0; r < size(); ++r) {
            const std::size_t rows = std::size_t(counts[std::size_t(r)]);
            // every rank skips the same empty shards: the counts are the same on every rank
            if (rows > 0 && status == ncclSuccess)
                status = ncclBroadcast(local, global + offset * row_elements, rows * row_elements, detail::nccl_type<T>(), r,
                                       comm_, ctx.stream());
            offset += rows;
        }
        const ncclResult_t ended = ncclGroupEnd();  // always closes the group, also after a failed call
        check(status, "ncclBroadcast");
        check(ended, "ncclGroupEnd");
        stats_.bytes_sent +=
            std::uint64_t(counts[std::size_t(rank())]) * row_elements * sizeof(T) * std::uint64_t(size() - 1);
    }

    template <class T>
    void reduce(const Context<cuda>& ctx, T* data, std::size_t n) {
        const char* op = "ncclAllReduce";
        check_device(ctx, op);
        if (size() == 1 || n == 0) return;  // nothing to sum, as on every other rank
        Timed timer(*this, true);
        SVILM_CUDA_CHECK(cudaEventRecord(queued_, ctx.stream()));
        SVILM_CUDA_CHECK(cudaStreamWaitEvent(stream_, queued_, 0));
        check(ncclAllReduce(data, data, n, detail::nccl_type<T>(), ncclSum, comm_, stream_), op);
        pending_ = true;
        const std::uint64_t bytes = std::uint64_t(n) * sizeof(T);
        stats_.bytes_sent += 2 * bytes * std::uint64_t(size() - 1) / std::uint64_t(size());
    }

    void release(bool abort) noexcept {
        if (comm_ && abort) ncclCommAbort(comm_);
        else if (comm_) ncclCommDestroy(comm_);
        if (summed_) cudaEventDestroy(summed_);
        if (queued_) cudaEventDestroy(queued_);
        if (stream_) cudaStreamDestroy(stream_);
        comm_ = nullptr;
        summed_ = queued_ = nullptr;
        stream_ = nullptr;
    }

    MpiCommunicator& host_;
    int device_ = 0;
    ncclComm_t comm_ = nullptr;
    cudaStream_t stream_ = nullptr;
    cudaEvent_t queued_ = nullptr;  // recorded on ctx's stream: the reductions wait for it
    cudaEvent_t summed_ = nullptr;  // recorded on stream_: ctx's stream waits for it
    bool pending_ = false;          // sums started since the last finish_all_reduces
    int uncaught_at_construction_ = 0;
    CommunicatorStats stats_;
};

}  // namespace svilm::dist
