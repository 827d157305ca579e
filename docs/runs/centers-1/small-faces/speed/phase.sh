#!/usr/bin/env bash
# Quiet stretch: the first-stage check of both small-faces seeds at the setting val-select chose, then a speed table.
set -uo pipefail
cd /work/main
FLAGS=${FLAGS:---first-stage centers --centers-size 320}
go build -o /work/bin/catmark-now ./cmd/catmark
echo "build $(date -u +%T) $(git rev-parse --short HEAD)"
for s in b1:/work/main/docs/runs/centers-1/small-faces/model b2:/work/main/docs/runs/centers-1/small-faces-seed2/model; do
  name=${s%%:*} model=${s#*:}
  out=/work/runs/check-$name
  rm -rf $out; mkdir -p $out; cp -r /work/runs/check-s1c/baseline $out/; rm -f $out/baseline/load-* $out/baseline/serve-*
  CANDIDATE_FLAGS="$FLAGS" ROUNDS=2 scripts/first-stage-check.sh /work/bin/catmark-now $model /work/bin/catmark-base /work/main/model /work/runs/centers-s1/cache $out > $out.log 2>&1
  echo "check $name rc $? $(date -u +%T)"
done
# speed table on val-report: predict photos/s = (N-1)/(t_all - t_one), two rounds alternating settings
P=/work/runs/check-b1/photos; one=$(ls $P/*.jpg | head -1); n=$(ls $P/*.jpg | wc -l)
M1=/work/main/docs/runs/centers-1/small-faces/model
out=/work/runs/speed-b1.tsv; printf 'round\tsetting\tone_s\tall_s\tphotos_per_s\n' > $out
settings=("base-0.6.0|/work/bin/catmark-base|/work/main/model||" "coarse|/work/bin/catmark-now|/work/main/model||" "centers-256|/work/bin/catmark-now|$M1|--first-stage centers|" "centers-320|/work/bin/catmark-now|$M1|--first-stage centers --centers-size 320|" "centers-320-cold|/work/bin/catmark-now|$M1|--first-stage centers --centers-size 320|off" "centers-320-zoom0|/work/bin/catmark-now|$M1|--first-stage centers --centers-size 320 --zoom 0|" "centers-256-fast|/work/bin/catmark-now|$M1|--first-stage centers --passes 2 --zoom 0 --search 0|")
for r in 1 2; do
  for s in "${settings[@]}"; do
    IFS='|' read -r name bin model flags choices <<<"$s"
    export CATMARK_DNNL_CHOICES=${choices:-}
    [ -z "$choices" ] && unset CATMARK_DNNL_CHOICES
    t0=$(date +%s.%N); $bin predict --json --model $model $flags $one >/dev/null; t1=$(date +%s.%N)
    $bin predict --json --model $model $flags $P >/dev/null; t2=$(date +%s.%N)
    python3 -c "import sys; a,b,c=map(float,sys.argv[1:4]); n=int(sys.argv[4]); print(f'$r\t$name\t{b-a:.2f}\t{c-b:.2f}\t{(n-1)/(c-b-(b-a)):.2f}')" $t0 $t1 $t2 $n >> $out
  done
done
unset CATMARK_DNNL_CHOICES
echo "speed $(date -u +%T)"
# accuracy of the speed table's other settings on val-report (not timed)
for s in "centers-256|--first-stage centers" "centers-320-zoom0|--first-stage centers --centers-size 320 --zoom 0" "centers-256-fast|--first-stage centers --passes 2 --zoom 0 --search 0"; do
  IFS='|' read -r name flags <<<"$s"
  for m in b1:$M1 b2:/work/main/docs/runs/centers-1/small-faces-seed2/model; do
    /work/bin/catmark-now eval --model ${m#*:} $flags --data $P --quiet --json > /work/runs/speed-${m%%:*}-$name.json
  done
done
echo "evals $(date -u +%T)"
