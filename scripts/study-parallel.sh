#!/usr/bin/env bash
# Runs the loss study's cases as parallel single-threaded processes, $JOBS at a time (default:
# one per core), then writes the study's table and chart. Each case is an ordinary resumable
# `catmark study --cases N` run into the same folder (all of the study's seeds, one after the
# other), so rerunning this script resumes; a killed run loses at most its current epoch.
#
#   CASES="1 2 … 10" JOBS=2 scripts/study-parallel.sh CATMARK_BINARY CACHE OUT_DIR [study flags…]
#
# Examples (docs/study.md):
#   scripts/study-parallel.sh ./catmark /tmp/cache64 runs/study-sgd --optimizer sgd --epochs 100 --depth 18 --width 16 --size 64 --batch 32
#   CASES="1 3 4 5 6 7 8 9 10" scripts/study-parallel.sh ./catmark /tmp/cache320 runs/refine-sgd --scale refine --seeds 1,2,3
set -euo pipefail
bin=$1 data=$2 out=$3
shift 3
cases=${CASES:-1 2 3 4 5 6 7}
jobs=${JOBS:-$(nproc)}
mkdir -p "$out"
running=0
for c in $cases; do
  OMP_NUM_THREADS=1 GOMAXPROCS=1 "$bin" study --data "$data" --out "$out" --cases "$c" "$@" >"$out/case$c.out" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait
"$bin" study --data "$data" --out "$out" --cases "${cases// /,}" "$@"
