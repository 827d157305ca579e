package imgproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadPNG(t testing.TB, name string) *RGB {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, format, err := Decode(f)
	if err != nil || format != "png" {
		t.Fatalf("%s: format %q, err %v", name, format, err)
	}
	return m
}

// TestResizeMatchesPillow compares Resize with Pillow's Image.resize(…, BILINEAR) on the
// references made by testdata/gen_golden.py: shrinking, enlarging, one axis only, to 1×1.
func TestResizeMatchesPillow(t *testing.T) {
	files, err := filepath.Glob("testdata/pil_*.png")
	if err != nil || len(files) < 8 {
		t.Fatalf("reference images missing: %v %v", files, err)
	}
	for _, f := range files {
		var sw, sh, dw, dh int
		if _, err := fmt.Sscanf(filepath.Base(f), "pil_%dx%d_to_%dx%d.png", &sw, &sh, &dw, &dh); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			src := loadPNG(t, fmt.Sprintf("src_%dx%d.png", sw, sh))
			want := loadPNG(t, filepath.Base(f))
			got := src.Resize(dw, dh)
			if got.W != dw || got.H != dh || want.W != dw || want.H != dh {
				t.Fatalf("sizes: got %d×%d, reference %d×%d, want %d×%d", got.W, got.H, want.W, want.H, dw, dh)
			}
			diff := 0
			for i := range got.Pix {
				if got.Pix[i] != want.Pix[i] {
					if diff == 0 {
						p := i / 3
						t.Errorf("first difference at (%d,%d) channel %d: got %d, Pillow %d", p%dw, p/dw, i%3, got.Pix[i], want.Pix[i])
					}
					diff++
				}
			}
			if diff > 0 {
				t.Errorf("%d of %d bytes differ from Pillow", diff, len(got.Pix))
			}
		})
	}
}

func TestResizeProperties(t *testing.T) {
	// A flat colour stays flat at any size; the same size is a copy.
	m := New(30, 20)
	for i := 0; i < len(m.Pix); i += 3 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2] = 10, 128, 250
	}
	for _, sz := range [][2]int{{7, 5}, {30, 20}, {64, 3}, {1, 40}} {
		r := m.Resize(sz[0], sz[1])
		for i := 0; i < len(r.Pix); i += 3 {
			if r.Pix[i] != 10 || r.Pix[i+1] != 128 || r.Pix[i+2] != 250 {
				t.Fatalf("flat image resized to %v: pixel %d is %v", sz, i/3, r.Pix[i:i+3])
			}
		}
	}
	c := m.Resize(30, 20)
	c.Pix[0] = 0
	if m.Pix[0] != 10 {
		t.Error("Resize to the same size shares pixels with its source")
	}
}

