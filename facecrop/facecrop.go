// Package facecrop cuts square face crops out of photos and maps landmarks between a photo and
// a crop: the geometry of catmark's two-stage detector (a coarse model finds the face on the whole
// photo; a refine model places the points on a crop around it).
//
// Coordinates: a photo is W×H pixels with the origin at its top-left corner. A Box is a square in
// those pixels, possibly turned; inside a crop, points are normalised so the box's top-left is
// (0,0) and its bottom-right (1,1), in the box's own turned frame.
package facecrop

import (
	"math"
	"math/rand/v2"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// Box is a square region of a photo in pixels: its centre, its side and its angle. Angle is in
// degrees, counter-clockwise as seen on screen (y pointing down), as augment.NewSimilarity's: a
// face turned by Angle in the photo is upright in the box's crop. The box's x axis runs along
// (cos θ, −sin θ) in the photo and its y axis along (sin θ, cos θ).
type Box struct{ CX, CY, Side, Angle float64 }

// axes returns the photo-pixel directions of the box's x and y axes.
func (b Box) axes() (ex, ey landmark.Point) {
	if b.Angle == 0 {
		return landmark.Point{X: 1}, landmark.Point{Y: 1}
	}
	s, c := math.Sincos(b.Angle * math.Pi / 180)
	return landmark.Point{X: c, Y: -s}, landmark.Point{X: s, Y: c}
}

// FromPoints returns the square around the points' bounding box, its side the box's longer side
// times 1+2·margin (margin is the share of that side added on each side), at least minSide.
func FromPoints(p landmark.Points, margin, minSide float64) Box {
	x0, y0, x1, y1 := p.Extent()
	side := math.Max(x1-x0, y1-y0) * (1 + 2*margin)
	return Box{CX: (x0 + x1) / 2, CY: (y0 + y1) / 2, Side: math.Max(side, minSide)}
}

// Jitter returns b scaled by a factor drawn log-uniformly from [1/(1+scale), 1+scale] and its
// centre moved by up to shift·side in each axis (uniform); it mimics a coarse model's errors.
func (b Box) Jitter(rng *rand.Rand, scale, shift float64) Box {
	f := math.Exp((2*rng.Float64() - 1) * math.Log1p(scale))
	return Box{
		CX:    b.CX + (2*rng.Float64()-1)*shift*b.Side,
		CY:    b.CY + (2*rng.Float64()-1)*shift*b.Side,
		Side:  b.Side * f,
		Angle: b.Angle,
	}
}

// ToBox maps photo pixels to the box's normalised coordinates.
func (b Box) ToBox(p landmark.Points) landmark.Points {
	var q landmark.Points
	ex, ey := b.axes()
	for i, pt := range p {
		dx, dy := pt.X-b.CX, pt.Y-b.CY
		q[i] = landmark.Point{X: 0.5 + (dx*ex.X+dy*ex.Y)/b.Side, Y: 0.5 + (dx*ey.X+dy*ey.Y)/b.Side}
	}
	return q
}

// FromBox maps the box's normalised coordinates back to photo pixels.
func (b Box) FromBox(p landmark.Points) landmark.Points {
	var q landmark.Points
	ex, ey := b.axes()
	for i, pt := range p {
		u, v := (pt.X-0.5)*b.Side, (pt.Y-0.5)*b.Side
		q[i] = landmark.Point{X: b.CX + u*ex.X + v*ey.X, Y: b.CY + u*ex.Y + v*ey.Y}
	}
	return q
}

// Corners returns the box's corners in photo pixels: top-left, top-right, bottom-right and
// bottom-left of its crop.
func (b Box) Corners() [4]landmark.Point {
	c := b.FromBox(landmark.Points{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0, Y: 1}})
	return [4]landmark.Point{c[0], c[1], c[2], c[3]}
}

