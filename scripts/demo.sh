#!/usr/bin/env bash
# The main job in one command: install what is missing, build the demo in Release, run it.
# The demo pre-trains the `tiny` S-ViLM on synthetic structured videos twice (contrastive loss
# only, then all three losses), evaluates both and the untrained model (retrieval on held-out
# colour-shape pairs, noun grounding, temporal grouping), prints the ablation table and writes
# the figures as PNG into runs/demo (about 6 minutes on 2 cores after the build).
# Arguments go to the demo: --out DIR, --steps N, --batch B, --test N, --seed S, --threads T.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DSVILM_BUILD_TESTS=OFF -DSVILM_BUILD_BENCHMARKS=OFF
cmake --build build/release --target svilm_demo -j"$(nproc)"
./build/release/examples/svilm_demo "$@"
