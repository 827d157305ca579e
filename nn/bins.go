package nn

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/engine"
)

// SoftBins turns bin logits into coordinates: the head of coordinate classification (SimCC: Li
// et al., "SimCC: a Simple Coordinate Classification Perspective for Human Pose Estimation",
// 2022), here on globally pooled features. Each coordinate has B bins along its axis; a softmax
// over them makes a distribution and the coordinate is its expected position, so the coordinate
// losses apply unchanged (SimCC itself trains the bins with a classification loss).
//
// Shapes and conventions. Input z: N×(G·B) logits, coordinate g's bins at g·B … g·B+B−1, with
// Presence one more logit per row. Bin i stands for the normalised position i/(B−1). Output y:
// N×G rows of coordinates in [0, 1], with Presence one more value, σ of the extra logit. It has no
// parameters (a Linear before it makes the logits) and computes on the host.
type SoftBins struct {
	G, B     int
	Presence bool
	b        engine.Backend
	n        int
	prob     []float32 // kept by a training Forward: N×G×B
	out      []float32 // kept by a training Forward: N×Outputs()
}

// NewSoftBins returns the layer for g coordinates of bins bins each (bins ≥ 2), with a presence
// output when presence.
func NewSoftBins(b engine.Backend, g, bins int, presence bool) *SoftBins {
	if g < 1 || bins < 2 {
		panic(fmt.Sprintf("nn: SoftBins: %d coordinates of %d bins", g, bins))
	}
	return &SoftBins{G: g, B: bins, Presence: presence, b: b}
}

// Inputs is the number of logits per input row: G·B, plus one with presence.
func (l *SoftBins) Inputs() int {
	if l.Presence {
		return l.G*l.B + 1
	}
	return l.G * l.B
}

// Outputs is the number of values per output row: G, plus one with presence.
func (l *SoftBins) Outputs() int {
	if l.Presence {
		return l.G + 1
	}
	return l.G
}

// binPos is bin i's normalised position.
func (l *SoftBins) binPos(i int) float64 { return float64(i) / float64(l.B-1) }

// Forward returns the expected positions (and the presence), N×Outputs().
func (l *SoftBins) Forward(x engine.Tensor, train bool) engine.Tensor {
	s := x.Shape()
	if len(s) != 2 || s[1] != l.Inputs() {
		panic(fmt.Sprintf("nn: SoftBins: input shape %v, want N×%d", s, l.Inputs()))
	}
	l.Free()
	n, ni, no := s[0], l.Inputs(), l.Outputs()
	zs := l.b.ToHost(x)
	prob := make([]float32, n*l.G*l.B)
	out := make([]float32, n*no)
	z := make([]float64, l.B)
	for in := range n {
		for g := range l.G {
			for i := range z {
				z[i] = float64(zs[in*ni+g*l.B+i])
			}
			q := prob[(in*l.G+g)*l.B : (in*l.G+g+1)*l.B]
			softmax(z, q)
			var e float64
			for i, v := range q {
				e += float64(v) * l.binPos(i)
			}
			out[in*no+g] = float32(e)
		}
		if l.Presence {
			out[in*no+l.G] = float32(1 / (1 + math.Exp(-float64(zs[in*ni+ni-1]))))
		}
	}
	if train {
		l.n, l.prob, l.out = n, prob, out
	}
	return l.b.FromHost(out, n, no)
}

// Backward returns dz. For one coordinate with bin probabilities q, expected position e and
// incoming gradient γ, bin i's logit gets q_i·γ·(i/(B−1) − e); the presence logit gets
// γ·σ·(1 − σ).
func (l *SoftBins) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	if l.prob == nil {
		panic("nn: SoftBins: Backward without a training Forward")
	}
	n, ni, no := l.n, l.Inputs(), l.Outputs()
	g := l.b.ToHost(dy)
	if len(g) != n*no {
		panic(fmt.Sprintf("nn: SoftBins: gradient shape %v, want %d×%d", dy.Shape(), n, no))
	}
	if !needInputGrad {
		l.Free()
		return nil
	}
	dz := make([]float32, n*ni)
	for in := range n {
		for k := range l.G {
			q := l.prob[(in*l.G+k)*l.B : (in*l.G+k+1)*l.B]
			gk, e := float64(g[in*no+k]), float64(l.out[in*no+k])
			for i, v := range q {
				dz[in*ni+k*l.B+i] = float32(float64(v) * gk * (l.binPos(i) - e))
			}
		}
		if l.Presence {
			s := float64(l.out[in*no+l.G])
			dz[in*ni+ni-1] = float32(float64(g[in*no+l.G]) * s * (1 - s))
		}
	}
	l.Free()
	return l.b.FromHost(dz, n, ni)
}

// Free forgets what a training Forward kept.
func (l *SoftBins) Free() { l.prob, l.out = nil, nil }

// Params returns nothing: SoftBins has no parameters.
func (l *SoftBins) Params() []*Param { return nil }
