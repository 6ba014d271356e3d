// svilm/distributed/mpi.hpp: data-parallel training over MPI on CPUs (target svilm::distributed,
// present when CMake finds MPI; Debian: libopenmpi-dev openmpi-bin).
//
//   int main(int argc, char** argv) {
//       svilm::dist::MpiSession mpi(argc, argv);                 // MPI_Init_thread / MPI_Finalize
//       return svilm::dist::run_or_abort([&] {
//           svilm::dist::MpiCommunicator world;                  // MPI_COMM_WORLD
//           svilm::train::Trainer<svilm::cpu> trainer(model, tokenizer, source, options, &nouns, &world);
//           trainer.run();
//       });
//   }
//   $ mpirun -np 4 ./train          # or: mpirun --hostfile hosts -np 16 ./train
//
// The gradient sum is an owner reduction with a fixed order: the buffer splits into one chunk per
// rank, each rank receives every rank's copy of its chunk (MPI_Alltoallv), adds them in rank order
// 0, 1, ..., N-1, and the sums are gathered back (MPI_Allgatherv). Every rank ends with the same
// bits, and a run repeats bit for bit; the traffic per rank is 2 (N-1)/N of the buffer, as a ring's.
// Sums started with start_all_reduce run on a worker thread while the caller computes (MPI at
// MPI_THREAD_SERIALIZED: a blocking collective first waits for that thread); where the program
// initialised MPI at a lower thread level, they run in finish_all_reduces on the caller's thread.
#pragma once

#include <mpi.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "svilm/core/communicator.hpp"

namespace svilm::dist {

// Whether this process was started by an MPI launcher (mpirun, mpiexec, srun with PMI/PMIx).
inline bool launched_by_mpi() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
        if (std::getenv(name)) return true;
    return false;
}

namespace detail {

// The first of the launchers' variables `names` that is set, as a whole number in [minimum,
// 1'000'000]; `fallback` when none is set. A value that is not such a number is an error naming it.
inline int launcher_number(std::initializer_list<const char*> names, int minimum, int fallback) {
    for (const char* name : names) {
        const char* value = std::getenv(name);
        if (!value) continue;
        char* end = nullptr;
        const long n = std::strtol(value, &end, 10);
        if (end == value || *end != '\0' || n < minimum || n > 1'000'000)
            throw DistributedError(std::string("the launcher's ") + name + "=\"" + value + "\" is not a count of ranks");
        return int(n);
    }
    return fallback;
}

}  // namespace detail

// How many ranks of the job run on this machine (the launcher's count; 1 when it gives none):
// they share its cores.
inline int ranks_on_this_machine() {
    return detail::launcher_number({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"}, 1, 1);
}

// This process's index among the ranks on its machine: Open MPI (OMPI_COMM_WORLD_LOCAL_RANK),
// MPICH and Intel MPI (MPI_LOCALRANKID), Slurm's srun (SLURM_LOCALID); 0 when none is set.
inline int local_rank() { return detail::launcher_number({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}, 0, 0); }

namespace detail {

inline std::string mpi_error_text(int code) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
    return std::string(text, std::size_t(length));
}

// MPI_COMM_WORLD's rank and size, read once (abort_job must not call MPI while a reduction thread
// may be inside a collective); {0, 1} before MPI is initialised.
struct WorldIdentity {
    int rank = 0, size = 1;
};
inline WorldIdentity world_identity() {
    static const WorldIdentity identity = [] {
        WorldIdentity id;
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (initialized) {
            MPI_Comm_rank(MPI_COMM_WORLD, &id.rank);
            MPI_Comm_size(MPI_COMM_WORLD, &id.size);
        }
        return id;
    }();
    return identity;
}

template <class T>
MPI_Datatype mpi_type();
template <>
inline MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
inline MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

}  // namespace detail

// Initialises MPI for the process's lifetime (thread level MPI_THREAD_SERIALIZED, which the
// overlapped gradient sums need) and finalises it at scope exit. One per process, in main.
class MpiSession {
public:
    MpiSession(int& argc, char**& argv) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (initialized) return;  // the program's own MPI_Init: it finalises too
        int provided = 0;
        const int status = MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
        if (status != MPI_SUCCESS) throw DistributedError("MPI_Init_thread: " + detail::mpi_error_text(status));
        owner_ = true;
        if (provided < MPI_THREAD_SERIALIZED) {
            MPI_Finalize();
            owner_ = false;
            throw DistributedError("this MPI library provides thread level " + std::to_string(provided) +
                                   ", svilm needs MPI_THREAD_SERIALIZED (" + std::to_string(MPI_THREAD_SERIALIZED) + ")");
        }
        detail::world_identity();
    }
    ~MpiSession() {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (owner_ && !finalized) MPI_Finalize();
    }
    MpiSession(const MpiSession&) = delete;
    MpiSession& operator=(const MpiSession&) = delete;

private:
    bool owner_ = false;
};

