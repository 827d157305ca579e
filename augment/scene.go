package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// Photo is a training photo as a scene takes it: its picture (any size; catmark's cache keeps
// every photo squashed to S×S), the original photo's size W×H, and its face's nine points in the
// original photo's pixels.
type Photo struct {
	Img    *imgproc.RGB
	W, H   int
	Points landmark.Points
}

// Scene makes the training pictures of a first-stage model that finds every face at once
// (model.Centers): square pictures of Size pixels showing a training photo turned by any angle
// at a scale that puts faces from MinFace to MaxFace of the side; a share Multi of them 2 to
// MaxCats cats, heads of other photos pasted onto a photo (its own face kept or erased); a share
// Empty no cat at all (the face erased, or the picture cut away from it). Uncovered areas are
// model.PadColor, the colour of a letterboxed input's padding.
type Scene struct {
	Size             int
	MinFace, MaxFace float64 // face side range, shares of Size
	Multi, Empty     float64 // shares of pictures with several cats and with none
	MaxCats          int     // most cats in a picture with several (at least 2)
	Flip             bool    // mirror each photo with probability 1/2
}

// Validate reports an impossible setting.
func (s Scene) Validate() error {
	switch {
	case s.Size < 16:
		return fmt.Errorf("augment: scene size %d below 16", s.Size)
	case !(s.MinFace > 0 && s.MinFace <= s.MaxFace && s.MaxFace <= 2):
		return fmt.Errorf("augment: scene face range [%v, %v]: want 0 < min ≤ max ≤ 2", s.MinFace, s.MaxFace)
	case !(s.Multi >= 0 && s.Empty >= 0 && s.Multi+s.Empty <= 1):
		return fmt.Errorf("augment: scene shares multi %v and empty %v: want non-negative shares summing to at most 1", s.Multi, s.Empty)
	case s.Multi > 0 && s.MaxCats < 2:
		return fmt.Errorf("augment: scene max cats %d: want at least 2 with multi %v", s.MaxCats, s.Multi)
	}
	return nil
}

// uprightShare is the share of single-photo pictures turned by at most uprightJitter degrees:
// most photos show the cat upright, so a near-upright face stays common among turned ones.
const (
	uprightShare  = 0.25
	uprightJitter = 15
	headMargin    = 0.3  // a pasted head's box: the face box grown by this share on each side
	eraseMargin   = 0.25 // an erased face's box, likewise
	feather       = 0.08 // a pasted head's or erased box's soft edge, share of its side
)

// Draw makes one picture from photo (and, for a picture with several cats, photos drawn with
// pick), deciding everything with rng, and returns it with the points of every face whose
// centre it shows (model.FaceGeometry), in its pixels.
func (s Scene) Draw(rng *rand.Rand, photo Photo, pick func(*rand.Rand) Photo) (*imgproc.RGB, []landmark.Points) {
	out := imgproc.New(s.Size, s.Size)
	u := rng.Float64()
	switch {
	case u < s.Empty:
		return out, s.empty(rng, out, photo)
	case u < s.Empty+s.Multi:
		return out, s.multi(rng, out, photo, pick)
	}
	a, pts := s.place(rng, photo, s.faceSide(rng, s.MaxFace))
	render(out, photo, a, nil)
	return out, s.visible(nil, pts)
}

// faceSide draws a face side in pixels, log-uniform in [MinFace, min(MaxFace, hi)]·Size.
func (s Scene) faceSide(rng *rand.Rand, hi float64) float64 {
	lo, hi := math.Log(s.MinFace), math.Log(max(math.Min(s.MaxFace, hi), s.MinFace))
	return math.Exp(lo+(hi-lo)*rng.Float64()) * float64(s.Size)
}

// place draws where photo's face goes: mirrored (Flip), turned by any angle (or nearly upright),
// scaled to side pixels, its centre anywhere the face fits. It returns the map from photo pixels
// to the picture's and the face's points mapped by it (after the mirror's relabelling).
func (s Scene) place(rng *rand.Rand, p Photo, side float64) (Affine, landmark.Points) {
	pts := p.Points
	mirror := s.Flip && rng.Float64() < 0.5
	turn := rng.Float64() * 360
	if rng.Float64() < uprightShare {
		turn = (2*rng.Float64() - 1) * uprightJitter
	}
	if mirror {
		pts = pts.FlipPixels(p.W)
	}
	g := model.FaceGeometry(pts)
	k := side / math.Max(g.Size, 1)
	room := math.Max(float64(s.Size)-side, 0)
	cx := side/2 + rng.Float64()*room
	cy := side/2 + rng.Float64()*room
	if room == 0 {
		cx, cy = float64(s.Size)/2, float64(s.Size)/2
	}
	a := Affine{1, 0, 0, 0, 1, 0}
	if mirror {
		a = Affine{-1, 0, float64(p.W), 0, 1, 0}
	}
	t := Turn(g.X, g.Y, k, turn, cx, cy)
	return a.Then(t), t.Points(pts)
}

