// svilm/core/parallel.hpp: svilm's own thread pool. Every parallel loop of svilm's CPU kernels
// and every GEMM large enough to split runs on it (svilm opens no OpenMP parallel region).
//
// Why not OpenMP. libgomp's idle threads spin before they sleep: about 3 ms (GOMP_SPINCOUNT
// 300000) by default, for ever with OMP_WAIT_POLICY=ACTIVE. A training step of the tiny model
// opens about 440 parallel regions (about 190 of svilm's, 250 of OpenBLAS's OpenMP build), and
// after each one the threads without work keep their cores busy. On a machine where another
// process also wants the cores, that spinning takes the CPU time the working threads need, and a
// thread the scheduler has set aside holds up every barrier: measured on 2 cores, the step went
// from about 0.1 s to 0.45 s next to one busy process and to 4.8 s next to two
// (benchmarks/under_load.sh; 5-6 s next to one when more ran). The wait policy is read once, when
// libgomp is loaded, before any code of a program (and so of this header-only library) runs:
// the library cannot change it, and a program's own setenv comes too late.
//
// So svilm waits differently, whatever the environment says:
// - A thread without work polls for a short time (50 us: it catches the next kernel of the same
//   step on an idle machine, where kernels follow each other within microseconds; 25 to 200 us
//   measured the same on the tiny step, 1000 us lost about 25% next to a busy process) and then
//   sleeps in the kernel (std::atomic::wait, a futex on Linux) until work arrives. A sleeping
//   thread costs no CPU time.
// - Work is split into more chunks than threads, and each thread claims the next chunk when it
//   is done with one, so a thread the scheduler runs less often simply does fewer chunks: no
//   barrier waits for a thread that is not running, and a job is complete when its chunks are,
//   whichever threads ran them. The calling thread works on its own job too.
// - A job started while another thread is using the pool, or from inside a chunk (nesting),
//   runs on the calling thread alone.
// - Nothing depends on which thread ran which chunk: every kernel computes each output element
//   in one fixed order whatever the thread count (tests/ops/behaviour.cpp and
//   tests/core/parallel.cpp check the bits).
//
// Inside a chunk, code that would open an OpenMP region (Eigen's product, OpenBLAS's OpenMP
// build) sees one OpenMP thread: the workers set their OpenMP thread count to 1, and the GEMM
// (svilm/ops/gemm.hpp) does the same on the calling thread around each product.
//
// SVILM_SPIN_US in the environment (read when the pool starts) overrides the polling time in
// microseconds; 0 sleeps at once. Nothing needs it: it is there for measurements.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__unix__)
#include <unistd.h>
#endif

#include "svilm/core/shape.hpp"

namespace svilm {
namespace detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

inline std::chrono::nanoseconds pool_spin_time() {
    const char* env = std::getenv("SVILM_SPIN_US");
    long us = 50;
    if (env && *env) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end && *end == '\0' && v >= 0) us = std::min(v, 1000000L);
    }
    return std::chrono::microseconds(us);
}

// Waits until `a` holds something other than `old` and returns it: polls for `spin`, then
// sleeps. `sleepers` counts the threads asleep on `a`; a writer stores with seq_cst, then
// notifies only when sleepers > 0 (see wake_sleepers), which saves a system call per job when
// nobody sleeps. Dekker's argument: the sleeper's increment and re-read and the writer's store
// and read of sleepers are all seq_cst, so either the writer sees the sleeper or the sleeper
// sees the new value.
template <class U>
U await_change(const std::atomic<U>& a, U old, std::atomic<int>& sleepers, std::chrono::nanoseconds spin) {
    U v = a.load(std::memory_order_acquire);
    if (v != old) return v;
    if (spin.count() > 0) {
        const auto start = std::chrono::steady_clock::now();
        for (unsigned i = 1;; ++i) {
            cpu_relax();
            v = a.load(std::memory_order_acquire);
            if (v != old) return v;
            if (i % 64 == 0 && std::chrono::steady_clock::now() - start >= spin) break;
        }
    }
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    while ((v = a.load(std::memory_order_seq_cst)) == old) a.wait(old, std::memory_order_seq_cst);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    return v;
}

