# Defines the imported target svilm::onednn when oneDNN is found (Debian: libdnnl-dev, which
# ships no CMake package, hence a plain header and library search).
#
# svilm uses oneDNN's int8 GEMM (dnnl_gemm_u8s8s32) for the int8 inference precision: oneDNN
# picks its kernels when it runs (AVX2, AVX-512, VNNI, AMX), so a binary built for any x86-64
# uses the CPU's int8 instructions. Without oneDNN, int8 runs on svilm's portable loop.
if(TARGET svilm::onednn)
    return()
endif()
find_path(SVILM_ONEDNN_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(SVILM_ONEDNN_LIBRARY dnnl)
if(SVILM_ONEDNN_INCLUDE_DIR AND SVILM_ONEDNN_LIBRARY)
    add_library(svilm::onednn INTERFACE IMPORTED)
    set_target_properties(svilm::onednn PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${SVILM_ONEDNN_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${SVILM_ONEDNN_LIBRARY}")
endif()
