package imgproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
)

// Orientation is the EXIF orientation of a photo (TIFF tag 0x0112): how the stored pixel grid
// is to be turned or mirrored for display. Phones store most photos sideways and tag them 6
// (turn 90° clockwise to display) or 8 (turn 90° counter-clockwise); browsers, image viewers
// and Pillow's ImageOps.exif_transpose apply it.
//
//	1  as stored                    5  transposed (mirrored across the main diagonal)
//	2  mirrored left to right       6  turned 90° clockwise
//	3  turned 180°                  7  transversed (mirrored across the other diagonal)
//	4  mirrored top to bottom       8  turned 90° counter-clockwise
//
// Orientations 5 to 8 swap width and height.
type Orientation uint8

// Upright is the orientation of a photo shown as stored (also that of a photo without EXIF).
const Upright Orientation = 1

// ErrBadExif is what ReadOrientation's errors wrap: the photo's EXIF block is malformed, so its
// orientation cannot be read. The decoder does not fail on it: see ReadOrientation.
var ErrBadExif = errors.New("malformed EXIF")

// Valid reports whether o is one of the eight orientations.
func (o Orientation) Valid() bool { return o >= 1 && o <= 8 }

// Swaps reports whether o exchanges width and height (orientations 5 to 8).
func (o Orientation) Swaps() bool { return o >= 5 && o <= 8 }

// Mirrors reports whether o mirrors the photo (orientations 2, 4, 5 and 7): left and right
// change places as seen.
func (o Orientation) Mirrors() bool { return o == 2 || o == 4 || o == 5 || o == 7 }

// Size returns the displayed size of a photo stored w×h pixels.
func (o Orientation) Size(w, h int) (int, int) {
	if o.Swaps() {
		return h, w
	}
	return w, h
}

// Inverse returns the orientation that takes the displayed grid back to the stored one: 6 and 8
// undo each other, every other orientation undoes itself.
func (o Orientation) Inverse() Orientation {
	switch o {
	case 6:
		return 8
	case 8:
		return 6
	}
	return o
}

// Point maps a point of a photo stored w×h pixels to the displayed photo, in continuous pixel
// coordinates (pixel (i, j) covers [i, i+1)×[j, j+1), as landmarks are measured): mirroring
// takes x to w−x. An invalid o maps nothing.
func (o Orientation) Point(x, y float64, w, h int) (float64, float64) {
	W, H := float64(w), float64(h)
	switch o {
	case 2:
		return W - x, y
	case 3:
		return W - x, H - y
	case 4:
		return x, H - y
	case 5:
		return y, x
	case 6:
		return H - y, x
	case 7:
		return H - y, W - x
	case 8:
		return y, W - x
	}
	return x, y
}

// pixel is Point for the pixel (x, y) of a stored w×h grid: the displayed pixel it becomes.
func (o Orientation) pixel(x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return h - 1 - y, x
	case 7:
		return h - 1 - y, w - 1 - x
	case 8:
		return y, w - 1 - x
	}
	return x, y
}