template <class U>
void wake_sleepers(std::atomic<U>& a, const std::atomic<int>& sleepers) {
    if (sleepers.load(std::memory_order_seq_cst) > 0) a.notify_all();
}

// True on the pool's workers and on any thread inside a parallel_for body (run by the pool or
// serially): a parallel_for there runs serially (no nesting).
inline bool& in_parallel_region() {
    static thread_local bool inside = false;
    return inside;
}

// Marks this thread as inside a parallel loop while alive.
class ParallelRegionMark {
public:
    ParallelRegionMark() : was_(std::exchange(in_parallel_region(), true)) {}
    ~ParallelRegionMark() { in_parallel_region() = was_; }
    ParallelRegionMark(const ParallelRegionMark&) = delete;
    ParallelRegionMark& operator=(const ParallelRegionMark&) = delete;

private:
    bool was_;
};

// While alive, OpenMP regions opened by this thread get one thread (its own), so that Eigen's
// product or OpenBLAS's OpenMP build called from svilm do not start libgomp teams, whose idle
// threads would spin. Restores the thread's setting afterwards.
class SingleOpenMPThread {
public:
    SingleOpenMPThread() {
#if defined(_OPENMP)
        before_ = omp_get_max_threads();
        if (before_ != 1) omp_set_num_threads(1);
#endif
    }
    ~SingleOpenMPThread() {
#if defined(_OPENMP)
        if (before_ != 1) omp_set_num_threads(before_);
#endif
    }
    SingleOpenMPThread(const SingleOpenMPThread&) = delete;
    SingleOpenMPThread& operator=(const SingleOpenMPThread&) = delete;

private:
    int before_ = 1;
};

// `threads` participants: the thread that calls run() and threads - 1 workers.
class ThreadPool {
public:
    using ChunkFn = void (*)(void* context, index_t chunk);
    static constexpr index_t max_chunks = 0xFFFF;

    explicit ThreadPool(int threads) : threads_(std::max(1, threads)), spin_(pool_spin_time()) {
#if defined(__unix__)
        pid_ = ::getpid();
#endif
        workers_.reserve(std::size_t(threads_ - 1));
        for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
    }

    ~ThreadPool() {
        stop_.store(true, std::memory_order_seq_cst);
        job_.fetch_add(1, std::memory_order_seq_cst);
        job_.notify_all();
        for (std::thread& w : workers_) w.join();
    }

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int threads() const noexcept { return threads_; }
    bool created_in_this_process() const noexcept {
#if defined(__unix__)
        return pid_ == ::getpid();
#else
        return true;
#endif
    }

    // Runs fn(context, c) for every c in [0, chunks) on this thread and the workers; returns when
    // all have run and rethrows the first exception one of them threw (the chunks not started by
    // then are skipped). One caller at a time (the owner serialises).
    void run(index_t chunks, ChunkFn fn, void* context) {
        if (chunks <= 0) return;
        if (chunks > max_chunks) chunks = max_chunks;  // callers never ask for this many
        fn_ = fn;
        context_ = context;
        error_ = nullptr;
        failed_.store(false, std::memory_order_relaxed);
        done_.store(0, std::memory_order_relaxed);
        const std::uint32_t job = ++jobs_posted_;
        claim_.store(pack(job, 0, std::uint32_t(chunks)), std::memory_order_release);
        job_.store(job, std::memory_order_seq_cst);
        wake_sleepers(job_, worker_sleepers_);
        {
            ParallelRegionMark mark;
            work_on(job);
        }
        for (std::uint32_t d = done_.load(std::memory_order_acquire); d != std::uint32_t(chunks);)
            d = await_change(done_, d, caller_sleepers_, spin_);
        if (error_) std::rethrow_exception(error_);
    }

private:
    // claim_: job (32 bits) | next chunk (16) | chunk count (16). A chunk is claimed by a
    // compare-exchange that also checks the job, so a worker that wakes late, after its job is
    // complete and the next one posted, can never run a chunk of a job it did not read.
    static std::uint64_t pack(std::uint32_t job, std::uint32_t next, std::uint32_t count) {
        return (std::uint64_t(job) << 32) | (std::uint64_t(next) << 16) | std::uint64_t(count);
    }

