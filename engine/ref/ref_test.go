package ref

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
)

// The gradient checks below compare every analytic gradient with central finite differences of
// the scalar loss L = Σ r·y (r random, fixed), accumulated in float64. Perturbations are
// eps = 1e-2 on inputs of order 1, so float32 rounding of y contributes about 1e-4 to the
// difference quotient; tolerances are |fd − analytic| ≤ 1e-2·|analytic| + 2e-3·max|analytic|.
// Where the op has kinks (ReLU, max pooling) a coordinate whose perturbation changes the active
// set (the ReLU mask, the arg-max) is skipped; the check requires most coordinates to be used.

const fdEps = 1e-2

// fdCase is one gradient to check: the live data of an input tensor and its analytic gradient.
type fdCase struct {
	name string
	in   []float32 // live storage of the input (perturbed in place)
	grad engine.Tensor
}

// fdCheck checks each case by central differences of loss, which runs the forward pass and
// returns L and a signature of the active set (nil when the op is smooth).
func fdCheck(t *testing.T, b *Backend, rng *rand.Rand, loss func() (float64, []float32), cases ...fdCase) {
	t.Helper()
	_, sig0 := loss()
	for _, c := range cases {
		if c.grad == nil {
			t.Errorf("%s: gradient is nil", c.name)
			continue
		}
		an := b.ToHost(c.grad)
		if len(an) != len(c.in) {
			t.Errorf("%s: gradient has %d values, input %d", c.name, len(an), len(c.in))
			continue
		}
		var scale float64
		for _, v := range an {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		idx := rng.Perm(len(c.in))
		if len(idx) > 40 {
			idx = idx[:40]
		}
		used, bad := 0, 0
		for _, i := range idx {
			x0 := c.in[i]
			c.in[i] = x0 + fdEps
			hi := float64(c.in[i])
			lp, sp := loss()
			c.in[i] = x0 - fdEps
			lo := float64(c.in[i])
			lm, sm := loss()
			c.in[i] = x0
			if !slices.Equal(sig0, sp) || !slices.Equal(sig0, sm) {
				continue
			}
			used++
			fd := (lp - lm) / (hi - lo)
			if d := math.Abs(fd - float64(an[i])); d > 1e-2*math.Abs(float64(an[i]))+2e-3*scale {
				bad++
				if bad <= 3 {
					t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", c.name, i, an[i], fd)
				}
			}
		}
		if used < len(idx)/2 {
			t.Errorf("%s: only %d of %d coordinates usable (kinks too close)", c.name, used, len(idx))
		}
	}
}

// dot returns Σ r·y in float64.
func dot(r, y []float32) float64 {
	var s float64
	for i := range r {
		s += float64(r[i]) * float64(y[i])
	}
	return s
}

// mask returns 1 where y > 0, else 0.
func mask(y []float32) []float32 {
	m := make([]float32, len(y))
	for i, v := range y {
		if v > 0 {
			m[i] = 1
		}
	}
	return m
}

func TestConv2DGradients(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		x, w []int
		p    engine.ConvParams
		bias bool
	}{
		{[]int{2, 3, 5, 5}, []int{4, 3, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, true},
		{[]int{2, 3, 5, 5}, []int{4, 3, 3, 3}, engine.ConvParams{Stride: 1, Pad: 0}, false},
		{[]int{2, 2, 7, 6}, []int{3, 2, 3, 3}, engine.ConvParams{Stride: 2, Pad: 1}, true},
		{[]int{2, 4, 6, 6}, []int{5, 4, 1, 1}, engine.ConvParams{Stride: 2, Pad: 0}, false},
		{[]int{1, 2, 9, 9}, []int{3, 2, 7, 7}, engine.ConvParams{Stride: 2, Pad: 3}, true},
	} {
		t.Run(fmt.Sprintf("%v*%v/%+v", tc.x, tc.w, tc.p), func(t *testing.T) {
			rng := enginetest.NewRand(1)
			x, w := enginetest.RandTensor(b, rng, 1, tc.x...), enginetest.RandTensor(b, rng, 0.5, tc.w...)
			var bias engine.Tensor
			if tc.bias {
				bias = enginetest.RandTensor(b, rng, 0.5, tc.w[0])
			}
			y := b.Conv2D(x, w, bias, tc.p)
			r := enginetest.Rand(rng, engine.Numel(y.Shape()), 1)
			dy := b.FromHost(r, y.Shape()...)
			dx, dw, db := b.Conv2DBackward(x, w, dy, tc.p, tc.bias, engine.Grads{Input: true, Params: true})
			loss := func() (float64, []float32) { return dot(r, b.Data(b.Conv2D(x, w, bias, tc.p))), nil }
			cases := []fdCase{{"dx", b.Data(x), dx}, {"dw", b.Data(w), dw}}
			if tc.bias {
				cases = append(cases, fdCase{"db", b.Data(bias), db})
			} else if db != nil {
				t.Errorf("db is not nil without a bias")
			}
			fdCheck(t, b, rng, loss, cases...)

			// Gradients not asked for are nil; those asked for are the same.
			dx2, dw2, db2 := b.Conv2DBackward(x, w, dy, tc.p, tc.bias, engine.Grads{Input: true})
			if dw2 != nil || db2 != nil {
				t.Errorf("Grads{Input}: dw, db = %v, %v, want nil", dw2, db2)
			}
			if e, _ := enginetest.MaxRelErr(b.ToHost(dx2), b.ToHost(dx)); e != 0 {
				t.Errorf("Grads{Input}: dx differs by %g", e)
			}
			dx3, dw3, _ := b.Conv2DBackward(x, w, dy, tc.p, tc.bias, engine.Grads{Params: true})
			if dx3 != nil {
				t.Errorf("Grads{Params}: dx is not nil")
			}
			if e, _ := enginetest.MaxRelErr(b.ToHost(dw3), b.ToHost(dw)); e != 0 {
				t.Errorf("Grads{Params}: dw differs by %g", e)
			}
		})
	}
}

// directConv is the textbook seven-loop convolution, a second algorithm for Conv2D's forward pass.
func directConv(x, w, bias []float32, xs, ws []int, p engine.ConvParams) []float32 {
	n, c, h, wd, o, k := xs[0], xs[1], xs[2], xs[3], ws[0], ws[2]
	oh, ow := engine.OutSize(h, k, p.Stride, p.Pad), engine.OutSize(wd, k, p.Stride, p.Pad)
	y := make([]float32, n*o*oh*ow)
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s float64
					if bias != nil {
						s = float64(bias[oc])
					}
					for ic := 0; ic < c; ic++ {
						for ki := 0; ki < k; ki++ {
							for kj := 0; kj < k; kj++ {
								iy, ix := oy*p.Stride-p.Pad+ki, ox*p.Stride-p.Pad+kj
								if iy >= 0 && iy < h && ix >= 0 && ix < wd {
									s += float64(x[((i*c+ic)*h+iy)*wd+ix]) * float64(w[((oc*c+ic)*k+ki)*k+kj])
								}
							}
						}
					}
					y[((i*o+oc)*oh+oy)*ow+ox] = float32(s)
				}
			}
		}
	}
	return y
}

