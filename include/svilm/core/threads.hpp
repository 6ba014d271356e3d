// svilm/core/threads.hpp: the one thread-count setting for our OpenMP kernels and for BLAS.
//
// With OpenBLAS's OpenMP build (Debian's libopenblas0-openmp) both share one OpenMP pool, so a
// GEMM inside our parallel region runs on its caller's thread instead of oversubscribing.
// Default: the number of cores the process may run on (omp_get_num_procs).
#pragma once

#include <string>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "svilm/core/error.hpp"

#if defined(SVILM_HAVE_OPENBLAS)
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}
#endif

namespace svilm {

inline int default_num_threads() {
#if defined(_OPENMP)
    return omp_get_num_procs();
#else
    return 1;
#endif
}

// Sets the thread count of every parallel part of svilm. n >= 1, or 0 for the default.
inline void set_num_threads(int n) {
    if (n < 0) throw ValueError("set_num_threads: " + std::to_string(n) + " is negative");
    if (n == 0) n = default_num_threads();
#if defined(_OPENMP)
    omp_set_num_threads(n);
#endif
#if defined(SVILM_HAVE_OPENBLAS)
    openblas_set_num_threads(n);
#endif
}

inline int num_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

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
