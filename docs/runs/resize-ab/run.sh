#!/bin/bash
# equal-time A/B of progressive resizing for the refine model (--small-size 96 --small-share S):
# S = 0.5 and S = 0.75, 24 min each side by side on one core, against the recipe's run in
# the same setting (docs/runs/jitter-ab/wide, 87 epochs); each paired with the full-hour seed 1's
# coarse model and measured on val-select.
cd /work/main
bin=${BIN:-bin/catmark}
C="--data /tmp/recipe5s1/cache --depth 18 --width 32 --batch 32 --optimizer adamw --weight-decay 0.05 --loss l1 --epochs 100000 --val-every 10 --seed 1 --quiet --time-budget 24m --stage crop --size 128 --lr 2e-3 --margin 0.3 --scale 0.25 --shift 0.15 --rotate 25 --negatives 0.25 --turned-negatives 0.4 --head integral --stages 3"
rm -rf /tmp/rab; mkdir -p /tmp/rab
OMP_NUM_THREADS=1 GOMAXPROCS=1 $bin train $C --small-size 96 --small-share 0.5 --out /tmp/rab/s50 > /tmp/rab/s50.out 2>&1 &
OMP_NUM_THREADS=1 GOMAXPROCS=1 $bin train $C --small-size 96 --small-share 0.75 --out /tmp/rab/s75 > /tmp/rab/s75.out 2>&1 &
wait
for v in s50 s75; do
  mkdir -p /tmp/rab/$v-model && cp /tmp/recipe5s1/model/coarse.safetensors /tmp/rab/$v-model/ && $bin export --model /tmp/rab/$v/last.safetensors --out /tmp/rab/$v-model/refine.safetensors >/dev/null
  echo "$v epochs $(wc -l < /tmp/rab/$v/metrics.jsonl)"
  $bin eval --model /tmp/rab/$v-model --data /tmp/val-select --quiet --json > /tmp/rab/$v-det.json 2>/dev/null
  $bin eval --model /tmp/rab/$v/last.safetensors --data /tmp/val-select --quiet --json > /tmp/rab/$v-ref.json 2>/dev/null
  python3 -c "import json;d=json.load(open('/tmp/rab/$v-det.json'));r=json.load(open('/tmp/rab/$v-ref.json'));print('$v val-select detector', round(d['nme'],4), round(d['failure_rate']*100,1), 'refine true crops', round(r['nme'],4))"
done
echo rab done
