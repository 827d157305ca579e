#!/usr/bin/env bash
# The measurements beside scripts/train-model.sh's own (eval-val-select.json, eval-val-report.json,
# eval-refine-*.json) for one run folder OUT, with the recipe's detector settings (--upright 0.5
# --zoom 0.15; the defaults while recipe 7 ran):
#   the val-report photos turned 45°, 90°, 180° and 270°; composites of 2 and 3 photos (recall, false
#   faces; issue 12) on both halves; and the two inference defaults taken away one at a time
#   (--upright 0, --zoom 0), to show what each does; the coarse model alone on val-report. Every file: OUT/eval-*.json.
#
#   bash docs/runs/recipe-7/evaluate.sh /tmp/recipe7s1 [bin/catmark]
set -euo pipefail
out=${1:?usage: evaluate.sh OUT [CATMARK]}
bin=${2:-bin/catmark}
detector=(--upright 0.5 --zoom 0.15) # as scripts/train-model.sh measures its models; later flags override
ev() { local name=$1; shift; "$bin" eval --model "$out/model" --quiet --json "${detector[@]}" "$@" >"$out/eval-$name.json"; }
for deg in 45 90 180 270; do ev "val-report-turn-$deg" --data "$out/val-report" --turn "$deg"; done
for half in val-select val-report; do
  for k in 2 3; do ev "$half-composite-$k" --data "$out/$half" --composite "$k"; done
  ev "$half-upright-0" --data "$out/$half" --upright 0
  ev "$half-zoom-0" --data "$out/$half" --zoom 0
done
"$bin" eval --model "$out/model/coarse.safetensors" --data "$out/val-report" --quiet --json >"$out/eval-coarse-val-report.json"
"$bin" eval --model "$out/model" --data "$out/val-report" --quiet "${detector[@]}" --out "$out/report-pictures" >/dev/null
cp "$out/report-pictures/photos.csv" "$out/photos-val-report.csv"