// Turn is the similarity of pixel coordinates that scales by k and turns by degrees
// (counter-clockwise on screen) about (x0, y0), then moves that point to (x1, y1).
func Turn(x0, y0, k, degrees, x1, y1 float64) Affine {
	sn, cs := math.Sincos(degrees * math.Pi / 180)
	c, s := k*cs, k*sn
	return Affine{c, s, x1 - c*x0 - s*y0, -s, c, y1 + s*x0 - c*y0}
}

// visible appends pts to faces when the face's centre lies in the picture.
func (s Scene) visible(faces []landmark.Points, pts landmark.Points) []landmark.Points {
	g := model.FaceGeometry(pts)
	if g.X >= 0 && g.Y >= 0 && g.X < float64(s.Size) && g.Y < float64(s.Size) {
		faces = append(faces, pts)
	}
	return faces
}

// multi paints photo, its face kept or erased, and pastes heads of photos from pick onto it
// where they overlap no face already there, 2 to MaxCats cats in all.
func (s Scene) multi(rng *rand.Rand, out *imgproc.RGB, photo Photo, pick func(*rand.Rand) Photo) []landmark.Points {
	a, pts := s.place(rng, photo, s.faceSide(rng, 0.5))
	render(out, photo, a, nil)
	var faces []landmark.Points
	if rng.Float64() < 0.5 {
		faces = s.visible(nil, pts)
	} else {
		erase(out, pts)
	}
	cats := 2 + rng.IntN(s.MaxCats-1)
	for range 4 * cats {
		if len(faces) >= cats {
			break
		}
		head := pick(rng)
		a, pts := s.place(rng, head, s.faceSide(rng, 0.45))
		g := model.FaceGeometry(pts)
		clear := true
		for _, f := range faces {
			h := model.FaceGeometry(f)
			if math.Hypot(g.X-h.X, g.Y-h.Y) < 0.6*(g.Size+h.Size) {
				clear = false
				break
			}
		}
		if !clear {
			continue
		}
		hg := model.FaceGeometry(head.Points)
		box := facecrop.Box{CX: hg.X, CY: hg.Y, Side: hg.Size * (1 + 2*headMargin), Angle: hg.Angle}
		render(out, head, a, &box)
		faces = s.visible(faces, pts)
	}
	return faces
}

// empty paints a picture with no face: photo with its face erased, or photo cut so that the
// face's centre lies well outside the picture.
func (s Scene) empty(rng *rand.Rand, out *imgproc.RGB, photo Photo) []landmark.Points {
	if rng.Float64() < 0.5 {
		a, pts := s.place(rng, photo, s.faceSide(rng, s.MaxFace))
		render(out, photo, a, nil)
		erase(out, pts)
		return nil
	}
	side := float64(s.Size) * (0.3 + 0.7*rng.Float64())
	a, pts := s.place(rng, photo, side)
	g := model.FaceGeometry(pts)
	// Move the picture so the face's centre lies 0.75 to 1.5 face sides beyond one edge.
	beyond := side * (0.75 + 0.75*rng.Float64())
	var dx, dy float64
	switch rng.IntN(4) {
	case 0:
		dx = -g.X - beyond
	case 1:
		dx = float64(s.Size) - g.X + beyond
	case 2:
		dy = -g.Y - beyond
	default:
		dy = float64(s.Size) - g.Y + beyond
	}
	a[2] += dx
	a[5] += dy
	render(out, photo, a, nil)
	return nil
}

// Render paints photo onto out through a (photo pixels to out's pixels), bilinear, uncovered
// pixels taking model.PadColor: a picture of photo turned, scaled and moved.
func Render(out *imgproc.RGB, photo Photo, a Affine) { render(out, photo, a, nil) }