func TestConv2DMatchesDirect(t *testing.T) {
	b := New()
	rng := enginetest.NewRand(2)
	for _, tc := range []struct {
		x, w []int
		p    engine.ConvParams
	}{
		{[]int{2, 3, 16, 16}, []int{8, 3, 7, 7}, engine.ConvParams{Stride: 2, Pad: 3}},
		{[]int{1, 4, 5, 7}, []int{2, 4, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
		{[]int{2, 4, 5, 5}, []int{3, 4, 3, 3}, engine.ConvParams{Stride: 3, Pad: 2}},
	} {
		xh, wh := enginetest.Rand(rng, engine.Numel(tc.x), 1), enginetest.Rand(rng, engine.Numel(tc.w), 1)
		bh := enginetest.Rand(rng, tc.w[0], 1)
		got := b.ToHost(b.Conv2D(b.FromHost(xh, tc.x...), b.FromHost(wh, tc.w...), b.FromHost(bh, tc.w[0]), tc.p))
		want := directConv(xh, wh, bh, tc.x, tc.w, tc.p)
		if e, err := enginetest.MaxRelErr(got, want); err != nil || e > 1e-5 {
			t.Errorf("%v*%v %+v: differs from the direct convolution by %g (%v)", tc.x, tc.w, tc.p, e, err)
		}
	}
}

func TestConv1x1IsMatmul(t *testing.T) {
	b := New()
	n, c, h, w, o := 2, 3, 2, 2, 2
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	wt := []float32{1, 2, 3, -1, 0, 0.5} // 2×3
	got := b.ToHost(b.Conv2D(b.FromHost(x, n, c, h, w), b.FromHost(wt, o, c, 1, 1), nil, engine.ConvParams{Stride: 1}))
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			for p := 0; p < h*w; p++ {
				var want float32
				for ic := 0; ic < c; ic++ {
					want += wt[oc*c+ic] * x[(i*c+ic)*h*w+p]
				}
				if g := got[(i*o+oc)*h*w+p]; g != want {
					t.Errorf("y[%d,%d,%d] = %v, want %v", i, oc, p, g, want)
				}
			}
		}
	}
}

