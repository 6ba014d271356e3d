#!/usr/bin/env bash
# Installs what svilm needs on Debian 12 (idempotent: only missing packages are fetched).
# Run as root, or with sudo available. Used by scripts/demo.sh and .ci/run.
set -euo pipefail

packages=(
    g++ cmake make pkg-config ccache
    libeigen3-dev            # Eigen 3.4: GEMM fallback, interop
    libopenblas-openmp-dev   # OpenBLAS (svilm calls it one thread per product stripe)
    libdnnl-dev              # oneDNN: the int8 GEMM of --precision int8 (picks AVX2 / AVX-512 / VNNI / AMX when it runs)
    nlohmann-json3-dev       # safetensors headers
    doctest-dev              # tests
    libbenchmark-dev         # benchmarks
    xtensor-dev              # optional interop (svilm::xtensor)
    libutf8proc-dev          # Unicode data for the tokenizer (svilm::text)
    libcli11-dev             # command-line parsing of the example programs
    wordnet-base             # WordNet 3.0 lexicon for noun phrases (svilm::text)
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev   # FFmpeg decoding (svilm::video)
    libstb-dev               # stb_image_write for PNG figures (svilm::viz), stb_image for annotation masks
    libopenmpi-dev openmpi-bin   # data-parallel training over MPI (svilm::distributed, mpirun)
    libfaiss-dev             # nearest-neighbour search over embeddings (svilm::search: svilm index, svilm search)
    libssl-dev               # SHA-256 of model files (libcrypto's EVP API: svilm search checks the index's model)
    python3                  # the downstream demo's tables (scripts/downstream_table.py)
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    echo "svilm setup: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "svilm setup: all packages present"
fi
