#!/usr/bin/env bash
# Measures a candidate detector against a baseline on the figures that decide whether a new
# first stage (catmark's --first-stage centers) can replace the default one, and writes
# OUT/summary.md (a table of both sides, their ratios, and which thresholds pass) and
# OUT/summary.json:
#
#   scripts/first-stage-check.sh CANDIDATE_BIN CANDIDATE_MODEL BASELINE_BIN BASELINE_MODEL DATA OUT
#   scripts/first-stage-check.sh bin/catmark /tmp/centers-run/model /tmp/catmark-main model \
#       /tmp/cache320 /tmp/first-stage-check
#
# DATA is a prepared cache (its $SPLIT photos, default val-report, are copied out of $PHOTOS,
# default ../shared/data/cats, by scripts/split-photos.sh) or a folder of photos with .cat files,
# measured whole. Each side is a catmark binary, a model folder (model/ is the shipped one) and
# its detector flags: $CANDIDATE_FLAGS (default "--first-stage centers") and $BASELINE_FLAGS
# (default none). The figures:
#   - upright: NME, median NME, failure rate, gross misses (NME > 1), the worst photos;
#   - every photo turned 45°, and each by its own angle over the full circle (--turn random,
#     --seed $SEED): NME and its ratio to upright;
#   - composites of 2, 3 and 4 photos (scaled 0.5–1), and the same with one face a quarter of
#     the largest's size or less (--composite-small 0.25): recall (of the smallest face and of
#     the others apart) and false faces a picture;
#   - catmark predict photos/s on the one-cat photos: each round times predict on one photo and
#     on all of them, and photos/s is (N − 1) over the difference, so model loading is left out;
#   - catmark serve under 20 concurrent clients ($REQUESTS requests of the first photo, after 20
#     to warm up; server/'s BenchmarkLoad is the load tester): requests/s, p99 and errors.
# An eval whose JSON (and key) an earlier run left in OUT with the same binary, model files, flags
# and photos is not run again: copy a baseline's OUT/baseline into a new OUT to reuse its figures.
# The timed figures alternate candidate and baseline, $ROUNDS rounds (default 3), the order
# flipped every round; photos/s and requests/s are the median over rounds, p99 the worst round's,
# errors the sum. Before the first round each side predicts all the photos once, untimed
# (WARMUP=0 skips it): the timed runs find the photos in the page cache and the oneDNN backend's
# kernel choices in its choices file (CATMARK_DNNL_CHOICES; =off times them in every run). Run
# it on a machine doing nothing else.
#
# The eval figures need catmark eval's --turn random and --composite-small; a BASELINE_BIN
# without them (a build from before they existed) has its model measured by CANDIDATE_BIN with
# $BASELINE_FLAGS instead, and summary.md says so. The load tester is the server package's test
# binary, built with go from this checkout unless $LOADTEST names one (go test -c ./server).
#
# Thresholds (on the candidate): upright NME no worse than the baseline's, failure rate ≤ 12 %,
# no gross miss; 45° and random-angle NME ≤ 1.15 × upright; composite recall ≥ 98 % and ≤ 0.05
# false faces a picture, for the plain and the small-face composites (each pooled over 2, 3, 4);
# predict ≥ 3 × the baseline's photos/s; serve ≥ 3 × its requests/s, p99 ≤ 1.5 s, no error.
#
# SMOKE=1 runs every step on $SMOKE_PHOTOS photos (default 4), one round and 20 requests: a check
# that the script works (the test suite runs it on the committed fixture), not a measurement.
set -euo pipefail
if [ $# -ne 6 ]; then
  echo "usage: $0 CANDIDATE_BIN CANDIDATE_MODEL BASELINE_BIN BASELINE_MODEL DATA OUT (the script's header says more)" >&2
  exit 2
fi
cand_bin=$1 cand_model=$2 base_bin=$3 base_model=$4 data=$5 out=$6
root=$(cd "$(dirname "$0")/.." && pwd)
CANDIDATE_FLAGS=${CANDIDATE_FLAGS---first-stage centers}
BASELINE_FLAGS=${BASELINE_FLAGS-}
SPLIT=${SPLIT:-val-report}
PHOTOS=${PHOTOS:-$root/../shared/data/cats}
SEED=${SEED:-1}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-400}
SMOKE=${SMOKE:-}
if [ -n "$SMOKE" ]; then
  ROUNDS=1 REQUESTS=20
