#!/usr/bin/env python3
"""Prints recipe 7's figures for the model card from run folders' eval-*.json.

    python3 docs/runs/recipe-7/summary.py docs/runs/recipe-7/seed1 docs/runs/recipe-7/seed2
"""
import json
import os
import sys


def load(run, name):
    path = os.path.join(run, f"eval-{name}.json")
    return json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else None


def nme(d):
    return f"{d['nme']:.4f} ({100 * d['failure_rate']:.1f} %)" if d else "-"


def comp(d):
    return f"{100 * d['recall']:.1f} % ({d['false_faces']} false in {d['photos']})" if d else "-"


rows = [
    ("val-select, detector", "val-select", nme),
    ("val-select, --upright 0", "val-select-upright-0", nme),
    ("val-select, --zoom 0", "val-select-zoom-0", nme),
    ("val-select, refine on true crops", "refine-val-select", nme),
    ("val-report, detector", "val-report", nme),
    ("val-report, --upright 0", "val-report-upright-0", nme),
    ("val-report, --zoom 0", "val-report-zoom-0", nme),
    ("val-report, refine on true crops", "refine-val-report", nme),
    ("val-report, coarse model alone", "coarse-val-report", nme),
    ("val-report turned 45°", "val-report-turn-45", nme),
    ("val-report turned 90°", "val-report-turn-90", nme),
    ("val-report turned 180°", "val-report-turn-180", nme),
    ("val-report turned 270°", "val-report-turn-270", nme),
    ("val-select composites of 2", "val-select-composite-2", comp),
    ("val-select composites of 3", "val-select-composite-3", comp),
    ("val-select composites of 2, --min-face 0.5", "val-select-composite-2-min-face-0.5", comp),
    ("val-select composites of 3, --min-face 0.5", "val-select-composite-3-min-face-0.5", comp),
    ("val-report composites of 2", "val-report-composite-2", comp),
    ("val-report composites of 3", "val-report-composite-3", comp),
    ("val-report composites of 2, --min-face 0.5", "val-report-composite-2-min-face-0.5", comp),
    ("val-report composites of 3, --min-face 0.5", "val-report-composite-3-min-face-0.5", comp),
]
runs = sys.argv[1:]
print("| | " + " | ".join(os.path.basename(r.rstrip("/")) for r in runs) + " |")
print("|---|" + "---:|" * len(runs))
for label, name, fmt in rows:
    print(f"| {label} | " + " | ".join(fmt(load(r, name)) for r in runs) + " |")
for name in ("val-report", "refine-val-report"):
    for r in runs:
        d = load(r, name)
        if d:
            pts = ", ".join(f"{p['nme']:.3f}" for p in d["per_point"])
            print(f"per point, {name}, {r}: {pts} (PCK@0.1 {100 * d['pck_0_1']:.1f} %)")
