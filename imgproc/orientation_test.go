package imgproc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"

	"github.com/catmark/catmark/internal/exiftest"
)

// Test shorthands for the exiftest writers.
type ifdEntry = exiftest.Entry

var (
	tiffBlock       = exiftest.TIFF
	orientationTIFF = exiftest.Orientation
)

func withApp1(t testing.TB, jpg, payload []byte) []byte {
	t.Helper()
	out, err := exiftest.WithApp1(jpg, payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func withExif(t testing.TB, jpg, tiff []byte) []byte {
	t.Helper()
	out, err := exiftest.WithExif(jpg, tiff)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func withPNGExif(t testing.TB, p, tiff []byte) []byte {
	t.Helper()
	out, err := exiftest.WithPNGExif(p, tiff)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// letterF is an asymmetric w×h picture (no turn or mirror maps it onto itself): a dark
// background with a bright F of 8-pixel blocks in the top-left, a red block at the top right
// and a green one at the bottom.
func letterF(w, h int) *RGB {
	m := New(w, h)
	m.Fill(image.Rect(0, 0, w, h), 30)
	m.Fill(image.Rect(8, 8, 16, 40), 230)
	m.Fill(image.Rect(16, 8, 32, 16), 230)
	m.Fill(image.Rect(16, 24, 24, 32), 230)
	for y := 0; y < 8; y++ {
		for x := w - 16; x < w-8; x++ {
			m.Set(x, y+8, 220, 20, 20)
		}
	}
	for y := h - 16; y < h-8; y++ {
		for x := w/2 - 8; x < w/2; x++ {
			m.Set(x, y, 20, 200, 20)
		}
	}
	return m
}

func jpegOf(t testing.TB, m *RGB, quality int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m.Image(), &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// meanAbsDiff is the mean absolute difference of two images' channels; +Inf for other sizes.
func meanAbsDiff(a, b *RGB) float64 {
	if a.W != b.W || a.H != b.H {
		return 1e9
	}
	var s int
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		s += max(d, -d)
	}
	return float64(s) / float64(len(a.Pix))
}

var orientations = []Orientation{1, 2, 3, 4, 5, 6, 7, 8}

// Each of the eight orientations, written as a camera would (the stored grid the inverse of
// the displayed picture, the tag saying how to display it), decodes to the same displayed
// picture; ignoring the tag gives the stored grid. The turned image is the stored one's
// pixels moved exactly.
func TestDecodeEightOrientations(t *testing.T) {
	shown := letterF(64, 48)
	for _, bo := range []exiftest.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, o := range orientations {
			stored := OrientRGB(shown, o.Inverse())
			data := withExif(t, jpegOf(t, stored, 95), orientationTIFF(bo, uint16(o)))
			img, h, err := DefaultLimits.Decode(context.Background(), data)
			if err != nil {
				t.Fatalf("%v orientation %d: %v", bo, o, err)
			}
			if h.Orientation != o || h.Oriented != (o != 1) || h.Width != 64 || h.Height != 48 {
				t.Fatalf("%v orientation %d: header %+v, want orientation %d and the displayed 64×48", bo, o, h, o)
			}
			got := FromImage(img)
			if d := meanAbsDiff(got, shown); d > 3 {
				t.Errorf("%v orientation %d: decoded picture differs from the displayed one by %.1f a channel", bo, o, d)
			}
			for _, wrong := range orientations {
				if wrong != o && meanAbsDiff(OrientRGB(FromImage(mustDecodeStored(t, data)), wrong), shown) < 10 {
					t.Errorf("orientation %d: turning by %d also gives the picture; the test image is not asymmetric", o, wrong)
				}
			}
			raw := FromImage(mustDecodeStored(t, data))
			if raw.W != stored.W || raw.H != stored.H || meanAbsDiff(raw, stored) > 3 {
				t.Errorf("orientation %d ignored: %d×%d, %.1f from the stored grid", o, raw.W, raw.H, meanAbsDiff(raw, stored))
			}
			if want := OrientRGB(raw, o); !bytes.Equal(want.Pix, got.Pix) {
				t.Errorf("orientation %d: Decode's pixels are not the stored grid's moved exactly", o)
			}
		}
	}
}

func mustDecodeStored(t testing.TB, data []byte) image.Image {
	t.Helper()
	l := DefaultLimits
	l.IgnoreOrientation = true
	img, h, err := l.Decode(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if h.Oriented {
		t.Fatalf("IgnoreOrientation decoded an oriented image: %+v", h)
	}
	return img
}

// Point moves pixel centres as the images' pixels move, and Inverse undoes it.
func TestOrientationPoint(t *testing.T) {
	const w, h = 7, 4
	src := New(w, h)
	for i := range src.Pix {
		src.Pix[i] = uint8(i)
	}
	for _, o := range orientations {
		dst := OrientRGB(src, o)
		dw, dh := o.Size(w, h)
		if dst.W != dw || dst.H != dh {
			t.Fatalf("orientation %d: %d×%d, Size says %d×%d", o, dst.W, dst.H, dw, dh)
		}
		for y := range h {
			for x := range w {
				u, v := o.Point(float64(x)+0.5, float64(y)+0.5, w, h)
				r, g, b := src.At(x, y)
				r2, g2, b2 := dst.At(int(u), int(v))
				if r != r2 || g != g2 || b != b2 {
					t.Fatalf("orientation %d: pixel (%d, %d) is not at Point's (%g, %g)", o, x, y, u, v)
				}
				bx, by := o.Inverse().Point(u, v, dw, dh)
				if bx != float64(x)+0.5 || by != float64(y)+0.5 {
					t.Fatalf("orientation %d: Inverse takes (%g, %g) to (%g, %g), not back to (%d.5, %d.5)", o, u, v, bx, by, x, y)
				}
			}
		}
		// Mirrors: the mapping's determinant is negative.
		x0, y0 := o.Point(0, 0, w, h)
		x1, y1 := o.Point(1, 0, w, h)
		x2, y2 := o.Point(0, 1, w, h)
		if det := (x1-x0)*(y2-y0) - (y1-y0)*(x2-x0); (det < 0) != o.Mirrors() {
			t.Errorf("orientation %d: Mirrors() = %v, the mapping's determinant is %g", o, o.Mirrors(), det)
		}
		if back := OrientRGB(dst, o.Inverse()); !bytes.Equal(back.Pix, src.Pix) {
			t.Errorf("orientation %d then %d is not the identity", o, o.Inverse())
		}
	}
}

// ReadOrientation finds the tag in either byte order, after other segments and tags, in a PNG's
// eXIf chunk too; a photo without one is Upright without error.
func TestReadOrientation(t *testing.T) {
	plain := jpegOf(t, letterF(40, 40), 80)
	var pb bytes.Buffer
	png.Encode(&pb, letterF(40, 40).Image())
	xmp := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), "<x:xmpmeta/>"...)
	cases := []struct {
		name string
		data []byte
		want Orientation
	}{
		{"no EXIF", plain, 1},
		{"little-endian 6", withExif(t, plain, orientationTIFF(binary.LittleEndian, 6)), 6},
		{"big-endian 8", withExif(t, plain, orientationTIFF(binary.BigEndian, 8)), 8},
		{"after an XMP APP1", withExif(t, withApp1(t, plain, xmp), orientationTIFF(binary.BigEndian, 3)), 3},
		{"no orientation tag", withExif(t, plain, tiffBlock(binary.LittleEndian, []ifdEntry{{Tag: 0x0100, Type: 4, Count: 1, Value: 640}}, 0)), 1},
		{"first Exif segment wins", withExif(t, withExif(t, plain, orientationTIFF(binary.LittleEndian, 2)), orientationTIFF(binary.LittleEndian, 5)), 5},
		{"PNG eXIf", withPNGExif(t, pb.Bytes(), orientationTIFF(binary.BigEndian, 6)), 6},
		{"PNG without eXIf", pb.Bytes(), 1},
		{"not an image", []byte("hello"), 1},
	}
	for _, c := range cases {
		got, err := ReadOrientation(c.data)
		if err != nil || got != c.want {
			t.Errorf("%s: ReadOrientation = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

// A malformed EXIF block reads as Upright with an error that says what is wrong, without
// allocating; the photo decodes as stored.
func TestMalformedExif(t *testing.T) {
	plain := jpegOf(t, letterF(40, 24), 80)
	le := binary.LittleEndian
	good := orientationTIFF(le, 6)
	setU32 := func(b []byte, at int, v uint32) []byte {
		b = append([]byte{}, b...)
		le.PutUint32(b[at:], v)
		return b
	}
	setU16 := func(b []byte, at int, v uint16) []byte {
		b = append([]byte{}, b...)
		le.PutUint16(b[at:], v)
		return b
	}
	const entry = exiftest.OrientationEntry
	cases := []struct {
		name, tiff, errSays string
	}{
		{"empty", "", "too short"},
		{"no TIFF header", "JUNKJUNKJUNK", "no TIFF header"},
		{"truncated header", string(good[:6]), "too short"},
		{"IFD offset outside", string(setU32(good, 4, 1<<31)), "outside"},
		{"IFD offset inside the header", string(setU32(good, 4, 2)), "outside"},
		{"truncated IFD", string(good[:entry+6]), "declares 3 entries; the block holds room for 2"},
		{"huge entry count, orientation cut off", string(setU16(good[:entry+6], 8, 0xffff)), "declares 65535 entries; the block holds room for 2"},
		{"type LONG", string(setU16(good, entry+2, 4)), "type 4 and count 1"},
		{"count 2", string(setU32(good, entry+4, 2)), "type 3 and count 2"},
		{"huge count", string(setU32(good, entry+4, 0xffffffff)), "count 4294967295"},
		{"value 0", string(setU16(good, entry+8, 0)), "orientation 0"},
		{"value 9", string(setU16(good, entry+8, 9)), "orientation 9"},
	}
	for _, c := range cases {
		data := withExif(t, plain, []byte(c.tiff))
		o, err := ReadOrientation(data)
		if o != Upright || !errors.Is(err, ErrBadExif) || !strings.Contains(err.Error(), c.errSays) || !strings.Contains(err.Error(), "APP1 Exif segment") {
			t.Errorf("%s: ReadOrientation = %d, %v; want Upright and ErrBadExif saying %q", c.name, o, err, c.errSays)
		}
		if n := allocBytes(func() { ReadOrientation(data) }); n > 512 {
			t.Errorf("%s: ReadOrientation allocates %d bytes a call; only its error message should", c.name, n)
		}
		img, h, err := DefaultLimits.Decode(context.Background(), data)
		if err != nil || h.Oriented || img.Bounds().Dx() != 40 || img.Bounds().Dy() != 24 {
			t.Errorf("%s: Decode = %v, %+v, %v; want the stored 40×24 image", c.name, img.Bounds(), h, err)
		}
	}
	// IFD0 linking to itself (a loop) and to an IFD outside the block: only IFD0 is read.
	for _, next := range []uint32{8, 1 << 30} {
		tiff := tiffBlock(le, []ifdEntry{{Tag: 0x0112, Type: 3, Count: 1, Value: 8}}, next)
		if o, err := ReadOrientation(withExif(t, plain, tiff)); o != 8 || err != nil {
			t.Errorf("IFD0 linking to %d: ReadOrientation = %d, %v; want 8", next, o, err)
		}
	}
	// An IFD declaring more entries than the block holds is read as far as it goes.
	if o, err := ReadOrientation(withExif(t, plain, setU16(good, 8, 0xffff))); o != 6 || err != nil {
		t.Errorf("IFD0 declaring 65535 entries, the orientation among the 3 there: %d, %v; want 6", o, err)
	}
	// A segment whose declared length runs past the end of the file.
	cut := withExif(t, plain, good)[:2+4+6+entry]
	if o, err := ReadOrientation(cut); o != Upright || !errors.Is(err, ErrBadExif) {
		t.Errorf("Exif segment cut by the end of the file: %d, %v; want Upright and ErrBadExif", o, err)
	}
	// The largest segment of junk: an error, and no more than its message allocated.
	big := withExif(t, plain, bytes.Repeat([]byte("MM\x00*\x00\x00\x00\x08\xff\xff"), 6500))
	if _, err := ReadOrientation(big); !errors.Is(err, ErrBadExif) {
		t.Errorf("a 65 KB EXIF segment of junk: %v, want ErrBadExif", err)
	}
	if n := allocBytes(func() { ReadOrientation(big) }); n > 512 {
		t.Errorf("ReadOrientation of a 65 KB EXIF segment allocates %d bytes a call", n)
	}
	// A well-formed one allocates nothing.
	ok := withExif(t, plain, good)
	if a := testing.AllocsPerRun(20, func() { ReadOrientation(ok) }); a != 0 {
		t.Errorf("ReadOrientation of a well-formed EXIF block allocates %v times", a)
	}
}

// allocBytes is the bytes f allocates a call, averaged over 100 calls.
func allocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / 100
}

// A photo turned by its orientation is checked against the limits in its displayed size, and
// its decoding memory counts the turned copy.
func TestOrientationLimits(t *testing.T) {
	stored := jpegOf(t, letterF(64, 40), 80)
	data := withExif(t, stored, orientationTIFF(binary.BigEndian, 6))
	h, err := DefaultLimits.Check(data)
	if err != nil || h.Width != 40 || h.Height != 64 || !h.Oriented {
		t.Fatalf("Check = %+v, %v; want the displayed 40×64", h, err)
	}
	l := DefaultLimits
	l.IgnoreOrientation = true
	hs, err := l.Check(data)
	if err != nil || hs.Width != 64 || hs.Height != 40 || hs.Oriented || hs.Orientation != 6 {
		t.Fatalf("Check ignoring orientation = %+v, %v; want the stored 64×40, orientation 6", hs, err)
	}
	if h.DecodedBytes != hs.DecodedBytes+4*64*40 {
		t.Errorf("decoded bytes %d turned, %d stored: want the turned copy's 4 bytes a pixel more", h.DecodedBytes, hs.DecodedBytes)
	}
	l = DefaultLimits
	l.MaxDecodedBytes = hs.DecodedBytes
	if _, err := l.Check(data); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "40×64") {
		t.Errorf("a limit that holds the stored photo but not its turned copy: %v; want ErrTooLarge naming 40×64", err)
	}
	l.IgnoreOrientation = true
	if _, err := l.Check(data); err != nil {
		t.Errorf("the same limit ignoring orientation: %v", err)
	}
	l = DefaultLimits
	l.MinSide = 50
	if _, err := l.Check(data); !errors.Is(err, ErrTooSmall) || !strings.Contains(err.Error(), "40×64") {
		t.Errorf("MinSide 50 on a displayed 40×64: %v; want ErrTooSmall", err)
	}
}

// A PNG's eXIf chunk turns it like a JPEG's EXIF.
func TestDecodePNGOrientation(t *testing.T) {
	shown := letterF(64, 48)
	var b bytes.Buffer
	png.Encode(&b, OrientRGB(shown, 8).Image()) // stored turned counter-clockwise…
	data := withPNGExif(t, b.Bytes(), orientationTIFF(binary.LittleEndian, 6))
	img, h, err := DefaultLimits.Decode(context.Background(), data) // …and tagged to turn it back
	if err != nil {
		t.Fatal(err)
	}
	if got := FromImage(img); !h.Oriented || !bytes.Equal(got.Pix, shown.Pix) {
		t.Errorf("PNG with eXIf orientation 6: %+v, %d×%d; want the displayed picture exactly", h, got.W, got.H)
	}
}

// The eight orientations as the EXIF specification draws them, on a stored 3×2 grid
// "abc/def": 6 shows the stored first row as the right-hand column, top down.
func TestOrientationMeaning(t *testing.T) {
	want := map[Orientation]string{
		1: "abc/def", 2: "cba/fed", 3: "fed/cba", 4: "def/abc",
		5: "ad/be/cf", 6: "da/eb/fc", 7: "fc/eb/da", 8: "cf/be/ad",
	}
	src := New(3, 2)
	for i := range 6 {
		src.Set(i%3, i/3, 'a'+uint8(i), 0, 0)
	}
	for _, o := range orientations {
		m := OrientRGB(src, o)
		var rows []string
		for y := range m.H {
			var row []byte
			for x := range m.W {
				r, _, _ := m.At(x, y)
				row = append(row, r)
			}
			rows = append(rows, string(row))
		}
		if got := strings.Join(rows, "/"); got != want[o] {
			t.Errorf("orientation %d shows %q, want %q", o, got, want[o])
		}
	}
}

// BenchmarkOrient turns a decoded 12-megapixel 4:2:0 JPEG (4000×3000) a quarter, as Decode does
// for a phone's portrait photo tagged 6, against converting it unturned (FromImage).
func BenchmarkOrient(b *testing.B) {
	img := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i)
	}
	b.Run("orient6", func(b *testing.B) {
		for b.Loop() {
			Orient(img, 6)
		}
	})
	b.Run("FromImage", func(b *testing.B) {
		for b.Loop() {
			FromImage(img)
		}
	})
}

// noSub hides an image's SubImage method.
type noSub struct{ image.Image }

// Orient moves FromImage's colours exactly, for images with and without SubImage, offset
// bounds, 4:2:0 chroma and heights that are not a multiple of its band.
func TestOrientImageKinds(t *testing.T) {
	ycc := image.NewYCbCr(image.Rect(0, 0, 61, 77), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = uint8(i * 7)
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = uint8(i*3), uint8(255-i)
	}
	rgba := letterF(50, 70).Image()
	kinds := map[string]image.Image{
		"YCbCr":            ycc,
		"YCbCr offset":     ycc.SubImage(image.Rect(3, 5, 58, 76)),
		"RGBA":             rgba,
		"RGBA offset":      rgba.SubImage(image.Rect(5, 7, 49, 70)),
		"without SubImage": noSub{rgba.SubImage(image.Rect(5, 7, 49, 70))},
	}
	for name, img := range kinds {
		for _, o := range orientations {
			got := FromImage(Orient(img, o))
			if want := OrientRGB(FromImage(img), o); got.W != want.W || got.H != want.H || !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("%s, orientation %d: Orient differs from OrientRGB of FromImage", name, o)
			}
		}
	}
}
