#!/bin/sh
# compare.sh runs `catmark bench` and bench/pytorch_bench.py (PyTorch 1.13, Debian's
# python3-torch, same oneDNN) on the speed targets, a fresh process per run so that peak RSS is per
# configuration, and prints a Markdown table: images/s of each (the best over ROUNDS runs of the
# median step time, since the machine is shared), their ratio, and peak RSS.
#
# Usage: bench/compare.sh            (from anywhere; ROUNDS=3 STEPS=8 WARMUP=3 by default)
#        ROUNDS=5 bench/compare.sh
# Both use 2 threads: OMP_NUM_THREADS=2 for catmark's oneDNN, torch.set_num_threads(2).
# The CPU-time ratio (PyTorch's CPU time per step over catmark's, the least of each) is less
# disturbed by other programs on the machine; run with OMP_WAIT_POLICY=passive so that waiting
# OpenMP threads sleep rather than spin and burn CPU time.
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-8}
WARMUP=${WARMUP:-3}
PY=${PY:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/catmark" ./cmd/catmark

# model width mode batch size freeze (the last two: the recipe's network at its two input sizes)
configs="resnet50 64 train 8 224 -
resnet18 64 train 32 112 -
resnet50 64 infer 8 224 -
resnet50 64 infer 1 224 -
resnet50 64 train 8 224 conv1,bn1,layer1,layer2
resnet18 32 train 32 128 -
resnet18 32 train 32 160 -"
[ -n "${ONLY:-}" ] && configs=$(echo "$configs" | grep -E "$ONLY" || true)

echo "$configs" | while read -r model width mode batch size freeze; do
	[ -n "$model" ] || continue
	fz=""
	[ "$freeze" = "-" ] || fz="--freeze $freeze"
	steps=$STEPS
	[ "$batch" = 1 ] && steps=$((STEPS * 4))
	r=0
	while [ "$r" -lt "$ROUNDS" ]; do
		# shellcheck disable=SC2086
		OMP_NUM_THREADS=2 "$tmp/catmark" bench --json --model "$model" --width "$width" --mode "$mode" --batch "$batch" \
			--size "$size" --steps "$steps" --warmup "$WARMUP" $fz >>"$tmp/catmark.jsonl"
		# shellcheck disable=SC2086
		"$PY" bench/pytorch_bench.py --model "$model" --width "$width" --mode "$mode" --batch "$batch" --size "$size" \
			--steps "$steps" --warmup "$WARMUP" --threads 2 $fz >>"$tmp/pytorch.jsonl"
		r=$((r + 1))
	done
done

[ -s "$tmp/catmark.jsonl" ] && "$PY" - "$tmp/catmark.jsonl" "$tmp/pytorch.jsonl" <<'PYEOF'
import json, sys
def load(path):
    runs = {}
    for line in open(path):
        r = json.loads(line)
        key = (r["model"], r.get("width", 64), r["mode"], r["batch"], r["size"], r.get("freeze") or "")
        runs.setdefault(key, []).append(r)
    return runs
cm, pt = load(sys.argv[1]), load(sys.argv[2])
print("| config | catmark img/s | PyTorch img/s | ratio | CPU-time ratio | catmark peak RSS MiB | PyTorch peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for key in cm:
    model, width, mode, batch, size, freeze = key
    name = "%s%s %s batch %d at %d" % (model, "" if width == 64 else " width %d" % width, mode, batch, size) + (" frozen " + freeze if freeze else "")
    c = max(r["images_per_s"] for r in cm[key])
    p = max(r["images_per_s"] for r in pt[key])
    crss = max(r["peak_rss_mib"] for r in cm[key])
    prss = max(r["peak_rss_mib"] for r in pt[key])
    ccpu = min(r["cpu_ms_per_step"] for r in cm[key])
    pcpu = min(r["cpu_ms_per_step"] for r in pt[key])
    print("| %s | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f |" % (name, c, p, c / p, pcpu / ccpu, crss, prss))
print()
print("Runs (median images/s of each run, catmark / PyTorch):")
for key in cm:
    print("  %s: %s / %s" % (" ".join(str(k) for k in key if k != ""),
        " ".join("%.2f" % r["images_per_s"] for r in cm[key]),
        " ".join("%.2f" % r["images_per_s"] for r in pt[key])))
PYEOF

# Serving and predicting with the shipped model (skip with SERVE=0): the service at 20 clients with
# batching (--batch 8) and without (--batch 1), and predict over a folder of real photos, batched
# and one by one, with oneDNN and with the pure-Go build (CGO_ENABLED=0 GOEXPERIMENT=simd).
[ "${SERVE:-1}" = 0 ] && exit 0
CATS=${CATS:-../shared/data/cats}
REQUESTS=${REQUESTS:-600}
PHOTOS=${PHOTOS:-60}
mkdir -p "$tmp/photos"
ls "$CATS" | grep '\.jpg$' | awk -v n="$PHOTOS" 'NR % 11 == 1 && c < n { print; c++ }' | while read -r f; do
	ln -s "$(cd "$CATS" && pwd)/$f" "$tmp/photos/$f"
done
go test -c -o "$tmp/server.test" ./server
echo
echo "| serving, 20 clients, $REQUESTS requests | req/s | p50 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|"
for batch in 1 8; do
	port=$((18700 + batch))
	"$tmp/catmark" serve --addr 127.0.0.1:$port --batch $batch 2>"$tmp/serve$batch.log" &
	pid=$!
	i=0
	until curl -sf http://127.0.0.1:$port/healthz >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.2; i=$((i + 1)); done
	CATMARK_LOAD_URL=http://127.0.0.1:$port/v1/landmarks CATMARK_LOAD_REQUESTS=$REQUESTS \
		"$tmp/server.test" -test.run '^$' -test.bench 'BenchmarkLoad$' -test.benchtime 1x >"$tmp/load$batch.txt" 2>&1 || true
	kill "$pid"; wait "$pid" 2>/dev/null || true
	awk -v b=$batch '/BenchmarkLoad/ { for (i = 1; i <= NF; i++) { if ($i == "req/s") r = $(i-1); if ($i == "p50-ms") p = $(i-1); if ($i == "p99-ms") q = $(i-1) } }
		/errors/ { if (match($0, /[0-9]+ errors/)) e = substr($0, RSTART, RLENGTH - 7) }
		END { printf "| catmark serve --batch %d | %s | %s | %s | %s |\n", b, r, p, q, (e == "" ? "?" : e) }' "$tmp/load$batch.txt"
done
CGO_ENABLED=0 GOEXPERIMENT=simd go build -o "$tmp/catmark-go" ./cmd/catmark
echo
echo "| predict, $PHOTOS real photos | seconds | photos/s |"
echo "|---|---:|---:|"
for run in "catmark --batch 1" "catmark --batch 8" "catmark-go --batch 1" "catmark-go --batch 8"; do
	set -- $run
	t0=$(date +%s.%N)
	"$tmp/$1" predict --json "$2" "$3" "$tmp/photos" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" -v n="$PHOTOS" -v name="$run" 'BEGIN { printf "| %s | %.1f | %.2f |\n", name, b - a, n / (b - a) }'
done
