package loss

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/landmark"
)

// MSE returns DDMSE(0), the mean over the 18 values of (p−t)². Its name is "mse".
func MSE() Term { return mse{} }

type mse struct{}

func (mse) Name() string { return "mse" }

func (mse) Sample(p, t, grad *Vec, scale float64) float64 {
	var s float64
	for i := range p {
		d := p[i] - t[i]
		s += d * d
		if grad != nil {
			grad[i] += scale * 2 * d / landmark.Dim
		}
	}
	return s / landmark.Dim
}

// DDMSE returns the sum DDMSE(from) + … + DDMSE(to) of difference-distance mean squared errors,
// 1 ≤ from ≤ to ≤ 8. DDMSE(k) is the mean over the 2·(9−k) values
// ((p[j+k]−p[j]) − (t[j+k]−t[j]))² for points j = 0…8−k and both axes: the error of the vectors
// between points k apart in the fixed point order. Each DDMSE(k) is its own mean, so DDMSE(1, 8)
// is a sum of eight means, as in the seed. Its name is "ddmse:K" (from = to = K) or "ddmse:A-B".
// DDMSE panics on an order outside 1…8.
func DDMSE(from, to int) Term {
	if from < 1 || to > landmark.N-1 || from > to {
		panic(fmt.Sprintf("loss: DDMSE(%d, %d): want 1 ≤ from ≤ to ≤ %d", from, to, landmark.N-1))
	}
	return ddmse{from, to}
}

type ddmse struct{ from, to int }

func (d ddmse) Name() string {
	if d.from == d.to {
		return fmt.Sprintf("ddmse:%d", d.from)
	}
	return fmt.Sprintf("ddmse:%d-%d", d.from, d.to)
}

func (d ddmse) Sample(p, t, grad *Vec, scale float64) float64 {
	var total float64
	for k := d.from; k <= d.to; k++ {
		n := float64(2 * (landmark.N - k))
		var s float64
		// Flat index i runs over both axes of points j = 0…8−k; i+2k is the same axis of point j+k.
		for i := 0; i < landmark.Dim-2*k; i++ {
			e := (p[i+2*k] - p[i]) - (t[i+2*k] - t[i])
			s += e * e
			if grad != nil {
				g := scale * 2 * e / n
				grad[i+2*k] += g
				grad[i] -= g
			}
		}
		total += s / n
	}
	return total
}

// Triangle returns the triangle-area term: for all 84 triples a < b < c of points,
// S = |(b−a)×(c−a)|/2, and the term is Σ |S(t) − S(p)| over the triples (a sum, not a mean).
// The subgradient of |·| at 0 is taken as 0 (both the outer |S(t)−S(p)| and the inner |cross|).
// Its name is "triangle".
func Triangle() Term { return triangle{} }

type triangle struct{}

func (triangle) Name() string { return "triangle" }

// triples lists the 84 point triples a < b < c in lexicographic order (itertools.combinations).
var triples = func() [][3]int {
	var out [][3]int
	for a := 0; a < landmark.N; a++ {
		for b := a + 1; b < landmark.N; b++ {
			for c := b + 1; c < landmark.N; c++ {
				out = append(out, [3]int{a, b, c})
			}
		}
	}
	return out
}()

func (triangle) Sample(p, t, grad *Vec, scale float64) float64 {
	var s float64
	for _, tr := range triples {
		a, b, c := 2*tr[0], 2*tr[1], 2*tr[2]
		ct := (t[b]-t[a])*(t[c+1]-t[a+1]) - (t[b+1]-t[a+1])*(t[c]-t[a])
		ux, uy := p[b]-p[a], p[b+1]-p[a+1]
		vx, vy := p[c]-p[a], p[c+1]-p[a+1]
		cp := ux*vy - uy*vx
		diff := math.Abs(ct)/2 - math.Abs(cp)/2 // S(t) − S(p)
		s += math.Abs(diff)
		if grad == nil || diff == 0 || cp == 0 {
			continue
		}
		// ∂|S(t)−S(p)|/∂cross(p) = −sign(diff)·sign(cp)/2.
		g := -scale * sign(diff) * sign(cp) / 2
		grad[a] += g * (uy - vy)
		grad[a+1] += g * (vx - ux)
		grad[b] += g * vy
		grad[b+1] -= g * vx
		grad[c] -= g * uy
		grad[c+1] += g * ux
	}
	return s
}

