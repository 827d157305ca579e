// Package enginetest checks an engine.Backend against another (normally the reference backend,
// engine/ref): every operation, forward and backward, on fresh random inputs of several shapes,
// including the shapes a ResNet meets, and a small network chained end to end so that layouts a
// backend keeps between operations are exercised too.
//
// A backend's tests call it as
//
//	func TestAgainstRef(t *testing.T) { enginetest.CompareBackends(t, mybackend.New(), ref.New()) }
package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/catmark/catmark/engine"
)

// Tolerance is the largest error CompareBackends accepts for a single operation, relative to the
// reference tensor's largest magnitude: |fast−ref| ≤ Tolerance·max|ref| element by element.
const Tolerance = 1e-4

// ChainTolerance is the same bound for the gradients of the chained network, where rounding
// differences grow through a dozen operations and a ReLU may switch at a value within rounding
// of zero.
const ChainTolerance = 1e-3

// Rand returns n samples of a normal distribution with standard deviation scale.
func Rand(rng *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64()) * scale
	}
	return v
}

// Uniform returns n samples drawn uniformly from [lo, hi).
func Uniform(rng *rand.Rand, n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float32()
	}
	return v
}

// RandTensor returns a tensor of b with normal entries of standard deviation scale.
func RandTensor(b engine.Backend, rng *rand.Rand, scale float32, shape ...int) engine.Tensor {
	return b.FromHost(Rand(rng, engine.Numel(shape), scale), shape...)
}

// NewRand returns a deterministic generator for seed.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// DetectorConv3x3 are the detector's 3×3 stride-1 convolution layers (ResNet-18 of width 32,
// three stages, at the coarse stage's 128 px and the refine stage's 160 px): C channels in and out
// on Side×Side maps. The backends' Winograd benchmarks time them.
var DetectorConv3x3 = []struct {
	Name    string
	C, Side int
}{
	{"128px-layer1", 32, 32}, {"128px-layer2", 64, 16}, {"128px-layer3", 128, 8},
	{"160px-layer1", 32, 40}, {"160px-layer2", 64, 20}, {"160px-layer3", 128, 10},
}

// MaxRelErr returns max|got−want| / max|want| (the absolute error when want is all zeros), and
// an error when the lengths differ or got holds a NaN or infinity that want does not.
func MaxRelErr(got, want []float32) (float64, error) {
	if len(got) != len(want) {
		return 0, fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	var scale, worst float64
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) != math.IsNaN(w) || (math.IsInf(g, 0) && g != w) {
			return 0, fmt.Errorf("value %d is %v, want %v", i, got[i], want[i])
		}
		worst = math.Max(worst, math.Abs(g-w))
	}
	if scale == 0 {
		return worst, nil
	}
	return worst / scale, nil
}

// check compares got with want (both host copies) and reports an error naming what.
func check(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	e, err := MaxRelErr(got, want)
	switch {
	case err != nil:
		t.Errorf("%s: %v", what, err)
	case e > tol:
		t.Errorf("%s: max error %.3g of max |ref|, want ≤ %.0e", what, e, tol)
	}
}

// pair holds one input in both backends.
type pair struct{ f, r engine.Tensor }

type comparer struct {
	t         *testing.T
	fast, ref engine.Backend
	rng       *rand.Rand
}

func (c *comparer) rand(scale float32, shape ...int) pair {
	return c.host(Rand(c.rng, engine.Numel(shape), scale), shape...)
}

func (c *comparer) host(data []float32, shape ...int) pair {
	return pair{c.fast.FromHost(data, shape...), c.ref.FromHost(data, shape...)}
}

// cmp compares two tensors, nil-ness included, and checks the fast one's shape.
func (c *comparer) cmp(what string, f, r engine.Tensor, tol float64) {
	c.t.Helper()
	if (f == nil) != (r == nil) {
		c.t.Errorf("%s: fast gives nil = %v, ref gives nil = %v", what, f == nil, r == nil)
		return
	}
	if f == nil {
		return
	}
	if !slices.Equal(f.Shape(), r.Shape()) {
		c.t.Errorf("%s: shape %v, want %v", what, f.Shape(), r.Shape())
		return
	}
	check(c.t, what, c.fast.ToHost(f), c.ref.ToHost(r), tol)
}

