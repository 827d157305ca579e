#!/usr/bin/env bash
# Copies the photos (and .cat files) of one split of a prepared cache out of the photo folder the
# cache was made from, so that a detector can be measured on original photos:
#   scripts/split-photos.sh CACHE SPLIT PHOTOS OUT
#   scripts/split-photos.sh /tmp/cache320 val ../shared/data/cats /tmp/valphotos
set -euo pipefail
cache=$1 split=$2 photos=$3 out=$4
mkdir -p "$out"
python3 - "$cache" "$split" "$photos" "$out" <<'PY'
import json, shutil, sys, os
cache, split, photos, out = sys.argv[1:]
m = json.load(open(os.path.join(cache, "manifest.json")))
for i in m["split"][split]:
    name = m["items"][i]["name"]
    for suffix in ("", ".cat"):
        shutil.copy(os.path.join(photos, name + suffix), out)
print(f"copied {len(m['split'][split])} photos of the {split} split to {out}")
PY
