package model

import (
	"fmt"
	"math"
	"sort"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// A Centers model's output (Spec.Stage Centers) is, per input of W×H pixels, CentersChannels maps
// of (W/8)×(H/8) cells; cell (i, j) covers input pixels [8j, 8j+8)×[8i, 8i+8). For a face whose
// centre falls in cell (i, j), the cell holds (channel: meaning):
//
//	0 (CenterLogit):       logit of "a face's centre is here"; its sigmoid is the face presence
//	1, 2 (CenterOffset):   the centre's position inside the cell, x and y, in cells (0…1)
//	3 (CenterLogSize):     ln(side / CentersStride), side the face size in input pixels
//	4, 5 (CenterCos):      cos θ and sin θ of the face's angle θ (landmark.Points.Angle)
//	6…23 (CenterPoints):   the nine points (x0, y0, …, x8, y8) less the centre, over side
//
// A face's centre and size are those of its box with no margin (facecrop.FaceBoxAt(points, 0,
// θ)): the square around the points in the frame that turns the face upright, so a refine crop
// is that box grown by the refine model's margin, turned by θ. Training writes the same layout
// (package train, loss.Centers).
const (
	CentersStride   = 8
	CenterLogit     = 0
	CenterOffset    = 1
	CenterLogSize   = 3
	CenterCos       = 4
	CenterPoints    = 6
	CentersChannels = CenterPoints + landmark.Dim
)

// PadColor is the colour a letterboxed input's padding and training's uncovered areas take: the
// ImageNet mean, which the "imagenet" normalisation maps to 0.
var PadColor = [3]uint8{124, 116, 104}

// Letterbox maps a photo into a Centers model's input with its aspect kept: input = photo·Scale +
// (OX, OY) in pixels (X and Y scales differ only by the rounding of the resized sides). The input
// is W×H pixels, both multiples of CentersAlign.
type Letterbox struct {
	W, H           int
	ScaleX, ScaleY float64
	OX, OY         float64
}

// CentersAlign is what a Centers model's input sides must be multiples of: the stride of its
// deepest stage, whose map is upsampled by 2 onto the stride-8 one.
const CentersAlign = 2 * CentersStride

// MaxStretch bounds a letterboxed input's longer side: at most MaxStretch times the model's size.
const MaxStretch = 3

// NewLetterbox returns the letterbox of a w×h photo for a model of size s. A photo up to 4:3 (or
// 3:4) is resized so its longer side is s and padded to s×s, as the model was trained; a longer
// one gets a longer input, its long side s·¾·aspect (at most MaxStretch·s), so that a panorama of
// several cats keeps their faces as large as a 4:3 photo would; its short side is padded to s.
// The photo is centred.
func NewLetterbox(w, h, s int) Letterbox {
	long, short := max(w, h), min(w, h)
	aspect := float64(long) / float64(short)
	side := float64(s) * min(max(0.75*aspect, 1), MaxStretch)
	side = max(math.Round(side/CentersAlign)*CentersAlign, float64(s))
	k := side / float64(long)
	nw := min(max(int(math.Round(float64(w)*k)), 1), int(side))
	nh := min(max(int(math.Round(float64(h)*k)), 1), int(side))
	iw := max(s, (nw+CentersAlign-1)/CentersAlign*CentersAlign)
	ih := max(s, (nh+CentersAlign-1)/CentersAlign*CentersAlign)
	return Letterbox{W: iw, H: ih, ScaleX: float64(nw) / float64(w), ScaleY: float64(nh) / float64(h),
		OX: float64((iw - nw) / 2), OY: float64((ih - nh) / 2)}
}

// resized is the side of the photo inside the input, in pixels.
func (l Letterbox) resized(w, h int) (int, int) {
	return int(math.Round(float64(w) * l.ScaleX)), int(math.Round(float64(h) * l.ScaleY))
}

// ToInput maps a photo point to input pixels.
func (l Letterbox) ToInput(p landmark.Point) landmark.Point {
	return landmark.Point{X: p.X*l.ScaleX + l.OX, Y: p.Y*l.ScaleY + l.OY}
}

// ToPhoto maps an input point back to photo pixels.
func (l Letterbox) ToPhoto(p landmark.Point) landmark.Point {
	return landmark.Point{X: (p.X - l.OX) / l.ScaleX, Y: (p.Y - l.OY) / l.ScaleY}
}

// Image returns img letterboxed: img resized by l into an l.W×l.H image padded with PadColor.
func (l Letterbox) Image(img *imgproc.RGB) *imgproc.RGB {
	out := imgproc.New(l.W, l.H)
	for i := 0; i < len(out.Pix); i += 3 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = PadColor[0], PadColor[1], PadColor[2]
	}
	nw, nh := l.resized(img.W, img.H)
	small := img
	if nw != img.W || nh != img.H {
		small = img.Resize(nw, nh)
	}
	ox, oy := int(l.OX), int(l.OY)
	for y := range nh {
		copy(out.Pix[((oy+y)*l.W+ox)*3:((oy+y)*l.W+ox+nw)*3], small.Pix[y*nw*3:(y+1)*nw*3])
	}
	return out
}

// CentersInput returns img letterboxed for a Centers model of spec s (NewLetterbox) as the
// model's input planes (3×H×W, normalised), and the letterbox.
func (s Spec) CentersInput(img *imgproc.RGB) ([]float32, Letterbox) {
	lb := NewLetterbox(img.W, img.H, s.Size)
	x := make([]float32, 3*lb.W*lb.H)
	norm, err := imgproc.NormNamed(s.Norm)
	if err != nil {
		panic(fmt.Sprintf("model: CentersInput with an invalid spec: %v", err)) // Validate rejects it
	}
	norm.Planes(lb.Image(img), x)
	return x, lb
}

