#!/usr/bin/env bash
# usage: rank_failure.sh MPIEXEC PROGRAM — runs rank_failure.cpp's job on 2 ranks and checks that
# it failed, that the message names rank 1 and its error, and that the checkpoint left is whole.
set -u
mpiexec=$1 program=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$mpiexec" -n 2 --oversubscribe "$program" "$dir/run" >"$dir/out" 2>&1
status=$?
cat "$dir/out"
fail() { echo "FAIL: $*"; exit 1; }
[[ $status -ne 0 ]] || fail "the job exited 0"
grep -q "svilm: rank 1 of 2: clip .*: cannot decode (a damaged file); stopping every rank" "$dir/out" ||
    fail "no message naming rank 1 and its error"
# every rank waits for rank 0's checkpoint of step 2 before step 3, where rank 1 fails
step=$("$program" --check "$dir/run/checkpoint.safetensors") || fail "the checkpoint left does not load"
[[ "$step" == "checkpoint at step 2" ]] || fail "$step"
echo "PASS: $step"
