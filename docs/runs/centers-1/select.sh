#!/usr/bin/env bash
# select.sh BIN MODEL PHOTOS OUT: the centers detector's settings on val-select (accuracy only, not timed).
set -uo pipefail
bin=$1 model=$2 photos=$3 out=$4
mkdir -p "$out"
ev() { # name flags...
  local name=$1; shift
  [ -s "$out/$name.json" ] && return
  "$bin" eval --model "$model" --first-stage centers "$@" --data "$photos" --quiet --json > "$out/$name.json" 2>"$out/$name.err"
}
for s in "default|" "zoom0|--zoom 0" "passes2|--passes 2" "passes2-zoom0|--passes 2 --zoom 0" "size320|--centers-size 320" "size320-zoom0|--centers-size 320 --zoom 0" "minface03|--min-face 0.3" "minface01|--min-face 0.1" "size320-minface03|--centers-size 320 --min-face 0.3"; do
  name=${s%%|*}; read -ra flags <<<"${s#*|}"
  case $name in *minface*) ;; *)
    ev "$name-upright" "${flags[@]}"
    ev "$name-45" "${flags[@]}" --turn 45
    ev "$name-random" "${flags[@]}" --turn random --seed 1;;
  esac
  case $name in *zoom0) continue;; esac
  for k in 2 3 4; do
    ev "$name-composite-$k" "${flags[@]}" --composite $k --seed 1
    ev "$name-small-$k" "${flags[@]}" --composite $k --composite-small 0.25 --seed 1
  done
done