// Candidate is a face a Centers model found, in photo pixels.
type Candidate struct {
	X, Y   float64 // the face box's centre
	Size   float64 // the face box's side (no margin)
	Angle  float64 // degrees, counter-clockwise, in (−180, 180] (facecrop.Box.Angle)
	Score  float64 // presence: the sigmoid of the centre's logit, 0…1
	Points landmark.Points
}

// DecodeCenters reads one input's output maps (CentersChannels×gh×gw, as a Centers model gives
// them for an input of gw·CentersStride × gh·CentersStride pixels) into the faces whose centre cell is a local maximum of the logit map (not below any of
// its eight neighbours, and above those that come earlier in row order, so a plateau gives one
// face) with a presence of at least threshold, best first, at most maxFaces (0: all); lb maps
// them back to the photo.
func DecodeCenters(maps []float32, gw, gh int, lb Letterbox, threshold float64, maxFaces int) ([]Candidate, error) {
	if gw < 1 || gh < 1 || len(maps) != CentersChannels*gw*gh {
		return nil, fmt.Errorf("model: DecodeCenters: %d values for %d maps of %d×%d cells", len(maps), CentersChannels, gw, gh)
	}
	at := func(c, i, j int) float64 { return float64(maps[(c*gh+i)*gw+j]) }
	type peak struct {
		i, j int
		z    float64
	}
	var peaks []peak
	minLogit := math.Log(threshold / (1 - threshold)) // −Inf for 0, +Inf for 1
	for i := range gh {
		for j := range gw {
			z := at(CenterLogit, i, j)
			if z < minLogit || math.IsNaN(z) {
				continue
			}
			top := true
			for di := -1; di <= 1 && top; di++ {
				for dj := -1; dj <= 1; dj++ {
					ni, nj := i+di, j+dj
					if (di == 0 && dj == 0) || ni < 0 || nj < 0 || ni >= gh || nj >= gw {
						continue
					}
					n := at(CenterLogit, ni, nj)
					earlier := di < 0 || di == 0 && dj < 0
					if n > z || earlier && n == z {
						top = false
						break
					}
				}
			}
			if top {
				peaks = append(peaks, peak{i, j, z})
			}
		}
	}
	sort.SliceStable(peaks, func(a, b int) bool { return peaks[a].z > peaks[b].z })
	if maxFaces > 0 && len(peaks) > maxFaces {
		peaks = peaks[:maxFaces]
	}
	out := make([]Candidate, len(peaks))
	const stride = CentersStride
	for k, p := range peaks {
		cx := (float64(p.j) + at(CenterOffset, p.i, p.j)) * stride
		cy := (float64(p.i) + at(CenterOffset+1, p.i, p.j)) * stride
		side := math.Exp(min(at(CenterLogSize, p.i, p.j), 10)) * stride
		c := lb.ToPhoto(landmark.Point{X: cx, Y: cy})
		var pts landmark.Points
		for q := range pts {
			pts[q] = lb.ToPhoto(landmark.Point{
				X: cx + side*at(CenterPoints+2*q, p.i, p.j),
				Y: cy + side*at(CenterPoints+2*q+1, p.i, p.j),
			})
		}
		angle := math.Atan2(at(CenterCos+1, p.i, p.j), at(CenterCos, p.i, p.j)) * 180 / math.Pi
		if angle == -180 {
			angle = 180
		}
		out[k] = Candidate{X: c.X, Y: c.Y, Size: side / math.Sqrt(lb.ScaleX*lb.ScaleY), Angle: angle,
			Score: 1 / (1 + math.Exp(-p.z)), Points: pts}
	}
	return out, nil
}

// CentersMaps runs a Centers model in inference mode on n letterboxed inputs x (n×3×h×w, h and w
// multiples of CentersAlign) and returns its output maps, n×CentersChannels×(h/8)×(w/8).
func (m *Model) CentersMaps(x []float32, n, h, w int) ([]float32, error) {
	if m.Spec.Stage != Centers {
		return nil, fmt.Errorf("model: CentersMaps needs a %q model, not %q", Centers, m.Spec.Stage)
	}
	if len(x) != n*3*h*w || h%CentersAlign != 0 || w%CentersAlign != 0 {
		return nil, fmt.Errorf("model: CentersMaps: %d values for %d×3×%d×%d inputs (sides multiples of %d)", len(x), n, h, w, CentersAlign)
	}
	xt := m.B.FromHost(x, n, 3, h, w)
	out := m.Net.Forward(xt, false)
	y := m.B.ToHost(out)
	m.B.Release(xt)
	m.B.Release(out)
	return y, nil
}

// FaceGeometry is a face's centre, size and angle as a Centers model reads them from its points
// (any pixel frame): the angle θ = p.Angle(), and the centre and side of the box with no margin
// around the points in the frame that turns the face upright (facecrop.FaceBoxAt(p, 0, θ)).
func FaceGeometry(p landmark.Points) Candidate {
	angle := p.Angle()
	b := facecrop.FromPoints(facecrop.Box{Side: 1, Angle: angle}.ToBox(p), 0, 0)
	c := facecrop.Box{Side: 1, Angle: angle}.FromBox(landmark.Points{{X: b.CX, Y: b.CY}})[0]
	return Candidate{X: c.X, Y: c.Y, Size: b.Side, Angle: angle, Score: 1, Points: p}
}
