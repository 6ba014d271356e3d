# Defines the imported target svilm::openblas when OpenBLAS is found.
#
# Debian ships OpenBLAS in three builds behind alternatives. svilm runs OpenBLAS on one thread
# per call and splits products over its own pool (svilm/ops/gemm.hpp), so any of them works (the
# pthread build measured as fast as the OpenMP one); the OpenMP build (libopenblas-openmp-dev) is
# still looked for first. Used by svilm's own CMakeLists.txt and by the installed svilmConfig.cmake.
if(TARGET svilm::openblas)
    return()
endif()

set(_svilm_openblas_hints "")
if(CMAKE_LIBRARY_ARCHITECTURE)
    list(APPEND _svilm_openblas_hints "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp/cmake/openblas")
endif()
find_package(OpenBLAS CONFIG QUIET PATHS ${_svilm_openblas_hints} NO_DEFAULT_PATH)
if(NOT OpenBLAS_FOUND)
    find_package(OpenBLAS CONFIG QUIET)
endif()

if(OpenBLAS_FOUND AND OpenBLAS_LIBRARIES AND EXISTS "${OpenBLAS_INCLUDE_DIRS}/cblas.h")
    add_library(svilm::openblas INTERFACE IMPORTED)
    set_target_properties(svilm::openblas PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${OpenBLAS_INCLUDE_DIRS}"
        INTERFACE_LINK_LIBRARIES "${OpenBLAS_LIBRARIES}")
    if(OpenBLAS_LIBRARIES MATCHES "openmp")
        set(SVILM_OPENBLAS_VARIANT " (OpenMP build, ${OpenBLAS_LIBRARIES})")
    else()
        set(SVILM_OPENBLAS_VARIANT " (${OpenBLAS_LIBRARIES})")
    endif()
endif()
unset(_svilm_openblas_hints)
