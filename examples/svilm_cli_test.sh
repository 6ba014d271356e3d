#!/usr/bin/env bash
# The svilm program run as a user runs it, right and wrong: each check wants an exit status and
# a message. ctest runs one case per test (examples/CMakeLists.txt):
#
#   svilm_cli_test.sh CASE SVILM WORK     CASE: a function below, SVILM: the program,
#                                         WORK: a scratch folder, emptied first
set -u
case_name=$1 svilm=$2 work=$3
# small input files of the tests (tests/data), found before the script leaves for WORK
test_data=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/data" && pwd)
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0

# expect STATUS PATTERN COMMAND...: COMMAND exits with STATUS and a line of its output (stdout
# and stderr, kept in $output) matches the extended regular expression PATTERN.
expect() {
    local status=$1 pattern=$2
    shift 2
    local actual
    output=$("$@" 2>&1)
    actual=$?
    if [[ $actual -ne $status ]] || ! grep -Eq -- "$pattern" <<<"$output"; then
        printf 'FAILED: %s\n  wanted status %s and a line matching: %s\n' "$*" "$status" "$pattern"
        printf '  got status %s and:\n' "$actual"
        sed 's/^/    /' <<<"$output"
        failures=$((failures + 1))
    fi
}

# expect_error PATTERN COMMAND...: COMMAND fails with the usage status, 2, and its whole output is
# one line, "svilm: " and a match of PATTERN.
expect_error() {
    expect 2 "^svilm: $1\$" "${@:2}"
    if [[ $(wc -l <<<"$output") -ne 1 ]]; then
        printf 'FAILED: %s\n  wanted one line, got:\n' "${*:2}"
        sed 's/^/    /' <<<"$output"
        failures=$((failures + 1))
    fi
}

# has_line PATTERN: a line of the last command's output matches PATTERN.
has_line() {
    if ! grep -Eq -- "$1" <<<"$output"; then
        printf 'FAILED: no line matching %s in:\n' "$1"
        sed 's/^/    /' <<<"$output"
        failures=$((failures + 1))
    fi
}

# expect_file_lines N FILE: FILE has N lines.
expect_file_lines() {
    local lines
    lines=$(wc -l <"$2" 2>/dev/null || echo missing)
    if [[ $lines != "$1" ]]; then
        printf 'FAILED: %s has %s lines, wanted %s\n' "$2" "$lines" "$1"
        sed 's/^/    /' "$2" 2>/dev/null
        failures=$((failures + 1))
    fi
}

# svilm nouns: one line per caption, the caption and its phrases; the first column of a TSV; stdin.
nouns() {
    printf 'a red circle moves left\tignored column\na man is slicing a red tomato on a wooden board\n\n' >captions.tsv
    expect 0 "^a red circle moves left	red circle$" "$svilm" nouns --captions captions.tsv
    has_line "^a man is slicing a red tomato on a wooden board	man\|red tomato$"
    expect 0 "^a man is slicing a red tomato on a wooden board	man\|red tomato\|wooden board$" \
        "$svilm" nouns --captions captions.tsv --max 0
    if [[ $(wc -l <<<"$output") -ne 3 ]]; then
        printf 'FAILED: nouns printed %s lines for 3 captions\n' "$(wc -l <<<"$output")"
        failures=$((failures + 1))
    fi
    expect 0 "^a blue star grows	blue star$" bash -c "echo 'a blue star grows' | '$svilm' nouns --captions -"
    expect_error "--captions: cannot read nope.txt" "$svilm" nouns --captions nope.txt
}

# The data directory (docs/install.md): --data-dir before or after the command, over
# SVILM_DATA_DIR, over the one found without them; a folder named without the vocabulary is
# refused (exit 2, one line) by the commands that tokenize, and reported by info.
data_dir() {
    expect 0 "^data: /" env -u SVILM_DATA_DIR "$svilm" info --preset tiny
    local found
    found=$(sed -n 's/^data: //p' <<<"$output")
    mkdir -p copy empty && cp -r "$found/vocab" copy/
    expect 0 "^data: $PWD/copy$" env SVILM_DATA_DIR="$PWD/copy" "$svilm" info --preset tiny
    expect 0 "^data: $PWD/copy$" env SVILM_DATA_DIR="$PWD/empty" "$svilm" --data-dir "$PWD/copy" info --preset tiny
    expect 0 "^data: $PWD/copy$" env -u SVILM_DATA_DIR "$svilm" info --data-dir "$PWD/copy" --preset tiny
    expect 0 "^data: none \(data directory $PWD/empty \(the folder given \(--data-dir\)\) does not hold " \
        "$svilm" info --preset tiny --data-dir "$PWD/empty"
    synth_videos
    "$svilm" init --preset tiny --out m.safetensors >/dev/null || { echo "FAILED: svilm init"; exit 1; }
    expect_error "data directory $PWD/empty \(the folder given \(--data-dir\)\) does not hold $PWD/empty/vocab/bert-base-uncased-vocab.txt: .*" \
        "$svilm" --data-dir "$PWD/empty" pretrain --manifest videos/manifest.csv --out run "${tiny_run[@]}" --preset tiny
    expect_error "data directory $PWD/empty \(the environment variable SVILM_DATA_DIR\) does not hold .*" \
        env SVILM_DATA_DIR="$PWD/empty" "$svilm" evaluate --model m.safetensors --manifest videos/manifest.csv
    expect_error "--data-dir: must name a file or folder \(got an empty string\)" "$svilm" --data-dir "" info
}

# 4 short synthetic videos and their manifest in videos/.
synth_videos() {
    "$svilm" synth --count 4 --out videos >/dev/null || { echo "FAILED: svilm synth"; exit 1; }
}

tiny_run=(--steps 2 --batch 2 --threads 2)

# --device cuda refused, exit 2 before any work: by a build without CUDA, or where the CUDA
# runtime finds no GPU it can use (no driver, no device).
cuda_refused="--device: cuda: (this svilm was built without CUDA; configure it with -DSVILM_CUDA=ON .*|no GPU can be used \(.+\))"

# Whether this svilm can run on a GPU here: the cuda checks want the refusal where it cannot.
cuda_usable() {
    "$svilm" info --device cuda >/dev/null 2>&1
}

# Exit statuses of the command line itself, --help with the defaults, --version.
usage() {
    expect 0 "^svilm [0-9]+\.[0-9]+\.[0-9]+$" "$svilm" --version
    expect 0 "Exit status:" "$svilm" --help
    expect 0 "  2  a usage or input error" "$svilm" info --help
    expect 0 "--preset TEXT=tiny" "$svilm" info --help
    expect 0 "--frames INT=the preset's" "$svilm" init --help
    expect_error "give one of info.* \(svilm --help\)" "$svilm"
    expect_error "'bogus' is not a subcommand: give one of info.*" "$svilm" bogus
    expect_error "--out is required" "$svilm" init
    expect_error "The following argument was not expected: --bogus" "$svilm" info --bogus
    expect_error "--preset: must be tiny, small or base \(got 'huge'\)" "$svilm" info --preset huge
    expect_error "--preset excludes --model" "$svilm" info --model m.safetensors --preset base
    expect_error "--out: must name a file or folder \(got an empty string\)" "$svilm" init --out ""
}

# Every number of info and init, in words; a model file is not written over by accident.
model_options() {
    expect_error "--frames: must be at least 1 \(got -4\)" "$svilm" info --frames -4
    expect_error "--frames: must be at least 1 \(got 0\)" "$svilm" info --frames 0
    expect_error "--frames: must be a whole number \(got '2.5'\)" "$svilm" info --frames 2.5
    expect_error "--frames: must be a multiple of 2, the tiny preset's tubelet \(got 3\)" "$svilm" info --frames 3
    expect_error "--frames: must be at most 1048576 \(got 9999999\)" "$svilm" init --frames 9999999 --out m.safetensors
    expect_error "--seed: must be at least 0 \(got -1\)" "$svilm" init --seed -1 --out m.safetensors
    expect_error "--seed: is too large \(got 18446744073709551616\)" \
        "$svilm" init --seed 18446744073709551616 --out m.safetensors
    expect 0 "^wrote m.safetensors: preset tiny" "$svilm" init --seed 18446744073709551615 --out m.safetensors
    expect_error "--out: m.safetensors exists \(pass --overwrite to replace it\)" "$svilm" init --out m.safetensors
    expect 0 "^wrote m.safetensors" "$svilm" init --out m.safetensors --overwrite
    expect_error "--out: \. is a folder, not a file" "$svilm" init --out .
    echo "not a model" >notes.txt
    expect_error "--model: not a safetensors file: notes.txt: .*" "$svilm" info --model notes.txt
    expect_error "--model: \.: .*" "$svilm" info --model .
    expect_error "--vit: not a safetensors file: notes.txt: .*" "$svilm" init --out v.safetensors --vit notes.txt
    expect_error "--bert: m.safetensors: .*not a BERT checkpoint" "$svilm" init --out v.safetensors --bert m.safetensors
}

