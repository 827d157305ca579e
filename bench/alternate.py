#!/usr/bin/env python3
"""Times commands against each other on a shared, drifting machine: runs each of them N times,
alternating, and prints each one's minimum and median wall and CPU time and its median's ratio
to the first command's. Only such ratios mean anything where the machine's speed drifts.

    python3 bench/alternate.py 4 "old=/tmp/cm-old predict --model model --json PHOTOS" \\
                                 "new=bin/catmark predict --model model --json PHOTOS"
"""
import resource
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 3 or "=" not in "".join(sys.argv[2:]):
        sys.exit(__doc__)
    n = int(sys.argv[1])
    specs = [a.split("=", 1) for a in sys.argv[2:]]
    runs = {label: [] for label, _ in specs}
    for _ in range(n):
        for label, cmd in specs:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.time()
            subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            wall = time.time() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            runs[label].append((wall, cpu))
    base = None
    for label, v in runs.items():
        wall, cpu = [w for w, _ in v], [c for _, c in v]
        med, cmed = statistics.median(wall), statistics.median(cpu)
        if base is None:
            base = (med, cmed)
        print(f"{label:12s} wall min {min(wall):6.2f} s med {med:6.2f} s ({med / base[0]:.2f}×)   "
              f"cpu min {min(cpu):6.2f} s med {cmed:6.2f} s ({cmed / base[1]:.2f}×)")


if __name__ == "__main__":
    main()
