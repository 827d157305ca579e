package nn

import (
	"fmt"

	"github.com/catmark/catmark/engine"
)

// Upsample2x repeats every cell of an N×C×H×W tensor into a 2×2 block (nearest-neighbour
// upsampling by 2): y[n,c,i,j] = x[n,c,⌊i/2⌋,⌊j/2⌋], N×C×2H×2W. Its backward pass sums each
// 2×2 block of dy. It has no parameters and computes on the host (ToHost and FromHost).
type Upsample2x struct {
	b     engine.Backend
	shape []int // input shape kept by a training Forward
}

// NewUpsample2x returns a nearest-neighbour ×2 upsampling layer.
func NewUpsample2x(b engine.Backend) *Upsample2x { return &Upsample2x{b: b} }

// Forward returns x upsampled by 2 along H and W.
func (l *Upsample2x) Forward(x engine.Tensor, train bool) engine.Tensor {
	s := x.Shape()
	if len(s) != 4 {
		panic(fmt.Sprintf("nn: Upsample2x: input shape %v, want N×C×H×W", s))
	}
	h, w := s[2], s[3]
	in := l.b.ToHost(x)
	out := make([]float32, 4*len(in))
	for p := range s[0] * s[1] {
		src, dst := in[p*h*w:(p+1)*h*w], out[p*4*h*w:(p+1)*4*h*w]
		for i := range 2 * h {
			row, srow := dst[i*2*w:(i+1)*2*w], src[(i/2)*w:(i/2+1)*w]
			for j := range 2 * w {
				row[j] = srow[j/2]
			}
		}
	}
	l.shape = nil
	if train {
		l.shape = append([]int(nil), s...)
	}
	return l.b.FromHost(out, s[0], s[1], 2*h, 2*w)
}

// Backward returns dx, dy summed over each 2×2 block, if needInputGrad.
func (l *Upsample2x) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	if l.shape == nil {
		panic("nn: Upsample2x: Backward without a training Forward")
	}
	s := l.shape
	l.shape = nil
	if !needInputGrad {
		return nil
	}
	h, w := s[2], s[3]
	g := l.b.ToHost(dy)
	dx := make([]float32, len(g)/4)
	for p := range s[0] * s[1] {
		src, dst := g[p*4*h*w:(p+1)*4*h*w], dx[p*h*w:(p+1)*h*w]
		for i := range 2 * h {
			row, drow := src[i*2*w:(i+1)*2*w], dst[(i/2)*w:(i/2+1)*w]
			for j, v := range row {
				drow[j/2] += v
			}
		}
	}
	return l.b.FromHost(dx, s...)
}

// Free forgets the kept shape.
func (l *Upsample2x) Free() { l.shape = nil }

// Params returns nil.
func (l *Upsample2x) Params() []*Param { return nil }
