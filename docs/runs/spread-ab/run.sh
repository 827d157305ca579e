#!/bin/bash
# equal-time A/B of DSNT's variance regulariser on the refine model's integral head (--spread λ,
# σ = 1 cell): λ = 0.01 and λ = 0.001, 24 min each side by side on one core, against the recipe's
# recipe run in the same setting (docs/runs/jitter-ab/wide, 87 epochs); each paired with the
# full-hour seed 1's coarse model and measured on val-select. λ = 1 and λ = 0.1 ran first the same
# way and were stopped after epoch 20 (spread1/, spread01/: far behind).
cd /work/main
bin=${BIN:-bin/catmark}
C="--data /tmp/recipe5s1/cache --depth 18 --width 32 --batch 32 --optimizer adamw --weight-decay 0.05 --loss l1 --epochs 100000 --val-every 10 --seed 1 --quiet --time-budget 24m --stage crop --size 128 --lr 2e-3 --margin 0.3 --scale 0.25 --shift 0.15 --rotate 25 --negatives 0.25 --turned-negatives 0.4 --head integral --stages 3"
rm -rf /tmp/sab; mkdir -p /tmp/sab
OMP_NUM_THREADS=1 GOMAXPROCS=1 $bin train $C --spread 0.01 --out /tmp/sab/spread001 > /tmp/sab/spread001.out 2>&1 &
OMP_NUM_THREADS=1 GOMAXPROCS=1 $bin train $C --spread 0.001 --out /tmp/sab/spread0001 > /tmp/sab/spread0001.out 2>&1 &
wait
for v in spread001 spread0001; do
  mkdir -p /tmp/sab/$v-model && cp /tmp/recipe5s1/model/coarse.safetensors /tmp/sab/$v-model/ && $bin export --model /tmp/sab/$v/last.safetensors --out /tmp/sab/$v-model/refine.safetensors >/dev/null
  echo "$v epochs $(wc -l < /tmp/sab/$v/metrics.jsonl)"
  $bin eval --model /tmp/sab/$v-model --data /tmp/val-select --quiet --json > /tmp/sab/$v-det.json 2>/dev/null
  $bin eval --model /tmp/sab/$v/last.safetensors --data /tmp/val-select --quiet --json > /tmp/sab/$v-ref.json 2>/dev/null
  python3 -c "import json;d=json.load(open('/tmp/sab/$v-det.json'));r=json.load(open('/tmp/sab/$v-ref.json'));print('$v val-select detector', round(d['nme'],4), round(d['failure_rate']*100,1), 'refine true crops', round(r['nme'],4))"
done
echo sab done
