// Package render draws landmarks on photos, lays pictures out in grids and saves them as PNG:
// the pictures catmark shows people to check annotations, augmentations and predictions.
//
// Points are in the image's pixel coordinates: the origin is the top-left corner of the image and
// pixel (i, j) covers [i, i+1)×[j, j+1). Markers are numbered 1…9 as the Cat Dataset numbers its
// points (1 = the eye on the image's left); each ear is drawn as a polyline outer base → tip →
// inner base, so a swapped ear shows as a crossed shape.
package render

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/catmark/catmark/landmark"
)

// Default colours: ground truth in green, predictions in magenta.
var (
	TruthColor = color.RGBA{40, 230, 40, 255}
	PredColor  = color.RGBA{255, 40, 210, 255}
)

// Options controls Draw. The zero value draws numbered markers and ear outlines in the default
// colours, without upscaling.
type Options struct {
	Truth, Pred color.RGBA // marker colours; zero means TruthColor, PredColor
	Lines       bool       // also join the eyes and the mouth (a triangle)
	NoNumbers   bool       // leave out the numbers 1…9
	// MinSide upscales an image whose longer side is shorter than MinSide by the smallest whole
	// factor that reaches it (Catmull-Rom), points with it, so that markers stay legible.
	MinSide int
}

// Draw returns a copy of img with truth and pred drawn on it; either may be nil. Marker sizes and
// line widths grow with the image.
func Draw(img image.Image, truth, pred *landmark.Points, opt Options) *image.RGBA {
	b := img.Bounds()
	k := 1
	if long := max(b.Dx(), b.Dy()); opt.MinSide > 0 && long > 0 && long < opt.MinSide {
		k = (opt.MinSide + long - 1) / long
	}
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	if k == 1 {
		draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	} else {
		xdraw.CatmullRom.Scale(out, out.Bounds(), img, b, draw.Src, nil)
	}
	if opt.Truth == (color.RGBA{}) {
		opt.Truth = TruthColor
	}
	if opt.Pred == (color.RGBA{}) {
		opt.Pred = PredColor
	}
	st := newStyle(out.Bounds())
	// Lines under markers, prediction over truth.
	sets := []struct {
		p   *landmark.Points
		col color.RGBA
	}{{truth, opt.Truth}, {pred, opt.Pred}}
	for _, s := range sets {
		if s.p != nil {
			st.lines(out, scale(*s.p, float64(k)), s.col, opt.Lines)
		}
	}
	for _, s := range sets {
		if s.p != nil {
			st.markers(out, scale(*s.p, float64(k)), s.col, !opt.NoNumbers)
		}
	}
	return out
}

func scale(p landmark.Points, k float64) landmark.Points {
	for i := range p {
		p[i].X *= k
		p[i].Y *= k
	}
	return p
}

// style holds the sizes that follow the image's size.
type style struct {
	radius int // marker disc radius
	width  int // line width
	text   int // text scale (a whole factor of the 7×13 font)
}

func newStyle(r image.Rectangle) style {
	long := max(r.Dx(), r.Dy())
	return style{
		radius: max(2, long/110),
		width:  max(1, long/300),
		text:   max(1, long/450),
	}
}

var outline = color.RGBA{0, 0, 0, 255}

func (st style) lines(dst *image.RGBA, p landmark.Points, col color.RGBA, face bool) {
	for _, ear := range landmark.Ears {
		for s := 0; s < 2; s++ {
			a, b := p[ear[s]], p[ear[s+1]]
			line(dst, a.X, a.Y, b.X, b.Y, float64(st.width)/2+1, outline)
		}
	}
	for _, ear := range landmark.Ears {
		for s := 0; s < 2; s++ {
			a, b := p[ear[s]], p[ear[s+1]]
			line(dst, a.X, a.Y, b.X, b.Y, float64(st.width)/2, col)
		}
	}
	if face {
		for _, e := range [][2]int{{0, 1}, {1, 2}, {2, 0}} {
			a, b := p[e[0]], p[e[1]]
			line(dst, a.X, a.Y, b.X, b.Y, float64(st.width)/2, col)
		}
	}
}

func (st style) markers(dst *image.RGBA, p landmark.Points, col color.RGBA, numbers bool) {
	for _, q := range p {
		cx, cy := math.Floor(q.X)+0.5, math.Floor(q.Y)+0.5
		disc(dst, cx, cy, float64(st.radius)+1, outline)
		disc(dst, cx, cy, float64(st.radius), col)
	}
	if !numbers {
		return
	}
	for i, q := range p {
		x := int(math.Floor(q.X)) + st.radius + 1
		y := int(math.Floor(q.Y)) - st.radius - 1
		Text(dst, x, y, strconv.Itoa(i+1), col, st.text)
	}
}

// disc fills the pixels whose centres lie within r of (cx, cy).
func disc(dst *image.RGBA, cx, cy, r float64, col color.RGBA) {
	b := dst.Bounds()
	x0, x1 := max(b.Min.X, int(math.Floor(cx-r))), min(b.Max.X-1, int(math.Ceil(cx+r)))
	y0, y1 := max(b.Min.Y, int(math.Floor(cy-r))), min(b.Max.Y-1, int(math.Ceil(cy+r)))
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if dx*dx+dy*dy <= r*r {
				dst.SetRGBA(x, y, col)
			}
		}
	}
}

// line fills the pixels whose centres lie within half of the segment (ax, ay)–(bx, by).
func line(dst *image.RGBA, ax, ay, bx, by, half float64, col color.RGBA) {
	r := dst.Bounds()
	x0, x1 := max(r.Min.X, int(math.Floor(min(ax, bx)-half))), min(r.Max.X-1, int(math.Ceil(max(ax, bx)+half)))
	y0, y1 := max(r.Min.Y, int(math.Floor(min(ay, by)-half))), min(r.Max.Y-1, int(math.Ceil(max(ay, by)+half)))
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			px, py := float64(x)+0.5-ax, float64(y)+0.5-ay
			t := 0.0
			if l2 > 0 {
				t = min(max((px*dx+py*dy)/l2, 0), 1)
			}
			ex, ey := px-t*dx, py-t*dy
			if ex*ex+ey*ey <= half*half {
				dst.SetRGBA(x, y, col)
			}
		}
	}
}

// TextSize returns the size in pixels of s written by Text at scale k.
func TextSize(s string, k int) (w, h int) {
	face := basicfont.Face7x13
	return font.MeasureString(face, s).Ceil() * k, face.Height * k
}

// Text writes s with its top-left corner at (x, y) in the 7×13 pixel font enlarged k times, in
// col with a one-pixel black outline.
func Text(dst *image.RGBA, x, y int, s string, col color.RGBA, k int) {
	k = max(k, 1)
	face := basicfont.Face7x13
	w, h := font.MeasureString(face, s).Ceil(), face.Height
	if w == 0 {
		return
	}
	mask := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Ascent)}
	d.DrawString(s)
	fill := func(c color.RGBA, grow int) {
		for j := 0; j < h; j++ {
			for i := 0; i < w; i++ {
				if mask.AlphaAt(i, j).A < 128 {
					continue
				}
				r := image.Rect(x+i*k-grow, y+j*k-grow, x+(i+1)*k+grow, y+(j+1)*k+grow).Intersect(dst.Bounds())
				draw.Draw(dst, r, image.NewUniform(c), image.Point{}, draw.Src)
			}
		}
	}
	fill(outline, 1)
	fill(col, 0)
}
