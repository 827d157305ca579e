#!/usr/bin/env bash
# Copies the photos (and .cat files) of one split of a prepared cache out of the photo folder the
# cache was made from, so that a detector can be measured on original photos:
#   scripts/split-photos.sh CACHE SPLIT PHOTOS OUT
#   scripts/split-photos.sh /tmp/cache320 val ../shared/data/cats /tmp/valphotos
# SPLIT is train, val, or one half of val: val-select (for choosing epochs, runs and settings) or
# val-report (for the figures we quote, never used for a choice). The halves are by 8-digit ID
# prefix (the same cat never on both sides): a prefix is in val-select when the first byte of the
# SHA-256 of the prefix is even.
set -euo pipefail
cache=$1 split=$2 photos=$3 out=$4
mkdir -p "$out"
python3 - "$cache" "$split" "$photos" "$out" <<'PY'
import hashlib, json, shutil, sys, os
cache, split, photos, out = sys.argv[1:]
m = json.load(open(os.path.join(cache, "manifest.json")))
half = None
if split in ("val-select", "val-report"):
    split, half = "val", split[4:]
if split not in m["split"]:
    sys.exit(f"split-photos: no split {split!r} in {cache} (want train, val, val-select or val-report)")
def part(name):
    base = os.path.basename(name)
    key = base[:8] if base[:8].isdigit() else base
    return "select" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "report"
n = 0
for i in m["split"][split]:
    name = m["items"][i]["name"]
    if half and part(name) != half:
        continue
    for suffix in ("", ".cat"):
        shutil.copy(os.path.join(photos, name + suffix), out)
    n += 1
print(f"copied {n} photos of {sys.argv[2]} to {out}")
PY
