// svilm/core/profile.hpp: where the time of a forward or a training step goes, op by op, on the
// CPU.
//
//   svilm::profile::enable();            // or SVILM_PROFILE=1 in the environment
//   model.forward_video(...);
//   std::cout << svilm::profile::table(); // op, calls, total ms, share, mean ms
//
// Every CPU op opens a profile::Scope named after itself. Only the outermost scope on the
// calling thread is recorded, and none inside a parallel loop, so a product that attention
// calls is counted as attention, and the shares add up to the time spent in ops. Time outside
// any op (module glue, allocations) is what a caller's own wall clock shows beyond the total.
// Disabled (the default), a Scope costs one relaxed atomic load.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "svilm/core/parallel.hpp"

namespace svilm::profile {

struct Entry {
    std::string op;
    long long calls = 0;
    double seconds = 0;
};

namespace detail {

struct Registry {
    std::mutex mutex;
    std::map<std::string, Entry> entries;
};

inline Registry& registry() {
    static Registry r;
    return r;
}

inline std::atomic<bool>& enabled_flag() {
    static std::atomic<bool> flag = [] {
        const char* v = std::getenv("SVILM_PROFILE");
        return v && *v && std::strcmp(v, "0") != 0;
    }();
    return flag;
}

inline int& depth() {
    static thread_local int d = 0;
    return d;
}

}  // namespace detail

inline void enable(bool on = true) { detail::enabled_flag().store(on, std::memory_order_relaxed); }
inline bool enabled() { return detail::enabled_flag().load(std::memory_order_relaxed); }

inline void reset() {
    auto& r = detail::registry();
    const std::lock_guard lock(r.mutex);
    r.entries.clear();
}

// The recorded ops, most time first.
inline std::vector<Entry> entries() {
    auto& r = detail::registry();
    std::vector<Entry> out;
    {
        const std::lock_guard lock(r.mutex);
        for (const auto& [name, e] : r.entries) out.push_back(e);
    }
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
    return out;
}

// A markdown table of entries(): op, calls, ms, share of the ops' total, ms per call; calls and
// ms divided by `runs` (e.g. the iterations of a benchmark, for per-iteration figures).
inline std::string table(double runs = 1) {
    const auto rows = entries();
    double total = 0;
    for (const auto& e : rows) total += e.seconds;
    std::string out = "| op | calls | ms | share | ms/call |\n|---|---:|---:|---:|---:|\n";
    char line[256];
    for (const auto& e : rows) {
        std::snprintf(line, sizeof line, "| %s | %.0f | %.1f | %.1f%% | %.3f |\n", e.op.c_str(), double(e.calls) / runs,
                      e.seconds * 1e3 / runs,
                      total > 0 ? 100.0 * e.seconds / total : 0.0, e.calls ? e.seconds * 1e3 / double(e.calls) : 0.0);
        out += line;
    }
    std::snprintf(line, sizeof line, "| all ops | | %.1f | 100%% | |\n", total * 1e3 / runs);
    return out + line;
}

// Times its lifetime under `op` when profiling is on, this is the thread's outermost scope and
// the thread is not inside a parallel loop. `op` must outlive the scope (a literal, __func__).
class Scope {
public:
    explicit Scope(const char* op) {
        if (!enabled() || svilm::detail::in_parallel_region()) return;
        counted_ = true;
        if (detail::depth()++ != 0) return;
        op_ = op;
        start_ = std::chrono::steady_clock::now();
    }
    ~Scope() {
        if (!counted_) return;
        --detail::depth();
        if (op_ == nullptr) return;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        auto& r = detail::registry();
        const std::lock_guard lock(r.mutex);
        Entry& e = r.entries[op_];
        e.op = op_;
        ++e.calls;
        e.seconds += s;
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    const char* op_ = nullptr;
    bool counted_ = false;  // this scope raised the thread's depth and lowers it again
    std::chrono::steady_clock::time_point start_{};
};

}  // namespace svilm::profile
