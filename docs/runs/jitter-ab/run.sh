#!/bin/bash
# equal-time A/B of the refine model's crop jitter: the recipe's against a narrower one, 24 min each side by side on one core
cd /work/main
C="--data /tmp/recipe5s1/cache --depth 18 --width 32 --batch 32 --optimizer adamw --weight-decay 0.05 --loss l1 --epochs 100000 --val-every 10 --seed 1 --quiet --time-budget 24m --stage crop --size 128 --lr 2e-3 --margin 0.3 --negatives 0.25 --turned-negatives 0.4 --head integral --stages 3"
rm -rf /tmp/jab; mkdir -p /tmp/jab
OMP_NUM_THREADS=1 GOMAXPROCS=1 bin/catmark train $C --scale 0.25 --shift 0.15 --rotate 25 --out /tmp/jab/wide > /tmp/jab/wide.out 2>&1 &
OMP_NUM_THREADS=1 GOMAXPROCS=1 bin/catmark train $C --scale 0.15 --shift 0.08 --rotate 15 --out /tmp/jab/narrow > /tmp/jab/narrow.out 2>&1 &
wait
for v in wide narrow; do
  mkdir -p /tmp/jab/$v-model && cp /tmp/recipe5s1/model/coarse.safetensors /tmp/jab/$v-model/ && bin/catmark export --model /tmp/jab/$v/last.safetensors --out /tmp/jab/$v-model/refine.safetensors >/dev/null
  echo "$v epochs $(wc -l < /tmp/jab/$v/metrics.jsonl)"
  bin/catmark eval --model /tmp/jab/$v-model --data /tmp/val-select --quiet --json > /tmp/jab/$v-det.json 2>/dev/null
  bin/catmark eval --model /tmp/jab/$v/last.safetensors --data /tmp/val-select --quiet --json > /tmp/jab/$v-ref.json 2>/dev/null
  python3 -c "import json;d=json.load(open('/tmp/jab/$v-det.json'));r=json.load(open('/tmp/jab/$v-ref.json'));print('$v val-select detector', round(d['nme'],4), round(d['failure_rate']*100,1), 'refine true crops', round(r['nme'],4))"
done
echo jab done
