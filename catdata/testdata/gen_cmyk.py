# gen_cmyk.py writes cmyk.jpg, a small CMYK JPEG (Adobe APP14, 4 components) for source_test.go;
# Go's encoder cannot write one.   /usr/bin/python3 gen_cmyk.py   (Pillow 9.4)
from PIL import Image

img = Image.new("CMYK", (24, 16))
for y in range(16):
    for x in range(24):
        img.putpixel((x, y), (x * 10, y * 15, 128, 20))
img.save("cmyk.jpg", quality=90)
