import json, os, sys
out = sys.argv[1]
def j(n):
    p = os.path.join(out, n + ".json")
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
names = []
for f in sorted(os.listdir(out)):
    if f.endswith("-composite-2.json") or f.endswith("-upright.json"):
        n = f.rsplit("-", 2)[0] if f.endswith("-composite-2.json") else f[:-len("-upright.json")]
        if n not in names:
            names.append(n)
print("setting\tupright\tmedian\tfail\tgross\t45°/up\trand/up\trand_gross\tcomp_recall\tcomp_false\tsmall_recall\tsmall_false\tsmall_smallest")
for n in names:
    u, t, r = j(n + "-upright"), j(n + "-45"), j(n + "-random")
    if u:
        row = [n, f"{u['nme']:.4f}", f"{u['nme_median']:.4f}", f"{u['failure_rate']:.3f}", str(u['gross_misses'])]
        row += [f"{t['nme']/u['nme']:.3f}" if t else "-", f"{r['nme']/u['nme']:.3f}" if r else "-", str(r['gross_misses']) if r else "-"]
    else:
        row = [n] + ["-"] * 7
    for kind in ("composite", "small"):
        cs = [j(f"{n}-{kind}-{k}") for k in (2, 3, 4)]
        if all(cs):
            faces = sum(c['faces'] for c in cs); found = sum(c['found'] for c in cs)
            photos = sum(c['photos'] for c in cs); false = sum(c['false_faces'] for c in cs)
            sm = sum(c['smallest_found'] for c in cs) / photos
            row += [f"{found/faces:.3f}", f"{false/photos:.3f}"] + ([f"{sm:.3f}"] if kind == "small" else [])
        else:
            row += ["-", "-"] + (["-"] if kind == "small" else [])
    print("\t".join(row))