    void work_on(std::uint32_t job) {
        for (;;) {
            std::uint64_t c = claim_.load(std::memory_order_relaxed);
            std::uint32_t chunk = 0, count = 0;
            for (;;) {
                if (std::uint32_t(c >> 32) != job) return;
                chunk = std::uint32_t(c >> 16) & 0xFFFF;
                count = std::uint32_t(c) & 0xFFFF;
                if (chunk >= count) return;
                // acquire: the job's fn_ and context_, written before claim_ was stored
                if (claim_.compare_exchange_weak(c, c + (std::uint64_t(1) << 16), std::memory_order_acquire,
                                                 std::memory_order_relaxed))
                    break;
            }
            // The job cannot complete (and fn_ cannot change) before this chunk is counted.
            if (!failed_.load(std::memory_order_relaxed)) {
                try {
                    fn_(context_, index_t(chunk));
                } catch (...) {
                    std::lock_guard<std::mutex> lock(error_mutex_);
                    if (!error_) error_ = std::current_exception();
                    failed_.store(true, std::memory_order_relaxed);
                }
            }
            if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == count) wake_sleepers(done_, caller_sleepers_);
        }
    }

    void worker_loop() {
#if defined(_OPENMP)
        omp_set_num_threads(1);  // see SingleOpenMPThread
#endif
        in_parallel_region() = true;
        std::uint32_t seen = 0;
        for (;;) {
            seen = await_change(job_, seen, worker_sleepers_, spin_);
            if (stop_.load(std::memory_order_acquire)) return;
            work_on(seen);
        }
    }

    const int threads_;
    const std::chrono::nanoseconds spin_;
    std::vector<std::thread> workers_;
#if defined(__unix__)
    pid_t pid_ = 0;
#endif
    std::uint32_t jobs_posted_ = 0;  // the owner's count; job_ publishes it
    ChunkFn fn_ = nullptr;
    void* context_ = nullptr;
    std::exception_ptr error_;
    std::mutex error_mutex_;
    std::atomic<bool> failed_{false};
    std::atomic<bool> stop_{false};
    alignas(64) std::atomic<std::uint32_t> job_{0};
    std::atomic<int> worker_sleepers_{0};
    alignas(64) std::atomic<std::uint64_t> claim_{0};
    alignas(64) std::atomic<std::uint32_t> done_{0};
    std::atomic<int> caller_sleepers_{0};
};

// The cores this process may run on.
inline int available_cores() {
#if defined(_OPENMP)
    return omp_get_num_procs();
#else
    return int(std::max(1u, std::thread::hardware_concurrency()));
#endif
}

// The process-wide pool, created on first use with the thread count set by set_num_threads, or
// else OpenMP's default (OMP_NUM_THREADS when set, otherwise all available cores). Never
// destroyed: its workers sleep through the program's exit, and static destructors of other
// objects may still use svilm.
struct PoolOwner {
    std::mutex mutex;  // held by the thread running a job, and while the pool changes
    std::unique_ptr<ThreadPool> pool;
    std::atomic<int> threads{0};  // 0: not set yet; read without the lock (from inside a job too)
};

inline PoolOwner& pool_owner() {
    static PoolOwner* owner = new PoolOwner;
    return *owner;
}