func newBN(b *Backend, rng *rand.Rand, c int) engine.BN {
	return engine.BN{
		Gamma:   b.FromHost(enginetest.Uniform(rng, c, 0.5, 1.5), c),
		Beta:    enginetest.RandTensor(b, rng, 0.5, c),
		RunMean: enginetest.RandTensor(b, rng, 0.5, c),
		RunVar:  b.FromHost(enginetest.Uniform(rng, c, 0.5, 2), c),
	}
}

func TestBatchNormGradients(t *testing.T) {
	b := New()
	for _, mode := range []engine.BNMode{engine.BNTrain, engine.BNInfer} {
		for _, relu := range []bool{false, true} {
			t.Run(fmt.Sprintf("mode%d/relu=%v", mode, relu), func(t *testing.T) {
				rng := enginetest.NewRand(3)
				shape := []int{3, 4, 3, 2}
				x := enginetest.RandTensor(b, rng, 1.5, shape...)
				bn := newBN(b, rng, 4)
				p := engine.BNParams{Mode: mode, Eps: 1e-5, Momentum: 0.1, ReLU: relu}
				y, saved := b.BatchNorm(x, bn, p)
				r := enginetest.Rand(rng, engine.Numel(shape), 1)
				dx, dg, dbeta := b.BatchNormBackward(x, b.FromHost(r, shape...), bn, saved, p, engine.Grads{Input: true, Params: true})
				loss := func() (float64, []float32) {
					y, s := b.BatchNorm(x, bn, p)
					b.ReleaseBN(s)
					var sig []float32
					if relu {
						sig = mask(b.Data(y))
					}
					return dot(r, b.Data(y)), sig
				}
				// The loss calls move the running statistics in BNTrain; restore them so BNInfer
				// checks and the later assertions see the originals.
				rm, rv := b.ToHost(bn.RunMean), b.ToHost(bn.RunVar)
				fdCheck(t, b, rng, loss, fdCase{"dx", b.Data(x), dx}, fdCase{"dgamma", b.Data(bn.Gamma), dg}, fdCase{"dbeta", b.Data(bn.Beta), dbeta})
				copy(b.Data(bn.RunMean), rm)
				copy(b.Data(bn.RunVar), rv)
				if relu {
					for i, v := range b.ToHost(y) {
						if v < 0 {
							t.Fatalf("y[%d] = %v with fused ReLU", i, v)
						}
					}
				}
				b.ReleaseBN(saved)
			})
		}
	}
}

