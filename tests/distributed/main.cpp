// The doctest runner of the data-parallel tests, started by mpirun with 1, 2 and 3 ranks (ctest).
// Every rank runs every case (the cases call collectives together); rank 0 reports in full, the
// others only their failures, and the job fails when any rank does.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "svilm/core/threads.hpp"
#include "svilm/distributed/mpi.hpp"

// LeakSanitizer (CI's sanitizer build): Open MPI keeps its runtime's allocations until exit.
extern "C" const char* __lsan_default_suppressions() {
    return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libpmix.so\nleak:libhwloc.so\nleak:libevent\n";
}

int main(int argc, char** argv) {
    svilm::dist::MpiSession mpi(argc, argv);
    // several ranks share this machine's cores: one thread each keeps them from fighting
    svilm::set_num_threads(1);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    doctest::Context context(argc, argv);
    if (rank != 0) context.setOption("minimal", true);
    int result = context.run();
    MPI_Allreduce(MPI_IN_PLACE, &result, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return result;
}