// Area returns the ear-area hinge term. For each ear (landmark.Ears) the box
// [min x, max x]×[min y, max y] of the ear's three TRUE points is formed; each predicted ear point
// pays max(xmin−x,0) + max(x−xmax,0) + max(ymin−y,0) + max(y−ymax,0); an ear's term is the mean
// over its 3 points, and the two ears' terms are added. On the box's boundary the subgradient 0 is
// used. Its name is "area".
func Area() Term { return area{} }

type area struct{}

func (area) Name() string { return "area" }

func (area) Sample(p, t, grad *Vec, scale float64) float64 {
	var s float64
	for _, ear := range landmark.Ears {
		n := float64(len(ear))
		for axis := range 2 {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, i := range ear {
				v := t[2*i+axis]
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			for _, i := range ear {
				j := 2*i + axis
				switch v := p[j]; {
				case v < lo:
					s += (lo - v) / n
					if grad != nil {
						grad[j] -= scale / n
					}
				case v > hi:
					s += (v - hi) / n
					if grad != nil {
						grad[j] += scale / n
					}
				}
			}
		}
	}
	return s
}

// L1 returns the mean over the 18 values of |p−t|, with subgradient 0 at p = t. Its name is "l1".
func L1() Term { return l1{} }

type l1 struct{}

func (l1) Name() string { return "l1" }

func (l1) Sample(p, t, grad *Vec, scale float64) float64 {
	var s float64
	for i := range p {
		d := p[i] - t[i]
		s += math.Abs(d)
		if grad != nil {
			grad[i] += scale * sign(d) / landmark.Dim
		}
	}
	return s / landmark.Dim
}

// Default wing parameters, in normalised coordinates. Feng et al. used w = 10, ε = 2 in pixels
// of 64×64 face crops, where the eye distance is roughly 20–25 px, so that the logarithmic
// (error-amplifying) region covers errors up to about half an eye distance. Here the whole photo is the input and the
// median eye distance is about 13 % of the photo's side, so w = 0.05 puts the same boundary at
// about 0.4 eye distances; ε = w/5 keeps the paper's ratio w/ε = 5, which fixes the curve's shape.
const (
	WingW   = 0.05
	WingEps = 0.01
)

// Wing returns the wing loss of Feng et al. ("Wing Loss for Robust Facial Landmark Localisation
// with Convolutional Neural Networks", CVPR 2018), mean over the 18 values of wing(p−t):
//
//	wing(x) = w·ln(1 + |x|/ε)   if |x| < w
//	          |x| − C           otherwise, C = w − w·ln(1 + w/ε)
//
// on normalised coordinates; w and ε must be positive. Its gradient at x = 0 is taken as 0. Its
// name is "wing" with the defaults WingW and WingEps, else "wing:W,EPS".
func Wing(w, eps float64) Term {
	if !(w > 0) || !(eps > 0) {
		panic(fmt.Sprintf("loss: Wing(%v, %v): w and ε must be positive", w, eps))
	}
	return wing{w, eps, w - w*math.Log1p(w/eps)}
}

type wing struct{ w, eps, c float64 }

func (g wing) Name() string {
	if g.w == WingW && g.eps == WingEps {
		return "wing"
	}
	return "wing:" + formatFloat(g.w) + "," + formatFloat(g.eps)
}

func (g wing) Sample(p, t, grad *Vec, scale float64) float64 {
	var s float64
	for i := range p {
		d := p[i] - t[i]
		a := math.Abs(d)
		var v, dv float64
		if a < g.w {
			v = g.w * math.Log1p(a/g.eps)
			dv = g.w / (g.eps + a)
		} else {
			v = a - g.c
			dv = 1
		}
		s += v
		if grad != nil {
			grad[i] += scale * sign(d) * dv / landmark.Dim
		}
	}
	return s / landmark.Dim
}

// sign returns −1, 0 or +1; 0 at 0 gives the subgradient 0 at |·|'s kink.
func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
