#!/usr/bin/env bash
# Speed/accuracy of the shipped model's settings on val-report (this binary), two alternating rounds.
set -uo pipefail
P=/work/runs/check-b1/photos; one=$(ls $P/*.jpg | head -1); n=$(ls $P/*.jpg | wc -l)
bin=/work/bin/catmark-now; M=/work/main/model
out=/work/runs/speed-card.tsv; printf 'round\tsetting\tone_s\tall_s\tphotos_per_s\n' > $out
settings=("default|" "upright-only|--any-angle=false" "fast|--passes 2 --zoom 0 --search 0" "fastest|--any-angle=false --passes 1 --flip=false --zoom 0 --search 0")
$bin predict --json --model $M $P > /dev/null
for r in 1 2; do
  for s in "${settings[@]}"; do
    IFS='|' read -r name flags <<<"$s"
    t0=$(date +%s.%N); $bin predict --json --model $M $flags $one >/dev/null; t1=$(date +%s.%N)
    $bin predict --json --model $M $flags $P >/dev/null; t2=$(date +%s.%N)
    python3 -c "import sys; a,b,c=map(float,sys.argv[1:4]); n=int(sys.argv[4]); print(f'$r\t$name\t{b-a:.2f}\t{c-b:.2f}\t{(n-1)/(c-b-(b-a)):.2f}')" $t0 $t1 $t2 $n >> $out
  done
done
echo "speed $(date -u +%T)"
for s in "${settings[@]}"; do
  IFS='|' read -r name flags <<<"$s"
  $bin eval --model $M $flags --data $P --quiet --json > /work/runs/card-$name.json
done
echo "evals $(date -u +%T)"
