# gen_golden.py writes the Pillow reference images that resize_test.go compares against:
#   /usr/bin/python3 gen_golden.py   (Pillow 9.4, numpy)
# src_WxH.png are random RGB images; pil_WxH_to_W2xH2.png are Pillow's
# Image.resize((W2, H2), Image.BILINEAR) of them, the seed's resize.
import numpy as np
from PIL import Image

rng = np.random.default_rng(20240601)
cases = {
    (37, 23): [(11, 17), (50, 40), (37, 9), (5, 23), (1, 1)],
    (160, 120): [(112, 112), (224, 224), (77, 120)],
}
for (w, h), outs in cases.items():
    # smooth gradients plus noise, so both flat areas and edges are exercised
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) % 64 * 4], -1)
    arr = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    src = Image.fromarray(arr, "RGB")
    src.save(f"src_{w}x{h}.png")
    for (w2, h2) in outs:
        src.resize((w2, h2), Image.BILINEAR).save(f"pil_{w}x{h}_to_{w2}x{h2}.png")