// Crop samples box b of a photo into a size×size image, bilinear. src shows the whole photo,
// which is photoW×photoH pixels (src may be a resized copy, even with another aspect ratio, as in
// catmark's cache). Parts of the box outside the photo repeat its edge pixels. A turned box is
// sampled along its own axes.
func Crop(src *imgproc.RGB, photoW, photoH int, b Box, size int) *imgproc.RGB {
	if b.Angle != 0 {
		return cropTurned(src, photoW, photoH, b, size)
	}
	out := imgproc.New(size, size)
	// Output pixel centre u+0.5 ↦ photo x0 + (u+0.5)·step ↦ source (x·sx) − 0.5.
	step := b.Side / float64(size)
	sx := float64(src.W) / float64(photoW)
	sy := float64(src.H) / float64(photoH)
	x0, y0 := b.CX-b.Side/2, b.CY-b.Side/2
	xs := make([]sample, size)
	for u := range xs {
		xs[u] = newSample((x0+(float64(u)+0.5)*step)*sx-0.5, src.W)
	}
	for v := 0; v < size; v++ {
		ys := newSample((y0+(float64(v)+0.5)*step)*sy-0.5, src.H)
		r0 := src.Pix[ys.i0*src.W*3:]
		r1 := src.Pix[ys.i1*src.W*3:]
		o := out.Pix[v*size*3:]
		for u, xsu := range xs {
			for c := 0; c < 3; c++ {
				top := float64(r0[xsu.i0*3+c])*(1-xsu.f) + float64(r0[xsu.i1*3+c])*xsu.f
				bot := float64(r1[xsu.i0*3+c])*(1-xsu.f) + float64(r1[xsu.i1*3+c])*xsu.f
				o[u*3+c] = uint8(top*(1-ys.f) + bot*ys.f + 0.5)
			}
		}
	}
	return out
}

// cropTurned is Crop for a turned box: each output pixel's centre is mapped into the photo along
// the box's axes and sampled bilinearly.
func cropTurned(src *imgproc.RGB, photoW, photoH int, b Box, size int) *imgproc.RGB {
	out := imgproc.New(size, size)
	ex, ey := b.axes()
	step := b.Side / float64(size)
	sx := float64(src.W) / float64(photoW)
	sy := float64(src.H) / float64(photoH)
	for v := range size {
		dv := (float64(v)+0.5)*step - b.Side/2
		o := out.Pix[v*size*3:]
		for u := range size {
			du := (float64(u)+0.5)*step - b.Side/2
			xs := newSample((b.CX+du*ex.X+dv*ey.X)*sx-0.5, src.W)
			ys := newSample((b.CY+du*ex.Y+dv*ey.Y)*sy-0.5, src.H)
			r0 := src.Pix[ys.i0*src.W*3:]
			r1 := src.Pix[ys.i1*src.W*3:]
			for c := range 3 {
				top := float64(r0[xs.i0*3+c])*(1-xs.f) + float64(r0[xs.i1*3+c])*xs.f
				bot := float64(r1[xs.i0*3+c])*(1-xs.f) + float64(r1[xs.i1*3+c])*xs.f
				o[u*3+c] = uint8(top*(1-ys.f) + bot*ys.f + 0.5)
			}
		}
	}
	return out
}

// sample is one bilinear tap pair along an axis: indices i0, i1 and the weight f of i1.
type sample struct {
	i0, i1 int
	f      float64
}

func newSample(pos float64, n int) sample {
	if pos <= 0 {
		return sample{0, 0, 0}
	}
	if pos >= float64(n-1) {
		return sample{n - 1, n - 1, 0}
	}
	i := int(pos)
	return sample{i, i + 1, pos - float64(i)}
}

// Away returns a random box of a w×h photo that does not frame the face in box f: a crop the
// refine model should call faceless. Its side is f's times 0.5–3 (log-uniform) and its centre
// anywhere in the photo; it is accepted when f's centre lies outside it, or the face would fill
// less than a quarter of its side, or the box sits deep inside the face (under 40 % of f's side).
// After 50 rejected draws it returns a box of f's side beside the face, on the photo's roomier
// side.
func Away(rng *rand.Rand, f Box, w, h int) Box {
	for range 50 {
		b := Box{
			CX:   rng.Float64() * float64(w),
			CY:   rng.Float64() * float64(h),
			Side: f.Side * math.Exp(math.Log(0.5)+rng.Float64()*math.Log(6)),
		}
		outside := math.Abs(f.CX-b.CX) > b.Side/2 || math.Abs(f.CY-b.CY) > b.Side/2
		if outside || f.Side < b.Side/4 || b.Side < 0.4*f.Side {
			return b
		}
	}
	b := f
	if f.CX < float64(w)/2 {
		b.CX += 1.5 * f.Side
	} else {
		b.CX -= 1.5 * f.Side
	}
	return b
}