// Orient returns img as displayed with orientation o: a new *image.RGBA (opaque, origin (0, 0))
// whose colours are those FromImage gives, moved; img itself when o is Upright or not valid.
// It allocates 4 bytes a pixel for the new image (the estimate Limits.MaxDecodedBytes counts)
// and a band of orientBand rows of RGB.
//
// A caller that decodes photos itself (image.Decode, image/jpeg) gets the stored grid; to see
// the photo as browsers and viewers show it, and to have a Detector's points in that frame:
//
//	o, _ := imgproc.ReadOrientation(data) // a malformed EXIF block reads as Upright
//	img = imgproc.Orient(img, o)
func Orient(img image.Image, o Orientation) image.Image {
	if o == Upright || !o.Valid() {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := o.Size(w, h)
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	buf := make([]uint8, w*min(h, orientBand)*3)
	sub, canSub := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	// The output offset of stored pixel (x, y) is off0 + x·sx + y·sy: o is affine.
	u0, v0 := o.pixel(0, 0, w, h)
	ux, vx := o.pixel(1, 0, w, h)
	uy, vy := o.pixel(0, 1, w, h)
	off0 := v0*out.Stride + u0*4
	sx, sy := (vx-v0)*out.Stride+(ux-u0)*4, (vy-v0)*out.Stride+(uy-u0)*4
	for y0 := 0; y0 < h; y0 += orientBand {
		n := min(orientBand, h-y0)
		band := &RGB{W: w, H: n, Pix: buf[:w*n*3]}
		r := image.Rect(b.Min.X, b.Min.Y+y0, b.Max.X, b.Min.Y+y0+n)
		if canSub {
			convertInto(band, sub.SubImage(r))
		} else {
			convertInto(band, rowsOf{img, r})
		}
		// Output rows are written in runs: along stored columns when o turns (each stored
		// column becomes an output row), along stored rows when it does not.
		outer, inner, souter, sinner := w, n, sx, sy
		pouter, pinner := 3, 3*w
		if !o.Swaps() {
			outer, inner, souter, sinner = n, w, sy, sx
			pouter, pinner = 3*w, 3
		}
		for a := range outer {
			j := off0 + y0*sy + a*souter
			i := a * pouter
			for range inner {
				q := out.Pix[j : j+4 : j+4]
				p := band.Pix[i : i+3 : i+3]
				q[0], q[1], q[2], q[3] = p[0], p[1], p[2], 255
				j += sinner
				i += pinner
			}
		}
	}
	return out
}

// orientBand is the number of stored rows Orient converts at a time: enough that a turned
// band's output rows are written in runs of whole cache lines.
const orientBand = 32

// OrientRGB returns m as displayed with orientation o: a new image (m itself when o is Upright
// or not valid). Pixels are copied exactly.
func OrientRGB(m *RGB, o Orientation) *RGB {
	if o == Upright || !o.Valid() {
		return m
	}
	dw, dh := o.Size(m.W, m.H)
	out := New(dw, dh)
	for y := range m.H {
		for x := range m.W {
			u, v := o.pixel(x, y, m.W, m.H)
			i, j := (y*m.W+x)*3, (v*dw+u)*3
			copy(out.Pix[j:j+3], m.Pix[i:i+3])
		}
	}
	return out
}

// rowsOf is the rows r of an image without SubImage, as an image of their own.
type rowsOf struct {
	image.Image
	r image.Rectangle
}

func (r rowsOf) Bounds() image.Rectangle { return r.r }

// ReadOrientation reads the EXIF orientation of a JPEG (its first APP1 "Exif" segment) or a
// PNG (its eXIf chunk before the image data). A photo without EXIF, or whose EXIF has no
// orientation tag, is Upright with no error. A malformed EXIF block, or an orientation tag of
// another type, count or value than one SHORT from 1 to 8, is Upright with an error wrapping
// ErrBadExif that says what is wrong.
//
// Decoding ignores that error and shows such a photo as stored, deliberately: Chromium does
// the same, so the points stay in the frame the user sees, and no EXIF block costs enough to
// need refusing. Like Chromium, an IFD that declares more entries than its block holds is read
// as far as it goes (server/browser_test.go checks the two agree). Reading is bounded by the
// block, which is a slice of data (a JPEG segment holds at most 65,533 bytes): only the TIFF
// header and the first IFD are read, no IFD link is followed (so no loop is possible), every
// offset is checked against the block, and nothing is allocated but the error.
//
// The parser is this small function rather than a general EXIF library (such as
// github.com/dsoprea/go-exif): those decode every IFD and tag, follow IFD links and allocate
// values as large as hostile counts ask, which the decoder's limits would have to bound, to
// read one 2-byte value.
func ReadOrientation(data []byte) (Orientation, error) {
	var tiff []byte
	var where string
	switch Sniff(data) {
	case "jpeg":
		tiff, where = jpegExif(data), "the JPEG's APP1 Exif segment"
	case "png":
		tiff, where = pngExif(data), "the PNG's eXIf chunk"
	}
	if tiff == nil {
		return Upright, nil
	}
	o, err := tiffOrientation(tiff)
	if err != nil {
		return Upright, fmt.Errorf("%w: %s: %v", ErrBadExif, where, err)
	}
	return o, nil
}

// exifHeader starts the payload of a JPEG APP1 segment that holds EXIF.
var exifHeader = []byte("Exif\x00\x00")

// jpegExif returns the TIFF block of data's first APP1 Exif segment (clipped to data), or nil.
// It walks the marker segments from SOI up to the first scan (SOS), where image/jpeg and
// libjpeg stop reading headers.
func jpegExif(data []byte) []byte {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xff { // extraneous bytes between segments, which decoders skip
			i++
			continue
		}
		m := data[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0xd8 || m == 0x01 || m >= 0xd0 && m <= 0xd7: // markers without a segment
			i += 2
			continue
		case m == 0xda || m == 0xd9: // SOS, EOI: no EXIF before the pixels
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 {
			return nil
		}
		seg := data[i+4 : min(len(data), i+2+n)]
		if m == 0xe1 && bytes.HasPrefix(seg, exifHeader) {
			return seg[len(exifHeader):]
		}
		i += 2 + n
	}
	return nil
}

// pngExif returns the data of the PNG's eXIf chunk (clipped to data) when it comes before the
// first IDAT chunk, or nil.
func pngExif(data []byte) []byte {
	i := 8
	for i+8 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[i:]))
		typ := string(data[i+4 : i+8])
		switch typ {
		case "eXIf":
			return data[i+8 : int(min(int64(len(data)), int64(i)+8+n))]
		case "IDAT", "IEND":
			return nil
		}
		next := int64(i) + 12 + n
		if next > int64(len(data)) {
			return nil
		}
		i = int(next)
	}
	return nil
}

// tiffOrientation finds tag 0x0112 in the first IFD of a TIFF block (the EXIF payload).
func tiffOrientation(t []byte) (Orientation, error) {
	if len(t) < 8 {
		return Upright, fmt.Errorf("%d bytes, too short for a TIFF header", len(t))
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return Upright, fmt.Errorf("no TIFF header (starts with % x)", t[:4])
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return Upright, fmt.Errorf("the first IFD's offset %d lies outside the %d-byte block", off, len(t))
	}
	// Entries beyond the block are not read; those within it are, as Chromium does.
	n := int64(bo.Uint16(t[off:]))
	entries := t[off+2:]
	room := int64(len(entries) / 12)
	for k := range min(n, room) {
		e := entries[12*k : 12*k+12]
		if bo.Uint16(e) != 0x0112 {
			continue
		}
		typ, count := bo.Uint16(e[2:]), bo.Uint32(e[4:])
		if typ != 3 || count != 1 {
			return Upright, fmt.Errorf("the orientation tag has type %d and count %d, not one SHORT", typ, count)
		}
		v := bo.Uint16(e[8:])
		if v < 1 || v > 8 {
			return Upright, fmt.Errorf("orientation %d is not one of 1 to 8", v)
		}
		return Orientation(v), nil
	}
	if n > room {
		return Upright, fmt.Errorf("the first IFD at %d declares %d entries; the block holds room for %d, without the orientation", off, n, room)
	}
	return Upright, nil
}
