// Package landmark defines the nine cat-face landmarks of the Cat Dataset: their names and order,
// their mirror partners, the ear groups, and conversion between pixel and normalised coordinates.
//
// Points are numbered 0…8 in code (1…9 in the dataset's documentation):
//
//	0 left eye         1 right eye        2 mouth
//	3 left ear, outer base   4 left ear, tip    5 left ear, inner base
//	6 right ear, inner base  7 right ear, tip   8 right ear, outer base
//
// "Left" means the image's left. A flat vector of 18 values is (x0, y0, x1, y1, …, x8, y8).
package landmark

import (
	"fmt"
	"math"
)

// N is the number of landmarks on a cat's face.
const N = 9

// Dim is the length of a flat landmark vector: N points × (x, y).
const Dim = 2 * N

// Names are the landmark names in annotation order.
var Names = [N]string{
	"left_eye", "right_eye", "mouth",
	"left_ear_outer_base", "left_ear_tip", "left_ear_inner_base",
	"right_ear_inner_base", "right_ear_tip", "right_ear_outer_base",
}

// Mirror maps each point to its partner under a horizontal flip:
// 1↔2, 3↔3, 4↔9, 5↔8, 6↔7 in the dataset's 1-based numbering. (The seed swapped the ear blocks
// without reversing them; that labels inner bases as outer ones after every flip.)
var Mirror = [N]int{1, 0, 2, 8, 7, 6, 5, 4, 3}

// Ears lists the points of each ear, outer base, tip, inner base: left ear then right ear.
var Ears = [2][3]int{{3, 4, 5}, {8, 7, 6}}

// Eyes are the indices of the left and right eye.
var Eyes = [2]int{0, 1}

// Point is one landmark position. In pixel space the origin is the top-left corner of the image;
// in normalised space (0,0) is the top-left and (1,1) the bottom-right corner.
type Point struct{ X, Y float64 }

// Points is the nine landmarks of one face in annotation order.
type Points [N]Point

// Flat returns p as (x0, y0, …, x8, y8).
func (p Points) Flat() []float64 {
	v := make([]float64, Dim)
	for i, q := range p {
		v[2*i], v[2*i+1] = q.X, q.Y
	}
	return v
}

// FromFlat builds Points from an 18-value vector (x0, y0, …, x8, y8).
func FromFlat(v []float64) (Points, error) {
	var p Points
	if len(v) != Dim {
		return p, fmt.Errorf("landmark: flat vector has %d values, want %d", len(v), Dim)
	}
	for i := range p {
		p[i] = Point{v[2*i], v[2*i+1]}
	}
	return p, nil
}

// Normalize maps pixel coordinates in a w×h image to [0,1]² (x/w, y/h) and clips to [0,1],
// as the seed does: ears outside the frame are clamped to its edge.
func (p Points) Normalize(w, h int) Points {
	var q Points
	for i, pt := range p {
		q[i] = Point{clip01(pt.X / float64(w)), clip01(pt.Y / float64(h))}
	}
	return q
}

// NormalizeUnclipped maps pixel coordinates to x/w, y/h without clipping.
func (p Points) NormalizeUnclipped(w, h int) Points {
	var q Points
	for i, pt := range p {
		q[i] = Point{pt.X / float64(w), pt.Y / float64(h)}
	}
	return q
}

// Denormalize maps normalised coordinates back to pixels in a w×h image.
func (p Points) Denormalize(w, h int) Points {
	var q Points
	for i, pt := range p {
		q[i] = Point{pt.X * float64(w), pt.Y * float64(h)}
	}
	return q
}

// Clip clamps every coordinate to [0,1].
func (p Points) Clip() Points {
	var q Points
	for i, pt := range p {
		q[i] = Point{clip01(pt.X), clip01(pt.Y)}
	}
	return q
}