func TestBatchNormTrainStatistics(t *testing.T) {
	b := New()
	rng := enginetest.NewRand(4)
	n, c, h, w := 4, 3, 5, 5
	xh := enginetest.Rand(rng, n*c*h*w, 2)
	for i := range xh {
		xh[i] += float32(i % 3) // channel-dependent offsets
	}
	x := b.FromHost(xh, n, c, h, w)
	rm0, rv0 := []float32{0.5, -1, 2}, []float32{1, 2, 0.5}
	bn := engine.BN{Gamma: b.FromHost([]float32{1, 1, 1}, c), Beta: b.Zeros(c),
		RunMean: b.FromHost(rm0, c), RunVar: b.FromHost(rv0, c)}
	p := engine.BNParams{Mode: engine.BNTrain, Eps: 1e-5, Momentum: 0.1}
	y, saved := b.BatchNorm(x, bn, p)
	yh := b.ToHost(y)
	m := n * h * w
	for ch := 0; ch < c; ch++ {
		var s, ss, xs, xss float64
		for i := 0; i < n; i++ {
			for k := 0; k < h*w; k++ {
				v := float64(yh[(i*c+ch)*h*w+k])
				s, ss = s+v, ss+v*v
				u := float64(xh[(i*c+ch)*h*w+k])
				xs, xss = xs+u, xss+u*u
			}
		}
		if mean, vr := s/float64(m), ss/float64(m)-(s/float64(m))*(s/float64(m)); math.Abs(mean) > 1e-5 || math.Abs(vr-1) > 1e-3 {
			t.Errorf("channel %d: output mean %g, variance %g; want 0 and 1", ch, mean, vr)
		}
		xmean := xs / float64(m)
		unbiased := (xss - float64(m)*xmean*xmean) / float64(m-1)
		wantRM, wantRV := 0.9*float64(rm0[ch])+0.1*xmean, 0.9*float64(rv0[ch])+0.1*unbiased
		if got := b.Data(bn.RunMean)[ch]; math.Abs(float64(got)-wantRM) > 1e-5 {
			t.Errorf("channel %d: running mean %v, want %v", ch, got, wantRM)
		}
		if got := b.Data(bn.RunVar)[ch]; math.Abs(float64(got)-wantRV) > 1e-4 {
			t.Errorf("channel %d: running var %v, want %v (unbiased)", ch, got, wantRV)
		}
		if got := b.Data(saved.Var)[ch]; math.Abs(float64(got)-unbiased*float64(m-1)/float64(m)) > 1e-4 {
			t.Errorf("channel %d: saved var %v, want the biased %v", ch, got, unbiased*float64(m-1)/float64(m))
		}
	}
}

func TestBatchNormInfer(t *testing.T) {
	b := New()
	x := b.FromHost([]float32{1, 2, 3, 4, -1, 0, 1, 2}, 2, 2, 1, 2)
	bn := engine.BN{Gamma: b.FromHost([]float32{2, 0.5}, 2), Beta: b.FromHost([]float32{1, -1}, 2),
		RunMean: b.FromHost([]float32{1, 2}, 2), RunVar: b.FromHost([]float32{4, 0.25}, 2)}
	for _, relu := range []bool{false, true} {
		y, _ := b.BatchNorm(x, bn, engine.BNParams{Mode: engine.BNInfer, Eps: 0, Momentum: 0.1, ReLU: relu})
		// (x − mean)/√var·γ + β by hand: channel 0 (1,2),(−1,0): γ/σ = 1, mean 1, β 1;
		// channel 1 (3,4),(1,2): γ/σ = 1, mean 2, β −1.
		want := []float32{1, 2, 0, 1, -1, 0, -2, -1}
		for i := range want {
			if relu && want[i] < 0 {
				want[i] = 0
			}
		}
		if got := b.ToHost(y); !slices.Equal(got, want) {
			t.Errorf("relu=%v: y = %v, want %v", relu, got, want)
		}
	}
	if got := b.ToHost(bn.RunMean); !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("BNInfer changed the running mean to %v", got)
	}
}

