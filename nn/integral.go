package nn

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/internal/par"
)

// IntegralHead turns a feature map into point coordinates by integral regression (Sun et al.,
// "Integral Human Pose Regression", 2018; the soft-argmax of DSNT): a 1×1 convolution makes one
// heatmap per point, a softmax over each heatmap's H·W cells makes it a distribution, and the
// point is that distribution's expected position. Unlike pooled regression the head keeps where
// in the picture a feature was seen, so moving the input moves the output by construction.
//
// Shapes and conventions. Input x: N×C×H×W (H, W ≥ 2). Heatmap logits z[n,k,i,j] =
// Σc weight[k,c]·x[n,c,i,j] + bias[k], with weight K×C×1×1 ("<name>.weight", torch's Conv2d
// layout) and bias K ("<name>.bias"). Cell (i, j) stands for the normalised position
// (j/(W−1), i/(H−1)), so the outermost cells are the input's borders and every point of the
// input is reachable. Output y: N×(2K) rows (x0, y0, x1, y1, …), each in [0, 1]; with presence
// one more value per row, σ(presence.weight · mean over cells of x + presence.bias), a 1×C
// weight and a bias of 1 ("<presence>.weight", "<presence>.bias"), as the pooled head's extra
// output.
//
// The head computes on the host (ToHost and FromHost): its work, N·K·C·H·W multiply-adds, is
// small beside the network's, and so it runs on every backend unchanged.
//
// With SpreadWeight λ > 0, training adds the variance regulariser of DSNT (Nibali et al.,
// "Numerical Coordinate Regression with Convolutional Neural Networks", 2018) to the loss whose
// gradient Backward receives:
//
//	R = λ/(N·K) · Σ over inputs n and points k of (Vx[n,k] − σ²)² + (Vy[n,k] − σ²)²
//
// where Vx and Vy are heatmap k's variances along x and y in cells² (cell j at position j) and
// σ = SpreadSigma cells. The coordinate loss alone is met by any distribution with the right
// mean; R asks for one blob about σ cells wide around it. Spread reports R.
type IntegralHead struct {
	Weight, Bias              *Param // heatmap convolution: K×C×1×1, K
	PWeight, PBias            *Param // presence: 1×C, 1; nil without presence
	K                         int
	SpreadWeight, SpreadSigma float64 // variance regulariser λ and σ (cells); λ = 0: none
	b                         engine.Backend
	n, c, h, w                int
	x, prob, pooled, out      []float32 // kept by a training Forward
}

// NewIntegralHead returns a head for k points from c channels, with zero weights (see the init
// functions); presence names the presence layer ("fc"), or is empty for none.
func NewIntegralHead(b engine.Backend, name string, c, k int, presence string) *IntegralHead {
	bias := newParam(b, join(name, "bias"), k)
	bias.NoDecay = true
	l := &IntegralHead{Weight: newParam(b, join(name, "weight"), k, c, 1, 1), Bias: bias, K: k, b: b}
	if presence != "" {
		l.PWeight = newParam(b, join(presence, "weight"), 1, c)
		l.PBias = newParam(b, join(presence, "bias"), 1)
		l.PBias.NoDecay = true
	}
	return l
}

// Outputs is the number of values per input: 2K, plus one with presence.
func (l *IntegralHead) Outputs() int {
	if l.PWeight != nil {
		return 2*l.K + 1
	}
	return 2 * l.K
}

// cellPos is the normalised position of cell i of n along one axis.
func cellPos(i, n int) float64 { return float64(i) / float64(n-1) }

