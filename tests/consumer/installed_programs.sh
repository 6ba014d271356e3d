#!/usr/bin/env bash
# The installed programs work without the source checkout (docs/install.md): the install prefix
# is copied to a temporary folder outside the checkout and `svilm` runs from there in an empty
# environment, in a current folder outside the checkout. It must find its data directory beside
# itself (<prefix>/share/svilm), and info, init, synth, nouns and a pretraining step (which
# tokenizes with the vocabulary) must work; --data-dir and SVILM_DATA_DIR must be obeyed.
#
# Usage: tests/consumer/installed_programs.sh PREFIX     (after cmake --install BUILD --prefix PREFIX)
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 PREFIX" >&2; exit 2; }
prefix=$(cd "$1" && pwd)
[[ -x "$prefix/bin/svilm" ]] || { echo "$0: $prefix/bin/svilm is not installed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$prefix" "$work/prefix"
copy="$work/prefix"
mkdir "$work/run"
cd "$work/run"

# the program in a clean environment: no SVILM_DATA_DIR, no paths of the checkout
svilm() { env -i PATH=/usr/bin:/bin HOME="$work" "$copy/bin/svilm" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# runs a command, keeps its output in $out, and fails unless it exits 0 and matches a pattern
expect() {
    local pattern=$1; shift
    out=$("$@" 2>&1) || fail "$* exited $?: $out"
    grep -qE -- "$pattern" <<<"$out" || fail "$* printed no line matching '$pattern':"$'\n'"$out"
    echo "ok: $*"
}

expect "^data: $copy/share/svilm$" svilm info --preset tiny
expect "^wrote model.safetensors: preset tiny" svilm init --preset tiny --out model.safetensors
test -s model.safetensors || fail "init wrote no model.safetensors"
expect "^wrote 4 videos and " svilm synth --split train --count 4 --out videos
test "$(wc -l < videos/manifest.csv)" = 5 || fail "synth's manifest does not list 4 videos"
expect $'^a man rides a horse on the beach\t.*horse' \
    bash -c "printf 'a man rides a horse on the beach\n' | env -i PATH=/usr/bin:/bin HOME='$work' '$copy/bin/svilm' nouns --captions -"
# tokenizing: the vocabulary read from the copied prefix
expect "^vocabulary: 30522 tokens$" svilm pretrain --manifest videos/manifest.csv --out pretrain --preset tiny --steps 1 --batch 2
test -s pretrain/model.safetensors || fail "pretrain wrote no model"

# the user's choices come first, and a wrong one is refused with exit 2, naming it
cp -a "$copy/share/svilm" "$work/elsewhere"
expect "^data: $work/elsewhere$" svilm --data-dir "$work/elsewhere" info --preset tiny
expect "^data: $work/elsewhere$" svilm info --preset tiny --data-dir "$work/elsewhere"
expect "^data: $work/elsewhere$" env -i PATH=/usr/bin:/bin SVILM_DATA_DIR="$work/elsewhere" "$copy/bin/svilm" info --preset tiny
status=0
out=$(svilm --data-dir "$work/run" pretrain --manifest videos/manifest.csv --out pretrain2 --steps 1 --batch 2 2>&1) || status=$?
[[ $status -eq 2 ]] || fail "a --data-dir without the vocabulary: exit $status, not 2: $out"
grep -qF "data directory $work/run (the folder given (--data-dir)) does not hold" <<<"$out" || fail "unexpected message: $out"
echo "ok: a --data-dir without the vocabulary is refused"

echo "installed programs: all checks passed"