# info --device: its choices, a wrong one named, each device described (cuda: where it can run).
device() {
    expect 0 "--device TEXT=cpu +print this device too: cpu or cuda" "$svilm" info --help
    expect_error "--device: must be cpu or cuda \(got 'tpu'\)" "$svilm" info --device tpu
    expect 0 "^device: CPU, [0-9]+ threads, float32, .+ GEMM$" "$svilm" info --preset tiny --device cpu
    if cuda_usable; then
        expect 0 "^device: CUDA, .+ \(sm_[0-9]+, [0-9]+ MiB\), float32$" "$svilm" info --preset tiny --device cuda
        has_line "^device memory for training: [0-9.]+ MiB "
    else
        expect_error "$cuda_refused" "$svilm" info --preset tiny --device cuda
    fi
}

# Every number of synth and pretrain, in words, with no numeric_limits bound.
pipeline_options() {
    expect_error "--count: must be at least 1 \(got -5\)" "$svilm" synth --count -5 --out v
    expect_error "--count: must be at least 1 \(got 0\)" "$svilm" synth --count 0 --out v
    expect_error "--count: must be at most 16777216 \(got 20000000\)" "$svilm" synth --count 20000000 --out v
    expect_error "--count: is too large \(got 99999999999999999999\)" "$svilm" synth --count 99999999999999999999 --out v
    expect_error "--count: must be a whole number \(got 'ten'\)" "$svilm" synth --count ten --out v
    expect_error "--seed: must be at least 0 \(got -1\)" "$svilm" synth --seed -1 --out v
    expect_error "--scene-change: must be from 0 to 1 \(got 1.5\)" "$svilm" synth --scene-change 1.5 --out v
    expect_error "--scene-change: must be a finite number \(got 'nan'\)" "$svilm" synth --scene-change nan --out v
    expect_error "--split: must be train, val, test or test_unseen \(got 'dev'\)" "$svilm" synth --split dev --out v
    local m=(--manifest m.csv --out run)
    expect_error "--steps: must be at least 1 \(got 0\)" "$svilm" pretrain "${m[@]}" --steps 0
    expect_error "--batch: must be at least 2 \(got 1\)" "$svilm" pretrain "${m[@]}" --batch 1
    expect_error "--batch: must be at most 4096 \(got 5000\)" "$svilm" pretrain "${m[@]}" --batch 5000
    expect_error "--lr: must be greater than 0 \(got -1\)" "$svilm" pretrain "${m[@]}" --lr -1
    expect_error "--lr: must be greater than 0 \(got 0\)" "$svilm" pretrain "${m[@]}" --lr 0
    expect_error "--lr: must be a finite number \(got 'inf'\)" "$svilm" pretrain "${m[@]}" --lr inf
    expect_error "--seed: must be at least 0 \(got -1\)" "$svilm" pretrain "${m[@]}" --seed -1
    expect_error "--threads: must be at least 0 \(got -2\)" "$svilm" pretrain "${m[@]}" --threads -2
    expect_error "--threads: must be at most 1024 \(got 5000\)" "$svilm" pretrain "${m[@]}" --threads 5000
    expect_error "--resume excludes --overwrite" "$svilm" pretrain "${m[@]}" --resume c.safetensors --overwrite
    expect 0 "--steps INT=1000 " "$svilm" pretrain --help
    expect 0 "--lr FLOAT=0.0001 " "$svilm" pretrain --help
}

# Inputs of the wrong kind: one clear line each, exit 2, nothing written.
pipeline_inputs() {
    synth_videos
    expect_error "--out: videos is not empty: choose a new or empty folder, or pass --overwrite" \
        "$svilm" synth --count 4 --out videos
    expect_error "--manifest: nope.csv: cannot open the manifest" "$svilm" pretrain --manifest nope.csv --out run
    expect_error "--manifest: videos is a folder: give its manifest \(.csv or .jsonl\)" \
        "$svilm" pretrain --manifest videos --out run
    expect_error "--manifest: videos/000000.mp4: unknown manifest type '.mp4' .*" \
        "$svilm" pretrain --manifest videos/000000.mp4 --out run
    printf 'video,caption\n' >empty.csv
    expect_error "--manifest: empty.csv lists no videos" "$svilm" pretrain --manifest empty.csv --out run
    mkfifo fifo.csv
    expect_error "--manifest: fifo.csv is not a regular file" timeout 20 "$svilm" evaluate --model m --manifest fifo.csv
    expect_error "--batch: 8 is more than the 4 videos of videos/manifest.csv" \
        "$svilm" pretrain --manifest videos/manifest.csv --out run --batch 8
    expect_error "--losses: 'motion' is not contrastive, temporal or grounding" \
        "$svilm" pretrain --manifest videos/manifest.csv --out run --losses contrastive,motion
    expect_error "--losses: name at least one of contrastive, temporal, grounding" \
        "$svilm" pretrain --manifest videos/manifest.csv --out run --losses ""
    expect_error "--out: videos/manifest.csv is a file, not a folder" \
        "$svilm" pretrain --manifest videos/manifest.csv --out videos/manifest.csv
    expect 2 "^svilm: --model: not a safetensors file: videos/000000.mp4: " \
        "$svilm" pretrain --manifest videos/manifest.csv --out run --batch 2 --model videos/000000.mp4
    expect 2 "^svilm: --resume: not a safetensors file: videos/manifest.csv: " \
        "$svilm" pretrain --manifest videos/manifest.csv --out run --batch 2 --resume videos/manifest.csv
    expect_error "--model: videos: .*" "$svilm" evaluate --model videos --manifest videos/manifest.csv
    if [[ -e run ]]; then
        echo "FAILED: a refused pretrain left the folder run"
        failures=$((failures + 1))
    fi
}

