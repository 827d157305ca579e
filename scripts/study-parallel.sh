#!/usr/bin/env bash
# Runs the loss study's cases as parallel single-threaded processes (for machines with many
# cores), then writes the study's table and chart. Each case is an ordinary resumable
# `catmark study --cases N` run into the same folder, so rerunning this script resumes.
#
#   scripts/study-parallel.sh CATMARK_BINARY CACHE OUT_DIR [study flags…]
#
# Example (the study in docs/study.md):
#   scripts/study-parallel.sh ./catmark /tmp/cache64 runs/study-sgd --optimizer sgd --epochs 100 --depth 18 --width 16 --size 64 --batch 32
set -euo pipefail
bin=$1 data=$2 out=$3
shift 3
mkdir -p "$out"
for c in 1 2 3 4 5 6 7; do
  OMP_NUM_THREADS=1 GOMAXPROCS=1 "$bin" study --data "$data" --out "$out" --cases "$c" "$@" >"$out/case$c.out" 2>&1 &
done
wait
"$bin" study --data "$data" --out "$out" "$@"
