#!/usr/bin/env bash
# The installed programs work without the source checkout (docs/install.md): the install prefix
# is copied to a temporary folder outside the checkout and `svilm` runs from there in an empty
# environment, in a current folder outside the checkout. It must find its data directory beside
# itself (<prefix>/share/svilm), and info, init, synth, nouns, a pretraining step (which
# tokenizes with the vocabulary), embed, index, search, ground, features, classify and evaluate
# must work; --data-dir and SVILM_DATA_DIR must be obeyed.
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
expect "^wrote 4 videos" svilm synth --split train --count 4 --out videos
test "$(wc -l < videos/manifest.csv)" = 5 || fail "synth's manifest does not list 4 videos"
expect $'^a man rides a horse on the beach\t.*horse' \
    bash -c "printf 'a man rides a horse on the beach\n' | env -i PATH=/usr/bin:/bin HOME='$work' '$copy/bin/svilm' nouns --captions -"
# tokenizing: the vocabulary read from the copied prefix
expect "^vocabulary: 30522 tokens$" svilm pretrain --manifest videos/manifest.csv --out pretrain --preset tiny --steps 1 --batch 2
test -s pretrain/model.safetensors || fail "pretrain wrote no model"

# the jobs on a user's own videos: embed, index and search, ground, features, classify, evaluate
expect "^wrote emb/embeddings.safetensors and embeddings.npy: 4 x 64 " svilm embed --model model.safetensors --out emb videos
if svilm --help | grep -q "^  search "; then
    expect "^wrote idx/index.faiss" svilm index --embeddings emb/embeddings.safetensors --out idx
    expect "R@1 [0-9.]+  R@5 [0-9.]+  R@10 100.0" svilm search --index idx --model model.safetensors --queries videos/manifest.csv
fi
expect "^wrote g/grounding.png" svilm ground --model model.safetensors --video videos/000000.mp4 --caption "a red ball and a blue cube" --out g
expect "^wrote 1 feature arrays" svilm features --model model.safetensors --window 0.5 --out feats videos/000001.mp4
expect "^000002: " svilm classify --model model.safetensors --classes "a red shape,a blue shape" videos/000002.mp4
expect "R@1 " svilm evaluate --model model.safetensors --manifest videos/manifest.csv

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