inline int initial_num_threads() {
#if defined(_OPENMP)
    return std::max(1, omp_get_max_threads());
#else
    return available_cores();
#endif
}

inline int pool_threads() {
    PoolOwner& owner = pool_owner();
    int n = owner.threads.load(std::memory_order_acquire);
    if (n == 0) {
        const int initial = initial_num_threads();
        owner.threads.compare_exchange_strong(n, initial, std::memory_order_acq_rel);
        n = owner.threads.load(std::memory_order_acquire);
    }
    return n;
}

// Sets the thread count (n >= 1); the pool is rebuilt at its next use. Waits for a job in flight
// on another thread.
inline void set_pool_threads(int n) {
    PoolOwner& owner = pool_owner();
    std::lock_guard<std::mutex> lock(owner.mutex);
    owner.threads.store(n, std::memory_order_release);
    if (owner.pool && owner.pool->threads() == n) return;
    if (owner.pool && !owner.pool->created_in_this_process())
        (void)owner.pool.release();  // forked child: the workers were the parent's; never join them
    owner.pool.reset();
}

// Chunk c of `chunks` over [0, n): [c n / chunks, (c + 1) n / chunks).
inline index_t chunk_begin(index_t n, index_t chunks, index_t c) {
    return index_t(std::uint64_t(n) * std::uint64_t(c) / std::uint64_t(chunks));  // n < 2^47, chunks < 2^16
}

template <class Body>
struct RangeJob {
    Body* body;
    index_t n, chunks;
    static void call(void* self, index_t c) {
        auto* job = static_cast<RangeJob*>(self);
        (*job->body)(chunk_begin(job->n, job->chunks, c), chunk_begin(job->n, job->chunks, c + 1));
    }
};

}  // namespace detail

// Calls body(begin, end) on disjoint ranges that cover [0, n), in parallel on svilm's threads
// when `parallel` is true (the work is worth it) and the pool is free, else as body(0, n) on this
// thread. Ranges: up to chunks_per_thread per thread, claimed dynamically (see above); body must
// give the same result for any split (write disjoint outputs, reduce in a fixed order).
template <class Body>
void parallel_for_ranges(index_t n, Body&& body, bool parallel = true, index_t chunks_per_thread = 4) {
    if (n <= 0) return;
    if (parallel && n > 1 && !detail::in_parallel_region()) {
        detail::PoolOwner& owner = detail::pool_owner();
        std::unique_lock<std::mutex> lock(owner.mutex, std::try_to_lock);
        if (lock.owns_lock()) {
            const int threads = detail::pool_threads();
            if (threads > 1) {
                if (!owner.pool || owner.pool->threads() != threads) {
                    if (owner.pool && !owner.pool->created_in_this_process()) (void)owner.pool.release();
                    owner.pool = std::make_unique<detail::ThreadPool>(threads);
                }
                const index_t chunks =
                    std::min<index_t>({n, index_t(threads) * std::max<index_t>(1, chunks_per_thread),
                                       detail::ThreadPool::max_chunks});
                using B = std::remove_reference_t<Body>;
                detail::RangeJob<B> job{&body, n, chunks};
                owner.pool->run(chunks, &detail::RangeJob<B>::call, &job);
                return;
            }
        }
    }
    // Serially, still marked as inside a parallel loop: what the body does (e.g. how a GEMM
    // inside it is split, svilm/ops/gemm.hpp) must not depend on whether the pool ran it.
    detail::ParallelRegionMark mark;
    body(index_t(0), n);
}

// Calls body(i) for every i in [0, n); see parallel_for_ranges.
template <class Body>
void parallel_for(index_t n, Body&& body, bool parallel = true, index_t chunks_per_thread = 4) {
    parallel_for_ranges(
        n,
        [&body](index_t begin, index_t end) {
            for (index_t i = begin; i < end; ++i) body(i);
        },
        parallel, chunks_per_thread);
}

}  // namespace svilm