// Forward returns the expected positions (and the presence), N×Outputs().
func (l *IntegralHead) Forward(x engine.Tensor, train bool) engine.Tensor {
	s := x.Shape()
	if len(s) != 4 || s[1] != l.Weight.Value.Shape()[1] || s[2] < 2 || s[3] < 2 {
		panic(fmt.Sprintf("nn: IntegralHead %s: input shape %v, want N×%d×H×W with H, W ≥ 2", l.Weight.Name, s, l.Weight.Value.Shape()[1]))
	}
	l.Free()
	n, c, h, w := s[0], s[1], s[2], s[3]
	hw := h * w
	xs := l.b.ToHost(x)
	wt, bs := l.b.Data(l.Weight.Value), l.b.Data(l.Bias.Value)
	no := l.Outputs()
	out := make([]float32, n*no)
	prob := make([]float32, n*l.K*hw)
	var pooled, pw, pb []float32
	if l.PWeight != nil {
		pooled = make([]float32, n*c)
		pw, pb = l.b.Data(l.PWeight.Value), l.b.Data(l.PBias.Value)
	}
	// Input in's positions and presence (its own slices of out, prob and pooled); z is hw floats
	// of scratch.
	input := func(in int, z []float64) {
		xn := xs[in*c*hw : (in+1)*c*hw]
		for k := range l.K {
			l.logits(xn, wt, bs, k, z)
			pk := prob[(in*l.K+k)*hw : (in*l.K+k+1)*hw]
			softmax(z, pk)
			var ex, ey float64
			for i := range h {
				for j := range w {
					q := float64(pk[i*w+j])
					ex += q * cellPos(j, w)
					ey += q * cellPos(i, h)
				}
			}
			out[in*no+2*k], out[in*no+2*k+1] = float32(ex), float32(ey)
		}
		if pooled == nil {
			return
		}
		a := float64(pb[0])
		for ch := range c {
			var sum float64
			for _, v := range xs[(in*c+ch)*hw : (in*c+ch+1)*hw] {
				sum += float64(v)
			}
			pooled[in*c+ch] = float32(sum / float64(hw))
			a += float64(pw[ch]) * sum / float64(hw)
		}
		out[in*no+no-1] = float32(1 / (1 + math.Exp(-a)))
	}
	if train {
		z := make([]float64, hw)
		for in := range n {
			input(in, z)
		}
	} else { // inference: the engine's threads are idle meanwhile
		par.For(n, func(in int) { input(in, make([]float64, hw)) })
	}
	if train {
		l.n, l.c, l.h, l.w = n, c, h, w
		l.x, l.prob, l.pooled, l.out = xs, prob, pooled, out
	}
	return l.b.FromHost(out, n, no)
}

// variances returns the variances along x and y, in cells², of the distribution q over h×w cells.
func variances(q []float32, h, w int) (vx, vy float64) {
	var mx, my, sx, sy float64
	for i := range h {
		for j := range w {
			p := float64(q[i*w+j])
			mx += p * float64(j)
			my += p * float64(i)
			sx += p * float64(j*j)
			sy += p * float64(i*i)
		}
	}
	return sx - mx*mx, sy - my*my
}

// Spread returns the variance regulariser R of the last training Forward (0 without one, or
// after Backward or Free). Training needs only R's gradient, which Backward adds; R itself is
// computed here, on demand, from the heatmaps the Forward kept.
func (l *IntegralHead) Spread() float64 {
	if l.SpreadWeight == 0 || l.prob == nil {
		return 0
	}
	hw, s2 := l.h*l.w, l.SpreadSigma*l.SpreadSigma
	var r float64
	for q := range l.n * l.K {
		vx, vy := variances(l.prob[q*hw:(q+1)*hw], l.h, l.w)
		r += (vx-s2)*(vx-s2) + (vy-s2)*(vy-s2)
	}
	return l.SpreadWeight * r / float64(l.n*l.K)
}

// logits writes heatmap k's logits for one input's features xn (C×H·W) into z (H·W).
func (l *IntegralHead) logits(xn, wt, bs []float32, k int, z []float64) {
	hw, c := len(z), len(xn)/len(z)
	for p := range z {
		z[p] = float64(bs[k])
	}
	for ch := range c {
		wk := float64(wt[k*c+ch])
		for p, v := range xn[ch*hw : (ch+1)*hw] {
			z[p] += wk * float64(v)
		}
	}
}

// Heatmaps returns the heatmap logits for features x (N×C×H×W), N×K×H×W on the host, before
// the softmax: where each point's evidence lies. Unlike the expected position, they show every
// place a point could be, so several faces in one input give several peaks. It keeps nothing.
func (l *IntegralHead) Heatmaps(x engine.Tensor) []float32 {
	s := x.Shape()
	if len(s) != 4 || s[1] != l.Weight.Value.Shape()[1] {
		panic(fmt.Sprintf("nn: IntegralHead %s: Heatmaps of shape %v, want N×%d×H×W", l.Weight.Name, s, l.Weight.Value.Shape()[1]))
	}
	n, c, hw := s[0], s[1], s[2]*s[3]
	xs := l.b.ToHost(x)
	wt, bs := l.b.Data(l.Weight.Value), l.b.Data(l.Bias.Value)
	out := make([]float32, n*l.K*hw)
	z := make([]float64, hw)
	for in := range n {
		for k := range l.K {
			l.logits(xs[in*c*hw:(in+1)*c*hw], wt, bs, k, z)
			for p, v := range z {
				out[(in*l.K+k)*hw+p] = float32(v)
			}
		}
	}
	return out
}

// softmax writes the softmax of z into p.
func softmax(z []float64, p []float32) {
	m := z[0]
	for _, v := range z {
		m = max(m, v)
	}
	var sum float64
	for i, v := range z {
		e := math.Exp(v - m)
		z[i] = e
		sum += e
	}
	for i, v := range z {
		p[i] = float32(v / sum)
	}
}