// randomRGBA fills an RGBA image with random opaque colours.
func randomRGBA(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

// TestFromImage checks every fast path against the standard library's colour conversion,
// including sub-images whose bounds do not start at (0, 0).
func TestFromImage(t *testing.T) {
	src := randomRGBA(23, 17, 3)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	ycc, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	yccs := map[string]image.Image{"YCbCr 4:2:0 (JPEG)": ycc}
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		y := image.NewYCbCr(image.Rect(-3, 2, 20, 19), ratio)
		r := rand.New(rand.NewPCG(uint64(ratio), 2))
		for _, p := range [][]uint8{y.Y, y.Cb, y.Cr} {
			for i := range p {
				p[i] = uint8(r.IntN(256))
			}
		}
		yccs[ratio.String()] = y
	}
	gray := image.NewGray(image.Rect(0, 0, 9, 7))
	cmyk := image.NewCMYK(image.Rect(0, 0, 9, 7))
	nrgba := image.NewNRGBA(image.Rect(0, 0, 9, 7))
	r := rand.New(rand.NewPCG(5, 5))
	for _, p := range [][]uint8{gray.Pix, cmyk.Pix, nrgba.Pix} {
		for i := range p {
			p[i] = uint8(r.IntN(256))
		}
	}
	paletted := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{200, 100, 50, 255}})
	paletted.Pix[5] = 1
	cases := map[string]image.Image{
		"Gray": gray, "CMYK": cmyk, "RGBA": src, "Paletted": paletted,
		"RGBA sub-image":  src.SubImage(image.Rect(3, 4, 15, 11)),
		"Gray sub-image":  gray.SubImage(image.Rect(2, 1, 8, 6)),
		"CMYK sub-image":  cmyk.SubImage(image.Rect(2, 1, 8, 6)),
		"YCbCr sub-image": ycc.(*image.YCbCr).SubImage(image.Rect(3, 3, 18, 14)),
	}
	for k, v := range yccs {
		cases[k] = v
	}
	for name, img := range cases {
		t.Run(name, func(t *testing.T) {
			got := FromImage(img)
			b := img.Bounds()
			if got.W != b.Dx() || got.H != b.Dy() || len(got.Pix) != got.W*got.H*3 {
				t.Fatalf("got %d×%d with %d bytes for bounds %v", got.W, got.H, len(got.Pix), b)
			}
			for y := 0; y < got.H; y++ {
				for x := 0; x < got.W; x++ {
					var wr, wg, wb uint8
					switch c := img.At(b.Min.X+x, b.Min.Y+y).(type) {
					case color.YCbCr:
						wr, wg, wb = color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
					case color.CMYK:
						wr, wg, wb = color.CMYKToRGB(c.C, c.M, c.Y, c.K)
					default:
						n := color.NRGBAModel.Convert(c).(color.NRGBA)
						wr, wg, wb = n.R, n.G, n.B
					}
					if r, g, bb := got.At(x, y); r != wr || g != wg || bb != wb {
						t.Fatalf("pixel (%d,%d): got %d,%d,%d, want %d,%d,%d", x, y, r, g, bb, wr, wg, wb)
					}
				}
			}
		})
	}
	// NRGBA keeps the stored colour, not the colour premultiplied by alpha.
	nrgba.Pix[0], nrgba.Pix[3] = 200, 10
	if r, _, _ := FromImage(nrgba).At(0, 0); r != 200 {
		t.Errorf("NRGBA red 200 at alpha 10 became %d", r)
	}
}

func TestImageRoundTrip(t *testing.T) {
	src := FromImage(randomRGBA(8, 6, 9))
	back := FromImage(src.Image())
	if !bytes.Equal(src.Pix, back.Pix) {
		t.Error("FromImage(m.Image()) differs from m")
	}
	if a := src.Image().Pix[3]; a != 255 {
		t.Errorf("alpha %d, want opaque", a)
	}
}

func TestDecode(t *testing.T) {
	img := randomRGBA(40, 30, 11)
	var jp, pn bytes.Buffer
	if err := jpeg.Encode(&jp, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&pn, img); err != nil {
		t.Fatal(err)
	}
	badMarker := append([]byte(nil), jp.Bytes()...)
	// Overwrite the start-of-frame's precision with an unsupported value after the header.
	if i := bytes.Index(badMarker, []byte{0xff, 0xc0}); i > 0 {
		badMarker[i+4] = 12
	} else {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	}
	cases := []struct {
		name    string
		data    []byte
		format  string
		wantErr error
		errText string
	}{
		{"jpeg", jp.Bytes(), "jpeg", nil, ""},
		{"png", pn.Bytes(), "png", nil, ""},
		{"jpeg cut in half", jp.Bytes()[:jp.Len()/2], "jpeg", ErrTruncated, "ends early"},
		{"jpeg header only", jp.Bytes()[:20], "jpeg", ErrTruncated, "ends early"},
		{"png cut in half", pn.Bytes()[:pn.Len()/2], "png", ErrTruncated, "ends early"},
		{"text renamed", []byte("this is not a photo\n"), "", ErrUnknownFormat, `text "this is "`},
		{"empty", nil, "", ErrUnknownFormat, "empty"},
		{"binary junk", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8}, "", ErrUnknownFormat, "bytes 00 01"},
		{"unsupported precision", badMarker, "jpeg", ErrCorrupt, "precision"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, format, err := Decode(bytes.NewReader(c.data))
			if format != c.format {
				t.Errorf("format %q, want %q", format, c.format)
			}
			if c.wantErr == nil {
				if err != nil || m.W != 40 || m.H != 30 {
					t.Fatalf("err %v, image %v", err, m)
				}
				return
			}
			if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.errText) {
				t.Fatalf("error %v, want %v containing %q", err, c.wantErr, c.errText)
			}
		})
	}
}