# A run folder is not trained over by accident: refused, then --overwrite (the log replaced,
# not appended to), --resume; what pretrain says before step 1; a checkpoint evaluates; a run
# that diverges exits 1 and names its last checkpoint.
# svilm evaluate's three tasks on synth output with its annotations: every annotated noun and
# scene-change video is scored, a box over the whole frame points right every time, renamed
# manifest columns, a training checkpoint as the model, bad annotations refused.
evaluate_tasks() {
    "$svilm" synth --count 6 --composites 2 --out videos >/dev/null || { echo "FAILED: svilm synth --composites"; exit 1; }
    "$svilm" init --preset tiny --out tiny.safetensors >/dev/null || { echo "FAILED: svilm init"; exit 1; }
    expect_file_lines 9 videos/manifest.csv
    local nouns
    nouns=$(grep -c '"noun"' videos/annotations.json)
    if [[ $(grep -c '"scene_changes"' videos/annotations.json) -ne 2 || $nouns -lt 6 ]]; then
        echo "FAILED: annotations.json lists $nouns nouns and not 2 videos with scene changes"
        failures=$((failures + 1))
    fi
    local all=("$svilm" evaluate --model tiny.safetensors --manifest videos/manifest.csv --annotations videos/annotations.json)
    expect 0 "^\($nouns of $nouns annotated nouns scored in 8 videos; 0 had no annotated frame within 2 of a sampled frame\)$" \
        "${all[@]}" --tasks retrieval,grounding,temporal --metrics m.json
    has_line "^temporal: 2 videos with a scene change between sampled steps \(of 2 with scene changes\); 4 steps per clip$"
    has_line "^chosen group +[0-9.]+ +[0-9.]+$"
    has_line "^change step exact +[0-9.]+% +[0-9.]+%$"
    has_line "R@1"
    for key in '"retrieval": {' '"grounding": {' '"temporal": {' "\"nouns_scored\": $nouns" '"videos_scored": 2'; do
        grep -q "$key" m.json || { echo "FAILED: m.json lacks $key"; failures=$((failures + 1)); }
    done

    # one object whose box is the whole 64x64 frame on every frame: every peak is inside it
    printf '{"videos": [{"video": "000001.mp4", "objects": [{"noun": "red circle", "boxes": [%s]}]}]}\n' \
        "$(for f in 0 1 2 3 4 5 6 7; do printf '%s{"frame": %d, "box": [0, 0, 64, 64]}' "$([[ $f -gt 0 ]] && echo ,)" $f; done)" \
        >videos/whole.json
    expect 0 "^chosen group +100\.0 " "${all[@]:0:6}" --annotations videos/whole.json --tasks grounding
    has_line "^random group +100\.0 "
    has_line "^\(1 of 1 annotated nouns scored in 1 videos; "
    has_line "annotations: videos/whole.json: 1 videos, 1 objects; 1 of them in the manifest$"

    # masks (PNG, non-zero = object): the left half of the frame on frames 0-2 (frame 0's mask
    # within the tolerance of 2); a mask of the wrong size skips its video with the reason
    mkdir -p videos/masks && cp "$test_data/annotations/left_half_64.png" "$test_data/annotations/whole_32.png" videos/masks/
    printf '{"videos": [{"video": "000001.mp4", "objects": [{"noun": "red circle", "masks": [{"frame": 0, "file": "masks/left_half_64.png"}]}]},
                       {"video": "000002.mp4", "objects": [{"noun": "blue ring", "masks": [{"frame": 3, "file": "masks/whole_32.png"}]}]}]}\n' \
        >videos/masks.json
    expect 0 "^uniform map +50\.0 +50\.0$" "${all[@]:0:6}" --annotations videos/masks.json --tasks grounding --out masks_out
    has_line "^\(1 of 1 annotated nouns scored in 1 videos; "
    has_line "^skipped 1 of 8 videos, each with its reason in masks_out/skipped.csv:$"
    has_line "^  videos/masks/whole_32.png \(videos/masks.json: videos\[1\].objects\[0\] mask of frame 3\): 32x32, the video's frames are 64x64$"

    # the manifest's columns under other names
    sed '1s/^video,caption,nouns$/path,text,nouns/' videos/manifest.csv >videos/renamed.csv
    expect_error "--manifest: videos/renamed.csv: line 1: no column 'video' \(the header has: path, text, nouns\); name yours with --video-column" \
        "$svilm" evaluate --model tiny.safetensors --manifest videos/renamed.csv
    expect 0 "R@1" "$svilm" evaluate --model tiny.safetensors --manifest videos/renamed.csv --video-column path --caption-column text
    has_line "^text->video "

    # a training checkpoint is a model
    "$svilm" pretrain --manifest videos/manifest.csv --out run "${tiny_run[@]}" >/dev/null 2>&1 ||
        { echo "FAILED: svilm pretrain"; failures=$((failures + 1)); }
    expect 0 "^chosen group " "$svilm" evaluate --model run/checkpoint.safetensors --manifest videos/manifest.csv \
        --annotations videos/whole.json --tasks grounding

    # bad annotations and tasks, refused before any work
    printf '{"videos": [{"video": "000001.mp4", "objects": [{"noun": "cat", "boxes": [{"frame": 0, "box": [5, 0, 1, 4]}]}]}]}\n' \
        >videos/bad.json
    expect_error "--annotations: videos/bad.json: videos\[0\].objects\[0\].boxes\[0\].box: x1 1 is not greater than x0 5" \
        "${all[@]:0:6}" --annotations videos/bad.json --tasks grounding
    printf '{"videos": [{"video": "elsewhere.mp4", "scene_changes": [3]}]}\n' >videos/other.json
    expect_error "--annotations: videos/other.json annotates none of the videos of videos/manifest.csv .*" \
        "${all[@]:0:6}" --annotations videos/other.json --tasks temporal
    expect_error "--tasks: grounding and temporal need --annotations \(docs/annotations.md\)" \
        "$svilm" evaluate --model tiny.safetensors --manifest videos/manifest.csv --tasks temporal
    expect_error "--tasks: 'motion' is not retrieval, grounding or temporal" \
        "$svilm" evaluate --model tiny.safetensors --manifest videos/manifest.csv --tasks retrieval,motion
    expect_error "--metrics: m.json exists \(pass --overwrite to replace it\)" "${all[@]}" --tasks temporal --metrics m.json
}

run_folder() {
    synth_videos
    local train=("$svilm" pretrain --manifest videos/manifest.csv --out run "${tiny_run[@]}")
    expect 0 "^vocabulary: 30522 tokens$" "${train[@]}"
    expect_file_lines 3 run/log.csv
    local before
    before=$(cat run/log.csv run/model.safetensors run/checkpoint.safetensors | md5sum)
    expect_error "--out: run already holds a run: continue it with --resume run/checkpoint.safetensors, or start .*" \
        "${train[@]}"
    has_line "or start afresh with --overwrite$"
    if [[ $(cat run/log.csv run/model.safetensors run/checkpoint.safetensors | md5sum) != "$before" ]]; then
        echo "FAILED: the refused run changed the run folder"
        failures=$((failures + 1))
    fi
    expect 0 "^model: preset tiny, seed 0, 4453962 parameters$" "${train[@]}" --overwrite
    has_line "^manifest: videos/manifest.csv, 4 videos$"
    has_line "^losses: contrastive, temporal, grounding$"
    has_line "^device: CPU, 2 threads, "
    has_line "^training: 2 steps of 2 clips, peak lr 0.0001, a checkpoint every 1 step, in run$"
    has_line "^wrote run/model.safetensors after 2 steps$"
    expect_file_lines 3 run/log.csv
    expect_file_lines 2 run/log.jsonl
    expect 0 "^resumed: run/checkpoint.safetensors, at step 2$" "${train[@]}" --resume run/checkpoint.safetensors
    expect_file_lines 3 run/log.csv
    expect 2 "^svilm: --resume: run/checkpoint.safetensors: the checkpoint's schedule \(2 steps" \
        "$svilm" pretrain --manifest videos/manifest.csv --out run --steps 4 --batch 2 --resume run/checkpoint.safetensors
    mkdir other && echo "a note" >other/notes.txt
    expect_error "--out: other is not empty: choose a new or empty folder, or pass --overwrite" \
        "$svilm" pretrain --manifest videos/manifest.csv --out other "${tiny_run[@]}"
    expect_error "--resume: run/checkpoint.safetensors is not in --out other, which is not empty: .*" \
        "$svilm" pretrain --manifest videos/manifest.csv --out other "${tiny_run[@]}" --resume run/checkpoint.safetensors
    expect 0 "^wrote fresh/model.safetensors after 2 steps$" \
        "$svilm" pretrain --manifest videos/manifest.csv --out fresh "${tiny_run[@]}" --resume run/checkpoint.safetensors
    expect 0 "^text->video " "$svilm" evaluate --model run/checkpoint.safetensors --manifest videos/manifest.csv
    # a run that fails after it started: exit 1, and what it leaves
    local stopped="^svilm: training step 2: .*stopped before applying .*; "
    expect 1 "${stopped}the last checkpoint is diverged/checkpoint.safetensors \(--resume continues from it\)$" \
        "$svilm" pretrain --manifest videos/manifest.csv --out diverged --steps 3 --batch 2 --lr 1e30
    expect_file_lines 2 diverged/log.csv
}