fi
for f in "$cand_bin" "$base_bin"; do
  [ -x "$f" ] || { echo "first-stage-check: $f is not an executable catmark binary" >&2; exit 2; }
done
for d in "$cand_model" "$base_model"; do
  [ -d "$d" ] || { echo "first-stage-check: $d is not a model folder" >&2; exit 2; }
done
[ -e "$data" ] || { echo "first-stage-check: data $data does not exist" >&2; exit 2; }
[ "$REQUESTS" -ge 20 ] || { echo "first-stage-check: REQUESTS=$REQUESTS: want at least 20 (one per client)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The photos: a cache's split copied out of $PHOTOS, or the folder itself; SMOKE keeps a few.
photos=$data
if [ -f "$data/manifest.json" ]; then
  photos=$out/photos
  rm -rf "$photos"
  bash "$root/scripts/split-photos.sh" "$data" "$SPLIT" "$PHOTOS" "$photos" >&2
fi
if [ -n "$SMOKE" ]; then
  small=$out/photos-smoke
  rm -rf "$small"
  mkdir -p "$small"
  find "$photos" -maxdepth 1 -name '*.jpg' | sort | head -n "${SMOKE_PHOTOS:-4}" | while read -r f; do
    cp "$f" "$f.cat" "$small/"
  done
  photos=$small
fi
mapfile -t jpgs < <(find "$photos" -maxdepth 1 -name '*.jpg' | sort)
[ "${#jpgs[@]}" -ge 4 ] || { echo "first-stage-check: ${#jpgs[@]} photos in $photos; want at least 4 (composites of 4)" >&2; exit 2; }

# The load tester.
loadtest=${LOADTEST:-}
if [ -z "$loadtest" ]; then
  loadtest=$out/tools/server.test
  mkdir -p "$out/tools"
  (cd "$root" && go test -c -o "$loadtest" ./server)
fi

# side NAME: sets bin, model, flags (an array) and evalbin for candidate or baseline.
side() {
  if [ "$1" = candidate ]; then
    bin=$cand_bin model=$cand_model
    read -r -a flags <<<"$CANDIDATE_FLAGS"
  else
    bin=$base_bin model=$base_model
    read -r -a flags <<<"$BASELINE_FLAGS"
  fi
  evalbin=$bin
  local help
  help=$("$bin" eval -h 2>&1 || true)
  if ! grep -q -- '-composite-small' <<<"$help"; then
    evalbin=$cand_bin
  fi
}

notes=$out/notes.txt
: >"$notes"
for s in candidate baseline; do
  side "$s"
  dir=$out/$s
  mkdir -p "$dir"
  if [ "$evalbin" != "$bin" ]; then
    echo "$s: $bin lacks catmark eval --turn random and --composite-small; its model's eval figures are measured by $evalbin" >>"$notes"
  fi
  # What decides an eval's figures: the binary, the model files, the flags and the photos. An
  # eval whose JSON is in OUT already with the same key is kept (so one baseline's eval figures
  # serve several candidates: copy its OUT/baseline into the new OUT first).
  what=$( { sha256sum "$evalbin" "$model"/*.safetensors; printf '%s\n' "${flags[@]}"; (cd "$photos" && sha256sum -- *.jpg *.cat); } | sha256sum | cut -d' ' -f1)
  ev() {
    local name=$1 key
    shift
    key="$what $*"
    if [ -s "$dir/$name.json" ] && [ "$(cat "$dir/$name.key" 2>/dev/null)" = "$key" ]; then
      echo "first-stage-check: $s eval $name: kept from an earlier run with the same binary, model, flags and photos" >&2
      return
    fi
    echo "first-stage-check: $s eval $name" >&2
    "$evalbin" eval --model "$model" "${flags[@]}" --data "$photos" --quiet --json "$@" >"$dir/$name.json"
    echo "$key" >"$dir/$name.key"
  }
  ev upright --out "$dir/upright"
  ev turn-45 --turn 45
  ev turn-random --turn random --seed "$SEED" --out "$dir/turn-random"
  for k in 2 3 4; do
    ev "composite-$k" --composite "$k" --seed "$SEED"
    ev "small-$k" --composite "$k" --composite-small 0.25 --seed "$SEED"
  done
done

# The timed figures, alternating sides.
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }

# wait_ready LOG: prints the URL the server logged once its /readyz answers 200.
wait_ready() {
  python3 - "$1" <<'PY'
import re, sys, time, urllib.request
log, deadline = sys.argv[1], time.time() + 120
url = None
while time.time() < deadline:
    if url is None:
        m = re.search(r"http://[0-9.:\[\]]+/", open(log, errors="replace").read())
        url = m.group(0) if m else None
    if url:
        try:
            if urllib.request.urlopen(url + "readyz", timeout=5).status == 200:
                print(url)
                sys.exit(0)
        except Exception:
            pass
    time.sleep(0.2)
sys.exit(f"first-stage-check: the server did not get ready within 120 s; its log: {log}")
PY
}

timings=$out/timings.tsv
printf 'round\tside\tphotos\tone_photo_s\tall_photos_s\n' >"$out/predict.tsv"
: >"$timings"
# One untimed predict on all the photos a side, so every timed run finds the photos in the page
# cache and a binary that keeps its timed kernel choices between runs (the oneDNN backend's
# choices file) has made them, as on a machine where it has run before. WARMUP=0 skips it.
if [ "${WARMUP:-1}" != 0 ]; then
  for s in candidate baseline; do
    side "$s"
    echo "first-stage-check: $s warm-up predict (untimed)" >&2
    "$bin" predict --model "$model" "${flags[@]}" --json "$photos" >/dev/null
  done
fi
for ((r = 1; r <= ROUNDS; r++)); do
  order="candidate baseline"
  if ((r % 2 == 0)); then order="baseline candidate"; fi
  for s in $order; do
    side "$s"
    echo "first-stage-check: round $r, $s predict" >&2
    t0=$(now)
    "$bin" predict --model "$model" "${flags[@]}" --json "${jpgs[0]}" >/dev/null
    t1=$(now)
    "$bin" predict --model "$model" "${flags[@]}" --json "$photos" >/dev/null
    t2=$(now)
    printf '%d\t%s\t%d\t%s\t%s\n' "$r" "$s" "${#jpgs[@]}" "$(minus "$t1" "$t0")" "$(minus "$t2" "$t1")" >>"$out/predict.tsv"
  done
  for s in $order; do
    side "$s"
    echo "first-stage-check: round $r, $s serve" >&2
    log=$out/$s/serve-$r.log
    "$bin" serve --model "$model" "${flags[@]}" --addr 127.0.0.1:0 >"$log" 2>&1 &
    server_pid=$!
    url=$(wait_ready "$log")
    for phase in warm timed; do
      n=$REQUESTS
      [ "$phase" = warm ] && n=20
      CATMARK_LOAD_URL=${url}v1/landmarks CATMARK_LOAD_PHOTO=${jpgs[0]} CATMARK_LOAD_REQUESTS=$n \
        CATMARK_LOAD_JSON=$out/$s/load-$r-$phase.json \
        "$loadtest" -test.run '^$' -test.bench '^BenchmarkLoad$' -test.benchtime 1x >"$out/$s/load-$r-$phase.log" 2>&1 || true
      [ -s "$out/$s/load-$r-$phase.json" ] || { echo "first-stage-check: the load test wrote no figures; see $out/$s/load-$r-$phase.log" >&2; exit 1; }
    done
    stop_server
  done
done

python3 - "$out" "$ROUNDS" "${SMOKE:+smoke}" "$cand_bin $cand_model $CANDIDATE_FLAGS" "$base_bin $base_model $BASELINE_FLAGS" "$photos" <<'PY'
import csv, json, os, statistics, sys

out, rounds, smoke, cand_desc, base_desc, photos = sys.argv[1:]
sides = ("candidate", "baseline")

def load(side, name):
    with open(os.path.join(out, side, name + ".json")) as f:
        return json.load(f)

fig = {}
for s in sides:
    f = {}
    up, t45, rnd = load(s, "upright"), load(s, "turn-45"), load(s, "turn-random")
    f["upright NME"] = up["nme"]
    f["upright NME (median)"] = up["nme_median"]
    f["upright failure rate"] = up["failure_rate"]
    f["upright gross misses (NME > 1)"] = up["gross_misses"]
    f["upright PCK@0.1"] = up["pck_0_1"]
    f["45° NME"] = t45["nme"]
    f["45° NME / upright"] = t45["nme"] / up["nme"] if up["nme"] else float("nan")
    f["random-angle NME"] = rnd["nme"]
    f["random-angle NME / upright"] = rnd["nme"] / up["nme"] if up["nme"] else float("nan")
    f["random-angle gross misses"] = rnd["gross_misses"]
    for kind, label in (("composite", "composites"), ("small", "small-face composites")):
        pictures = faces = found = false = small_found = others = others_found = 0
        for k in (2, 3, 4):
            c = load(s, f"{kind}-{k}")
            f[f"{label} of {k}: recall"] = c["recall"]
            f[f"{label} of {k}: false faces a picture"] = c["false_faces_per_photo"]
            if kind == "small":
                f[f"{label} of {k}: smallest face's recall"] = c["smallest_recall"]
                f[f"{label} of {k}: largest size ratio"] = c["size_ratio_max"]
            pictures += c["photos"]; faces += c["faces"]; found += c["found"]; false += c["false_faces"]
            small_found += c["smallest_found"]; others += c["others_faces"]; others_found += c["others_found"]
        f[f"{label}, all: recall"] = found / faces if faces else float("nan")
        f[f"{label}, all: smallest face's recall"] = small_found / pictures if pictures else float("nan")
        f[f"{label}, all: others' recall"] = others_found / others if others else float("nan")
        f[f"{label}, all: false faces a picture"] = false / pictures if pictures else float("nan")
    rates = []
    with open(os.path.join(out, "predict.tsv")) as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["side"] != s:
                continue
            n, one, allp = int(row["photos"]), float(row["one_photo_s"]), float(row["all_photos_s"])
            rates.append((n - 1) / (allp - one) if allp > one else n / allp)
    f["predict photos/s"] = statistics.median(rates)
    loads = [json.load(open(os.path.join(out, s, f"load-{r}-timed.json"))) for r in range(1, int(rounds) + 1)]
    f["serve requests/s (20 clients)"] = statistics.median(l["requests_per_s"] for l in loads)
    f["serve p99 (s)"] = max(l["p99_ms"] for l in loads) / 1000
    f["serve errors"] = sum(l["errors"] for l in loads)
    f["worst"] = up["worst"][:5]
    f["worst random-angle"] = rnd["worst"][:5]
    fig[s] = f

c, b = fig["candidate"], fig["baseline"]
def ok(cond):
    return "PASS" if cond else "FAIL"
def ratio(key):
    return c[key] / b[key] if b[key] else float("nan")
checks = [
    ("upright NME no worse than the baseline's", c["upright NME"] <= b["upright NME"], f'{c["upright NME"]:.4f} vs {b["upright NME"]:.4f}'),
    ("upright failure rate ≤ 12 %", c["upright failure rate"] <= 0.12, f'{100 * c["upright failure rate"]:.1f} %'),
    ("no upright photo above NME 1", c["upright gross misses (NME > 1)"] == 0, f'{c["upright gross misses (NME > 1)"]} photos'),
    ("45° NME ≤ 1.15 × upright", c["45° NME / upright"] <= 1.15, f'{c["45° NME / upright"]:.3f} ×'),
    ("random-angle NME ≤ 1.15 × upright", c["random-angle NME / upright"] <= 1.15, f'{c["random-angle NME / upright"]:.3f} ×'),
]
for label in ("composites", "small-face composites"):
    r, fp = c[f"{label}, all: recall"], c[f"{label}, all: false faces a picture"]
    checks.append((f"{label} (2–4): recall ≥ 98 %, ≤ 0.05 false faces a picture", r >= 0.98 and fp <= 0.05, f"{100 * r:.1f} %, {fp:.3f}"))
checks += [
    ("predict ≥ 3 × the baseline's photos/s", ratio("predict photos/s") >= 3, f'{ratio("predict photos/s"):.2f} ×'),
    ("serve ≥ 3 × the baseline's requests/s", ratio("serve requests/s (20 clients)") >= 3, f'{ratio("serve requests/s (20 clients)"):.2f} ×'),
    ("serve p99 ≤ 1.5 s", c["serve p99 (s)"] <= 1.5, f'{c["serve p99 (s)"]:.3f} s'),
    ("serve: no error", c["serve errors"] == 0, f'{c["serve errors"]} errors'),
]

def cell(key, v):
    if "misses" in key or "errors" in key:
        return str(v)
    if "rate" in key or "recall" in key or "PCK" in key:
        return f"{100 * v:.1f} %"
    if "photos/s" in key or "requests/s" in key:
        return f"{v:.2f}"
    return f"{v:.4f}"

lines = []
if smoke:
    lines += ["**SMOKE run: a handful of photos and one short round; the figures mean nothing.**", ""]
n = len([p for p in os.listdir(photos) if p.endswith(".jpg")])
lines += [
    "# First-stage check", "",
    f"- candidate: `{cand_desc.strip()}`",
    f"- baseline: `{base_desc.strip()}`",
    f"- photos: {n} in `{photos}`; timed figures over {rounds} alternating round(s)",
]
notes = open(os.path.join(out, "notes.txt")).read().strip()
for note in filter(None, notes.splitlines()):
    lines.append(f"- note: {note}")
lines += ["", "| figure | candidate | baseline | candidate / baseline |", "|---|---:|---:|---:|"]
for key, v in c.items():
    if key.startswith("worst"):
        continue
    bv = b[key]
    r = f"{v / bv:.3f}" if bv else "–"
    lines.append(f"| {key} | {cell(key, v)} | {cell(key, bv)} | {r} |")
lines += ["", "## Thresholds (candidate)", "", "| threshold | figure | |", "|---|---:|---|"]
for name, passed, figure in checks:
    lines.append(f"| {name} | {figure} | {ok(passed)} |")
passed = sum(1 for _, p, _ in checks if p)
lines += ["", f"{passed} of {len(checks)} thresholds pass.", "", "## Worst photos (NME; a photo above 1 is a gross miss)", ""]
for s in sides:
    for key, title in (("worst", "upright"), ("worst random-angle", "at random angles")):
        lines.append(f"- worst photos {title}, {s}: " + ", ".join(
            f'{w["name"]} {w["nme"]:.3f}' + (f' ({w["turn"]:.1f}°)' if "turn" in w else "") for w in fig[s][key]))
lines.append("")
with open(os.path.join(out, "summary.md"), "w") as fh:
    fh.write("\n".join(lines))
with open(os.path.join(out, "summary.json"), "w") as fh:
    json.dump({"smoke": bool(smoke), "figures": fig,
               "thresholds": [{"name": n, "pass": p, "figure": f} for n, p, f in checks]}, fh, indent=2, allow_nan=True)
print("\n".join(lines))
PY
