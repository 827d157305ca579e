#!/usr/bin/env bash
# Every measurement of one recipe-7 run folder OUT (its model/, val-select/ and val-report/, as
# scripts/train-model.sh leaves them) with the detector's default settings (--zoom
# 0.15, --upright 0.5, --min-face 0.2): the command's own (eval-val-select.json,
# eval-val-report.json, eval-refine-*.json), the val-report photos turned 45°, 90°, 180° and 270°;
# composites of 2 and 3 photos (recall, false faces) on both halves; three defaults
# taken away one at a time (--upright 0, --zoom 0, --min-face 0.5), to show what each does; the
# coarse model alone on val-report; and each val-report photo's NME (photos-val-report.csv).
# Every file: OUT/eval-*.json.
#
#   bash docs/runs/recipe-7/evaluate.sh /tmp/recipe7s1 [bin/catmark]
set -euo pipefail
out=${1:?usage: evaluate.sh OUT [CATMARK]}
bin=${2:-bin/catmark}
ev() { local name=$1; shift; "$bin" eval --model "$out/model" --quiet --json "$@" >"$out/eval-$name.json"; }
for half in val-select val-report; do
  ev "$half" --data "$out/$half"
  "$bin" eval --model "$out/model/refine.safetensors" --data "$out/$half" --quiet --json >"$out/eval-refine-$half.json"
  for k in 2 3; do
    ev "$half-composite-$k" --data "$out/$half" --composite "$k"
    ev "$half-composite-$k-min-face-0.5" --data "$out/$half" --composite "$k" --min-face 0.5
  done
  ev "$half-upright-0" --data "$out/$half" --upright 0
  ev "$half-zoom-0" --data "$out/$half" --zoom 0
done
for deg in 45 90 180 270; do ev "val-report-turn-$deg" --data "$out/val-report" --turn "$deg"; done
"$bin" eval --model "$out/model/coarse.safetensors" --data "$out/val-report" --quiet --json >"$out/eval-coarse-val-report.json"
"$bin" eval --model "$out/model" --data "$out/val-report" --quiet --out "$out/report-pictures" >/dev/null
cp "$out/report-pictures/photos.csv" "$out/photos-val-report.csv"