# svilm index and search on embeddings files written here (plain python3, no numpy): the index
# holds the rows; search's results are the top dot products of its own query embeddings
# (--write-query-embeddings) with the indexed vectors, in order; --queries' recalls and median
# rank are those of the same ranking; a model other than the embeddings' is refused.
search() {
    "$svilm" init --preset tiny --out tiny.safetensors >/dev/null || { echo "FAILED: svilm init"; exit 1; }
    local sha
    sha=$(sha256sum tiny.safetensors | cut -d' ' -f1)
    cat >tool.py <<'PY'
import json, math, random, struct, sys

def read_safetensors(path):
    data = open(path, 'rb').read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    def tensor(name):
        t = header[name]
        b, e = t['data_offsets']
        raw = data[8 + n + b:8 + n + e]
        fmt = {'F32': 'f', 'F64': 'd'}[t['dtype']]
        return t['shape'], struct.unpack('<%d%s' % (len(raw) // struct.calcsize(fmt), fmt), raw)
    return header, tensor

def read_npy(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x93NUMPY\x01\x00', data[:8]
    n = struct.unpack('<H', data[8:10])[0]
    header = data[10:10 + n].decode()
    assert "'descr': '<f4'" in header and "'fortran_order': False" in header, header
    rows, cols = eval(header)['shape']
    values = struct.unpack('<%df' % (rows * cols), data[10 + n:])
    return [values[i * cols:(i + 1) * cols] for i in range(rows)]

def embeddings(path):
    header, tensor = read_safetensors(path)
    (n, d), values = tensor('embeddings')
    rows = json.loads(header['__metadata__']['rows'])
    return [values[i * d:(i + 1) * d] for i in range(n)], rows

def ranking(query, vectors):  # row numbers, best first
    scores = [sum(a * b for a, b in zip(query, v)) for v in vectors]
    return sorted(range(len(vectors)), key=lambda i: -scores[i]), scores

command = sys.argv[1]
if command == 'write':  # OUT MODEL SHA DIM: 6 rows, the last two windows of one video (DIM "tiny": tiny's)
    out, model, sha = sys.argv[2:5]
    if sys.argv[5] == 'tiny':
        header, _ = read_safetensors('tiny.safetensors')
        dim = json.loads(header['__metadata__']['config'])['embed_dim']
    else:
        dim = int(sys.argv[5])
    random.seed(7)
    videos = ['clips/a.mp4', 'clips/b.mp4', 'clips/c.mp4', 'clips/d.mp4', 'clips/e.mp4', 'clips/e.mp4']
    ids = ['a', 'b', 'c', 'd', 'e@0.00-2.00', 'e@2.00-4.00']
    vectors = []
    for _ in videos:
        v = [random.gauss(0, 1) for _ in range(dim)]
        s = math.sqrt(sum(x * x for x in v))
        vectors.append([x / s for x in v])
    nan = float('nan')
    start, end = [nan] * 4 + [0.0, 2.0], [nan] * 4 + [2.0, 4.0]
    emb = struct.pack('<%df' % (6 * dim), *[x for v in vectors for x in v])
    se = struct.pack('<6d', *start), struct.pack('<6d', *end)
    header = {'__metadata__': {'format': 'svilm-embeddings',
                               'rows': json.dumps([{'id': i, 'video': v} for i, v in zip(ids, videos)]),
                               'info': json.dumps({'model': model, 'model_sha256': sha, 'kind': 'video'})},
              'embeddings': {'dtype': 'F32', 'shape': [6, dim], 'data_offsets': [0, len(emb)]},
              'start': {'dtype': 'F64', 'shape': [6], 'data_offsets': [len(emb), len(emb) + 48]},
              'end': {'dtype': 'F64', 'shape': [6], 'data_offsets': [len(emb) + 48, len(emb) + 96]}}
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    open(out, 'wb').write(struct.pack('<Q', len(text)) + text + emb + se[0] + se[1])
elif command == 'sidecar':  # INDEX_DIR KIND SHA
    s = json.load(open(sys.argv[2] + '/index.json'))
    assert s['count'] == 6 and len(s['rows']) == 6, s['count']
    assert s['kind'] == sys.argv[3], s['kind']
    assert s['info']['model_sha256'] == sys.argv[4], s['info']
    assert [r['id'] for r in s['rows']] == ['a', 'b', 'c', 'd', 'e@0.00-2.00', 'e@2.00-4.00']
    assert s['rows'][0]['start'] is None and s['rows'][5]['start'] == 2.0 and s['rows'][5]['end'] == 4.0
elif command == 'results':  # RESULTS.csv QUERIES.npy EMBEDDINGS K: the CSV is the exact top k
    import csv
    results = list(csv.DictReader(open(sys.argv[2])))
    queries, (vectors, rows), k = read_npy(sys.argv[3]), embeddings(sys.argv[4]), int(sys.argv[5])
    assert len(results) == len(queries) * k, (len(results), len(queries), k)
    for q, query in enumerate(queries):
        order, scores = ranking(query, vectors)
        got = [r for r in results if int(r['query']) == q + 1]
        assert [r['id'] for r in got] == [rows[i]['id'] for i in order[:k]], (got, order)
        for r, i in zip(got, order):
            assert abs(float(r['score']) - scores[i]) < 1e-4, (r['score'], scores[i])
    print('top score %.4f' % max(ranking(queries[0], vectors)[1]))
elif command == 'recalls':  # QUERIES.npy EMBEDDINGS RIGHT_VIDEO...: the line search prints
    queries, (vectors, rows) = read_npy(sys.argv[2]), embeddings(sys.argv[3])
    ranks = []
    for query, video in zip(queries, sys.argv[4:]):
        order, _ = ranking(query, vectors)
        ranks.append(1 + [rows[i]['video'] for i in order].index(video))
    ranks.sort()
    recall = lambda k: 100.0 * sum(r <= k for r in ranks) / len(ranks)
    median = 0.5 * (ranks[(len(ranks) - 1) // 2] + ranks[len(ranks) // 2])
    print('  R@1 %.1f  R@5 %.1f  R@10 %.1f  median rank %.1f' % (recall(1), recall(5), recall(10), median))
PY
    python3 tool.py write e.safetensors tiny.safetensors "$sha" tiny || { echo "FAILED: writing e.safetensors"; exit 1; }
    python3 tool.py write other.safetensors other.safetensors 0123abcd tiny
    python3 tool.py write small.safetensors tiny.safetensors "$sha" 3

    expect 0 "^index: exact, 6 rows, built in" "$svilm" index --embeddings e.safetensors --out idx
    has_line "^embeddings: e.safetensors, 6 rows of dimension [0-9]+ \(model sha256 $sha\)$"
    python3 tool.py sidecar idx exact "$sha" || { echo "FAILED: idx/index.json"; failures=$((failures + 1)); }
    expect 0 "^index: ivf, 6 rows in 2 cells, 2 probed per query" "$svilm" index --embeddings e.safetensors \
        --out idx_ivf --kind ivf --nlist 2 --nprobe 2
    python3 tool.py sidecar idx_ivf ivf "$sha" || { echo "FAILED: idx_ivf/index.json"; failures=$((failures + 1)); }

    # two queries, top 3: the exact top 3 of the queries' own embeddings, with their scores
    expect 0 "^  +1  [0-9.-]+  [a-e@.0-9-]+  clips/[a-e].mp4" "$svilm" search --index idx --model tiny.safetensors \
        --query "a red circle moves left" --query "a blue star grows" --k 3 --results r.csv --write-query-embeddings q.npy
    has_line "^query 2: \"a blue star grows\"$"
    has_line "^model: tiny.safetensors \(sha256 $sha, the index's\)$"
    local top
    top=$(python3 tool.py results r.csv q.npy e.safetensors 3) || { echo "FAILED: r.csv is not the exact top 3"; failures=$((failures + 1)); }
    [[ $(grep -m1 -E '^ +1  ' <<<"$output" | awk '{print $2}') == "${top#top score }" ]] ||
        { echo "FAILED: search's first score is not ${top#top score }"; failures=$((failures + 1)); }
    # every cell probed: the ivf index answers as the exact one
    expect 0 "^query 1:" "$svilm" search --index idx_ivf --model tiny.safetensors --query "a red circle moves left" \
        --query "a blue star grows" --k 3 --results r_ivf.csv
    cmp -s r.csv r_ivf.csv || { echo "FAILED: the ivf index probing every cell differs from the exact one"; failures=$((failures + 1)); }
    # windows print their time range
    expect 0 "^query 1:" "$svilm" search --index idx --model tiny.safetensors --query "x" --k 6
    has_line "  e@2.00-4.00  clips/e.mp4  2.00-4.00 s$"

    # evaluation: captions with their videos, one not in the index; recalls of the same ranking
    printf 'video,caption\nclips/a.mp4,a red circle moves left\nclips/e.mp4,a blue star grows\n./clips/c.mp4,a green square\nclips/zz.mp4,nothing\n' >queries.csv
    expect 0 "^text->video over 3 queries, 5 videos \(6 rows\)" "$svilm" search --index idx --model tiny.safetensors \
        --queries queries.csv --metrics m.json --write-query-embeddings qe.npy --results re.csv
    has_line "^left out 1 of 4 queries whose video is not in the index, e.g.:$"
    has_line "^  line 5: clips/zz.mp4$"
    local want
    want=$(python3 tool.py recalls qe.npy e.safetensors clips/a.mp4 clips/e.mp4 clips/c.mp4)
    has_line "^${want}$"
    grep -q '"queries": 3,' m.json && grep -q '"median_rank": ' m.json ||
        { echo "FAILED: m.json lacks the counts or the median rank"; cat m.json; failures=$((failures + 1)); }
    expect_file_lines 19 re.csv  # a header and 3 queries x 6 rows (k 10 > 6 rows)

    # a model other than the embeddings': refused, unless allowed
    "$svilm" index --embeddings other.safetensors --out idx_other >/dev/null
    expect_error "--model: tiny.safetensors \(sha256 $sha\) is not the model the embeddings of idx_other were made with \(sha256 0123abcd, \"other.safetensors\"\): .*--allow-other-model" \
        "$svilm" search --index idx_other --model tiny.safetensors --query "a red circle"
    expect 0 "^model: tiny.safetensors \(sha256 $sha, NOT the index's model\)$" "$svilm" search --index idx_other \
        --model tiny.safetensors --query "a red circle" --allow-other-model
    "$svilm" index --embeddings small.safetensors --out idx_small >/dev/null
    expect_error "--model: tiny.safetensors embeds in [0-9]+ dimensions, the index in idx_small holds 3" \
        "$svilm" search --index idx_small --model tiny.safetensors --query "a red circle"

    expect_error "--out: idx is not empty: choose a new or empty folder, or pass --overwrite" \
        "$svilm" index --embeddings e.safetensors --out idx
    expect 0 "^index: exact" "$svilm" index --embeddings e.safetensors --out idx --overwrite
    expect_error "--embeddings: tiny.safetensors: not an embeddings file: metadata 'format' is 'svilm', expected 'svilm-embeddings'" \
        "$svilm" index --embeddings tiny.safetensors --out x
    expect_error "--nlist: 7 cells for 6 rows: each cell needs a row to train on" \
        "$svilm" index --embeddings e.safetensors --out x --kind ivf --nlist 7
    expect_error "--nlist and --nprobe set an ivf index; this one is exact \(--kind auto, 6 rows\)" \
        "$svilm" index --embeddings e.safetensors --out x --nprobe 2
    expect_error "search: give --query TEXT or --queries MANIFEST" "$svilm" search --index idx --model tiny.safetensors
    expect_error "--metrics: needs --queries \(an evaluation\)" "$svilm" search --index idx --model tiny.safetensors \
        --query a --metrics x.json
    expect_error "--nprobe: the index in idx is exact" "$svilm" search --index idx --model tiny.safetensors --query a --nprobe 2
    expect_error "--nprobe: nprobe must be from 1 to the index's 2 cells \(got 3\)" "$svilm" search --index idx_ivf \
        --model tiny.safetensors --query a --nprobe 3
    expect_error "--results: r.csv exists \(pass --overwrite to replace it\)" "$svilm" search --index idx \
        --model tiny.safetensors --query a --results r.csv
    expect_error "--index: nope: not a folder \(an index folder written by svilm index\)" "$svilm" search --index nope \
        --model tiny.safetensors --query a
    expect_error "--queries: none of the 1 videos of none.csv is in the index idx \(videos are matched by path\)" \
        bash -c "printf 'video,caption\nx.mp4,a\n' >none.csv && '$svilm' search --index idx --model tiny.safetensors --queries none.csv"
}

# pretrain and evaluate --device: a wrong one named; cuda refused before any work where it cannot
# run, else a run on the GPU whose first loss is the CPU's (same seed, same clips), resumed and
# evaluated there.
pipeline_device() {
    expect 0 "--device TEXT=cpu +where the model trains: cpu or cuda" "$svilm" pretrain --help
    expect 0 "--device TEXT=cpu +where the model runs: cpu or cuda" "$svilm" evaluate --help
    expect_error "--device: must be cpu or cuda \(got 'gpu'\)" "$svilm" pretrain --manifest m.csv --out run --device gpu
    expect_error "--device: must be cpu or cuda \(got 'gpu'\)" "$svilm" evaluate --model m --manifest m.csv --device gpu
    if ! cuda_usable; then
        expect_error "$cuda_refused" "$svilm" pretrain --manifest m.csv --out run --device cuda
        expect_error "$cuda_refused" "$svilm" evaluate --model m.safetensors --manifest m.csv --device cuda
        return
    fi
    synth_videos
    local train=("$svilm" pretrain --manifest videos/manifest.csv "${tiny_run[@]}")
    expect 0 "^device: CUDA, .+, float32$" "${train[@]}" --out run --device cuda
    has_line "^wrote run/model.safetensors after 2 steps$"
    expect_file_lines 3 run/log.csv
    expect 0 "^device: CPU, " "${train[@]}" --out cpu_run
    # the losses of step 1: column 3 of the CSV logs' second lines
    if ! awk -F, 'FNR == 2 { loss[NR > FNR] = $3 } END { d = loss[0] - loss[1]; exit !(d * d < 1e-6 * loss[0] * loss[0]) }' \
        cpu_run/log.csv run/log.csv; then
        echo "FAILED: step 1's loss on the GPU is not the CPU's:"
        cat cpu_run/log.csv run/log.csv
        failures=$((failures + 1))
    fi
    expect 0 "^resumed: run/checkpoint.safetensors, at step 2$" \
        "${train[@]}" --out run --device cuda --resume run/checkpoint.safetensors
    expect 0 "^text->video " "$svilm" evaluate --model run/model.safetensors --manifest videos/manifest.csv --device cuda
}

# Bad videos: each skipped one with its reason (pretrain: in RUN/skipped.csv, the first ones
# printed; evaluate: each printed); every one skipped is a failed run, exit 1, with the reasons.
# The reasons' wording is the video reader's: only the path they start with is checked.
# embed, features, ground and classify on a user's videos: what each wrote, row by row.
inference() {
    synth_videos
    echo "not a video" >videos/bad.mp4
    "$svilm" init --preset tiny --out tiny.safetensors >/dev/null || { echo "FAILED: svilm init"; exit 1; }
    # batches of 2 in every run: a run's numbers depend on how its clips are batched (the GEMMs' blocking)
    local batched=(--model tiny.safetensors --batch 2) model=(--model tiny.safetensors)

    # a folder: its 5 video files, sorted; the bad one skipped and listed
    expect 0 "^wrote emb/embeddings.safetensors and embeddings.npy: 4 x 64 " "$svilm" embed "${batched[@]}" --out emb videos
    has_line "^skipped 1 of 5 videos, each with its reason in emb/skipped.csv:$"
    expect_file_lines 5 emb/items.csv
    grep -q '^0,000000,videos/000000.mp4,,$' emb/items.csv && grep -q '^3,000003,videos/000003.mp4,,$' emb/items.csv ||
        { echo "FAILED: emb/items.csv rows"; cat emb/items.csv; failures=$((failures + 1)); }
    grep -q '^VIDEOS,videos/bad.mp4,videos/bad.mp4: ' emb/skipped.csv || { echo "FAILED: emb/skipped.csv"; failures=$((failures + 1)); }
    # .npy: magic, version 1.0, the shape in the header, then 4 x 64 float32
    head -c 128 emb/embeddings.npy | grep -aq "'descr': '<f4', 'fortran_order': False, 'shape': (4, 64)" ||
        { echo "FAILED: emb/embeddings.npy header"; failures=$((failures + 1)); }
    [[ $(stat -c %s emb/embeddings.npy) -eq $((128 + 4 * 64 * 4)) ]] || { echo "FAILED: emb/embeddings.npy size"; failures=$((failures + 1)); }

    # the same videos from a manifest, in parts of 2: the same numbers
    expect 0 "^wrote emb2/embeddings.safetensors" "$svilm" embed "${batched[@]}" --out emb2 --chunk 2 videos/manifest.csv
    cmp -s emb/embeddings.npy emb2/embeddings.npy || { echo "FAILED: embeddings differ between a folder and a manifest"; failures=$((failures + 1)); }
    # stopped after its first part (the second part's file cannot be read), then resumed: the same numbers again
    mkdir -p emb3/parts/00001.safetensors
    expect 1 "00001.safetensors" "$svilm" embed "${batched[@]}" --out emb3 --chunk 2 --resume videos/manifest.csv
    [[ -f emb3/parts/00000.safetensors ]] || { echo "FAILED: the first part was not kept"; failures=$((failures + 1)); }
    rmdir emb3/parts/00001.safetensors
    expect_error "--out: emb3 is not empty: choose a new or empty folder, or pass --overwrite \(or --resume an interrupted run\)" \
        "$svilm" embed "${batched[@]}" --out emb3 --chunk 2 videos/manifest.csv
    local changed="covers other videos than this run gives that part \(the inputs, their order or --chunk changed\); start again with --overwrite$"
    expect 1 "^svilm: --resume: emb3/parts/00000.safetensors $changed" "$svilm" embed "${batched[@]}" --out emb3 --chunk 2 --resume \
        videos/000002.mp4 videos/000003.mp4 videos/000000.mp4 videos/000001.mp4
    expect 1 "^svilm: --resume: emb3/parts/00000.safetensors $changed" "$svilm" embed "${batched[@]}" --out emb3 --chunk 4 --resume \
        videos/manifest.csv
    expect 0 "^resumed: 1 part\(s\) were already written$" "$svilm" embed "${batched[@]}" --out emb3 --chunk 2 --resume videos/manifest.csv
    cmp -s emb/embeddings.npy emb3/embeddings.npy || { echo "FAILED: a resumed run's embeddings differ"; failures=$((failures + 1)); }
    [[ ! -e emb3/parts ]] || { echo "FAILED: emb3/parts left behind"; failures=$((failures + 1)); }

    # embed -> index -> search: every caption of the manifest is a query with its own video the answer
    expect 0 "^wrote idx/index.faiss and idx/index.json$" "$svilm" index --embeddings emb/embeddings.safetensors --out idx
    expect 0 "^text->video over 4 queries, 4 videos \(4 rows\)" "$svilm" search --index idx --model tiny.safetensors \
        --queries videos/manifest.csv
    has_line "^  R@1 [0-9.]+  R@5 100.0  R@10 100.0  median rank "

    # windows: a 1 s video, windows of 0.5 s every 0.25 s start at 0, 0.25, 0.5; features writes the same rows
    expect 0 "^wrote win/embeddings.safetensors and embeddings.npy: 3 x 64 " \
        "$svilm" embed "${batched[@]}" --out win --window 0.5 --stride 0.25 videos/000002.mp4
    grep -q '^2,000002@0.500-1.000,videos/000002.mp4,0.500,1.000$' win/items.csv || { echo "FAILED: win/items.csv"; cat win/items.csv; failures=$((failures + 1)); }
    expect 0 "^wrote 1 feature arrays \(3 windows\) to feats/features" \
        "$svilm" features "${batched[@]}" --out feats --window 0.5 --stride 0.25 videos/000002.mp4
    cmp -s win/embeddings.npy feats/features/000002.npy || { echo "FAILED: features differ from embed --window"; failures=$((failures + 1)); }
    grep -q '^000002,videos/000002.mp4,8,1,3,0.5,0.25,64$' feats/video_info.csv || { echo "FAILED: feats/video_info.csv"; cat feats/video_info.csv; failures=$((failures + 1)); }
    # two files of one name: ids clip and clip_2, both written under feats2/features
    mkdir -p a b && cp videos/000001.mp4 a/clip.mp4 && cp videos/000002.mp4 b/clip.mp4
    expect 0 "^wrote 2 feature arrays" "$svilm" features "${batched[@]}" --out feats2 --window 0.5 a b
    [[ -f feats2/features/clip.npy && -f feats2/features/clip_2.npy ]] || { echo "FAILED: feats2/features/clip{,_2}.npy"; ls -R feats2; failures=$((failures + 1)); }
    grep -q '"start": \[$' feats/features.json || { echo "FAILED: features.json has no window starts"; failures=$((failures + 1)); }

    # ground: the caption's two noun phrases, each with its group's map; the figure is a PNG
    expect 0 "^wrote g/grounding.png, maps.safetensors" "$svilm" ground "${model[@]}" --out g --video videos/000000.mp4 \
        --caption "a red ball rolls past a blue cube" --size 64
    has_line '^  "red ball" +-> group [0-7] \(cosine '
    has_line '^  "blue cube" +-> group [0-7] \(cosine '
    [[ $(head -c 8 g/grounding.png | od -An -tx1 | tr -d ' ') == 89504e470d0a1a0a ]] || { echo "FAILED: g/grounding.png is not a PNG"; failures=$((failures + 1)); }
    grep -q '"phrase": "blue cube"' g/grounding.json || { echo "FAILED: g/grounding.json"; failures=$((failures + 1)); }
    head -c 4000 g/maps.safetensors | grep -aq '"map_1":{"data_offsets":\[[0-9]*,[0-9]*\],"dtype":"F32","shape":\[8,64,64\]}' ||
        { echo "FAILED: g/maps.safetensors has no (8, 64, 64) map_1"; failures=$((failures + 1)); }
    expect 0 "^no groundable noun in \"quickly\"" "$svilm" ground "${model[@]}" --out g2 --video videos/000000.mp4 --caption quickly

    # classify: each video's class is its highest cosine among the classes
    expect 0 "^000001: " "$svilm" classify "${model[@]}" --classes "a red shape, a blue shape,a green shape" --out cls videos
    expect_file_lines 5 cls/predictions.csv
    awk -F, 'NR == 1 { for (k = 5; k <= NF; ++k) name[k] = $k; next }
             { best = 5; for (k = 6; k <= NF; ++k) if ($k + 0 > $best + 0) best = k; if ($3 != name[best] || $4 != $best) bad = 1 }
             END { exit bad }' cls/predictions.csv || { echo "FAILED: a prediction is not the highest cosine"; cat cls/predictions.csv; failures=$((failures + 1)); }

    expect_error "--stride: give --window and --stride together \(seconds\)" "$svilm" embed "${batched[@]}" --out x --stride 1 videos
    expect_error "VIDEOS: empty holds no video files .*" bash -c "mkdir -p empty && '$svilm' embed --model tiny.safetensors --out x empty"
    expect_error "--classes: give two or more class names \(got 1\)" "$svilm" classify "${model[@]}" --classes one videos
    expect_error "--video: nope.mp4 is not a file" "$svilm" ground "${model[@]}" --out x --video nope.mp4 --caption "a ball"
    expect 1 "^svilm: none of the 1 videos could be read" "$svilm" embed "${batched[@]}" --out y videos/bad.mp4
}

skipped_videos() {
    synth_videos
    echo "not a video" >videos/text.mp4
    {
        echo "video,caption"
        echo "000000.mp4,a square"
        echo "missing.mp4,a ghost"
        echo "000001.mp4,a circle"
        echo "text.mp4,\"a caption, with a comma\""
        echo "000002.mp4,a ring"
        echo "000003.mp4,a star"
    } >videos/some_bad.csv
    printf 'video,caption\nmissing.mp4,a ghost\ntext.mp4,some text\nnope.mp4,another ghost\n' >videos/all_bad.csv

    # 3 steps of 2: the 4 good videos are the first epoch's 2 batches, so step 3 meets every bad one
    local whole_epoch=(--steps 3 --batch 2 --threads 2)
    expect 0 "^skipped 2 videos, each with its reason in run/skipped.csv:$" \
        "$svilm" pretrain --manifest videos/some_bad.csv --out run "${whole_epoch[@]}"
    expect_file_lines 3 run/skipped.csv
    grep -q '^3,videos/missing.mp4,videos/missing.mp4: ' run/skipped.csv ||
        { echo "FAILED: run/skipped.csv lacks the missing video"; cat run/skipped.csv; failures=$((failures + 1)); }
    expect 0 "^  videos/missing.mp4: " \
        "$svilm" pretrain --manifest videos/some_bad.csv --out run "${whole_epoch[@]}" --overwrite
    expect 0 "^  videos/missing.mp4: " "$svilm" evaluate --model run/model.safetensors --manifest videos/some_bad.csv
    has_line "^skipped 2 of 6 videos \(give --out to list them all in a file\):$"
    has_line "^retrieval: 4 pairs"

    local no_batch="^svilm: ManifestSource: no full batch of 2 clips in a whole epoch: 3 of 3 items skipped, "
    expect 1 "${no_batch}first: videos/.*; every skipped video is listed in all_bad/skipped.csv$" \
        "$svilm" pretrain --manifest videos/all_bad.csv --out all_bad "${tiny_run[@]}"
    expect_file_lines 4 all_bad/skipped.csv
    expect 1 "^svilm: videos/all_bad.csv: no video could be used for retrieval: all 3 were skipped \(the reasons are above\)$" \
        "$svilm" evaluate --model run/model.safetensors --manifest videos/all_bad.csv --out all_bad_eval
    has_line "^  videos/text.mp4: "
    grep -q '^retrieval: videos/all_bad.csv line 3,videos/text.mp4,' all_bad_eval/skipped.csv ||
        { echo "FAILED: all_bad_eval/skipped.csv lacks text.mp4"; cat all_bad_eval/skipped.csv; failures=$((failures + 1)); }
}

# classify, probe, localize and synth --task: wrong inputs refused before any work (exit 2, one
# line naming the option and the file), a skipped video counted and listed, none usable: exit 1.
downstream_inputs() {
    "$svilm" synth --task action --counts 3,2,2,0 --out act >/dev/null || { echo "FAILED: svilm synth --task action"; exit 1; }
    "$svilm" synth --task localisation --counts 2,1,1,0 --out anet >/dev/null ||
        { echo "FAILED: svilm synth --task localisation"; exit 1; }
    "$svilm" init --preset tiny --out tiny.safetensors >/dev/null || { echo "FAILED: svilm init"; exit 1; }
    local lists=act/ucfTrainTestlist
    local classify=("$svilm" classify --model tiny.safetensors --videos act/UCF-101)
    expect_error "--class-index: nope.txt: cannot open the class index" \
        "${classify[@]}" --class-index nope.txt --list $lists/testlist01.txt
    expect_error "--class-index: give the class index \(UCF101's classInd.txt\) or --class-names, one of the two" \
        "${classify[@]}" --list $lists/testlist01.txt
    echo "Dances/v_Dances_g01_c01.mp4" >unknown.txt
    expect_error "--list: unknown.txt: line 1: unknown class Dances" "${classify[@]}" --class-index $lists/classInd.txt --list unknown.txt
    : >empty.txt
    expect_error "--list: empty.txt lists no clips" "${classify[@]}" --class-index $lists/classInd.txt --list empty.txt
    expect_error "--template: 'a video' has no \{\} for the class name" \
        "${classify[@]}" --class-index $lists/classInd.txt --list $lists/testlist01.txt --template "a video"
    mkdir full && touch full/earlier
    expect_error "--out: full is not empty: choose a new or empty folder, or pass --overwrite" \
        "${classify[@]}" --class-index $lists/classInd.txt --list $lists/testlist01.txt --out full
    echo "{}" >metrics.json
    expect_error "--metrics: metrics.json exists \(pass --overwrite to replace it\)" \
        "${classify[@]}" --class-index $lists/classInd.txt --list $lists/testlist01.txt --metrics metrics.json
    expect_error "--videos: nowhere is not a folder" "$svilm" probe --model tiny.safetensors --videos nowhere \
        --class-index $lists/classInd.txt --train-list $lists/trainlist01.txt --val-list $lists/vallist01.txt \
        --test-list $lists/testlist01.txt
    expect_error "--ground-truth: nope.json: cannot open the ActivityNet ground truth" \
        "$svilm" localize --model tiny.safetensors --ground-truth nope.json --videos anet/videos
    expect_error "--test-ground-truth: anet/activity_net_unseen.v1-3.min.json: no testing video has an annotated segment" \
        "$svilm" localize --model tiny.safetensors --ground-truth anet/activity_net.v1-3.min.json \
        --test-ground-truth anet/activity_net_unseen.v1-3.min.json --videos anet/videos
    expect_error "--counts: expected 4 counts, found 2 \(got '1,2'\): .*" "$svilm" synth --task qa --counts 1,2 --out qa
    expect_error "--counts: each count must be a whole number \(got '1,-2,3,4'\): .*" \
        "$svilm" synth --task qa --counts 1,-2,3,4 --out qa
    expect_error "--task action: --split, --count, --scene-change and --composites are pre-training's; .*" \
        "$svilm" synth --task action --count 3 --out qa
    expect_error "--out: act is not empty: choose a new or empty folder, or pass --overwrite" \
        "$svilm" synth --task action --out act

    # a missing and an undecodable clip: skipped, counted, listed; the rest scored
    local test_list=$lists/testlist01.txt
    head -n 1 $test_list >some_bad.txt
    echo "MovesLeft/v_MovesLeft_g09_c01.mp4" >>some_bad.txt
    echo "not a video" >act/UCF-101/Grows/v_Grows_g09_c01.mp4
    echo "Grows/v_Grows_g09_c01.mp4" >>some_bad.txt
    expect 0 "^skipped 2 of 3 videos, each with its reason in out/skipped.csv:$" \
        "${classify[@]}" --class-index $lists/classInd.txt --list some_bad.txt --out out
    has_line "^scored 1 test clips$"
    has_line "^  act/UCF-101/MovesLeft/v_MovesLeft_g09_c01.mp4: does not exist$"
    expect_file_lines 3 out/skipped.csv
    tail -n 2 some_bad.txt >all_bad.txt
    expect 1 "^svilm: --list: no video of all_bad.txt could be used: all 2 were skipped \(see above\)$" \
        "${classify[@]}" --class-index $lists/classInd.txt --list all_bad.txt
}

# svilm finetune, each task on a small synthetic export with an untrained tiny model: what it
# scored (every test item once, per-type counts adding up, the confusion matrix holding every
# clip), the files it wrote (a model file svilm reads back, the head with its standardisation,
# the metrics), and its refusals.
finetune() {
    "$svilm" init --preset tiny --out tiny.safetensors >/dev/null || { echo "FAILED: svilm init"; exit 1; }
    "$svilm" synth --task qa --counts 12,6,10,0 --out qa >/dev/null || { echo "FAILED: svilm synth --task qa"; exit 1; }
    "$svilm" synth --task action --counts 14,7,14,0 --out act >/dev/null || { echo "FAILED: svilm synth --task action"; exit 1; }
    "$svilm" synth --task retrieval --counts 8,0,6,0 --out ret >/dev/null || { echo "FAILED: svilm synth --task retrieval"; exit 1; }
    local qa=(--train qa/train_qa.json --val qa/val_qa.json --test qa/test_qa.json --videos qa/videos)
    local lists=act/ucfTrainTestlist
    local action=(--class-index $lists/classInd.txt --train $lists/trainlist01.txt --val $lists/vallist01.txt
                  --test $lists/testlist01.txt --videos act/UCF-101)

    expect 0 "^test: top-1 [0-9.]+% of 10 questions" "$svilm" finetune --task qa --model tiny.safetensors "${qa[@]}" \
        --steps 3 --batch 4 --probe-steps 20 --out qa_run --metrics qa.json
    has_line "^training: end to end, 3 steps of 4 clips, peak lr 5e-05, after 20 steps of the head alone at peak lr"
    local per_type
    per_type=$(grep -A4 '^test: top' <<<"$output" | grep -Eo 'of [0-9]+$' | awk '{s += $2} END {print s}')
    [[ $per_type == 10 ]] || { echo "FAILED: the test questions' types add up to $per_type, not 10"; failures=$((failures + 1)); }
    grep -q '"accuracy": ' qa.json && grep -q '"per_type": {' qa.json ||
        { echo "FAILED: qa.json lacks the accuracy or per-type numbers"; failures=$((failures + 1)); }
    grep -q 'standardise_q' qa_run/head.safetensors || { echo "FAILED: the QA head file has no standardisation"; failures=$((failures + 1)); }
    expect 0 '"embed_dim"' "$svilm" info --model qa_run/model.safetensors
    expect_file_lines 24 qa_run/log.csv

    expect 0 "^test: top-1 [0-9.]+% of 14 clips \(chance 14.3%\)" "$svilm" finetune --task action --model tiny.safetensors \
        "${action[@]}" --freeze --steps 5 --out act_run --metrics act.json
    has_line "^training: frozen encoders, the head alone, 5 steps of 16 clips"
    [[ $(awk -F, 'NR > 1 {for (i = 2; i <= NF; ++i) s += $i} END {print s}' act_run/confusion.csv) == 14 ]] ||
        { echo "FAILED: act_run/confusion.csv does not hold the 14 test clips"; failures=$((failures + 1)); }
    grep -q '"top1": ' act.json || { echo "FAILED: act.json has no top-1"; failures=$((failures + 1)); }

    # a test clip that does not decode and one that is missing: left out, counted, listed with their source
    local bad missing
    bad=$(sed -n 1p $lists/testlist01.txt) missing=$(sed -n 2p $lists/testlist01.txt)
    printf 'not a video' >"act/UCF-101/$bad" && rm "act/UCF-101/$missing"
    expect 0 "^skipped 2 of 35 videos, each with its reason in act_bad/skipped.csv:$" "$svilm" finetune --task action \
        --model tiny.safetensors "${action[@]}" --freeze --steps 2 --out act_bad
    has_line "^test: top-1 [0-9.]+% of 12 clips"
    expect_file_lines 3 act_bad/skipped.csv
    grep -q "^$lists/testlist01.txt,.*$missing" act_bad/skipped.csv ||
        { echo "FAILED: the missing clip is not listed with its split list"; failures=$((failures + 1)); }

    expect 0 "^fine-tuned:" "$svilm" finetune --task retrieval --model tiny.safetensors --train ret/MSRVTT_data.json \
        --test ret/MSRVTT_JSFUSION_test.csv --videos ret/videos --steps 2 --batch 4 --out ret_run --metrics ret.json
    has_line "^zero-shot:"
    has_line "^test: ret/MSRVTT_JSFUSION_test.csv, 6 pairs"
    grep -q '"fine_tuned": {' ret.json && grep -q '"zero_shot": {' ret.json ||
        { echo "FAILED: ret.json lacks the zero-shot or fine-tuned numbers"; failures=$((failures + 1)); }

    expect_error "--val: --task qa needs a validation split" "$svilm" finetune --task qa --model tiny.safetensors \
        --train qa/train_qa.json --test qa/test_qa.json --videos qa/videos --out x
    expect_error "--class-index: --task action needs the class index \(classInd.txt\)" "$svilm" finetune --task action \
        --model tiny.safetensors --train $lists/trainlist01.txt --val $lists/vallist01.txt --test $lists/testlist01.txt \
        --videos act/UCF-101 --out x
    expect_error "--out: qa_run is not empty: choose a new or empty folder, or pass --overwrite" \
        "$svilm" finetune --task qa --model tiny.safetensors "${qa[@]}" --out qa_run
    expect_error "--metrics: qa.json exists \(pass --overwrite to replace it\)" \
        "$svilm" finetune --task qa --model tiny.safetensors "${qa[@]}" --out y --metrics qa.json
    expect_error "--losses: 'grouding' is not contrastive, temporal or grounding" "$svilm" finetune --task retrieval \
        --model tiny.safetensors --train ret/MSRVTT_data.json --test ret/MSRVTT_JSFUSION_test.csv --videos ret/videos \
        --losses contrastive,grouding --out w
    expect_error "--template: 'a video' has no \{\} for the class name" "$svilm" finetune --task action \
        --model tiny.safetensors "${action[@]}" --template "a video" --out v
    expect_error "--train: nope.json: .*" "$svilm" finetune --task qa --model tiny.safetensors --train nope.json \
        --val qa/val_qa.json --test qa/test_qa.json --videos qa/videos --out z
}

# --precision: a tiny model trained for 600 steps (well above chance: fp32 text->video R@10 at
# least 25 where chance is 10) retrieves 100 videos of the synthetic test split with R@1, R@5 and
# R@10 within 3 points of fp32 at bf16 and at int8. Most numbers agree within 1; 2 or 3 queries
# of 100 can change rank between near-tied videos even at an embedding cosine of 0.99999 to
# fp32 (docs/performance.md, Precision). embed records the precision; training and a precision
# that does not exist are refused.
precision() {
    "$svilm" synth --split train --count 200 --seed 11 --out train >/dev/null &&
        "$svilm" synth --split test --count 100 --seed 7 --out test >/dev/null &&
        "$svilm" pretrain --manifest train/manifest.csv --out run --steps 600 --batch 16 --threads 2 >/dev/null ||
        { echo "FAILED: synth or pretrain"; exit 1; }
    local p
    for p in fp32 bf16 int8; do
        expect 0 "^text->video " "$svilm" --precision $p evaluate --model run/model.safetensors --manifest test/manifest.csv
        grep -E "^(text->video|video->text) " <<<"$output" >$p.txt
    done
    awk '$1 == "text->video" && $4 < 25 { exit 1 }' fp32.txt || { echo "FAILED: the model did not learn"; cat fp32.txt; failures=$((failures + 1)); }
    for p in bf16 int8; do
        # columns 2-4 of each direction: R@1, R@5, R@10
        paste fp32.txt $p.txt | awk -v p=$p -v bound=3 '{ for (k = 2; k <= 4; ++k) { d = $k - $(k + 6); if (d < 0) d = -d;
            if (d > bound) { printf "FAILED: %s %s column %d: fp32 %s, %s %s\n", p, $1, k, $k, p, $(k + 6); bad = 1 } } }
            END { exit bad }' || { cat fp32.txt $p.txt; failures=$((failures + 1)); }
    done
    # embed at int8 records it; its first part, kept when the second cannot be written, is
    # refused by a resumed run at fp32
    mkdir -p emb/parts/00001.safetensors
    expect 1 "00001.safetensors" "$svilm" --precision int8 embed --model run/model.safetensors --out emb --chunk 1 --resume \
        test/000000.mp4 test/000001.mp4
    has_line "^model: .*, int8\)$"
    rmdir emb/parts/00001.safetensors
    expect 1 "^svilm: --resume: emb/parts/00000.safetensors was written at --precision int8; start again with --overwrite$" \
        "$svilm" embed --model run/model.safetensors --out emb --chunk 1 --resume test/000000.mp4 test/000001.mp4
    expect 0 "^resumed: 1 part" "$svilm" --precision int8 embed --model run/model.safetensors --out emb --chunk 1 --resume \
        test/000000.mp4 test/000001.mp4
    head -c 4000 emb/embeddings.safetensors | grep -Fq '\"precision\":\"int8\"' ||
        { echo "FAILED: embeddings.safetensors does not record the precision"; failures=$((failures + 1)); }
    expect_error "--precision: must be fp32, bf16 or int8 \(got 'fp16'\)" "$svilm" --precision fp16 embed \
        --model run/model.safetensors --out x test/000000.mp4
    expect_error "--precision int8: pretrain trains, and training runs in fp32 .*" "$svilm" --precision int8 pretrain \
        --manifest train/manifest.csv --out run2
}

"$case_name"
if [[ $failures -gt 0 ]]; then
    echo "$case_name: $failures check(s) failed"
    exit 1
fi
echo "$case_name: every check passed"