// accumulate checks the way layers hand gradients to optimisers: a gradient f is added with
// AddInto to a plain tensor made by Zeros, whose Data must then equal the reference gradient.
func (c *comparer) accumulate(what string, f, r engine.Tensor) {
	c.t.Helper()
	acc := c.fast.Zeros(f.Shape()...)
	c.fast.AddInto(acc, f)
	check(c.t, what+" added into a Zeros tensor, read through Data", c.fast.Data(acc), c.ref.ToHost(r), Tolerance)
	c.fast.Release(acc)
}

func (c *comparer) release(ts ...pair) {
	for _, p := range ts {
		if p.f != nil {
			c.fast.Release(p.f)
		}
		if p.r != nil {
			c.ref.Release(p.r)
		}
	}
}

// grads lists the combinations of Grads each backward pass is run with.
var grads = []engine.Grads{{Input: true, Params: true}, {Input: true}, {Params: true}}

// CompareBackends runs every operation of fast and ref on the same random inputs and fails t
// where they differ by more than Tolerance (ChainTolerance for the chained network). It also
// checks that gradients not asked for come back nil, and that writes through Data reach the
// tensor. Inputs are drawn from fixed seeds, so a failure repeats.
func CompareBackends(t *testing.T, fast, ref engine.Backend) {
	t.Run("Memory", func(t *testing.T) { compareMemory(t, fast) })
	for _, tc := range []struct {
		name       string
		x, w       []int
		p          engine.ConvParams
		bias       bool
		xScale     float32
		weightSeed uint64
	}{
		{"stem7x7s2p3", []int{2, 3, 32, 32}, []int{64, 3, 7, 7}, engine.ConvParams{Stride: 2, Pad: 3}, false, 1, 1},
		{"3x3s1p1", []int{2, 16, 8, 8}, []int{16, 16, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, true, 1, 2},
		{"3x3s2p1odd", []int{2, 8, 9, 9}, []int{16, 8, 3, 3}, engine.ConvParams{Stride: 2, Pad: 1}, true, 1, 3},
		{"1x1s2downsample", []int{2, 16, 8, 8}, []int{32, 16, 1, 1}, engine.ConvParams{Stride: 2}, false, 1, 4},
		{"1x1s1expand", []int{2, 64, 8, 8}, []int{256, 64, 1, 1}, engine.ConvParams{Stride: 1}, false, 1, 5},
		{"oddchannels3x3p0", []int{3, 5, 7, 6}, []int{7, 5, 3, 3}, engine.ConvParams{Stride: 1}, true, 1, 6},
		{"3x3s1p1tiny", []int{1, 32, 2, 2}, []int{32, 32, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, false, 1, 7},
		// Sides that are not multiples of 4 and C ≠ O: partial tiles of a Winograd F(4×4, 3×3).
		{"3x3s1p1oddtiles", []int{3, 20, 13, 11}, []int{24, 20, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, true, 1, 8},
	} {
		t.Run("Conv2D/"+tc.name, func(t *testing.T) {
			c := &comparer{t: t, fast: fast, ref: ref, rng: NewRand(100 + tc.weightSeed)}
			fanIn := float32(tc.w[1] * tc.w[2] * tc.w[3])
			x, w := c.rand(tc.xScale, tc.x...), c.rand(float32(math.Sqrt(2/float64(fanIn))), tc.w...)
			var b pair
			if tc.bias {
				b = c.rand(0.5, tc.w[0])
			}
			y := pair{fast.Conv2D(x.f, w.f, b.f, tc.p), ref.Conv2D(x.r, w.r, b.r, tc.p)}
			c.cmp("y", y.f, y.r, Tolerance)
			dy := c.rand(1, y.r.Shape()...)
			for _, g := range grads {
				dxf, dwf, dbf := fast.Conv2DBackward(x.f, w.f, dy.f, tc.p, tc.bias, g)
				dxr, dwr, dbr := ref.Conv2DBackward(x.r, w.r, dy.r, tc.p, tc.bias, g)
				c.cmp(fmt.Sprintf("dx %+v", g), dxf, dxr, Tolerance)
				c.cmp(fmt.Sprintf("dw %+v", g), dwf, dwr, Tolerance)
				c.cmp(fmt.Sprintf("db %+v", g), dbf, dbr, Tolerance)
				if dwf != nil {
					c.accumulate("dw", dwf, dwr)
				}
				c.release(pair{dxf, dxr}, pair{dwf, dwr}, pair{dbf, dbr})
			}
			c.release(x, w, b, y, dy)
		})
	}
	for _, shape := range [][]int{{2, 64, 16, 16}, {3, 5, 4, 4}, {2, 7, 1, 1}, {4, 32, 3, 3}} {
		for _, mode := range []engine.BNMode{engine.BNTrain, engine.BNInfer} {
			for _, relu := range []bool{false, true} {
				name := fmt.Sprintf("BatchNorm/%v/%s/relu=%v", shape, [...]string{"train", "infer"}[mode], relu)
				t.Run(name, func(t *testing.T) {
					compareBN(&comparer{t: t, fast: fast, ref: ref, rng: NewRand(200 + uint64(shape[1]))}, shape,
						engine.BNParams{Mode: mode, Eps: 1e-5, Momentum: 0.1, ReLU: relu})
				})
			}
		}
	}
	for _, tc := range []struct {
		x []int
		p engine.PoolParams
	}{
		{[]int{2, 64, 16, 16}, engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
		{[]int{2, 5, 7, 7}, engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
		{[]int{3, 4, 6, 6}, engine.PoolParams{Kernel: 2, Stride: 2}},
		{[]int{1, 3, 2, 2}, engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
	} {
		t.Run(fmt.Sprintf("MaxPool/%v/%+v", tc.x, tc.p), func(t *testing.T) {
			c := &comparer{t: t, fast: fast, ref: ref, rng: NewRand(300)}
			x := c.rand(1, tc.x...)
			yf, wsf := fast.MaxPool(x.f, tc.p)
			yr, wsr := ref.MaxPool(x.r, tc.p)
			c.cmp("y", yf, yr, Tolerance)
			dy := c.rand(1, yr.Shape()...)
			dx := pair{fast.MaxPoolBackward(x.f, dy.f, wsf, tc.p), ref.MaxPoolBackward(x.r, dy.r, wsr, tc.p)}
			c.cmp("dx", dx.f, dx.r, Tolerance)
			c.release(x, dy, dx, pair{yf, yr}, pair{wsf, wsr})
		})
	}
	for _, shape := range [][]int{{2, 64, 7, 7}, {3, 5, 1, 1}, {2, 512, 2, 2}} {
		t.Run(fmt.Sprintf("GlobalAvgPool/%v", shape), func(t *testing.T) {
			c := &comparer{t: t, fast: fast, ref: ref, rng: NewRand(400)}
			x := c.rand(1, shape...)
			y := pair{fast.GlobalAvgPool(x.f), ref.GlobalAvgPool(x.r)}
			c.cmp("y", y.f, y.r, Tolerance)
			dy := c.rand(1, shape[:2]...)
			dx := pair{fast.GlobalAvgPoolBackward(dy.f, shape), ref.GlobalAvgPoolBackward(dy.r, shape)}
			c.cmp("dx", dx.f, dx.r, Tolerance)
			c.release(x, y, dy, dx)
		})
	}
	for _, tc := range []struct{ n, in, out int }{{4, 512, 18}, {3, 7, 5}, {1, 2048, 18}} {
		t.Run(fmt.Sprintf("Linear/%dx%d→%d", tc.n, tc.in, tc.out), func(t *testing.T) {
			c := &comparer{t: t, fast: fast, ref: ref, rng: NewRand(500)}
			x, w, b := c.rand(1, tc.n, tc.in), c.rand(float32(1/math.Sqrt(float64(tc.in))), tc.out, tc.in), c.rand(0.1, tc.out)
			y := pair{fast.Linear(x.f, w.f, b.f), ref.Linear(x.r, w.r, b.r)}
			c.cmp("y", y.f, y.r, Tolerance)
			dy := c.rand(1, tc.n, tc.out)
			for _, g := range grads {
				dxf, dwf, dbf := fast.LinearBackward(x.f, w.f, dy.f, g)
				dxr, dwr, dbr := ref.LinearBackward(x.r, w.r, dy.r, g)
				c.cmp(fmt.Sprintf("dx %+v", g), dxf, dxr, Tolerance)
				c.cmp(fmt.Sprintf("dw %+v", g), dwf, dwr, Tolerance)
				c.cmp(fmt.Sprintf("db %+v", g), dbf, dbr, Tolerance)
				if dwf != nil {
					c.accumulate("dw", dwf, dwr)
					c.accumulate("db", dbf, dbr)
				}
				c.release(pair{dxf, dxr}, pair{dwf, dwr}, pair{dbf, dbr})
			}
			c.release(x, w, b, y, dy)
		})
	}
	for _, shape := range [][]int{{4, 18}, {2, 8, 5, 5}, {2, 64, 8, 8}} {
		t.Run(fmt.Sprintf("Elementwise/%v", shape), func(t *testing.T) {
			compareElementwise(&comparer{t: t, fast: fast, ref: ref, rng: NewRand(600)}, shape)
		})
	}
	t.Run("Chain", func(t *testing.T) { compareChain(&comparer{t: t, fast: fast, ref: ref, rng: NewRand(700)}) })
}

// compareMemory checks Zeros, FromHost, ToHost and Data on one backend.
func compareMemory(t *testing.T, b engine.Backend) {
	z := b.Zeros(2, 3)
	if got := z.Shape(); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("Zeros(2, 3).Shape() = %v", got)
	}
	for i, v := range b.ToHost(z) {
		if v != 0 {
			t.Errorf("Zeros: element %d is %v", i, v)
		}
	}
	src := []float32{1, 2, 3, 4, 5, 6}
	p := b.FromHost(src, 3, 2)
	src[0] = 100 // FromHost must copy
	if got := b.ToHost(p); got[0] != 1 || got[5] != 6 || len(got) != 6 {
		t.Errorf("FromHost then ToHost = %v, want [1 2 3 4 5 6]", got)
	}
	// Writes through Data must reach the tensor: y = x·wᵀ with w updated in place.
	w := b.FromHost([]float32{1, 1}, 1, 2)
	b.Data(w)[1] = 3
	x := b.FromHost([]float32{2, 5}, 1, 2)
	y := b.Linear(x, w, b.Zeros(1))
	if got := b.ToHost(y); len(got) != 1 || got[0] != 17 {
		t.Errorf("Linear after writing through Data = %v, want [17]", got)
	}
	for _, tt := range []engine.Tensor{z, p, w, x, y} {
		b.Release(tt)
	}
}

func compareBN(c *comparer, shape []int, p engine.BNParams) {
	ch := shape[1]
	x := c.rand(2, shape...)
	// Shift x so the batch mean differs clearly from zero.
	xs := c.ref.ToHost(x.r)
	for i := range xs {
		xs[i] += 0.5
	}
	c.release(x)
	x = c.host(xs, shape...)
	gamma := c.host(Uniform(c.rng, ch, 0.5, 1.5), ch)
	beta := c.rand(0.3, ch)
	rm := Rand(c.rng, ch, 0.5)
	rv := Uniform(c.rng, ch, 0.5, 3)
	rmp, rvp := c.host(rm, ch), c.host(rv, ch)
	bnf := engine.BN{Gamma: gamma.f, Beta: beta.f, RunMean: rmp.f, RunVar: rvp.f}
	bnr := engine.BN{Gamma: gamma.r, Beta: beta.r, RunMean: rmp.r, RunVar: rvp.r}
	yf, sf := c.fast.BatchNorm(x.f, bnf, p)
	yr, sr := c.ref.BatchNorm(x.r, bnr, p)
	c.cmp("y", yf, yr, Tolerance)
	c.cmp("running mean after forward", rmp.f, rmp.r, Tolerance)
	c.cmp("running var after forward", rvp.f, rvp.r, Tolerance)
	dy := c.rand(1, shape...)
	// A fused ReLU may switch differently where the output is within rounding of zero; such
	// positions are skipped in dx (and reported if the output there is not tiny).
	skip := reluDisagreements(c, yf, yr)
	for _, g := range grads {
		dxf, dgf, dbf := c.fast.BatchNormBackward(x.f, dy.f, bnf, sf, p, g)
		dxr, dgr, dbr := c.ref.BatchNormBackward(x.r, dy.r, bnr, sr, p, g)
		if (dxf == nil) != (dxr == nil) {
			c.t.Errorf("dx %+v: fast gives nil = %v, ref gives nil = %v", g, dxf == nil, dxr == nil)
		} else if dxr != nil {
			gf, gr := c.fast.ToHost(dxf), c.ref.ToHost(dxr)
			for _, k := range skip {
				gf[k] = gr[k]
			}
			check(c.t, fmt.Sprintf("dx %+v", g), gf, gr, Tolerance)
		}
		c.cmp(fmt.Sprintf("dgamma %+v", g), dgf, dgr, Tolerance)
		c.cmp(fmt.Sprintf("dbeta %+v", g), dbf, dbr, Tolerance)
		if dgf != nil {
			c.accumulate("dgamma", dgf, dgr)
		}
		c.release(pair{dxf, dxr}, pair{dgf, dgr}, pair{dbf, dbr})
	}
	// As package nn does: the saved Y is the forward output, released by its owner below.
	sf.Y, sr.Y = nil, nil
	c.fast.ReleaseBN(sf)
	c.ref.ReleaseBN(sr)
	c.release(x, gamma, beta, rmp, rvp, dy, pair{yf, yr})
}

// reluDisagreements returns the positions where exactly one of two ReLU outputs is zero, and
// fails the test if the other is not tiny there.
func reluDisagreements(c *comparer, yf, yr engine.Tensor) []int {
	f, r := c.fast.ToHost(yf), c.ref.ToHost(yr)
	var scale float64
	for _, v := range r {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	var skip []int
	for k := range r {
		if (f[k] > 0) != (r[k] > 0) {
			if math.Max(math.Abs(float64(f[k])), math.Abs(float64(r[k]))) > Tolerance*scale {
				c.t.Errorf("ReLU output %d: fast %v, ref %v", k, f[k], r[k])
			}
			skip = append(skip, k)
		}
	}
	return skip
}

func compareElementwise(c *comparer, shape []int) {
	a, b := c.rand(1, shape...), c.rand(1, shape...)
	for _, relu := range []bool{false, true} {
		y := pair{c.fast.Add(a.f, b.f, relu), c.ref.Add(a.r, b.r, relu)}
		c.cmp(fmt.Sprintf("Add relu=%v", relu), y.f, y.r, Tolerance)
		c.release(y)
	}
	r := pair{c.fast.ReLU(a.f), c.ref.ReLU(a.r)}
	c.cmp("ReLU", r.f, r.r, Tolerance)
	// ReLUBackward on the same y in both backends, so the masks agree exactly.
	yh := c.ref.ToHost(r.r)
	y := c.host(yh, shape...)
	dr := pair{c.fast.ReLUBackward(y.f, b.f), c.ref.ReLUBackward(y.r, b.r)}
	c.cmp("ReLUBackward", dr.f, dr.r, Tolerance)
	s := pair{c.fast.Sigmoid(a.f), c.ref.Sigmoid(a.r)}
	c.cmp("Sigmoid", s.f, s.r, Tolerance)
	ds := pair{c.fast.SigmoidBackward(s.f, b.f), c.ref.SigmoidBackward(s.r, b.r)}
	c.cmp("SigmoidBackward", ds.f, ds.r, Tolerance)
	// AddInto accumulates in place.
	acc := c.host(c.ref.ToHost(a.r), shape...)
	c.fast.AddInto(acc.f, b.f)
	c.ref.AddInto(acc.r, b.r)
	c.fast.AddInto(acc.f, b.f)
	c.ref.AddInto(acc.r, b.r)
	c.cmp("AddInto twice", acc.f, acc.r, Tolerance)
	want := c.ref.ToHost(a.r)
	bh := c.ref.ToHost(b.r)
	for i := range want {
		want[i] += 2 * bh[i]
	}
	check(c.t, "AddInto twice against a+2b", c.fast.ToHost(acc.f), want, Tolerance)
	c.release(a, b, r, y, dr, s, ds, acc)
}

// chainNet is a miniature ResNet: stem, one bottleneck-free residual block with a stride-2
// 1×1 downsample, and a sigmoid head, run forward and backward within one backend.
type chainNet struct {
	b                 engine.Backend
	w0, w1, w2, wd    engine.Tensor
	bn0, bn1, bn2, bd engine.BN
	fcw, fcb          engine.Tensor
}

type chainParams struct {
	w0, w1, w2, wd []float32
	bn             [4][4][]float32 // γ, β, mean, var for bn0, bn1, bn2, bd
	fcw, fcb       []float32
}

const chainC, chainOut = 16, 18

func newChainParams(rng *rand.Rand) chainParams {
	var p chainParams
	he := func(fanIn int) float32 { return float32(math.Sqrt(2 / float64(fanIn))) }
	p.w0 = Rand(rng, chainC*3*7*7, he(3*49))
	p.w1 = Rand(rng, 2*chainC*chainC*9, he(chainC*9))
	p.w2 = Rand(rng, 2*chainC*2*chainC*9, he(2*chainC*9))
	p.wd = Rand(rng, 2*chainC*chainC, he(chainC))
	for i := range p.bn {
		n := 2 * chainC
		if i == 0 {
			n = chainC
		}
		p.bn[i] = [4][]float32{Uniform(rng, n, 0.5, 1.5), Rand(rng, n, 0.2), Rand(rng, n, 0.3), Uniform(rng, n, 0.5, 2)}
	}
	p.fcw = Rand(rng, chainOut*2*chainC, 0.2)
	p.fcb = Rand(rng, chainOut, 0.1)
	return p
}

func newChainNet(b engine.Backend, p chainParams) *chainNet {
	bn := func(v [4][]float32) engine.BN {
		n := len(v[0])
		return engine.BN{Gamma: b.FromHost(v[0], n), Beta: b.FromHost(v[1], n), RunMean: b.FromHost(v[2], n), RunVar: b.FromHost(v[3], n)}
	}
	c := chainC
	return &chainNet{b: b,
		w0: b.FromHost(p.w0, c, 3, 7, 7), w1: b.FromHost(p.w1, 2*c, c, 3, 3), w2: b.FromHost(p.w2, 2*c, 2*c, 3, 3), wd: b.FromHost(p.wd, 2*c, c, 1, 1),
		bn0: bn(p.bn[0]), bn1: bn(p.bn[1]), bn2: bn(p.bn[2]), bd: bn(p.bn[3]),
		fcw: b.FromHost(p.fcw, chainOut, 2*c), fcb: b.FromHost(p.fcb, chainOut)}
}

// run does forward and backward and returns the named results as host slices.
func (n *chainNet) run(xh, dyh []float32, xShape []int, mode engine.BNMode) map[string][]float32 {
	b := n.b
	out := map[string][]float32{}
	bnp := engine.BNParams{Mode: mode, Eps: 1e-5, Momentum: 0.1}
	bnr := bnp
	bnr.ReLU = true
	s1, s2 := engine.ConvParams{Stride: 2, Pad: 3}, engine.ConvParams{Stride: 2, Pad: 1}
	s3, sd := engine.ConvParams{Stride: 1, Pad: 1}, engine.ConvParams{Stride: 2}
	pool := engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1}
	all := engine.Grads{Input: true, Params: true}

	x := b.FromHost(xh, xShape...)
	c0 := b.Conv2D(x, n.w0, nil, s1)
	a0, sv0 := b.BatchNorm(c0, n.bn0, bnr)
	p0, ws := b.MaxPool(a0, pool)
	c1 := b.Conv2D(p0, n.w1, nil, s2)
	a1, sv1 := b.BatchNorm(c1, n.bn1, bnr)
	c2 := b.Conv2D(a1, n.w2, nil, s3)
	a2, sv2 := b.BatchNorm(c2, n.bn2, bnp)
	cd := b.Conv2D(p0, n.wd, nil, sd)
	ad, svd := b.BatchNorm(cd, n.bd, bnp)
	r := b.Add(a2, ad, true)
	g := b.GlobalAvgPool(r)
	f := b.Linear(g, n.fcw, n.fcb)
	y := b.Sigmoid(f)
	out["y"] = b.ToHost(y)
	for name, t := range map[string]engine.Tensor{"bn0.mean": n.bn0.RunMean, "bn0.var": n.bn0.RunVar, "bd.var": n.bd.RunVar} {
		out[name] = b.ToHost(t)
	}

	dy := b.FromHost(dyh, y.Shape()...)
	df := b.SigmoidBackward(y, dy)
	dg, dfcw, dfcb := b.LinearBackward(g, n.fcw, df, all)
	dr := b.GlobalAvgPoolBackward(dg, r.Shape())
	dsum := b.ReLUBackward(r, dr)
	dc2, dg2, db2 := b.BatchNormBackward(c2, dsum, n.bn2, sv2, bnp, all)
	da1, dw2, _ := b.Conv2DBackward(a1, n.w2, dc2, s3, false, all)
	dc1, dg1, db1 := b.BatchNormBackward(c1, da1, n.bn1, sv1, bnr, all)
	dp0, dw1, _ := b.Conv2DBackward(p0, n.w1, dc1, s2, false, all)
	dcd, dgd, dbd := b.BatchNormBackward(cd, dsum, n.bd, svd, bnp, all)
	dp0d, dwd, _ := b.Conv2DBackward(p0, n.wd, dcd, sd, false, all)
	b.AddInto(dp0, dp0d)
	da0 := b.MaxPoolBackward(a0, dp0, ws, pool)
	dc0, dg0, db0 := b.BatchNormBackward(c0, da0, n.bn0, sv0, bnr, all)
	dx, dw0, _ := b.Conv2DBackward(x, n.w0, dc0, s1, false, all)
	for name, t := range map[string]engine.Tensor{
		"dfc.weight": dfcw, "dfc.bias": dfcb, "dbn2.gamma": dg2, "dbn2.beta": db2, "dw2": dw2,
		"dbn1.gamma": dg1, "dbn1.beta": db1, "dw1": dw1, "dbd.gamma": dgd, "dbd.beta": dbd, "dwd": dwd,
		"dbn0.gamma": dg0, "dbn0.beta": db0, "dw0": dw0, "dx": dx,
	} {
		out[name] = b.ToHost(t)
	}
	for _, s := range []engine.BNSaved{sv0, sv1, sv2, svd} {
		s.Y = nil // the forward output, released with the others below
		b.ReleaseBN(s)
	}
	for _, t := range []engine.Tensor{x, c0, a0, p0, ws, c1, a1, c2, a2, cd, ad, r, g, f, y, dy, df, dg, dfcw, dfcb,
		dr, dsum, dc2, dg2, db2, da1, dw2, dc1, dg1, db1, dp0, dw1, dcd, dgd, dbd, dp0d, dwd, da0, dc0, dg0, db0, dx, dw0} {
		b.Release(t)
	}
	return out
}

func compareChain(c *comparer) {
	p := newChainParams(c.rng)
	xShape := []int{2, 3, 32, 32}
	xh := Rand(c.rng, engine.Numel(xShape), 1)
	dyh := Rand(c.rng, 2*chainOut, 1)
	for _, mode := range []engine.BNMode{engine.BNTrain, engine.BNInfer} {
		got := newChainNet(c.fast, p).run(xh, dyh, xShape, mode)
		want := newChainNet(c.ref, p).run(xh, dyh, xShape, mode)
		for name, w := range want {
			tol := ChainTolerance
			if name == "y" {
				tol = Tolerance
			}
			check(c.t, fmt.Sprintf("%s mode %d", name, mode), got[name], w, tol)
		}
	}
}
