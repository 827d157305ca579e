#!/usr/bin/env bash
# Runs the loss study at the refine scale (docs/study.md, "How to run"): three studies, one job
# queue, $JOBS single-threaded processes at a time (default 2).
#
#   cached-sgd    cases 1–10 × $SEEDS, the seed's setting: the recipe's coarse model as backbone
#                 (--init $BACKBONE, head fresh), stem to layer2 frozen, their outputs cached
#                 (--cache-frozen), flips only, SGD momentum 0.9, constant lr $LR_SGD (3e-2: the
#                 seed's 1e-3 leaves plain MSE far from NME 0.15 within the budget, docs/study.md)
#   cached-adamw  the same with the recipe's optimiser: AdamW, lr 2e-3, weight decay 0.05, cosine
#   scratch-adamw cases 1, 6, 10 × $SEEDS from scratch at the refine scale (its box jitter), AdamW:
#                 the cross-check without a backbone
#
#   scripts/study-refine.sh CATMARK_BINARY CACHE OUT_DIR
#
# A job is one case of one study with all its seeds, one after the other (`catmark study --cases
# N --seeds …`, resumable): rerunning the script skips finished runs and resumes unfinished ones
# from their last epoch. Each run's folder (OUT_DIR/STUDY/caseN or caseN-seedS) holds its
# config.json, metrics.jsonl and eval.json (its last checkpoint measured); each job's output is OUT_DIR/STUDY/logs/caseN.out.
# STUDIES="cached-adamw cached-sgd" runs only those, in that order.
# When the queue is done, each study's table and charts are written (study.md, study.json,
# study.png, study-time.png). With DOCS=docs/study/refine, those and every run's small files (not
# the checkpoints, nor the 150 MB feature file) are copied there, ready to commit. EXTRA adds
# flags to every study (a smoke test: EXTRA="--width 4 --size 32 --batch 4").
set -euo pipefail
bin=$1 data=$2 out=$3
jobs=${JOBS:-2}
seeds=${SEEDS:-1,2,3}
backbone=$(realpath "${BACKBONE:-model/coarse.safetensors}") # absolute: run folders record it
epochs_sgd=${EPOCHS_SGD:-150}
epochs_adamw=${EPOCHS_ADAMW:-60}
lr_sgd=${LR_SGD:-3e-2}
epochs_scratch=${EPOCHS_SCRATCH:-80}

frozen=(--scale refine --init "$backbone" --freeze stem,layer1,layer2 --cache-frozen --seeds "$seeds")
declare -A flags=(
  [cached-sgd]="${frozen[*]} --epochs $epochs_sgd --optimizer sgd --lr $lr_sgd --schedule constant ${EXTRA:-}"
  [cached-adamw]="${frozen[*]} --epochs $epochs_adamw --optimizer adamw --lr 2e-3 --schedule cosine ${EXTRA:-}"
  [scratch-adamw]="--scale refine --seeds $seeds --epochs $epochs_scratch --optimizer adamw --lr 2e-3 --schedule cosine ${EXTRA:-}"
)
declare -A cases=(
  [cached-sgd]="1 2 3 4 5 6 7 8 9 10"
  [cached-adamw]="1 2 3 4 5 6 7 8 9 10"
  [scratch-adamw]="1 6 10"
)
# Longest jobs first, so that the two queues end together: the from-scratch runs, then case 2
# (twice the epochs) and case 7 (PCA colour: through the frozen layers, not cached).
# STUDIES picks the studies and their order (default: all three, longest jobs first).
queue=()
for s in ${STUDIES:-scratch-adamw cached-sgd cached-adamw}; do
  [ -n "${cases[$s]:-}" ] || { echo "study-refine.sh: STUDIES: no study $s" >&2; exit 2; }
  if [ "$s" = scratch-adamw ]; then
    for c in ${cases[$s]}; do queue+=("$s $c"); done
  else
    queue+=("$s 2" "$s 7")
    for c in ${cases[$s]}; do
      [ "$c" = 2 ] || [ "$c" = 7 ] || queue+=("$s $c")
    done
  fi
done

mkdir -p "$out"
running=0
for item in "${queue[@]}"; do
  read -r study c <<<"$item"
  mkdir -p "$out/$study/logs"
  # shellcheck disable=SC2086 # the flags are word lists
  OMP_NUM_THREADS=1 GOMAXPROCS=1 "$bin" study --data "$data" --out "$out/$study" --cases "$c" ${flags[$study]} \
    >>"$out/$study/logs/case$c.out" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || echo "a job failed: see $out/*/logs/" >&2
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || echo "a job failed: see $out/*/logs/" >&2
  running=$((running - 1))
done

for study in ${STUDIES:-scratch-adamw cached-sgd cached-adamw}; do
  c=${cases[$study]}
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 GOMAXPROCS=1 "$bin" study --data "$data" --out "$out/$study" --cases "${c// /,}" ${flags[$study]} \
    >"$out/$study/logs/summary.out" 2>&1 || echo "$study: summary failed: $out/$study/logs/summary.out" >&2
  if [ -n "${DOCS:-}" ]; then
    docs=$(realpath -m "$DOCS") # the copy runs in $out
    (cd "$out" && find "$study" \( -name '*.md' -o -name '*.json' -o -name '*.jsonl' -o -name '*.png' -o -name '*.out' \) -print0 |
      xargs -0 -I{} install -D -m 0644 {} "$docs/{}")
  fi
done
echo "done: $out/{cached-sgd,cached-adamw,scratch-adamw}/study.md"