func BenchmarkFromImageYCbCr(b *testing.B) {
	var buf bytes.Buffer
	jpeg.Encode(&buf, randomRGBA(320, 240, 1), nil)
	img, _ := jpeg.Decode(&buf)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		FromImage(img)
	}
}

func BenchmarkResize320To224(b *testing.B) {
	m := FromImage(randomRGBA(320, 240, 1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Resize(224, 224)
	}
}

// TurnQuarter moves the left-middle pixel to the bottom-middle for a quarter turn (counter-
// clockwise on screen), and four quarter turns, or two half turns, give the image back.
func TestTurnQuarter(t *testing.T) {
	m := New(5, 3)
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	q := m.TurnQuarter(1)
	if q.W != 3 || q.H != 5 {
		t.Fatalf("quarter turn of 5×3 is %d×%d", q.W, q.H)
	}
	if r, _, _ := q.At(1, 4); r != m.Pix[(1*5+0)*3] {
		t.Errorf("left-middle pixel did not go to the bottom-middle")
	}
	for _, turns := range [][]int{{1, 1, 1, 1}, {2, 2}, {3, 1}, {-1, 1}, {5, -1}} {
		r := m
		for _, k := range turns {
			r = r.TurnQuarter(k)
		}
		if r.W != m.W || r.H != m.H || string(r.Pix) != string(m.Pix) {
			t.Errorf("turns %v do not give the image back", turns)
		}
	}
	if a, b := m.TurnQuarter(2), m.TurnQuarter(1).TurnQuarter(1); string(a.Pix) != string(b.Pix) {
		t.Errorf("a half turn differs from two quarter turns")
	}
}

func TestSub(t *testing.T) {
	m := New(5, 4)
	for y := range m.H {
		for x := range m.W {
			m.Set(x, y, uint8(x), uint8(y), uint8(10*x+y))
		}
	}
	for _, r := range []image.Rectangle{image.Rect(1, 1, 4, 3), image.Rect(3, 2, 9, 9), image.Rect(0, 0, 5, 4)} {
		s := m.Sub(r)
		in := r.Intersect(image.Rect(0, 0, 5, 4))
		if s.W != in.Dx() || s.H != in.Dy() {
			t.Fatalf("Sub(%v) is %d×%d, want %d×%d", r, s.W, s.H, in.Dx(), in.Dy())
		}
		for y := range s.H {
			for x := range s.W {
				gr, gg, gb := s.At(x, y)
				wr, wg, wb := m.At(in.Min.X+x, in.Min.Y+y)
				if gr != wr || gg != wg || gb != wb {
					t.Errorf("Sub(%v) at (%d, %d) = %d %d %d, want %d %d %d", r, x, y, gr, gg, gb, wr, wg, wb)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Sub of a rectangle outside the image did not panic")
		}
	}()
	m.Sub(image.Rect(6, 0, 8, 2))
}

func TestFill(t *testing.T) {
	m := New(4, 3)
	m.Fill(image.Rect(2, 1, 9, 9), 7)
	for y := range m.H {
		for x := range m.W {
			want := uint8(0)
			if x >= 2 && y >= 1 {
				want = 7
			}
			if r, g, b := m.At(x, y); r != want || g != want || b != want {
				t.Errorf("at (%d, %d): %d %d %d, want %d", x, y, r, g, b, want)
			}
		}
	}
}
