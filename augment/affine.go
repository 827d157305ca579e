package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// Affine is an affine map of normalised coordinates:
//
//	(x, y) ↦ (A[0]·x + A[1]·y + A[2], A[3]·x + A[4]·y + A[5])
type Affine [6]float64

// Identity is the affine map that changes nothing.
var Identity = Affine{1, 0, 0, 0, 1, 0}

// MirrorX is the horizontal mirror x ↦ 1−x (without the landmarks' mirror permutation).
var MirrorX = Affine{-1, 0, 1, 0, 1, 0}

// Point maps one point.
func (a Affine) Point(p landmark.Point) landmark.Point {
	return landmark.Point{X: a[0]*p.X + a[1]*p.Y + a[2], Y: a[3]*p.X + a[4]*p.Y + a[5]}
}

// Points maps every point (keeping their order).
func (a Affine) Points(p landmark.Points) landmark.Points {
	var q landmark.Points
	for i, pt := range p {
		q[i] = a.Point(pt)
	}
	return q
}

// Then returns the map that applies a first, then b.
func (a Affine) Then(b Affine) Affine {
	return Affine{
		b[0]*a[0] + b[1]*a[3], b[0]*a[1] + b[1]*a[4], b[0]*a[2] + b[1]*a[5] + b[2],
		b[3]*a[0] + b[4]*a[3], b[3]*a[1] + b[4]*a[4], b[3]*a[2] + b[4]*a[5] + b[5],
	}
}

// Inverse returns the inverse map; it panics if a is singular.
func (a Affine) Inverse() Affine {
	det := a[0]*a[4] - a[1]*a[3]
	if det == 0 || math.IsNaN(det) || math.IsInf(det, 0) {
		panic(fmt.Sprintf("augment: affine map %v is not invertible", a))
	}
	i0, i1, i3, i4 := a[4]/det, -a[1]/det, -a[3]/det, a[0]/det
	return Affine{i0, i1, -(i0*a[2] + i1*a[5]), i3, i4, -(i3*a[2] + i4*a[5])}
}

// NewSimilarity returns the similarity about the image's centre (0.5, 0.5) that scales by scale,
// rotates by degrees (positive turns the picture counter-clockwise as seen on screen, y pointing
// down) and then shifts by (dx, dy) in fractions of the side:
//
//	p ↦ scale·R(degrees)·(p − c) + c + (dx, dy)
func NewSimilarity(scale, degrees, dx, dy float64) Affine {
	th := degrees * math.Pi / 180
	c, s := scale*math.Cos(th), scale*math.Sin(th)
	// On screen with y down, counter-clockwise takes (1, 0) to (cos θ, −sin θ).
	return Affine{
		c, s, 0.5 - c*0.5 - s*0.5 + dx,
		-s, c, 0.5 + s*0.5 - c*0.5 + dy,
	}
}

// RandomSimilarity draws a similarity (NewSimilarity): a scale log-uniform in [scale[0], scale[1]]
// ({0, 0} means 1), an angle uniform in [−rotate, rotate] degrees and a shift uniform in
// [−shift, shift] along each axis. It always draws four Float64 from rng, in that order.
func RandomSimilarity(rng *rand.Rand, scale [2]float64, shift, rotate float64) Affine {
	u := rng.Float64()
	s := 1.0
	if scale != [2]float64{} {
		lo, hi := math.Log(scale[0]), math.Log(scale[1])
		s = math.Exp(lo + (hi-lo)*u)
	}
	deg := (2*rng.Float64() - 1) * rotate
	dx := (2*rng.Float64() - 1) * shift
	dy := (2*rng.Float64() - 1) * shift
	return NewSimilarity(s, deg, dx, dy)
}

// fracBits is the fixed-point precision of Warp's interpolation weights.
const fracBits = 14

// Warp fills dst with src seen through the map a of normalised coordinates: a point p of src
// appears at a(p) in dst, so dst's pixel centre q samples src at a⁻¹(q), with bilinear
// interpolation; samples outside src take the nearest edge pixel (edge replication). dst and src
// may differ in size (normalised coordinates scale with each image); they must not share pixels.
// Where a⁻¹(q) falls exactly on a pixel centre the pixel is copied unchanged, so the identity and
// MirrorX reproduce src exactly.
func Warp(dst, src *imgproc.RGB, a Affine) {
	if dst.W == 0 || dst.H == 0 {
		return
	}
	if src.W == 0 || src.H == 0 {
		panic("augment: Warp from an empty image")
	}
	inv := a.Inverse()
	// Source pixel coordinate u = sx·X − 0.5 with X = inv(q), q = ((i+0.5)/dW, (j+0.5)/dH):
	// u = ux·i + uy·j + u0, likewise v.
	sw, sh := float64(src.W), float64(src.H)
	dw, dh := float64(dst.W), float64(dst.H)
	ux, uy := inv[0]*sw/dw, inv[1]*sw/dh
	u0 := (inv[0]*0.5/dw+inv[1]*0.5/dh+inv[2])*sw - 0.5
	vx, vy := inv[3]*sh/dw, inv[4]*sh/dh
	v0 := (inv[3]*0.5/dw+inv[4]*0.5/dh+inv[5])*sh - 0.5
	maxU, maxV := sw-1, sh-1
	const one = 1 << fracBits
	const half = 1 << (2*fracBits - 1)
	sPix, stride := src.Pix, src.W*3
	lastX, lastY := src.W-1, src.H-1
	for j := 0; j < dst.H; j++ {
		row := dst.Pix[j*dst.W*3 : (j+1)*dst.W*3]
		fj := float64(j)
		for i := 0; i < dst.W; i++ {
			fi := float64(i)
			u := min(max(ux*fi+uy*fj+u0, 0), maxU)
			v := min(max(vx*fi+vy*fj+v0, 0), maxV)
			x0, y0 := int(u), int(v)
			fx := int((u-float64(x0))*one + 0.5)
			fy := int((v-float64(y0))*one + 0.5)
			dx, dy := 3, stride // offsets to the right and lower neighbours, 0 at the last column or row
			if x0 >= lastX {
				dx = 0
			}
			if y0 >= lastY {
				dy = 0
			}
			o00 := y0*stride + 3*x0
			a := sPix[o00 : o00+3 : o00+3]
			b := sPix[o00+dx : o00+dx+3 : o00+dx+3]
			c := sPix[o00+dy : o00+dy+3 : o00+dy+3]
			d := sPix[o00+dy+dx : o00+dy+dx+3 : o00+dy+dx+3]
			o := row[3*i : 3*i+3 : 3*i+3]
			for k := 0; k < 3; k++ {
				top := int(a[k])<<fracBits + (int(b[k])-int(a[k]))*fx
				bot := int(c[k])<<fracBits + (int(d[k])-int(c[k]))*fx
				o[k] = uint8((top<<fracBits + (bot-top)*fy + half) >> (2 * fracBits))
			}
		}
	}
}
