// svilm/core/threads.hpp: the one thread-count setting for svilm's CPU kernels and GEMMs.
//
// svilm runs its parallel loops and splits its GEMMs on its own thread pool
// (svilm/core/parallel.hpp, which says why: threads that wait there sleep instead of spinning,
// so a busy machine does not slow svilm down by an order of magnitude). BLAS is called one
// thread per product tile: svilm sets OpenBLAS to one thread the first time it multiplies
// (svilm/ops/gemm.hpp), which also holds for a program's own OpenBLAS calls.
// Default: OMP_NUM_THREADS when set, else the number of cores the process may run on.
#pragma once

#include <string>

#include "svilm/core/error.hpp"
#include "svilm/core/parallel.hpp"

namespace svilm {

// The cores this process may run on (its CPU affinity).
inline int default_num_threads() { return detail::available_cores(); }

// Sets the thread count of every parallel part of svilm (its pool: the calling thread and n - 1
// workers). n >= 1, or 0 for default_num_threads(). Changes nothing in OpenMP's settings. Not
// meant to race with svilm work on other threads (it waits for a job in flight to finish).
inline void set_num_threads(int n) {
    if (n < 0) throw ValueError("set_num_threads: " + std::to_string(n) + " is negative");
    if (n == 0) n = default_num_threads();
    detail::set_pool_threads(n);
}

inline int num_threads() { return detail::pool_threads(); }

// Which BLAS this build links, chosen at configure time: "OpenBLAS" or "Eigen". The GEMM in
// use at run time is svilm::gemm_backend_description() (svilm/ops/gemm.hpp).
inline const char* blas_backend_name() {
#if defined(SVILM_HAVE_OPENBLAS)
    return "OpenBLAS";
#else
    return "Eigen";
#endif
}

}  // namespace svilm