// FlipNormalized mirrors normalised points horizontally: x → 1−x, then each point takes its
// mirror partner's place, so index 0 is again the eye on the image's left.
func (p Points) FlipNormalized() Points {
	var q Points
	for i, pt := range p {
		q[Mirror[i]] = Point{1 - pt.X, pt.Y}
	}
	return q
}

// FlipPixels mirrors pixel points in an image of width w: x → w−x, then the mirror permutation.
func (p Points) FlipPixels(w int) Points {
	var q Points
	for i, pt := range p {
		q[Mirror[i]] = Point{float64(w) - pt.X, pt.Y}
	}
	return q
}

// Mean is the point-by-point mean of ps (the zero Points when ps is empty): how the detector
// averages its predictions on mirrored and scaled crops.
func Mean(ps ...Points) Points {
	var m Points
	if len(ps) == 0 {
		return m
	}
	for _, p := range ps {
		for j := range m {
			m[j].X += p[j].X
			m[j].Y += p[j].Y
		}
	}
	for j := range m {
		m[j].X /= float64(len(ps))
		m[j].Y /= float64(len(ps))
	}
	return m
}

// Extent is the smallest rectangle holding the points: [x0, x1]×[y0, y1].
func (p Points) Extent() (x0, y0, x1, y1 float64) {
	x0, y0, x1, y1 = p[0].X, p[0].Y, p[0].X, p[0].Y
	for _, q := range p[1:] {
		x0, x1 = min(x0, q.X), max(x1, q.X)
		y0, y1 = min(y0, q.Y), max(y1, q.Y)
	}
	return x0, y0, x1, y1
}

// EyeDistance is the distance between the two eyes, the normaliser of NME.
func (p Points) EyeDistance() float64 {
	dx, dy := p[0].X-p[1].X, p[0].Y-p[1].Y
	return math.Hypot(dx, dy)
}

// Outside reports how many points lie outside a w×h image.
func (p Points) Outside(w, h int) int {
	n := 0
	for _, pt := range p {
		if pt.X < 0 || pt.Y < 0 || pt.X > float64(w) || pt.Y > float64(h) {
			n++
		}
	}
	return n
}

func clip01(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// Named is one landmark with its name, as catmark's JSON output writes it.
type Named struct {
	Name string  `json:"name"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
}

// Named returns the points with their names, in annotation order.
func (p Points) Named() []Named {
	out := make([]Named, N)
	for i, q := range p {
		out[i] = Named{Names[i], q.X, q.Y}
	}
	return out
}

// Mouth is the mouth's index; Ears[k][1] are the ear tips.
const Mouth = 2

// Angle returns how far the face is turned from upright, in degrees counter-clockwise as seen on
// screen (y pointing down), in (−180, 180]: 0 for an upright cat, 90 for one whose ears point to
// the photo's left. It averages two directions: the line from the left eye to the right eye, and
// the line from the mouth to the ear tips' midpoint turned a quarter clockwise (the longer,
// steadier one). Points whose directions cancel give 0.
func (p Points) Angle() float64 {
	ex, ey := p[Eyes[1]].X-p[Eyes[0]].X, p[Eyes[1]].Y-p[Eyes[0]].Y
	tips := Point{X: (p[Ears[0][1]].X + p[Ears[1][1]].X) / 2, Y: (p[Ears[0][1]].Y + p[Ears[1][1]].Y) / 2}
	ux, uy := tips.X-p[Mouth].X, tips.Y-p[Mouth].Y
	// Upright, the eyes run along (1, 0) and mouth → tips along (0, −1); (−uy, ux) turns the
	// latter onto the former.
	vx, vy := unit(ex, ey)
	wx, wy := unit(-uy, ux)
	x, y := vx+wx, vy+wy
	if x == 0 && y == 0 {
		return 0
	}
	return math.Atan2(-y, x) * 180 / math.Pi
}

// unit returns (x, y) scaled to length 1, or (0, 0).
func unit(x, y float64) (float64, float64) {
	n := math.Hypot(x, y)
	if n == 0 {
		return 0, 0
	}
	return x / n, y / n
}
