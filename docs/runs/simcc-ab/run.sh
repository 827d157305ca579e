#!/bin/bash
# Equal-time A/B of the refine model's head: the recipe's integral head (heatmaps at
# stride 16, soft-argmax) against SimCC's coordinate classification on pooled features
# (--head simcc: 256 bins a coordinate, soft-argmax over them), each with recipe 7's refine
# settings, 24 min side by side on one core each; each paired with recipe 7 seed 1's coarse model
# and measured on val-select (the detector with its defaults, and the refine model alone on true
# crops).
#   BIN=/tmp/cm-ab bash docs/runs/simcc-ab/run.sh   (needs /tmp/r7/cache and /tmp/r7/val-select)
cd "$(dirname "$0")/../../.."
bin=${BIN:-bin/catmark}
out=${OUT:-/tmp/simcc-ab}
C="--data /tmp/r7/cache --depth 18 --width 32 --batch 32 --optimizer adamw --weight-decay 0.05 --loss l1 --epochs 100000 --val-every 10 --seed 1 --quiet --time-budget 24m --stage crop --size 128 --lr 2e-3 --margin 0.3 --scale 0.25 --shift 0.15 --rotate 25 --negatives 0.25 --turned-negatives 0.4 --stages 3 --small-size 96 --small-share 0.5"
rm -rf "$out"; mkdir -p "$out"
for v in integral simcc; do
  OMP_NUM_THREADS=1 GOMAXPROCS=1 $bin train $C --head $v --out "$out/$v" > "$out/$v.out" 2>&1 &
done
wait
for v in integral simcc; do
  mkdir -p "$out/$v-model" && cp model/coarse.safetensors "$out/$v-model/" && $bin export --model "$out/$v/last.safetensors" --out "$out/$v-model/refine.safetensors" >/dev/null
  $bin eval --model "$out/$v-model" --data /tmp/r7/val-select --quiet --json > "$out/$v-det.json"
  $bin eval --model "$out/$v/last.safetensors" --data /tmp/r7/val-select --quiet --json > "$out/$v-ref.json"
  python3 -c "import json;d=json.load(open('$out/$v-det.json'));r=json.load(open('$out/$v-ref.json'));print('$v: epochs $(wc -l < "$out/$v/metrics.jsonl"), val-select detector', round(d['nme'],4), round(d['failure_rate']*100,1), '%, refine on true crops', round(r['nme'],4), 'per point', ', '.join('%.3f'%p['nme'] for p in r['per_point']))"
done