// render paints photo onto out through a (photo pixels to out's), bilinear from photo.Img (which
// shows the W×H photo at any size). Without only it covers out, uncovered pixels taking
// model.PadColor; with it only the pixels whose photo position falls in the (turned) box only are
// painted, blended over out with a soft edge.
func render(out *imgproc.RGB, photo Photo, a Affine, only *facecrop.Box) {
	inv := a.Inverse()
	sx, sy := float64(photo.Img.W)/float64(photo.W), float64(photo.Img.H)/float64(photo.H)
	x0, y0, x1, y1 := 0, 0, out.W, out.H
	if only != nil {
		c := only.Corners()
		fx0, fy0, fx1, fy1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, p := range c {
			q := a.Point(p)
			fx0, fy0, fx1, fy1 = math.Min(fx0, q.X), math.Min(fy0, q.Y), math.Max(fx1, q.X), math.Max(fy1, q.Y)
		}
		x0, y0 = max(int(fx0), 0), max(int(fy0), 0)
		x1, y1 = min(int(fx1)+1, out.W), min(int(fy1)+1, out.H)
	}
	src := photo.Img
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			p := inv.Point(landmark.Point{X: float64(x) + 0.5, Y: float64(y) + 0.5})
			o := out.Pix[(y*out.W+x)*3 : (y*out.W+x)*3+3]
			alpha := 1.0
			if only != nil {
				b := only.ToBox(landmark.Points{p})[0]
				alpha = math.Min(math.Min(b.X, 1-b.X), math.Min(b.Y, 1-b.Y)) / feather
				if alpha <= 0 {
					continue
				}
				alpha = math.Min(alpha, 1)
			}
			if p.X < 0 || p.Y < 0 || p.X >= float64(photo.W) || p.Y >= float64(photo.H) {
				if only == nil {
					o[0], o[1], o[2] = model.PadColor[0], model.PadColor[1], model.PadColor[2]
				}
				continue
			}
			u, v := p.X*sx-0.5, p.Y*sy-0.5
			var rgb [3]float64
			bilinear(src, u, v, &rgb)
			for c := range 3 {
				o[c] = uint8(math.Round(alpha*rgb[c] + (1-alpha)*float64(o[c])))
			}
		}
	}
}

// bilinear samples img at pixel coordinates (u, v) (pixel centres at integers), edge pixels
// repeated.
func bilinear(img *imgproc.RGB, u, v float64, rgb *[3]float64) {
	u = math.Min(math.Max(u, 0), float64(img.W-1))
	v = math.Min(math.Max(v, 0), float64(img.H-1))
	x0, y0 := int(u), int(v)
	x1, y1 := min(x0+1, img.W-1), min(y0+1, img.H-1)
	fx, fy := u-float64(x0), v-float64(y0)
	at := func(x, y, c int) float64 { return float64(img.Pix[(y*img.W+x)*3+c]) }
	for c := range 3 {
		top := at(x0, y0, c)*(1-fx) + at(x1, y0, c)*fx
		bot := at(x0, y1, c)*(1-fx) + at(x1, y1, c)*fx
		rgb[c] = top*(1-fy) + bot*fy
	}
}

// erase paints over the face at pts (picture pixels): its box grown by eraseMargin, turned with
// it, takes the mean colour of a ring around the box, with a soft edge.
func erase(img *imgproc.RGB, pts landmark.Points) {
	g := model.FaceGeometry(pts)
	box := facecrop.Box{CX: g.X, CY: g.Y, Side: g.Size * (1 + 2*eraseMargin), Angle: g.Angle}
	ring := box
	ring.Side *= 1.5
	var sum [3]float64
	n := 0
	c := ring.Corners()
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range c {
		x0, y0, x1, y1 = math.Min(x0, p.X), math.Min(y0, p.Y), math.Max(x1, p.X), math.Max(y1, p.Y)
	}
	ix0, iy0 := max(int(x0), 0), max(int(y0), 0)
	ix1, iy1 := min(int(x1)+1, img.W), min(int(y1)+1, img.H)
	inBox := func(b facecrop.Box, x, y int) (landmark.Point, bool) {
		q := b.ToBox(landmark.Points{{X: float64(x) + 0.5, Y: float64(y) + 0.5}})[0]
		return q, q.X >= 0 && q.Y >= 0 && q.X <= 1 && q.Y <= 1
	}
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			if _, in := inBox(ring, x, y); !in {
				continue
			}
			if _, in := inBox(box, x, y); in {
				continue
			}
			for k := range 3 {
				sum[k] += float64(img.Pix[(y*img.W+x)*3+k])
			}
			n++
		}
	}
	fill := [3]float64{float64(model.PadColor[0]), float64(model.PadColor[1]), float64(model.PadColor[2])}
	if n > 0 {
		for k := range 3 {
			fill[k] = sum[k] / float64(n)
		}
	}
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			q, in := inBox(box, x, y)
			if !in {
				continue
			}
			alpha := math.Min(1, math.Min(math.Min(q.X, 1-q.X), math.Min(q.Y, 1-q.Y))/feather)
			o := img.Pix[(y*img.W+x)*3 : (y*img.W+x)*3+3]
			for k := range 3 {
				o[k] = uint8(math.Round(alpha*fill[k] + (1-alpha)*float64(o[k])))
			}
		}
	}
}
