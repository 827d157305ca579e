package model

import (
	"fmt"
	"math"
	"sort"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// A Centers model's output (Spec.Stage Centers) is, per input, CentersChannels maps of G×G cells,
// G = Size/CentersStride; cell (i, j) covers input pixels [8j, 8j+8)×[8i, 8i+8). For a face whose
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

// Letterbox maps a W×H photo into a Size×Size input with its aspect kept: input = photo·Scale +
// (OX, OY) in pixels (X and Y scales differ only by the rounding of the resized side).
type Letterbox struct {
	Size           int
	ScaleX, ScaleY float64
	OX, OY         float64
}

// NewLetterbox returns the letterbox of a w×h photo in an s×s input: the photo resized so its
// longer side is s, centred, the rest padding.
func NewLetterbox(w, h, s int) Letterbox {
	k := float64(s) / float64(max(w, h))
	nw := min(max(int(math.Round(float64(w)*k)), 1), s)
	nh := min(max(int(math.Round(float64(h)*k)), 1), s)
	return Letterbox{Size: s, ScaleX: float64(nw) / float64(w), ScaleY: float64(nh) / float64(h),
		OX: float64((s - nw) / 2), OY: float64((s - nh) / 2)}
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

// Image returns img letterboxed: img resized by l into an l.Size×l.Size image padded with PadColor.
func (l Letterbox) Image(img *imgproc.RGB) *imgproc.RGB {
	out := imgproc.New(l.Size, l.Size)
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
		copy(out.Pix[((oy+y)*l.Size+ox)*3:((oy+y)*l.Size+ox+nw)*3], small.Pix[y*nw*3:(y+1)*nw*3])
	}
	return out
}

// CentersInput appends the letterboxed Input of each photo to dst (n×3×S×S) and returns it with
// each photo's Letterbox. s must be a Centers model's spec.
func (s Spec) CentersInput(dst []float32, photos []*imgproc.RGB) ([]float32, []Letterbox) {
	boxes := make([]Letterbox, len(photos))
	for i, p := range photos {
		boxes[i] = NewLetterbox(p.W, p.H, s.Size)
		dst = s.AppendInput(dst, boxes[i].Image(p))
	}
	return dst, boxes
}

// Candidate is a face a Centers model found, in photo pixels.
type Candidate struct {
	X, Y   float64 // the face box's centre
	Size   float64 // the face box's side (no margin)
	Angle  float64 // degrees, counter-clockwise, in (−180, 180] (facecrop.Box.Angle)
	Score  float64 // presence: the sigmoid of the centre's logit, 0…1
	Points landmark.Points
}

// DecodeCenters reads one input's output maps (CentersChannels×g×g, as a Centers model gives
// them) into the faces whose centre cell is a local maximum of the logit map (not below any of
// its eight neighbours, and above those that come earlier in row order, so a plateau gives one
// face) with a presence of at least threshold, best first, at most maxFaces (0: all); lb maps
// them back to the photo.
func DecodeCenters(maps []float32, g int, lb Letterbox, threshold float64, maxFaces int) ([]Candidate, error) {
	if g < 1 || len(maps) != CentersChannels*g*g {
		return nil, fmt.Errorf("model: DecodeCenters: %d values for %d maps of %d×%d cells", len(maps), CentersChannels, g, g)
	}
	at := func(c, i, j int) float64 { return float64(maps[(c*g+i)*g+j]) }
	type peak struct {
		i, j int
		z    float64
	}
	var peaks []peak
	minLogit := math.Log(threshold / (1 - threshold)) // −Inf for 0, +Inf for 1
	for i := range g {
		for j := range g {
			z := at(CenterLogit, i, j)
			if z < minLogit || math.IsNaN(z) {
				continue
			}
			top := true
			for di := -1; di <= 1 && top; di++ {
				for dj := -1; dj <= 1; dj++ {
					ni, nj := i+di, j+dj
					if (di == 0 && dj == 0) || ni < 0 || nj < 0 || ni >= g || nj >= g {
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

// CentersMaps runs a Centers model in inference mode on n letterboxed inputs x (n×3×S×S) and
// returns its output maps, n×CentersChannels×G×G, and G.
func (m *Model) CentersMaps(x []float32, n int) ([]float32, int, error) {
	if m.Spec.Stage != Centers {
		return nil, 0, fmt.Errorf("model: CentersMaps needs a %q model, not %q", Centers, m.Spec.Stage)
	}
	if len(x) != n*3*m.Spec.Size*m.Spec.Size {
		return nil, 0, fmt.Errorf("model: CentersMaps: %d values for %d×3×%d×%d inputs", len(x), n, m.Spec.Size, m.Spec.Size)
	}
	return m.Forward(x, n), m.Spec.Size / CentersStride, nil
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
