//go:build cgo && !nodnnl

package dnnl

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/purego"
	"github.com/catmark/catmark/engine/ref"
)

func newBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAgainstRef(t *testing.T) {
	enginetest.CompareBackends(t, newBackend(t), ref.New())
}

// TestAgainstRefVariants runs the comparison with the other convolution algorithms and
// activation layouts the backend can be switched to (CATMARK_DNNL_CONV, CATMARK_DNNL_LAYOUT),
// which select different oneDNN kernels (Winograd, brgconv on nhwc, gemm on nchw), and with
// tune-go's timed choices decided for engine/purego's Winograd and for oneDNN.
func TestAgainstRefVariants(t *testing.T) {
	var seen []judged
	for _, v := range []struct {
		name         string
		algo, layout int
		impl         string // an implementation some convolution must have used
		avx512       bool   // impl exists only where oneDNN runs AVX-512 kernels
		// goWins, where set, decides tune-go's timed choices (fixedJudge): whether the provider
		// wins; with it false no convolution may run on the provider.
		goWins *bool
	}{
		{"winograd", convWinograd, layoutBlocked, "wino", true, nil},
		{"direct-any", convDirect, layoutAny, "jit", false, nil},
		{"direct-nhwc", convDirect, layoutNHWC, "brg", true, nil},
		{"tune-plain", convTune, layoutPlain, "gemm", false, nil},
		// engine/purego's Winograd on every 3×3 stride-1 layer: on the blocked layout where a
		// layer's input is blocked (some are, some are plain), and with every activation plain.
		{"go-winograd", convGoWinograd, layoutBlocked, "go_winograd:" + purego.Kernel() + " blocked", false, nil},
		{"go-winograd-plain", convGoWinograd, layoutPlain, "go_winograd:" + purego.Kernel() + " plain", false, nil},
		// tune-go as it runs (its timings decide), then with every timing won by the provider,
		// then by oneDNN.
		{"tune-go", convTuneGo, layoutBlocked, "jit", false, nil},
		{"tune-go-provider", convTuneGo, layoutBlocked, "go_winograd:" + purego.Kernel(), false, ptr(true)},
		{"tune-go-onednn", convTuneGo, layoutBlocked, "jit", false, ptr(false)},
	} {
		t.Run(v.name, func(t *testing.T) {
			b := newBackend(t)
			b.convAlgo, b.layout, b.goWino = v.algo, v.layout, purego.WinogradOn
			if v.goWins != nil {
				b.judge = fixedJudge(func(int, []int) bool { return *v.goWins }, &seen)
			}
			enginetest.CompareBackends(t, b, ref.New())
			if v.goWins != nil && !*v.goWins && len(b.goWinoUsed) != 0 {
				t.Errorf("convolutions ran on the provider though oneDNN won every timing: %v", b.goWinoUsed)
			}
			if v.algo == convGoWinograd && v.layout == layoutBlocked && b.blockedMD([]int{1, 1, 1, 1}) == nil {
				t.Log("this CPU has no blocked layout (neither AVX nor AVX-512): only the results were compared")
				return
			}
			if v.avx512 && b.block != 16 {
				t.Logf("this CPU has no AVX-512: oneDNN 2.6 has no %q kernels for it, so only the results were compared", v.impl)
				return
			}
			used := false
			for key, impl := range b.Impl() {
				used = used || strings.HasPrefix(key, "conv") && strings.Contains(impl, v.impl)
			}
			if !used {
				t.Errorf("no convolution used an implementation named %q*: %v", v.impl, b.Impl())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRegistered(t *testing.T) {
	b, err := engine.Open("dnnl")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "dnnl" {
		t.Errorf("Name() = %q", b.Name())
	}
}

// TestLayoutRoundTrip checks that data survive a trip through blocked layouts: a 1×1 identity
// convolution produces its input in the convolution's preferred (blocked) layout, and ToHost,
// Data and a further op must all see the plain values.
func TestLayoutRoundTrip(t *testing.T) {
	b := newBackend(t)
	rng := enginetest.NewRand(1)
	for _, c := range []int{3, 16, 20, 64} {
		shape := []int{2, c, 5, 7}
		xh := enginetest.Rand(rng, engine.Numel(shape), 1)
		x := b.FromHost(xh, shape...)
		eye := make([]float32, c*c)
		for i := 0; i < c; i++ {
			eye[i*c+i] = 1
		}
		w := b.FromHost(eye, c, c, 1, 1)
		y := b.Conv2D(x, w, nil, engine.ConvParams{Stride: 1})
		if got := b.ToHost(y); !equal(got, xh) {
			t.Errorf("C=%d: identity convolution then ToHost differs from the input", c)
		}
		yt := y.(*tensor)
		t.Logf("C=%d: convolution output layout %s", c, describe(yt.md))
		// ReLU in the blocked layout, then Data (plain, in place).
		r := b.ReLU(y)
		want := make([]float32, len(xh))
		for i, v := range xh {
			want[i] = float32(math.Max(float64(v), 0))
		}
		if got := b.Data(r); !equal(got, want) {
			t.Errorf("C=%d: ReLU of blocked data read through Data differs", c)
		}
		if r.(*tensor).md != b.plainMD(shape) {
			t.Errorf("C=%d: Data left the tensor in layout %s, want plain", c, describe(r.(*tensor).md))
		}
		// Data writes reach the next convolution (weights cache invalidated by the version).
		b.Data(w)[0] = 2
		y2 := b.ToHost(b.Conv2D(x, w, nil, engine.ConvParams{Stride: 1}))
		// Output channel 0 doubles; channel 1 (from offset H·W) is unchanged.
		if y2[0] != 2*xh[0] || y2[1] != 2*xh[1] || y2[35] != xh[35] {
			t.Errorf("C=%d: after writing w[0]=2 through Data, y[0], y[1], y[35] = %v %v %v, want %v %v %v",
				c, y2[0], y2[1], y2[35], 2*xh[0], 2*xh[1], xh[35])
		}
		for _, tt := range []engine.Tensor{x, w, y, r} {
			b.Release(tt)
		}
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReleaseReuse checks that released storage is reused: once warm (the second step caches the
// weights' reordered copy), an identical step allocates no new memory.
func TestReleaseReuse(t *testing.T) {
	b := newBackend(t)
	rng := enginetest.NewRand(2)
	x := enginetest.RandTensor(b, rng, 1, 2, 16, 12, 12)
	w := enginetest.RandTensor(b, rng, 0.1, 32, 16, 3, 3)
	bn := engine.BN{Gamma: b.FromHost(enginetest.Uniform(rng, 32, 0.5, 1.5), 32), Beta: b.Zeros(32), RunMean: b.Zeros(32), RunVar: enginetest.RandTensor(b, rng, 0, 32)}
	b.Data(bn.RunVar)[0] = 1
	p := engine.BNParams{Mode: engine.BNTrain, Eps: 1e-5, Momentum: 0.1, ReLU: true}
	cp := engine.ConvParams{Stride: 1, Pad: 1}
	step := func() {
		y := b.Conv2D(x, w, nil, cp)
		a, saved := b.BatchNorm(y, bn, p)
		dy := b.Zeros(a.Shape()...)
		da, dg, dbeta := b.BatchNormBackward(y, dy, bn, saved, p, engine.Grads{Input: true, Params: true})
		dx, dw, _ := b.Conv2DBackward(x, w, da, cp, false, engine.Grads{Input: true, Params: true})
		saved.Y = nil
		b.ReleaseBN(saved)
		for _, t := range []engine.Tensor{y, a, dy, da, dg, dbeta, dx, dw} {
			b.Release(t)
		}
	}
	step()
	step()
	_, held1, peak1 := b.MemStats()
	step()
	inUse, held2, peak2 := b.MemStats()
	if peak2 != peak1 {
		t.Errorf("third step raised peak memory from %d to %d bytes: released buffers not reused", peak1, peak2)
	}
	if held2 != held1 {
		t.Errorf("free list holds %d bytes after the third step, %d after the second", held2, held1)
	}
	if held1 == 0 {
		t.Error("nothing on the free list after a step that released its tensors")
	}
	b.Trim()
	if _, held, _ := b.MemStats(); held != 0 {
		t.Errorf("Trim left %d bytes held", held)
	}
	if inUse == 0 {
		t.Error("in-use bytes zero while parameters are live")
	}
	// Use after Release panics.
	b.Release(x)
	b.Release(x) // twice is harmless
	defer func() {
		if recover() == nil {
			t.Error("ToHost after Release did not panic")
		}
	}()
	b.ToHost(x)
}

// TestInferenceFusion checks the lazy conv+BN(+add)(+ReLU) fusion against unfused computation and
// that a Release of a convolution's input before the convolution runs is deferred, with oneDNN's
// convolution and with engine/purego's Winograd as the provider (CATMARK_DNNL_CONV=go-winograd),
// on plain tensors and (go-winograd-blocked) with the input and addend in the blocked layout.
func TestInferenceFusion(t *testing.T) {
	t.Run("onednn", func(t *testing.T) { testInferenceFusion(t, newBackend(t), false) })
	// CATMARK_DNNL_CONV=tune-go with the timed choices won by the provider, and by oneDNN.
	for _, goWins := range []bool{true, false} {
		t.Run(fmt.Sprintf("tune-go-provider-faster=%v", goWins), func(t *testing.T) {
			var seen []judged
			b := newTuneGo(t, func(int, []int) bool { return goWins }, &seen)
			testInferenceFusion(t, b, b.blockedMD([]int{1, 1, 1, 1}) != nil)
			if goWins != (len(b.goWinoUsed) == 1) {
				t.Errorf("convolutions run on purego's Winograd: %v, want the one forward only where it won", b.goWinoUsed)
			}
		})
	}
	for _, blocked := range []bool{false, true} {
		name, layout := "go-winograd", "plain"
		if blocked {
			name = "go-winograd-blocked"
		}
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			if blocked && b.blockedMD([]int{1, 1, 1, 1}) == nil {
				t.Skip("this CPU has no blocked layout for the provider (neither AVX nor AVX-512)")
			}
			if blocked {
				layout = fmt.Sprintf("blocked%d", b.block)
			}
			b.convAlgo, b.goWino = convGoWinograd, purego.WinogradOn
			testInferenceFusion(t, b, blocked)
			if len(b.goWinoUsed) != 1 {
				t.Errorf("convolutions run on purego's Winograd: %v, want the one forward", b.goWinoUsed)
			}
			for k, v := range b.goWinoUsed {
				if !strings.HasSuffix(v, " "+layout) {
					t.Errorf("%s ran as %q, want the %s layout", k, v, layout)
				}
			}
		})
	}
}

// testInferenceFusion runs the fusion checks on b; with blocked, b's convolution input and
// residual addend are moved to b's blocked layout first.
func testInferenceFusion(t *testing.T, b *Backend, blocked bool) {
	r := ref.New()
	rng := enginetest.NewRand(3)
	xs, ws := []int{2, 16, 9, 9}, []int{32, 16, 3, 3}
	xh, wh := enginetest.Rand(rng, engine.Numel(xs), 1), enginetest.Rand(rng, engine.Numel(ws), 0.1)
	addh := enginetest.Rand(rng, 2*32*9*9, 1)
	bnh := [][]float32{enginetest.Uniform(rng, 32, 0.5, 1.5), enginetest.Rand(rng, 32, 0.3), enginetest.Rand(rng, 32, 0.3), enginetest.Uniform(rng, 32, 0.5, 2)}
	cp := engine.ConvParams{Stride: 1, Pad: 1}
	for _, relu := range []bool{false, true} {
		for _, add := range []bool{false, true} {
			for _, releaseAddend := range []bool{false, true} {
				if releaseAddend && !add {
					continue
				}
				// release: the convolution's input and (releaseAddend) the residual addend are
				// released before the lazy result is computed; a released addend's storage is
				// reused for the result, a live one must be left as it was.
				run := func(be engine.Backend, release bool) []float32 {
					x, w := be.FromHost(xh, xs...), be.FromHost(wh, ws...)
					toBlocked := func(tt engine.Tensor) {
						if be == engine.Backend(b) && blocked {
							b.relayout(tt.(*tensor), b.blockedMD(tt.Shape()))
						}
					}
					toBlocked(x)
					bn := engine.BN{Gamma: be.FromHost(bnh[0], 32), Beta: be.FromHost(bnh[1], 32), RunMean: be.FromHost(bnh[2], 32), RunVar: be.FromHost(bnh[3], 32)}
					y := be.Conv2D(x, w, nil, cp)
					if release {
						be.Release(x)
					}
					z, _ := be.BatchNorm(y, bn, engine.BNParams{Mode: engine.BNInfer, Eps: 1e-5, ReLU: relu && !add})
					var a engine.Tensor
					if add {
						a = be.FromHost(addh, 2, 32, 9, 9)
						toBlocked(a)
						z = be.Add(z, a, relu)
						if release && releaseAddend {
							be.Release(a)
						}
					}
					out := be.ToHost(z)
					if add && !(release && releaseAddend) {
						if got := be.ToHost(a); !equal(got, addh) {
							t.Errorf("relu=%v: the live addend of a fused Add changed", relu)
						}
					}
					return out
				}
				got, want := run(b, true), run(r, false)
				if e, err := enginetest.MaxRelErr(got, want); err != nil || e > enginetest.Tolerance {
					t.Errorf("relu=%v add=%v release addend=%v: error %v %v", relu, add, releaseAddend, e, err)
				}
			}
		}
	}
	for k, v := range b.Impl() {
		t.Logf("%s: %s", k, v)
	}
}

// TestNoReferenceKernels runs the convolutions, batch norms and pooling of a small ResNet block
// in training and inference and checks that oneDNN chose none of its reference kernels for them:
// those are a hundred times slower, and oneDNN falls back to them silently when it is asked for a
// layout the CPU's kernels do not take (a 16-channel blocking on a CPU without AVX-512).
func TestNoReferenceKernels(t *testing.T) {
	b := newBackend(t)
	if b.block == 0 {
		t.Skip("this CPU has neither AVX nor AVX-512: oneDNN has no fast kernels for it")
	}
	rng := enginetest.NewRand(4)
	xs, ws := []int{2, 32, 16, 16}, []int{32, 32, 3, 3}
	x := b.FromHost(enginetest.Rand(rng, engine.Numel(xs), 1), xs...)
	w := b.FromHost(enginetest.Rand(rng, engine.Numel(ws), 0.1), ws...)
	bn := engine.BN{Gamma: b.FromHost(enginetest.Uniform(rng, 32, 0.5, 1.5), 32), Beta: b.Zeros(32), RunMean: b.Zeros(32), RunVar: b.FromHost(enginetest.Uniform(rng, 32, 0.5, 2), 32)}
	for _, mode := range []engine.BNMode{engine.BNTrain, engine.BNInfer} {
		y := b.Conv2D(x, w, nil, engine.ConvParams{Stride: 1, Pad: 1})
		z, saved := b.BatchNorm(y, bn, engine.BNParams{Mode: mode, Eps: 1e-5, Momentum: 0.1, ReLU: true})
		p, ws := b.MaxPool(z, engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1})
		if mode == engine.BNTrain {
			dp := b.FromHost(enginetest.Rand(rng, engine.Numel(p.Shape()), 1), p.Shape()...)
			dz := b.MaxPoolBackward(z, dp, ws, engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1})
			dy, _, _ := b.BatchNormBackward(y, dz, bn, saved, engine.BNParams{Mode: mode, Eps: 1e-5, Momentum: 0.1, ReLU: true}, engine.Grads{Input: true, Params: true})
			b.Conv2DBackward(x, w, dy, engine.ConvParams{Stride: 1, Pad: 1}, false, engine.Grads{Input: true, Params: true})
		}
		b.ToHost(p)
	}
	impls := b.Impl()
	if len(impls) == 0 {
		t.Fatal("the backend made no primitives")
	}
	for k, v := range impls {
		if strings.HasPrefix(v, "ref") {
			t.Errorf("%s runs oneDNN's reference kernel %s (block %d)", k, v, b.block)
		}
	}
}

// TestConvChoicePerBucket checks that a timed convolution choice is made once per power-of-two
// bucket of batch sizes: batch 3 takes batch 2's choice (one primitive made, no candidates timed),
// batch 4 is timed anew, Made counts both, and every result matches the reference backend.
func TestConvChoicePerBucket(t *testing.T) {
	b := newBackend(t)
	b.convAlgo = convTune
	r := ref.New()
	rng := enginetest.NewRand(5)
	ws := []int{32, 16, 3, 3}
	wh := enginetest.Rand(rng, engine.Numel(ws), 0.1)
	cp := engine.ConvParams{Stride: 1, Pad: 1}
	for _, c := range []struct {
		n, newPrims int // batch size; convolution primitives it makes (-1: at least 2, a timing)
	}{{2, -1}, {3, 1}, {2, 0}, {4, -1}, {7, 1}} {
		xs := []int{c.n, 16, 9, 9}
		xh := enginetest.Rand(rng, engine.Numel(xs), 1)
		before := b.Made()
		run := func(be engine.Backend) []float32 {
			return be.ToHost(be.Conv2D(be.FromHost(xh, xs...), be.FromHost(wh, ws...), nil, cp))
		}
		got, want := run(b), run(r)
		if e, err := enginetest.MaxRelErr(got, want); err != nil || e > enginetest.Tolerance {
			t.Errorf("batch %d: error %v %v", c.n, e, err)
		}
		after := b.Made()
		made, tuned := after.Prims["conv0"]-before.Prims["conv0"], after.Tuned-before.Tuned
		switch {
		case c.newPrims < 0 && b.block == 16 && (tuned != 1 || after.TunedInputs-before.TunedInputs != timeRuns*made*c.n):
			t.Errorf("batch %d: %d choices timed on %d inputs, want 1 on %d×%d×%d", c.n, tuned, after.TunedInputs-before.TunedInputs, timeRuns, made, c.n)
		case c.newPrims >= 0 && tuned != 0:
			t.Errorf("batch %d: %d choices timed, want none (its bucket's choice)", c.n, tuned)
		case c.newPrims < 0 && made < 2 && b.block == 16:
			t.Errorf("batch %d: %d primitives made, want its bucket's candidates timed", c.n, made)
		case c.newPrims >= 0 && made != c.newPrims:
			t.Errorf("batch %d: %d primitives made, want %d (its bucket's choice)", c.n, made, c.newPrims)
		}
	}
	if got := bucket(1); got != 1 {
		t.Errorf("bucket(1) = %d", got)
	}
	for n, want := range map[int]int{2: 2, 3: 2, 31: 16, 32: 32, 48: 32} {
		if got := bucket(n); got != want {
			t.Errorf("bucket(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestConvChoiceInferenceBatches checks that inference convolutions (a folded batch norm) over
// tuneBatch inputs or more share one timed choice, timed on tuneBatch inputs whatever the batch
// that first needs it: batch 20 times the layer on tuneBatch, batches 8, 40 and 9 take that
// choice (8 makes nothing, its primitive is the one timed); a training convolution of batch 20
// is still timed on its own bucket. Every result matches the reference backend.
func TestConvChoiceInferenceBatches(t *testing.T) {
	b := newBackend(t)
	b.convAlgo = convTune
	if b.block != 16 {
		t.Skip("this CPU has no AVX-512: oneDNN 2.6 has one convolution kernel for it, nothing to time")
	}
	r := ref.New()
	rng := enginetest.NewRand(6)
	ws := []int{32, 16, 3, 3}
	wh := enginetest.Rand(rng, engine.Numel(ws), 0.1)
	bnh := [][]float32{enginetest.Uniform(rng, 32, 0.5, 1.5), enginetest.Rand(rng, 32, 0.3), enginetest.Rand(rng, 32, 0.3), enginetest.Uniform(rng, 32, 0.5, 2)}
	cp := engine.ConvParams{Stride: 1, Pad: 1}
	for _, c := range []struct {
		n        int
		infer    bool
		newPrims int // convolution primitives made (-1: a timing's candidates, at least 2)
		tunedOn  int // the batch size the timing ran on, 0: none
	}{
		{20, true, -1, tuneBatch},
		{8, true, 0, 0},
		{40, true, 1, 0},
		{9, true, 1, 0},
		{20, false, -1, 20},
	} {
		xs := []int{c.n, 16, 9, 9}
		xh := enginetest.Rand(rng, engine.Numel(xs), 1)
		run := func(be engine.Backend) []float32 {
			y := be.Conv2D(be.FromHost(xh, xs...), be.FromHost(wh, ws...), nil, cp)
			if c.infer {
				bn := engine.BN{Gamma: be.FromHost(bnh[0], 32), Beta: be.FromHost(bnh[1], 32), RunMean: be.FromHost(bnh[2], 32), RunVar: be.FromHost(bnh[3], 32)}
				y, _ = be.BatchNorm(y, bn, engine.BNParams{Mode: engine.BNInfer, Eps: 1e-5, ReLU: true})
			}
			return be.ToHost(y)
		}
		before := b.Made()
		got := run(b)
		after := b.Made()
		if e, err := enginetest.MaxRelErr(got, run(r)); err != nil || e > enginetest.Tolerance {
			t.Errorf("batch %d infer=%v: error %v %v", c.n, c.infer, e, err)
		}
		made := after.Prims["conv0"] - before.Prims["conv0"]
		tuned, inputs := after.Tuned-before.Tuned, after.TunedInputs-before.TunedInputs
		switch {
		case c.tunedOn == 0 && tuned != 0:
			t.Errorf("batch %d infer=%v: %d choices timed, want none (the shared choice)", c.n, c.infer, tuned)
		case c.tunedOn != 0 && (tuned != 1 || inputs == 0 || inputs%(timeRuns*c.tunedOn) != 0 || inputs > timeRuns*maxImpls*c.tunedOn):
			t.Errorf("batch %d infer=%v: %d choices timed on %d inputs, want 1 timed on batches of %d", c.n, c.infer, tuned, inputs, c.tunedOn)
		case c.newPrims < 0 && made < 2:
			t.Errorf("batch %d infer=%v: %d convolution primitives made, want a timing's candidates", c.n, c.infer, made)
		case c.newPrims >= 0 && made != c.newPrims:
			t.Errorf("batch %d infer=%v: %d convolution primitives made, want %d", c.n, c.infer, made, c.newPrims)
		}
	}
}

// TestConvChoiceRemade checks that a timed choice is remade for another batch size with the
// same oneDNN kernel even where that kernel's place in oneDNN's list moved (for this 1×1
// stride-2 layer, the third place of batch 8's list holds the general direct kernel and batch
// 9's oneDNN's reference kernel), without timing again, and with results that match the
// reference backend.
func TestConvChoiceRemade(t *testing.T) {
	b := newBackend(t)
	b.convAlgo = convTune
	if b.block != 16 {
		t.Skip("this CPU has no AVX-512: oneDNN 2.6 has one convolution kernel for it, nothing to time")
	}
	rng := enginetest.NewRand(7)
	ws := []int{64, 32, 1, 1}
	wh := enginetest.Rand(rng, engine.Numel(ws), 0.1)
	bnh := [][]float32{enginetest.Uniform(rng, 64, 0.5, 1.5), enginetest.Rand(rng, 64, 0.3), enginetest.Rand(rng, 64, 0.3), enginetest.Uniform(rng, 64, 0.5, 2)}
	cp := engine.ConvParams{Stride: 2}
	run := func(be engine.Backend, xh []float32, n int) []float32 {
		y := be.Conv2D(be.FromHost(xh, n, 32, 32, 32), be.FromHost(wh, ws...), nil, cp)
		bn := engine.BN{Gamma: be.FromHost(bnh[0], 64), Beta: be.FromHost(bnh[1], 64), RunMean: be.FromHost(bnh[2], 64), RunVar: be.FromHost(bnh[3], 64)}
		y, _ = be.BatchNorm(y, bn, engine.BNParams{Mode: engine.BNInfer, Eps: 1e-5})
		return be.ToHost(y)
	}
	run(b, enginetest.Rand(rng, tuneBatch*32*32*32, 1), tuneBatch)
	if len(b.convChoice) != 1 {
		t.Fatalf("%d choices timed, want 1: %v", len(b.convChoice), b.convChoice)
	}
	// Whatever the timing chose, make the choice batch 8's candidate at the third place or later.
	var class string
	for k := range b.convChoice {
		class = k
	}
	impls := b.Impl()
	for key, impl := range impls {
		var nth int
		if i := strings.Index(key, " direct#"); i >= 0 && strings.HasPrefix(key, fmt.Sprintf("conv0 [%d ", tuneBatch)) {
			if _, err := fmt.Sscan(key[i+len(" direct#"):], &nth); err == nil && nth >= 2 {
				b.convChoice[class] = convChoice{Algo: 0, Nth: nth, Layout: b.layout, Suffix: key[i:], Impl: impl}
			}
		}
	}
	want := b.convChoice[class]
	if want.Nth < 2 {
		t.Skipf("oneDNN offers this layer no third direct kernel: %v", impls)
	}
	r := ref.New()
	for _, n := range []int{9, 24} {
		xh := enginetest.Rand(rng, n*32*32*32, 1)
		before := b.Made().Tuned
		got := run(b, xh, n)
		if b.Made().Tuned != before {
			t.Errorf("batch %d: timed again", n)
		}
		if e, err := enginetest.MaxRelErr(got, run(r, xh, n)); err != nil || e > enginetest.Tolerance {
			t.Errorf("batch %d: error %v %v", n, e, err)
		}
		found := false
		for key, impl := range b.Impl() {
			if strings.HasPrefix(key, fmt.Sprintf("conv0 [%d ", n)) && strings.HasSuffix(key, "}") {
				found = true
				if impl != want.Impl {
					t.Errorf("batch %d runs %s, want the choice's kernel %s (place %d at batch %d)", n, impl, want.Impl, want.Nth, tuneBatch)
				}
			}
		}
		if !found {
			t.Errorf("batch %d: no convolution primitive: %v", n, b.Impl())
		}
	}
}

// TestGoWinogradRule checks which convolutions CATMARK_DNNL_CONV=go-winograd hands to
// engine/purego: the forward and input gradient of 3×3 stride-1 layers its rule picks (auto: a
// 64-channel 16×16 layer, not an 8-channel one), never a strided or 1×1 one or the weight
// gradient, and results that match the reference backend.
func TestGoWinogradRule(t *testing.T) {
	all := engine.Grads{Input: true, Params: true}
	for _, c := range []struct {
		name   string
		mode   purego.Winograd
		xs, ws []int
		p      engine.ConvParams
		want   int // convolutions on purego's Winograd: forward and input gradient
	}{
		{"auto-64ch", purego.WinogradAuto, []int{2, 64, 16, 16}, []int{64, 64, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, 2},
		{"auto-8ch", purego.WinogradAuto, []int{2, 8, 16, 16}, []int{8, 8, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, 0},
		{"on-8ch", purego.WinogradOn, []int{2, 8, 16, 16}, []int{8, 8, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, 2},
		{"off", purego.WinogradOff, []int{2, 64, 16, 16}, []int{64, 64, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}, 0},
		{"stride2", purego.WinogradOn, []int{2, 16, 16, 16}, []int{16, 16, 3, 3}, engine.ConvParams{Stride: 2, Pad: 1}, 0},
		{"1x1", purego.WinogradOn, []int{2, 16, 16, 16}, []int{16, 16, 1, 1}, engine.ConvParams{Stride: 1}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, r := newBackend(t), ref.New()
			b.convAlgo, b.goWino = convGoWinograd, c.mode
			rng := enginetest.NewRand(7)
			xh, wh := enginetest.Rand(rng, engine.Numel(c.xs), 1), enginetest.Rand(rng, engine.Numel(c.ws), 0.1)
			var got, want [][]float32
			for i, be := range []engine.Backend{b, r} {
				x, w := be.FromHost(xh, c.xs...), be.FromHost(wh, c.ws...)
				y := be.Conv2D(x, w, nil, c.p)
				ys := be.ToHost(y)
				dyh := make([]float32, len(ys))
				for j, v := range ys {
					dyh[j] = v - 0.5
				}
				dx, dw, _ := be.Conv2DBackward(x, w, be.FromHost(dyh, y.Shape()...), c.p, false, all)
				out := [][]float32{ys, be.ToHost(dx), be.ToHost(dw)}
				if i == 0 {
					got = out
				} else {
					want = out
				}
			}
			for i, what := range []string{"y", "dx", "dw"} {
				if e, err := enginetest.MaxRelErr(got[i], want[i]); err != nil || e > enginetest.Tolerance {
					t.Errorf("%s: relative error %g (%v)", what, e, err)
				}
			}
			if len(b.goWinoUsed) != c.want {
				t.Errorf("convolutions on purego's Winograd: %v, want %d", b.goWinoUsed, c.want)
			}
		})
	}
}

// TestGoWinogradEnv checks that CATMARK_DNNL_CONV=go-winograd takes its per-layer rule from
// CATMARK_WINOGRAD and rejects a bad one.
func TestGoWinogradEnv(t *testing.T) {
	t.Setenv("CATMARK_DNNL_CONV", "go-winograd")
	t.Setenv(purego.WinogradEnv, "on")
	b := newBackend(t)
	if b.convAlgo != convGoWinograd || b.goWino != purego.WinogradOn {
		t.Errorf("algorithm %d, rule %v; want go-winograd with on", b.convAlgo, b.goWino)
	}
	t.Setenv(purego.WinogradEnv, "sometimes")
	if _, err := New(); err == nil || !strings.Contains(err.Error(), purego.WinogradEnv) {
		t.Errorf("New with %s=sometimes: error %v, want one naming it", purego.WinogradEnv, err)
	}
}

// activationReorders returns the profile's reorder entries (timed executions, nested or not) of
// tensors whose shape is one of shapes.
func activationReorders(b *Backend, shapes ...[]int) []string {
	var found []string
	for k, s := range b.prof.byShape {
		if !strings.HasPrefix(strings.TrimPrefix(k, "  (in) "), "reorder ") {
			continue
		}
		for _, sh := range shapes {
			if strings.Contains(k, fmt.Sprint(sh)+" ") {
				found = append(found, fmt.Sprintf("%s (%d×)", k, s.n))
			}
		}
	}
	return found
}

// TestGoWinogradBlockedNoReorder runs a two-convolution network (conv, batch norm with ReLU,
// conv, batch norm) forward and backward with CATMARK_DNNL_CONV=go-winograd on every layer, its
// input and output gradient given in the backend's blocked layout, and checks with the profiler
// that no activation or activation gradient is reordered anywhere in the step: the provider's
// layers read and write the blocked layout the batch norms and oneDNN's weight gradients use.
// Impl must report the four provider convolutions as blocked, and every result must match the
// reference backend within enginetest.ChainTolerance.
func TestGoWinogradBlockedNoReorder(t *testing.T) {
	for _, block := range providerBlocks(t) {
		t.Run(fmt.Sprintf("block%d", block), func(t *testing.T) { testGoWinogradBlockedNoReorder(t, block) })
	}
}

func testGoWinogradBlockedNoReorder(t *testing.T, block int) {
	b := newBackend(t)
	b.block = block
	b.convAlgo, b.goWino = convGoWinograd, purego.WinogradOn
	r := ref.New()
	rng := enginetest.NewRand(21)
	xs, w1s, w2s := []int{2, 16, 12, 12}, []int{32, 16, 3, 3}, []int{16, 32, 3, 3}
	y1s, y2s := []int{2, 32, 12, 12}, []int{2, 16, 12, 12}
	xh, dzh := enginetest.Rand(rng, engine.Numel(xs), 1), enginetest.Rand(rng, engine.Numel(y2s), 1)
	w1h, w2h := enginetest.Rand(rng, engine.Numel(w1s), 0.2), enginetest.Rand(rng, engine.Numel(w2s), 0.2)
	cp := engine.ConvParams{Stride: 1, Pad: 1}
	bnp1 := engine.BNParams{Mode: engine.BNTrain, Eps: 1e-5, Momentum: 0.1, ReLU: true}
	bnp2 := engine.BNParams{Mode: engine.BNTrain, Eps: 1e-5, Momentum: 0.1}
	all := engine.Grads{Input: true, Params: true}
	newBN := func(be engine.Backend, c int) engine.BN {
		return engine.BN{Gamma: be.FromHost(enginetest.Uniform(enginetest.NewRand(22), c, 0.5, 1.5), c), Beta: be.Zeros(c), RunMean: be.Zeros(c), RunVar: be.FromHost(enginetest.Uniform(enginetest.NewRand(23), c, 0.5, 2), c)}
	}
	// step runs the network; before the step, prepare may move its inputs (x, dz) to another
	// layout, and after the last operation, done looks at the backend before the results are read.
	step := func(be engine.Backend, prepare func(x, dz engine.Tensor), done func()) [][]float32 {
		x, dz := be.FromHost(xh, xs...), be.FromHost(dzh, y2s...)
		w1, w2 := be.FromHost(w1h, w1s...), be.FromHost(w2h, w2s...)
		bn1, bn2 := newBN(be, 32), newBN(be, 16)
		prepare(x, dz)
		y1 := be.Conv2D(x, w1, nil, cp)
		a1, s1 := be.BatchNorm(y1, bn1, bnp1)
		y2 := be.Conv2D(a1, w2, nil, cp)
		z, s2 := be.BatchNorm(y2, bn2, bnp2)
		dy2, _, _ := be.BatchNormBackward(y2, dz, bn2, s2, bnp2, all)
		da1, dw2, _ := be.Conv2DBackward(a1, w2, dy2, cp, false, all)
		dy1, _, _ := be.BatchNormBackward(y1, da1, bn1, s1, bnp1, all)
		dx, dw1, _ := be.Conv2DBackward(x, w1, dy1, cp, false, all)
		done()
		return [][]float32{be.ToHost(z), be.ToHost(dx), be.ToHost(dw1), be.ToHost(dw2)}
	}
	got := step(b, func(x, dz engine.Tensor) {
		for _, tt := range []engine.Tensor{x, dz} {
			tt := tt.(*tensor)
			b.relayout(tt, b.blockedMD(tt.shape))
		}
		b.prof = newProfiler()
	}, func() {
		if found := activationReorders(b, xs, y1s, y2s); len(found) > 0 {
			t.Errorf("activations reordered during the step:\n%s", strings.Join(found, "\n"))
		}
		b.prof = nil
	})
	want := step(r, func(x, dz engine.Tensor) {}, func() {})
	for i, what := range []string{"z", "dx", "dw1", "dw2"} {
		if e, err := enginetest.MaxRelErr(got[i], want[i]); err != nil || e > enginetest.ChainTolerance {
			t.Errorf("%s: relative error %g (%v), want ≤ %g", what, e, err, enginetest.ChainTolerance)
		}
	}
	if len(b.goWinoUsed) != 4 {
		t.Errorf("provider convolutions %v, want both layers' forward and input gradient", b.goWinoUsed)
	}
	for k, v := range b.goWinoUsed {
		if !strings.HasSuffix(v, fmt.Sprintf(" blocked%d", b.block)) {
			t.Errorf("%s ran as %q, want the blocked layout", k, v)
		}
	}
}

// TestGoWinogradBlockedShapes runs the provider's blocked path (input and output gradient in the
// backend's blocked layout) on odd shapes (channels not a multiple of the block, sides not a
// multiple of 4, padding 0 and 1, batch 1 and 3) and the detector's 3×3 layers, against the
// reference backend within enginetest.Tolerance, and checks that the outputs' padding channels
// are zero.
func TestGoWinogradBlockedShapes(t *testing.T) {
	for _, block := range providerBlocks(t) {
		t.Run(fmt.Sprintf("block%d", block), func(t *testing.T) { testGoWinogradBlockedShapes(t, block) })
	}
}

func testGoWinogradBlockedShapes(t *testing.T, block int) {
	b := newBackend(t)
	b.block = block
	b.convAlgo, b.goWino = convGoWinograd, purego.WinogradOn
	type shape struct{ n, c, h, w, o, pad int }
	shapes := []shape{{1, 20, 13, 11, 24, 1}, {3, 5, 7, 6, 7, 0}, {3, 17, 10, 9, 33, 1}, {1, 40, 6, 14, 50, 0}}
	for _, l := range enginetest.DetectorConv3x3 {
		shapes = append(shapes, shape{2, l.C, l.Side, l.Side, l.C, 1})
	}
	r := ref.New()
	for _, s := range shapes {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			rng := enginetest.NewRand(uint64(s.c*100 + s.h))
			xs, ws := []int{s.n, s.c, s.h, s.w}, []int{s.o, s.c, 3, 3}
			cp := engine.ConvParams{Stride: 1, Pad: s.pad}
			ys := convShape("test", xs, ws, nil, cp)
			xh, wh, dyh := enginetest.Rand(rng, engine.Numel(xs), 1), enginetest.Rand(rng, engine.Numel(ws), 0.2), enginetest.Rand(rng, engine.Numel(ys), 1)
			var res [2][][]float32
			for i, be := range []engine.Backend{b, r} {
				x, w, dy := be.FromHost(xh, xs...), be.FromHost(wh, ws...), be.FromHost(dyh, ys...)
				if be == engine.Backend(b) {
					b.relayout(x.(*tensor), b.blockedMD(xs))
					b.relayout(dy.(*tensor), b.blockedMD(ys))
				}
				y := be.Conv2D(x, w, nil, cp)
				dx, _, _ := be.Conv2DBackward(x, w, dy, cp, false, engine.Grads{Input: true})
				if be == engine.Backend(b) {
					yt, dxt := b.get("test", y), dx.(*tensor)
					for _, c := range []struct {
						what string
						t    *tensor
					}{{"y", yt}, {"dx", dxt}} {
						if c.t.md != b.blockedMD(c.t.shape) {
							t.Fatalf("%s in layout %s, want %s", c.what, describe(c.t.md), describe(b.blockedMD(c.t.shape)))
						}
						if m := padMax(c.t.floats(), c.t.shape, b.block); m != 0 {
							t.Errorf("%s: padding channels hold up to %g, want 0", c.what, m)
						}
					}
				}
				res[i] = [][]float32{be.ToHost(y), be.ToHost(dx)}
			}
			for i, what := range []string{"y", "dx"} {
				if e, err := enginetest.MaxRelErr(res[0][i], res[1][i]); err != nil || e > enginetest.Tolerance {
					t.Errorf("%s: relative error %g (%v), want ≤ %g", what, e, err, enginetest.Tolerance)
				}
			}
		})
	}
}

// padMax returns the largest magnitude in the padding channels of x, an N×C×H×W tensor blocked
// by bs channels.
func padMax(x []float32, shape []int, bs int) float64 {
	n, c, hw := shape[0], shape[1], shape[2]*shape[3]
	cbs := (c + bs - 1) / bs
	var m float64
	for i := range n {
		for ci := c; ci < cbs*bs; ci++ {
			for p := range hw {
				v := float64(x[((i*cbs+ci/bs)*hw+p)*bs+ci%bs])
				if math.IsNaN(v) {
					return math.Inf(1)
				}
				m = math.Max(m, math.Abs(v))
			}
		}
	}
	return m
}

// providerBlocks returns the channel blocks the provider's blocked tests run with: the CPU's own
// (16 with AVX-512, 8 with AVX2) first, then the other one, where oneDNN's batch norms and
// weight gradients run slower (reference kernels for a foreign blocking) but correctly. It skips
// the test on a CPU with neither.
func providerBlocks(t *testing.T) []int {
	t.Helper()
	b := newBackend(t)
	switch b.block {
	case 16:
		return []int{16, 8}
	case 8:
		return []int{8, 16}
	}
	t.Skip("this CPU has no blocked layout for the provider (neither AVX nor AVX-512)")
	return nil
}
