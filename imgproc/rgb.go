// Package imgproc provides the small image utilities catmark needs: a packed 8-bit RGB image,
// conversion from any image.Image, bilinear resizing that matches Pillow's, and decoding of
// JPEG and PNG files with errors that say what is wrong.
package imgproc

import (
	"fmt"
	"image"
	"image/color"
)

// RGB is an 8-bit RGB image: rows top to bottom, pixels left to right, channels interleaved
// R, G, B (HWC layout). len(Pix) == W*H*3; the pixel at (x, y) starts at Pix[(y*W+x)*3].
type RGB struct {
	W, H int
	Pix  []uint8
}

// New returns a black w×h image.
func New(w, h int) *RGB {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("imgproc: negative size %d×%d", w, h))
	}
	return &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
}

// At returns the colour of the pixel at (x, y).
func (m *RGB) At(x, y int) (r, g, b uint8) {
	i := (y*m.W + x) * 3
	return m.Pix[i], m.Pix[i+1], m.Pix[i+2]
}

// Set sets the colour of the pixel at (x, y).
func (m *RGB) Set(x, y int, r, g, b uint8) {
	i := (y*m.W + x) * 3
	m.Pix[i], m.Pix[i+1], m.Pix[i+2] = r, g, b
}

// Clone returns a deep copy of m.
func (m *RGB) Clone() *RGB {
	return &RGB{W: m.W, H: m.H, Pix: append([]uint8(nil), m.Pix...)}
}

// FromImage converts img, in any colour model, to RGB. The bounds' origin moves to (0, 0).
// YCbCr (what JPEG decodes to), grey, CMYK, RGBA and NRGBA images take fast paths; others go
// through the colour model. Alpha is dropped: colours are taken as they are stored, not composed
// over a background (a premultiplied RGBA pixel keeps its premultiplied values).
func FromImage(img image.Image) *RGB {
	b := img.Bounds()
	out := New(b.Dx(), b.Dy())
	convertInto(out, img)
	return out
}

// convertInto is FromImage into out, which has img's size.
func convertInto(out *RGB, img image.Image) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	p := out.Pix
	switch src := img.(type) {
	case *image.YCbCr:
		fromYCbCr(out, src)
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X):]
			o := p[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				v := row[x]
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			o := p[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				c := color.CMYK{C: row[4*x], M: row[4*x+1], Y: row[4*x+2], K: row[4*x+3]}
				o[3*x], o[3*x+1], o[3*x+2] = color.CMYKToRGB(c.C, c.M, c.Y, c.K)
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			o := p[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			o := p[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	default:
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				p[i], p[i+1], p[i+2] = c.R, c.G, c.B
				i += 3
			}
		}
	}
}

// fromYCbCr converts with the same integer arithmetic as color.YCbCrToRGB, inlined, walking
// the chroma planes with shifts where the bounds are non-negative (always, for decoded JPEGs).
func fromYCbCr(out *RGB, src *image.YCbCr) {
	b := src.Bounds()
	w := b.Dx()
	var xs, ys int // chroma subsampling shifts
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
	case image.YCbCrSubsampleRatio422:
		xs = 1
	case image.YCbCrSubsampleRatio420:
		xs, ys = 1, 1
	case image.YCbCrSubsampleRatio440:
		ys = 1
	case image.YCbCrSubsampleRatio411:
		xs = 2
	case image.YCbCrSubsampleRatio410:
		xs, ys = 2, 1
	default:
		xs = -1
	}
	if xs < 0 || b.Min.X < 0 || b.Min.Y < 0 || src.Rect.Min.X < 0 || src.Rect.Min.Y < 0 {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			o := out.Pix[(y-b.Min.Y)*w*3:]
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := src.YOffset(x, y), src.COffset(x, y)
				o[0], o[1], o[2] = color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				o = o[3:]
			}
		}
		return
	}
	cx0 := src.Rect.Min.X >> xs
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := src.Y[src.YOffset(b.Min.X, y):]
		yrow = yrow[:w]
		crow := ((y >> ys) - (src.Rect.Min.Y >> ys)) * src.CStride
		cend := crow + ((b.Max.X - 1) >> xs) - cx0 + 1
		cbs, crs := src.Cb[crow:cend], src.Cr[crow:cend]
		o := out.Pix[(y-b.Min.Y)*w*3 : (y-b.Min.Y+1)*w*3]
		for i, yv := range yrow {
			ci := ((b.Min.X + i) >> xs) - cx0
			yy1 := int32(yv) * 0x10101
			cb1 := int32(cbs[ci]) - 128
			cr1 := int32(crs[ci]) - 128
			r := yy1 + 91881*cr1
			g := yy1 - 22554*cb1 - 46802*cr1
			bb := yy1 + 116130*cb1
			p := o[3*i : 3*i+3 : 3*i+3]
			p[0], p[1], p[2] = clampShift(r), clampShift(g), clampShift(bb)
		}
	}
}

// clampShift is the rounding and clamping of color.YCbCrToRGB: v is 16.16 fixed point.
func clampShift(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// Image returns m as an *image.RGBA (opaque), for drawing and encoding.
func (m *RGB) Image() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	n := m.W * m.H
	for i := 0; i < n; i++ {
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = m.Pix[3*i], m.Pix[3*i+1], m.Pix[3*i+2], 255
	}
	return out
}

// TurnQuarter returns m turned by q quarter turns counter-clockwise as seen on screen (q may be
// negative or above 3): a turn of one quarter takes the pixel at (x, y) to (y, W−1−x) of an H×W
// image. Pixels are copied exactly.
func (m *RGB) TurnQuarter(q int) *RGB {
	q = ((q % 4) + 4) % 4
	if q == 0 {
		return m.Clone()
	}
	w, h := m.W, m.H
	if q != 2 {
		w, h = h, w
	}
	out := New(w, h)
	for y := range m.H {
		for x := range m.W {
			var u, v int
			switch q {
			case 1:
				u, v = y, m.W-1-x
			case 2:
				u, v = m.W-1-x, m.H-1-y
			case 3:
				u, v = m.H-1-y, x
			}
			i, o := (y*m.W+x)*3, (v*w+u)*3
			copy(out.Pix[o:o+3], m.Pix[i:i+3])
		}
	}
	return out
}

// Sub returns a copy of the pixels of m inside r (clipped to m's bounds), with its origin at
// r's top-left corner; it panics when nothing of r lies inside m.
func (m *RGB) Sub(r image.Rectangle) *RGB {
	r = r.Intersect(image.Rect(0, 0, m.W, m.H))
	if r.Empty() {
		panic("imgproc: Sub of a rectangle outside the image")
	}
	out := New(r.Dx(), r.Dy())
	for y := range out.H {
		i := ((r.Min.Y+y)*m.W + r.Min.X) * 3
		copy(out.Pix[y*out.W*3:(y+1)*out.W*3], m.Pix[i:i+out.W*3])
	}
	return out
}

// Fill sets every pixel of m inside r (clipped to m's bounds) to the grey level v.
func (m *RGB) Fill(r image.Rectangle, v uint8) {
	r = r.Intersect(image.Rect(0, 0, m.W, m.H))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := m.Pix[(y*m.W+r.Min.X)*3 : (y*m.W+r.Max.X)*3]
		for i := range row {
			row[i] = v
		}
	}
}
