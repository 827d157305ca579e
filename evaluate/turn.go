package evaluate

import (
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// Turned is a Set whose photos are those of Set turned about their centres by Degrees,
// counter-clockwise as seen on screen, on a canvas just large enough to hold the whole turned
// photo (a quarter turn swaps width and height; other angles leave grey corners). Each photo's
// truth turns with it, its labels unchanged: the cat's left eye stays its left eye. It measures
// how a detector copes with tilted and upside-down heads.
type Turned struct {
	Set
	Degrees float64
}

// Photo returns photo i turned.
func (s Turned) Photo(i int) (Photo, error) {
	p, err := s.Set.Photo(i)
	if err != nil {
		return p, err
	}
	return TurnPhoto(p, s.Degrees), nil
}

// RandomTurned is a Set whose photos are those of Set each turned as Turned turns them, by its
// own angle: RandomAngle(Seed, the photo's name), uniform over [0°, 360°). The angles depend on
// the seed and the names alone, so the same photo gets the same angle in every run and in every
// set that holds it, whatever the order or the batch.
type RandomTurned struct {
	Set
	Seed uint64
}

// Photo returns photo i turned by its angle; Photo.Turn records the angle.
func (s RandomTurned) Photo(i int) (Photo, error) {
	p, err := s.Set.Photo(i)
	if err != nil {
		return p, err
	}
	return TurnPhoto(p, RandomAngle(s.Seed, p.Name)), nil
}

// RandomAngle is the angle, in degrees in [0, 360), that RandomTurned turns the photo called
// name by: the first draw of a PCG generator seeded with seed and the FNV-1a hash of name.
func RandomAngle(seed uint64, name string) float64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return 360 * rand.New(rand.NewPCG(seed, h.Sum64())).Float64()
}

// TurnPhoto returns p turned about its centre by degrees, counter-clockwise on screen, at its
// original size (Photo.Original), with its truth turned too. Pixels are sampled bilinearly at the
// turned canvas's pixel centres, so quarter turns copy pixels exactly; canvas pixels outside the
// photo are mid-grey. The turned photo's Turn is p.Turn + degrees.
func TurnPhoto(p Photo, degrees float64) Photo {
	src := p.Original()
	sin, cos := math.Sincos(degrees * math.Pi / 180)
	// Round away float noise so that quarter turns have exact sizes and taps.
	sin, cos = math.Round(sin*1e12)/1e12, math.Round(cos*1e12)/1e12
	w := int(math.Round(math.Abs(float64(p.W)*cos) + math.Abs(float64(p.H)*sin)))
	h := int(math.Round(math.Abs(float64(p.W)*sin) + math.Abs(float64(p.H)*cos)))
	cx, cy := float64(p.W)/2, float64(p.H)/2
	ox, oy := float64(w)/2, float64(h)/2
	// On screen with y down, counter-clockwise by θ: (dx, dy) ↦ (dx·cos + dy·sin, −dx·sin + dy·cos).
	turn := func(x, y float64) (float64, float64) {
		dx, dy := x-cx, y-cy
		return ox + dx*cos + dy*sin, oy - dx*sin + dy*cos
	}
	out := imgproc.New(w, h)
	for v := range h {
		for u := range w {
			// The inverse turn of the canvas pixel centre, in source pixel-centre coordinates.
			dx, dy := float64(u)+0.5-ox, float64(v)+0.5-oy
			x, y := cx+dx*cos-dy*sin-0.5, cy+dx*sin+dy*cos-0.5
			r, g, b, ok := bilinear(src, x, y)
			if !ok {
				r, g, b = 128, 128, 128
			}
			out.Set(u, v, r, g, b)
		}
	}
	var truth landmark.Points
	for i, q := range p.Truth {
		x, y := turn(q.X, q.Y)
		truth[i] = landmark.Point{X: x, Y: y}
	}
	return Photo{Name: p.Name, Img: out, W: w, H: h, Truth: truth, Turn: p.Turn + degrees}
}

// bilinear samples img at pixel coordinates (x, y) (pixel centres at integers); ok is false
// more than half a pixel outside the image.
func bilinear(img *imgproc.RGB, x, y float64) (r, g, b uint8, ok bool) {
	const eps = 1e-9
	if x < -0.5-eps || y < -0.5-eps || x > float64(img.W)-0.5+eps || y > float64(img.H)-0.5+eps {
		return 0, 0, 0, false
	}
	x = min(max(x, 0), float64(img.W-1))
	y = min(max(y, 0), float64(img.H-1))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, img.W-1), min(y0+1, img.H-1)
	fx, fy := x-float64(x0), y-float64(y0)
	var c [3]float64
	for k := range 3 {
		p := func(xx, yy int) float64 { return float64(img.Pix[(yy*img.W+xx)*3+k]) }
		top := p(x0, y0)*(1-fx) + p(x1, y0)*fx
		bot := p(x0, y1)*(1-fx) + p(x1, y1)*fx
		c[k] = top*(1-fy) + bot*fy + 0.5
	}
	return uint8(c[0]), uint8(c[1]), uint8(c[2]), true
}
