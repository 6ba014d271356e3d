// svilm/cuda/allocator.hpp: device memory for Tensor<T, Rank, cuda>, through a caching pool.
//
// cudaMalloc and cudaFree synchronise the device and cost tens of microseconds, so freed
// blocks are kept and handed out again: a training step allocates the same sizes every time.
// Sizes are rounded up (512 B below 1 MiB, 2 MiB above) so they repeat; a request takes the
// smallest cached block that fits with at most 25% to spare. When cudaMalloc fails, the cache is
// released and the allocation retried once; a second failure is a CudaError with the numbers.
//
// Contract: one stream per device (the Context<cuda>'s). A block freed by a tensor may be handed
// to the next allocation while kernels queued earlier on the same stream still read it, which is
// safe because the stream runs them in order; work on other streams must synchronise first.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "svilm/core/device.hpp"
#include "svilm/cuda/check.hpp"

namespace svilm::cuda_memory {

struct PoolStats {
    std::size_t in_use = 0;  // bytes held by live tensors
    std::size_t cached = 0;  // bytes freed and kept for reuse
    std::size_t peak = 0;    // the most bytes in use at once
    std::size_t device_allocations = 0;  // cudaMalloc calls so far
};

class Pool {
public:
    // The process-wide pool. Never destroyed, so tensors in static storage can still free into it.
    static Pool& instance() {
        static Pool* pool = new Pool;
        return *pool;
    }

    void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        const std::size_t size = rounded(bytes);
        std::lock_guard lock(mutex_);
        auto it = free_.lower_bound(size);
        if (it != free_.end() && it->first <= size + size / 4) {
            void* p = it->second;
            used_[p] = it->first;
            stats_.cached -= it->first;
            account(it->first);
            free_.erase(it);
            return p;
        }
        void* p = nullptr;
        if (cudaMalloc(&p, size) != cudaSuccess) {
            cudaGetLastError();  // clear the sticky-free error before retrying
            release_cached();
            const cudaError_t status = cudaMalloc(&p, size);
            if (status != cudaSuccess)
                throw CudaError("cuda allocation of " + std::to_string(size) + " bytes failed (" +
                                cudaGetErrorString(status) + "); in use " + std::to_string(stats_.in_use) + " bytes");
        }
        ++stats_.device_allocations;
        used_[p] = size;
        account(size);
        return p;
    }

    void deallocate(void* p) noexcept {
        if (!p) return;
        std::lock_guard lock(mutex_);
        const auto it = used_.find(p);
        if (it == used_.end()) return;  // not ours: nothing sensible to do in a destructor
        stats_.in_use -= it->second;
        stats_.cached += it->second;
        free_.emplace(it->second, p);
        used_.erase(it);
    }

    // Returns every cached block to the driver (e.g. before another library needs the memory).
    void empty_cache() {
        std::lock_guard lock(mutex_);
        release_cached();
    }

    // Restarts the peak at the bytes in use now (per-case peaks in benchmarks).
    void reset_peak() {
        std::lock_guard lock(mutex_);
        stats_.peak = stats_.in_use;
    }
    PoolStats stats() const {
        std::lock_guard lock(mutex_);
        return stats_;
    }

private:
    Pool() = default;

    static std::size_t rounded(std::size_t bytes) {
        constexpr std::size_t small = 512, large = std::size_t(2) << 20, threshold = std::size_t(1) << 20;
        const std::size_t unit = bytes < threshold ? small : large;
        return (bytes + unit - 1) / unit * unit;
    }
    void account(std::size_t size) {
        stats_.in_use += size;
        if (stats_.in_use > stats_.peak) stats_.peak = stats_.in_use;
    }
    void release_cached() {
        for (const auto& [size, p] : free_) cudaFree(p);
        free_.clear();
        stats_.cached = 0;
    }

    mutable std::mutex mutex_;
    std::multimap<std::size_t, void*> free_;       // size -> block
    std::unordered_map<void*, std::size_t> used_;  // block -> size
    PoolStats stats_;
};

}  // namespace svilm::cuda_memory

namespace svilm {

template <>
struct DeviceAllocator<cuda> {
    static void* allocate(std::size_t bytes) { return cuda_memory::Pool::instance().allocate(bytes); }
    static void deallocate(void* p) noexcept { cuda_memory::Pool::instance().deallocate(p); }
};

}  // namespace svilm
