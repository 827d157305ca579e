#!/bin/bash
# the refine step of scripts/train-model.sh (commit after 5451d00, SMALL_SIZE default 96), run for
# seeds 1 and 2 side by side, one core each, beside nothing else; the coarse models are those of
# the full-hour runs of the same command (/tmp/recipe5s1, /tmp/recipe5s2; unchanged code and flags)
for seed in 1 2; do
  out=/tmp/recipe6s$seed
  OMP_NUM_THREADS=1 GOMAXPROCS=1 /tmp/cm-r6 train --data "$out/cache" --depth 18 --width 32 --batch 32 --optimizer adamw --weight-decay 0.05 \
    --loss l1 --epochs 100000 --val-every 10 --seed "$seed" --quiet \
    --time-budget 56m --stage crop --size 128 --lr 2e-3 --margin 0.3 --scale 0.25 --shift 0.15 --rotate 25 \
    --negatives 0.25 --turned-negatives 0.4 --head integral --stages 3 --small-size 96 --small-share 0.5 \
    --out "$out/refine" > "$out/refine.out" 2>&1 && touch "$out/refine/done" &
done
wait
echo r6 done