// Stops every rank of the job: prints "svilm: rank R of N: <message>" on stderr, then
// MPI_Abort, which ends every process of MPI_COMM_WORLD (no rank is left waiting in a
// collective). Checkpoints are written atomically, so none is left half-written.
[[noreturn]] inline void abort_job(const std::string& message, int exit_code = 1) {
    const detail::WorldIdentity world = detail::world_identity();
    std::fprintf(stderr, "svilm: rank %d of %d: %s; stopping every rank\n", world.rank, world.size, message.c_str());
    std::fflush(stderr);
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::exit(exit_code);
}

// Runs `work` and returns 0; an exception from it stops the whole job through abort_job, naming
// this rank and the error.
template <class Work>
int run_or_abort(Work&& work) {
    try {
        work();
        return 0;
    } catch (const std::exception& e) {
        abort_job(e.what());
    }
}

class MpiCommunicator : public Communicator<cpu> {
public:
    // A duplicate of `comm` (MPI_COMM_WORLD by default): svilm's collectives never match a
    // message of the program's own. Errors are returned, and thrown as DistributedError.
    explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD) {
        MPI_Comm_dup(comm, &comm_);  // under the parent's error handler (fatal by default)
        MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
        MPI_Comm_rank(comm_, &rank_);
        MPI_Comm_size(comm_, &size_);
        detail::world_identity();
        int level = MPI_THREAD_SINGLE;
        MPI_Query_thread(&level);
        threaded_ = level >= MPI_THREAD_SERIALIZED;
    }
    // While an exception unwinds (the job is about to stop), sums not yet started are dropped and
    // the communicator is not freed: freeing may wait for ranks that will never arrive.
    ~MpiCommunicator() override {
        const bool unwinding = std::uncaught_exceptions() > 0;
        stop_worker(unwinding);
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized && !unwinding) MPI_Comm_free(&comm_);
    }
    MpiCommunicator(const MpiCommunicator&) = delete;
    MpiCommunicator& operator=(const MpiCommunicator&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    std::string backend() const override { return "MPI"; }
    MPI_Comm handle() const { return comm_; }

    void all_gather(const Context<cpu>&, const float* local, float* global, std::span<const index_t> counts,
                    index_t row) override {
        gather_rows(local, global, counts, std::size_t(row) * sizeof(float));
    }
    void all_gather(const Context<cpu>&, const double* local, double* global, std::span<const index_t> counts,
                    index_t row) override {
        gather_rows(local, global, counts, std::size_t(row) * sizeof(double));
    }
    void all_gather_host(const void* local, void* global, std::span<const index_t> counts, std::size_t row_bytes) override {
        gather_rows(local, global, counts, row_bytes);
    }

    void all_to_all_host(const void* send, std::span<const index_t> send_counts, void* recv,
                         std::span<const index_t> recv_counts, std::size_t row_bytes) override {
        const char* op = "MPI_Alltoallv";
        check_counts(send_counts, op);
        check_counts(recv_counts, op);
        Blocking timer(*this);
        RowType type(row_bytes, op);
        const auto n_ranks = static_cast<std::size_t>(size_);
        std::vector<int> sc(n_ranks), sd(n_ranks), rc(n_ranks), rd(n_ranks);
        long long s = 0, r = 0;
        for (int q = 0; q < size_; ++q) {
            sc[std::size_t(q)] = int(send_counts[std::size_t(q)]);
            rc[std::size_t(q)] = int(recv_counts[std::size_t(q)]);
            sd[std::size_t(q)] = to_int(s, op);
            rd[std::size_t(q)] = to_int(r, op);
            s += sc[std::size_t(q)];
            r += rc[std::size_t(q)];
            if (q != rank_) add_bytes(std::uint64_t(sc[std::size_t(q)]) * row_bytes);
        }
        check(MPI_Alltoallv(send, sc.data(), sd.data(), type.type, recv, rc.data(), rd.data(), type.type, comm_), op);
    }

    void start_all_reduce(const Context<cpu>&, float* data, std::size_t n) override { enqueue(data, n); }
    void start_all_reduce(const Context<cpu>&, double* data, std::size_t n) override { enqueue(data, n); }
    void finish_all_reduces(const Context<cpu>&) override { drain(); }

    void barrier() override {
        Blocking timer(*this);
        check(MPI_Barrier(comm_), "MPI_Barrier");
    }

    void broadcast_string(std::string& bytes) override {
        Blocking timer(*this);
        long long length = (long long)bytes.size();
        check(MPI_Bcast(&length, 1, MPI_LONG_LONG, 0, comm_), "MPI_Bcast");
        bytes.resize(std::size_t(length));
        check(MPI_Bcast(bytes.data(), to_int(length, "MPI_Bcast"), MPI_CHAR, 0, comm_), "MPI_Bcast");
        if (rank_ == 0) add_bytes(std::uint64_t(length) * std::uint64_t(size_ - 1));
    }

    CommunicatorStats stats() const override {
        std::lock_guard lock(mutex_);
        return stats_;
    }

private:
    // A contiguous datatype of one row, so counts stay rows (MPI counts are int).
    struct RowType {
        MPI_Datatype type = MPI_DATATYPE_NULL;
        RowType(std::size_t bytes, const char* op) {
            if (bytes == 0 || bytes > std::size_t(INT_MAX)) throw DistributedError(std::string(op) + ": a row of " + std::to_string(bytes) + " bytes");
            MPI_Type_contiguous(int(bytes), MPI_BYTE, &type);
            MPI_Type_commit(&type);
        }
        ~RowType() { MPI_Type_free(&type); }
        RowType(const RowType&) = delete;
        RowType& operator=(const RowType&) = delete;
    };

    // Counts the caller's time in a blocking collective, after the pending sums are done.
    struct Blocking {
        MpiCommunicator& comm;
        std::chrono::steady_clock::time_point start;
        explicit Blocking(MpiCommunicator& c) : comm(c) {
            comm.drain();
            start = std::chrono::steady_clock::now();
        }
        ~Blocking() {
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::lock_guard lock(comm.mutex_);
            comm.stats_.seconds += s;
            ++comm.stats_.calls;
        }
    };

    struct Reduction {
        void* data;
        std::size_t n;
        void (MpiCommunicator::*run)(void*, std::size_t);
    };

    void check(int status, const char* op) const {
        if (status != MPI_SUCCESS)
            throw DistributedError(std::string(op) + " failed on rank " + std::to_string(rank_) + " of " +
                                   std::to_string(size_) + ": " + detail::mpi_error_text(status));
    }
    int to_int(long long v, const char* op) const {
        if (v > INT_MAX) throw DistributedError(std::string(op) + ": " + std::to_string(v) + " rows exceed MPI's int counts");
        return int(v);
    }
    void check_counts(std::span<const index_t> counts, const char* op) const {
        if (index_t(counts.size()) != size_)
            throw DistributedError(std::string(op) + ": " + std::to_string(counts.size()) + " counts for " +
                                   std::to_string(size_) + " ranks");
        for (index_t c : counts)
            if (c < 0 || c > INT_MAX) throw DistributedError(std::string(op) + ": a count of " + std::to_string(c));
    }
    void add_bytes(std::uint64_t bytes) {
        std::lock_guard lock(mutex_);
        stats_.bytes_sent += bytes;
    }

    void gather_rows(const void* local, void* global, std::span<const index_t> counts, std::size_t row_bytes) {
        const char* op = "MPI_Allgatherv";
        check_counts(counts, op);
        Blocking timer(*this);
        RowType type(row_bytes, op);
        const auto n_ranks = static_cast<std::size_t>(size_);
        std::vector<int> c(n_ranks), d(n_ranks);
        long long offset = 0;
        for (int q = 0; q < size_; ++q) {
            c[std::size_t(q)] = int(counts[std::size_t(q)]);
            d[std::size_t(q)] = to_int(offset, op);
            offset += c[std::size_t(q)];
        }
        add_bytes(std::uint64_t(c[std::size_t(rank_)]) * row_bytes * std::uint64_t(size_ - 1));
        check(MPI_Allgatherv(local, c[std::size_t(rank_)], type.type, global, c.data(), d.data(), type.type, comm_), op);
    }

    // The owner reduction of the header comment, on the calling thread.
    template <class T>
    void reduce_in_rank_order(void* buffer, std::size_t n) {
        if (size_ == 1 || n == 0) return;
        T* data = static_cast<T*>(buffer);
        const char* op = "all-reduce (MPI_Alltoallv + MPI_Allgatherv)";
        // pieces of at most 2^30 elements keep every count an int
        constexpr std::size_t piece = std::size_t(1) << 30;
        for (std::size_t at = 0; at < n; at += piece) {
            const BatchShard chunks{index_t(std::min(piece, n - at)), rank_, size_};
            T* base = data + at;
            const index_t mine = chunks.count(), my_begin = chunks.begin();
            std::vector<T>& received = scratch<T>();
            received.resize(std::size_t(mine) * std::size_t(size_));
            const auto n_ranks = static_cast<std::size_t>(size_);
            std::vector<int> sc(n_ranks), sd(n_ranks), rc(n_ranks, int(mine)), rd(n_ranks);
            for (int q = 0; q < size_; ++q) {
                sc[std::size_t(q)] = int(chunks.count(q));
                sd[std::size_t(q)] = int(chunks.begin(q));
                rd[std::size_t(q)] = int(mine * q);
            }
            check(MPI_Alltoallv(base, sc.data(), sd.data(), detail::mpi_type<T>(), received.data(), rc.data(), rd.data(),
                                detail::mpi_type<T>(), comm_),
                  op);
            for (index_t k = 0; k < mine; ++k) {
                T sum = received[std::size_t(k)];
                for (int q = 1; q < size_; ++q) sum += received[std::size_t(q * mine + k)];
                base[my_begin + k] = sum;
            }
            check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, base, sc.data(), sd.data(), detail::mpi_type<T>(), comm_),
                  op);
            add_bytes(2 * std::uint64_t(chunks.global - mine) * sizeof(T));
        }
    }
    template <class T>
    std::vector<T>& scratch() {
        if constexpr (std::is_same_v<T, float>) return scratch_float_;
        else return scratch_double_;
    }

    // The worker thread runs the started sums in the order they were started.
    template <class T>
    void enqueue(T* data, std::size_t n) {
        if (size_ == 1 || n == 0) return;
        {
            std::lock_guard lock(mutex_);
            if (threaded_ && !worker_.joinable()) worker_ = std::thread([this] { work(); });
            queue_.push_back({data, n, &MpiCommunicator::reduce_in_rank_order<T>});
        }
        wake_.notify_all();
    }

    void work() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, nothing left
            const Reduction r = queue_.front();
            const bool failed = failure_ != nullptr;  // after a failure the ranks no longer agree: skip
            lock.unlock();
            const auto start = std::chrono::steady_clock::now();
            std::exception_ptr error;
            if (!failed) try {
                    (this->*r.run)(r.data, r.n);
                } catch (...) {
                    error = std::current_exception();
                }
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            lock.lock();
            if (error && !failure_) failure_ = error;
            stats_.overlapped_seconds += s;
            ++stats_.calls;
            queue_.pop_front();
            done_.notify_all();
        }
    }

    // Waits for every started sum (or, without the worker, runs them); rethrows the first failure.
    void drain() {
        if (!threaded_) {
            const auto start = std::chrono::steady_clock::now();
            std::uint64_t calls = 0;
            while (!queue_.empty()) {
                const Reduction r = queue_.front();
                queue_.pop_front();
                ++calls;
                (this->*r.run)(r.data, r.n);
            }
            std::lock_guard lock(mutex_);
            stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            stats_.calls += calls;
            return;
        }
        std::unique_lock lock(mutex_);
        if (queue_.empty() && !failure_) return;
        const auto start = std::chrono::steady_clock::now();
        done_.wait(lock, [&] { return queue_.empty(); });
        stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (failure_) {
            std::exception_ptr e = failure_;
            failure_ = nullptr;
            std::rethrow_exception(e);
        }
    }

    void stop_worker(bool drop_pending) {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            // the sum in flight (the front) finishes: every rank started it; the others are dropped
            if (drop_pending && queue_.size() > 1) queue_.erase(queue_.begin() + 1, queue_.end());
            if (!threaded_ && drop_pending) queue_.clear();
        }
        wake_.notify_all();
        if (worker_.joinable()) worker_.join();
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0, size_ = 1;
    mutable std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::deque<Reduction> queue_;
    std::thread worker_;
    bool stopping_ = false;
    bool threaded_ = true;  // MPI_THREAD_SERIALIZED or above: sums on the worker thread
    std::exception_ptr failure_;
    CommunicatorStats stats_;
    std::vector<float> scratch_float_;
    std::vector<double> scratch_double_;
};

}  // namespace svilm::dist
