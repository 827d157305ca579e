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

# model mode batch size freeze
configs="resnet50 train 8 224 -
resnet18 train 32 112 -
resnet50 infer 8 224 -
resnet50 infer 1 224 -
resnet50 train 8 224 conv1,bn1,layer1,layer2"

echo "$configs" | while read -r model mode batch size freeze; do
	fz=""
	[ "$freeze" = "-" ] || fz="--freeze $freeze"
	steps=$STEPS
	[ "$batch" = 1 ] && steps=$((STEPS * 4))
	r=0
	while [ "$r" -lt "$ROUNDS" ]; do
		# shellcheck disable=SC2086
		OMP_NUM_THREADS=2 "$tmp/catmark" bench --json --model "$model" --mode "$mode" --batch "$batch" \
			--size "$size" --steps "$steps" --warmup "$WARMUP" $fz >>"$tmp/catmark.jsonl"
		# shellcheck disable=SC2086
		"$PY" bench/pytorch_bench.py --model "$model" --mode "$mode" --batch "$batch" --size "$size" \
			--steps "$steps" --warmup "$WARMUP" --threads 2 $fz >>"$tmp/pytorch.jsonl"
		r=$((r + 1))
	done
done

"$PY" - "$tmp/catmark.jsonl" "$tmp/pytorch.jsonl" <<'PYEOF'
import json, sys
def load(path):
    runs = {}
    for line in open(path):
        r = json.loads(line)
        key = (r["model"], r["mode"], r["batch"], r["size"], r.get("freeze") or "")
        runs.setdefault(key, []).append(r)
    return runs
cm, pt = load(sys.argv[1]), load(sys.argv[2])
print("| config | catmark img/s | PyTorch img/s | ratio | CPU-time ratio | catmark peak RSS MiB | PyTorch peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for key in cm:
    model, mode, batch, size, freeze = key
    name = "%s %s batch %d at %d" % (model, mode, batch, size) + (" frozen " + freeze if freeze else "")
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
