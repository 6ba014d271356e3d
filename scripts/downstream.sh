#!/usr/bin/env bash
# The paper's four downstream tasks (its Tables 1-4) in miniature, in one command: install what is
# missing, build svilm in Release, write the synthetic downstream datasets in the real datasets'
# formats (MSR-VTT, MSRVTT-QA, UCF101, ActivityNet v1.3), pre-train `tiny` as the main demo does
# (contrastive only, and all three S-ViLM losses) once per seed, run every task on the untrained
# and both pre-trained models with the same programs a user runs on the real data, and print the
# four tables (scripts/downstream_table.py). Every test number is on the held-out colour-shape
# pairs; see docs/downstream.md.
#
#   bash scripts/downstream.sh                # 1 seed, about 12 minutes on 2 cores after the build
#   bash scripts/downstream.sh --seeds 3      # the README's table: mean ± sd over 3 seeds
#
# Options: --seeds N (pre-training seeds 0..N-1, default 1), --out DIR (default runs/downstream),
# --steps N (pre-training steps of each run, default 1000), --threads N (default: all cores).
# An existing --out is reused: a finished step (its metrics file exists) is not run again.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=1 out=runs/downstream steps=1000 threads=0
while (($#)); do
    case $1 in
        --seeds) seeds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        *) echo "downstream.sh: unknown option $1 (--seeds, --out, --steps, --threads)" >&2; exit 2 ;;
    esac
done
[[ $seeds =~ ^[1-9][0-9]*$ ]] || { echo "downstream.sh: --seeds must be a positive whole number" >&2; exit 2; }

bash scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DSVILM_BUILD_TESTS=OFF -DSVILM_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build build/release --target svilm_cli svilm_demo -j"$(nproc)"
svilm=build/release/examples/svilm
demo=build/release/examples/svilm_demo
start=$(date +%s)
step() { printf '\n== %s  (%ds)\n' "$*" $(($(date +%s) - start)); }
# The lines of a program's output worth seeing here (all of it stays in its --out folder's files);
# never fails, so that a program's own exit status is what stops the script (pipefail).
show() { grep -E "$1" || true; }

# 1. The datasets, once: the same files for every seed and model.
data=$out/data
for task in retrieval qa action localisation; do
    if [[ ! -d $data/$task ]]; then
        step "writing the synthetic $task dataset"
        "$svilm" synth --task "$task" --out "$data/$task.partial" --overwrite
        mv "$data/$task.partial" "$data/$task"
    fi
done
actions=$data/action/ucfTrainTestlist

for ((seed = 0; seed < seeds; ++seed)); do
    run=$out/seed$seed
    # 2. Pre-training as the main demo does it, at this seed (its models: untrained, contrastive, svilm).
    if [[ ! -f $run/pretrain/untrained/model.safetensors ]]; then  # the demo writes this one last
        step "seed $seed: pre-training tiny twice ($steps steps each)"
        "$demo" --seed "$seed" --steps "$steps" --threads "$threads" --out "$run/pretrain" | show '^(model|chance|untrained|contrastive|S-ViLM) '
    fi
    for model in untrained contrastive svilm; do
        file=$run/pretrain/$model/model.safetensors
        dir=$run/$model
        mkdir -p "$dir"
        common=(--model "$file" --seed "$seed")
        # 3. Retrieval: zero-shot, then fine-tuned with the contrastive loss on the train split.
        if [[ ! -f $dir/retrieval.json ]]; then
            step "seed $seed, $model: retrieval (zero-shot and fine-tuned)"
            "$svilm" finetune --task retrieval "${common[@]}" --out "$dir/retrieval" --overwrite \
                --train "$data/retrieval/MSRVTT_data.json" --test "$data/retrieval/MSRVTT_JSFUSION_test_unseen.csv" \
                --videos "$data/retrieval/videos" --steps 100 --lr 1e-4 --threads "$threads" \
                --metrics "$dir/retrieval.json" | show '^(zero-shot|fine-tuned)|text->video'
        fi
        # 4. Video QA: the answer head on the frozen encoders' embeddings.
        if [[ ! -f $dir/qa.json ]]; then
            step "seed $seed, $model: video QA"
            "$svilm" finetune --task qa "${common[@]}" --out "$dir/qa" --overwrite --freeze --steps 3000 \
                --train "$data/qa/train_qa.json" --val "$data/qa/val_qa.json" --test "$data/qa/test_unseen_qa.json" \
                --videos "$data/qa/videos" --threads "$threads" --metrics "$dir/qa.json" | show '^(val|test): top'
        fi
        # 5. Actions: zero-shot with prompts, linear probe, fine-tuned end to end.
        if [[ ! -f $dir/classify.json ]]; then
            step "seed $seed, $model: actions, zero-shot"
            "$svilm" classify --model "$file" --class-index "$actions/classInd.txt" --list "$actions/test_unseenlist01.txt" \
                --videos "$data/action/UCF-101" --out "$dir/classify" --overwrite --metrics "$dir/classify.json" | show '^ensemble'
        fi
        if [[ ! -f $dir/probe.json ]]; then
            step "seed $seed, $model: actions, linear probe"
            "$svilm" probe --model "$file" --class-index "$actions/classInd.txt" --train-list "$actions/trainlist01.txt" \
                --val-list "$actions/vallist01.txt" --test-list "$actions/test_unseenlist01.txt" --videos "$data/action/UCF-101" \
                --out "$dir/probe" --overwrite --metrics "$dir/probe.json" | show '^probe:'
        fi
        if [[ ! -f $dir/action.json ]]; then
            step "seed $seed, $model: actions, fine-tuned"
            "$svilm" finetune --task action "${common[@]}" --out "$dir/action" --overwrite --steps 150 --lr 1e-5 --head-lr 1e-2 --probe-steps 2000 \
                --class-index "$actions/classInd.txt" --train "$actions/trainlist01.txt" --val "$actions/vallist01.txt" \
                --test "$actions/test_unseenlist01.txt" --videos "$data/action/UCF-101" --threads "$threads" \
                --metrics "$dir/action.json" | show '^(val|test): top'
        fi
        # 6. Temporal localisation: window features, the baseline localiser, ActivityNet's mAP.
        if [[ ! -f $dir/localize.json ]]; then
            step "seed $seed, $model: temporal localisation"
            "$svilm" localize --model "$file" --ground-truth "$data/localisation/activity_net.v1-3.min.json" \
                --test-ground-truth "$data/localisation/activity_net_unseen.v1-3.min.json" --videos "$data/localisation/videos" \
                --out "$dir/localize" --overwrite --metrics "$dir/localize.json" | show '^(chance: )?mAP@'
        fi
    done
done

step "done: the tables"
python3 scripts/downstream_table.py "$out" --seeds "$seeds" | tee "$out/tables.txt"
echo
echo "Tables in $out/tables.txt; each program's output folder and metrics file under $out/seed*/"