func TestMaxPoolGradients(t *testing.T) {
	b := New()
	for _, p := range []engine.PoolParams{{Kernel: 3, Stride: 2, Pad: 1}, {Kernel: 2, Stride: 2}, {Kernel: 3, Stride: 1, Pad: 1}} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			rng := enginetest.NewRand(5)
			shape := []int{2, 3, 7, 6}
			x := enginetest.RandTensor(b, rng, 1, shape...)
			y, ws := b.MaxPool(x, p)
			r := enginetest.Rand(rng, engine.Numel(y.Shape()), 1)
			dx := b.MaxPoolBackward(x, b.FromHost(r, y.Shape()...), ws, p)
			loss := func() (float64, []float32) {
				y, ws := b.MaxPool(x, p)
				return dot(r, b.Data(y)), b.Data(ws)
			}
			fdCheck(t, b, rng, loss, fdCase{"dx", b.Data(x), dx})
		})
	}
}

func TestMaxPoolPadding(t *testing.T) {
	b := New()
	// All inputs negative: a zero from the padding must never win.
	x := b.FromHost([]float32{
		-1, -9, -9, -9,
		-9, -9, -9, -3,
		-9, -9, -9, -9,
		-9, -2, -9, -9}, 1, 1, 4, 4)
	p := engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1}
	y, ws := b.MaxPool(x, p)
	if got, want := b.ToHost(y), []float32{-1, -3, -2, -2}; !slices.Equal(got, want) {
		t.Errorf("y = %v, want %v", got, want)
	}
	if got, want := b.ToHost(ws), []float32{0, 7, 13, 13}; !slices.Equal(got, want) {
		t.Errorf("ws = %v, want %v", got, want)
	}
	dx := b.MaxPoolBackward(x, b.FromHost([]float32{1, 2, 3, 4}, 1, 1, 2, 2), ws, p)
	if got, want := b.ToHost(dx), []float32{1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 7, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("dx = %v, want %v (overlapping windows add)", got, want)
	}
	// Ties: the first position in the window wins, as in PyTorch.
	y, ws = b.MaxPool(b.FromHost([]float32{1, 1, 1, 1}, 1, 1, 2, 2), engine.PoolParams{Kernel: 2, Stride: 2})
	if got := b.ToHost(ws); got[0] != 0 || b.ToHost(y)[0] != 1 {
		t.Errorf("tie: ws = %v, want [0]", got)
	}
}

func TestGlobalAvgPoolGradients(t *testing.T) {
	b := New()
	rng := enginetest.NewRand(6)
	shape := []int{2, 3, 4, 5}
	x := enginetest.RandTensor(b, rng, 1, shape...)
	y := b.GlobalAvgPool(x)
	if got := y.Shape(); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("shape %v, want [2 3]", got)
	}
	r := enginetest.Rand(rng, 6, 1)
	dx := b.GlobalAvgPoolBackward(b.FromHost(r, 2, 3), shape)
	fdCheck(t, b, rng, func() (float64, []float32) { return dot(r, b.Data(b.GlobalAvgPool(x))), nil }, fdCase{"dx", b.Data(x), dx})
}

func TestLinearGradients(t *testing.T) {
	b := New()
	rng := enginetest.NewRand(7)
	x, w, bias := enginetest.RandTensor(b, rng, 1, 3, 5), enginetest.RandTensor(b, rng, 0.5, 4, 5), enginetest.RandTensor(b, rng, 0.5, 4)
	r := enginetest.Rand(rng, 12, 1)
	dx, dw, db := b.LinearBackward(x, w, b.FromHost(r, 3, 4), engine.Grads{Input: true, Params: true})
	loss := func() (float64, []float32) { return dot(r, b.Data(b.Linear(x, w, bias))), nil }
	fdCheck(t, b, rng, loss, fdCase{"dx", b.Data(x), dx}, fdCase{"dw", b.Data(w), dw}, fdCase{"db", b.Data(bias), db})
	if dx, _, _ := b.LinearBackward(x, w, b.FromHost(r, 3, 4), engine.Grads{Params: true}); dx != nil {
		t.Errorf("Grads{Params}: dx is not nil")
	}
	if _, dw, db := b.LinearBackward(x, w, b.FromHost(r, 3, 4), engine.Grads{Input: true}); dw != nil || db != nil {
		t.Errorf("Grads{Input}: dw, db not nil")
	}
}