// Backward sets the gradients of the heatmap convolution (and presence) and returns dx if
// needInputGrad. For one heatmap with cell probabilities q, expected position (ex, ey) and
// incoming gradients (gx, gy), the logit of cell p gets q_p·(gx·(u_p − ex) + gy·(v_p − ey)),
// the softmax's Jacobian applied to the cell positions (u_p, v_p). The variance regulariser adds
// λ/(N·K)·2·(Vx − σ²)·q_p·((j − mx)² − Vx) for cell p = (i, j), mx the mean in cells, and
// the same along y.
func (l *IntegralHead) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	if l.x == nil {
		panic("nn: IntegralHead: Backward without a training Forward")
	}
	n, c, h, w := l.n, l.c, l.h, l.w
	hw, no := h*w, l.Outputs()
	g := l.b.ToHost(dy)
	if len(g) != n*no {
		panic(fmt.Sprintf("nn: IntegralHead %s: gradient shape %v, want %d×%d", l.Weight.Name, dy.Shape(), n, no))
	}
	wt := l.b.Data(l.Weight.Value)
	dw := make([]float32, l.K*c)
	db := make([]float32, l.K)
	var dx []float32
	if needInputGrad {
		dx = make([]float32, n*c*hw)
	}
	dz := make([]float64, hw)
	for in := range n {
		xn := l.x[in*c*hw : (in+1)*c*hw]
		for k := range l.K {
			pk := l.prob[(in*l.K+k)*hw : (in*l.K+k+1)*hw]
			gx, gy := float64(g[in*no+2*k]), float64(g[in*no+2*k+1])
			ex, ey := float64(l.out[in*no+2*k]), float64(l.out[in*no+2*k+1])
			var rx, ry, vx, vy float64 // the regulariser's 2λ/(N·K)·(V − σ²) along x and y
			if l.SpreadWeight > 0 {
				vx, vy = variances(pk, h, w)
				f := 2 * l.SpreadWeight / float64(n*l.K)
				rx, ry = f*(vx-l.SpreadSigma*l.SpreadSigma), f*(vy-l.SpreadSigma*l.SpreadSigma)
			}
			mx, my := ex*float64(w-1), ey*float64(h-1) // the means in cells
			var sb float64
			for i := range h {
				for j := range w {
					p := i*w + j
					dj, di := float64(j)-mx, float64(i)-my
					dz[p] = float64(pk[p]) * (gx*(cellPos(j, w)-ex) + gy*(cellPos(i, h)-ey) +
						rx*(dj*dj-vx) + ry*(di*di-vy))
					sb += dz[p]
				}
			}
			db[k] += float32(sb)
			for ch := range c {
				xc := xn[ch*hw : (ch+1)*hw]
				var s float64
				for p, v := range xc {
					s += dz[p] * float64(v)
				}
				dw[k*c+ch] += float32(s)
				if dx != nil {
					wk := float64(wt[k*c+ch])
					dc := dx[(in*c+ch)*hw : (in*c+ch+1)*hw]
					for p := range dc {
						dc[p] += float32(wk * dz[p])
					}
				}
			}
		}
	}
	grads := []engine.Tensor{l.b.FromHost(dw, l.K, c, 1, 1), l.b.FromHost(db, l.K)}
	if l.PWeight != nil {
		pw := l.b.Data(l.PWeight.Value)
		dpw := make([]float32, c)
		var dpb float64
		for in := range n {
			s := float64(l.out[in*no+no-1])
			ds := float64(g[in*no+no-1]) * s * (1 - s)
			dpb += ds
			for ch := range c {
				dpw[ch] += float32(ds * float64(l.pooled[in*c+ch]))
				if dx != nil {
					d := float32(ds * float64(pw[ch]) / float64(hw))
					dc := dx[(in*c+ch)*hw : (in*c+ch+1)*hw]
					for p := range dc {
						dc[p] += d
					}
				}
			}
		}
		grads = append(grads, l.b.FromHost(dpw, 1, c), l.b.FromHost([]float32{float32(dpb)}, 1))
	}
	setGrads(l.b, l.Params(), grads...)
	l.Free()
	if dx == nil {
		return nil
	}
	return l.b.FromHost(dx, n, c, h, w)
}

// Free forgets what a training Forward kept.
func (l *IntegralHead) Free() { l.x, l.prob, l.pooled, l.out = nil, nil, nil, nil }

// Params returns the heatmap weight and bias, then the presence weight and bias if any.
func (l *IntegralHead) Params() []*Param {
	if l.PWeight != nil {
		return []*Param{l.Weight, l.Bias, l.PWeight, l.PBias}
	}
	return []*Param{l.Weight, l.Bias}
}
