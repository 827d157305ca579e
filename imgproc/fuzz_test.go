package imgproc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/catmark/catmark/internal/hostile"
)

// fuzzLimits keep each fuzzed decode small and fast.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxSide: 4000, MaxPixels: 1 << 20, MaxDecodedBytes: 16 << 20, MaxScans: 20, MaxScanSamples: 20 << 20}

// FuzzDecode runs the upload decoder path (Check, then the standard decoders) on arbitrary
// bytes: it must not panic, every error must say which kind of failure it is, and an image it
// returns must be the size the header announced and within the limits.
// Run it longer with: go test -run '^$' -fuzz FuzzDecode -fuzztime 10m ./imgproc
func FuzzDecode(f *testing.F) {
	var jp bytes.Buffer
	jpeg.Encode(&jp, randomRGBA(24, 17, 3), &jpeg.Options{Quality: 50})
	grey := image.NewGray(image.Rect(0, 0, 9, 5))
	f.Add(jp.Bytes())
	f.Add(hostile.ProgressiveJPEG(200, 150, 3))
	f.Add(pngOfF(f, randomRGBA(7, 6, 1)))
	f.Add(pngOfF(f, grey))
	f.Add(pngOfF(f, image.NewRGBA64(image.Rect(0, 0, 3, 3))))
	f.Add(pngOfF(f, image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White})))
	f.Add([]byte("\xff\xd8\xff"))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	// EXIF: each orientation in both byte orders, a PNG's eXIf chunk, and malformed blocks (an
	// IFD offset outside, a huge entry count, a loop, a cut segment).
	for o := range uint16(9) {
		f.Add(withExif(f, jp.Bytes(), orientationTIFF(binary.LittleEndian, o)))
		f.Add(withExif(f, jp.Bytes(), orientationTIFF(binary.BigEndian, o)))
	}
	f.Add(withPNGExif(f, pngOfF(f, randomRGBA(7, 6, 1)), orientationTIFF(binary.BigEndian, 6)))
	f.Add(withExif(f, jp.Bytes(), []byte("II*\x00\xff\xff\xff\x7f")))
	f.Add(withExif(f, jp.Bytes(), []byte("MM\x00*\x00\x00\x00\x08\xff\xff\x01\x12\x00\x03")))
	f.Add(withExif(f, jp.Bytes(), tiffBlock(binary.LittleEndian, []ifdEntry{{Tag: 0x0112, Type: 3, Count: 1, Value: 5}}, 8)))
	f.Add(withExif(f, jp.Bytes(), orientationTIFF(binary.LittleEndian, 6))[:60])
	f.Fuzz(func(t *testing.T, data []byte) {
		img, h, err := fuzzLimits.Decode(context.Background(), data)
		if err != nil {
			known := false
			for _, kind := range []error{ErrUnknownFormat, ErrTruncated, ErrCorrupt, ErrTooLarge, ErrTooSmall} {
				known = known || errors.Is(err, kind)
			}
			if !known {
				t.Fatalf("error %v is of no known kind", err)
			}
			return
		}
		if o, _ := ReadOrientation(data); o != h.Orientation || h.Oriented != (o != Upright) {
			t.Fatalf("header %+v, ReadOrientation %d", h, o)
		}
		b := img.Bounds()
		if b.Dx() != h.Width || b.Dy() != h.Height {
			t.Fatalf("decoded %v, the header said %d×%d", b, h.Width, h.Height)
		}
		if int64(h.Width)*int64(h.Height) > fuzzLimits.MaxPixels || h.DecodedBytes > fuzzLimits.MaxDecodedBytes || h.Scans > fuzzLimits.MaxScans {
			t.Fatalf("decoded a photo outside the limits: %+v", h)
		}
		if rgb := FromImage(img); rgb.W != h.Width || rgb.H != h.Height {
			t.Fatalf("FromImage gave %d×%d for %d×%d", rgb.W, rgb.H, h.Width, h.Height)
		}
	})
}

func pngOfF(f *testing.F, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}