func TestElementwiseGradients(t *testing.T) {
	b := New()
	rng := enginetest.NewRand(8)
	shape := []int{2, 3, 2, 2}
	n := engine.Numel(shape)
	r := enginetest.Rand(rng, n, 1)
	rt := b.FromHost(r, shape...)
	t.Run("Sigmoid", func(t *testing.T) {
		x := enginetest.RandTensor(b, rng, 2, shape...)
		dx := b.SigmoidBackward(b.Sigmoid(x), rt)
		fdCheck(t, b, rng, func() (float64, []float32) { return dot(r, b.Data(b.Sigmoid(x))), nil }, fdCase{"dx", b.Data(x), dx})
	})
	t.Run("ReLU", func(t *testing.T) {
		x := enginetest.RandTensor(b, rng, 1, shape...)
		dx := b.ReLUBackward(b.ReLU(x), rt)
		loss := func() (float64, []float32) { y := b.ReLU(x); return dot(r, b.Data(y)), mask(b.Data(y)) }
		fdCheck(t, b, rng, loss, fdCase{"dx", b.Data(x), dx})
	})
	for _, relu := range []bool{false, true} {
		t.Run(fmt.Sprintf("Add/relu=%v", relu), func(t *testing.T) {
			x1, x2 := enginetest.RandTensor(b, rng, 1, shape...), enginetest.RandTensor(b, rng, 1, shape...)
			// The backward pass of a residual join: the gradient passes to both inputs, through
			// the ReLU's mask when fused.
			dsum := rt
			if relu {
				dsum = b.ReLUBackward(b.Add(x1, x2, true), rt)
			}
			loss := func() (float64, []float32) {
				y := b.Add(x1, x2, relu)
				return dot(r, b.Data(y)), mask(b.Data(y))
			}
			fdCheck(t, b, rng, loss, fdCase{"da", b.Data(x1), dsum}, fdCase{"db", b.Data(x2), dsum})
		})
	}
	acc := b.FromHost([]float32{1, 2}, 2)
	b.AddInto(acc, b.FromHost([]float32{10, 20}, 2))
	if got := b.ToHost(acc); !slices.Equal(got, []float32{11, 22}) {
		t.Errorf("AddInto = %v, want [11 22]", got)
	}
}

func TestPanics(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"conv channels", "do not match", func() {
			b.Conv2D(b.Zeros(1, 3, 4, 4), b.Zeros(2, 2, 3, 3), nil, engine.ConvParams{Stride: 1})
		}},
		{"add shapes", "differ", func() { b.Add(b.Zeros(1, 2), b.Zeros(2, 1), false) }},
		{"released", "after Release", func() { x := b.Zeros(2); b.Release(x); b.ToHost(x) }},
		{"from host length", "3 values", func() { b.FromHost([]float32{1, 2, 3}, 2, 2) }},
	} {
		func() {
			defer func() {
				r := recover()
				if s := fmt.Sprint(r); r == nil || !strings.Contains(s, tc.want) {
					t.Errorf("%s: panic %v, want one mentioning %q", tc.name, r, tc.want)
				}
			}()
			tc.f()
		}()
	}
}

func TestRegistered(t *testing.T) {
	b, err := engine.Open("ref")
	if err != nil || b.Name() != "ref" {
		t.Fatalf("engine.Open(\"ref\") = %v, %v", b, err)
	}
}

// TestCompareWithItself runs the cross-backend harness with ref on both sides: every comparison
// must be exact, and the harness's own bookkeeping (nil gradients, releases) must hold.
func TestCompareWithItself(t *testing.T) {
	enginetest.CompareBackends(t, New(), New())
}
