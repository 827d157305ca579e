package purego

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

func TestAgainstRef(t *testing.T) {
	t.Logf("micro-kernel: %s", Kernel())
	enginetest.CompareBackends(t, New(), ref.New())
}

// TestAgainstRefGoKernels runs the comparison again with the plain-Go kernels, which the
// assembly ones replace on amd64.
func TestAgainstRefGoKernels(t *testing.T) {
	if Kernel() == "go" {
		t.Skip("the plain-Go kernels are the ones TestAgainstRef ran")
	}
	mk, ok, ss, ad, mw := microKernel, offKernel, scaleShift, add, maxWindow
	defer func() { microKernel, offKernel, scaleShift, add, maxWindow = mk, ok, ss, ad, mw }()
	microKernel, offKernel, scaleShift, add, maxWindow = goKernel, goOffKernel, goScaleShift, goAdd, goMaxWindow
	enginetest.CompareBackends(t, New(), ref.New())
}

// TestAgainstRefConvPaths runs the comparison with every convolution on one path: through an
// im2col matrix with B packed once (shared) or per goroutine, and implicit (phase images and
// offKernel).
func TestAgainstRefConvPaths(t *testing.T) {
	defer func(u float64, s int) { minUseful, sharedB = u, s }(minUseful, sharedB)
	for _, tc := range []struct {
		name    string
		useful  float64
		sharedB int
	}{{"im2col-shared", 2, 1 << 30}, {"im2col-grouped", 2, 0}, {"implicit", 0, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			minUseful, sharedB = tc.useful, tc.sharedB
			enginetest.CompareBackends(t, New(), ref.New())
		})
	}
}

// TestMicroKernel checks microKernel against a float64 sum over several depths and row strides.
func TestMicroKernel(t *testing.T) {
	rng := enginetest.NewRand(1)
	for _, k := range []int{0, 1, 2, 7, 64, 301} {
		for _, ldc := range []int{nr, nr + 3, 100} {
			a, b := enginetest.Rand(rng, k*mr, 1), enginetest.Rand(rng, k*nr, 1)
			c := enginetest.Rand(rng, (mr-1)*ldc+nr, 1) // garbage the kernel must overwrite
			microKernel(k, a, b, c, ldc)
			got, want := make([]float32, mr*nr), make([]float32, mr*nr)
			for r := 0; r < mr; r++ {
				for j := 0; j < nr; j++ {
					var s float64
					for p := 0; p < k; p++ {
						s += float64(a[p*mr+r]) * float64(b[p*nr+j])
					}
					got[r*nr+j], want[r*nr+j] = c[r*ldc+j], float32(s)
				}
			}
			if e, err := enginetest.MaxRelErr(got, want); err != nil || e > 1e-5 {
				t.Errorf("%s kernel, k=%d ldc=%d: error %.3g %v", Kernel(), k, ldc, e, err)
			}
		}
	}
}

// TestConvShapes compares Conv2D and Conv2DBackward with the reference on shapes beyond
// enginetest's: tails of both tile dimensions, images whose pixel count is not a multiple of the
// tile, batches split into chunks, and the detector's late layers.
func TestConvShapes(t *testing.T) {
	fast, slow := New(), ref.New()
	for _, tc := range []struct {
		x, w []int
		p    engine.ConvParams
	}{
		{[]int{3, 13, 5, 5}, []int{11, 13, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
		{[]int{2, 256, 5, 5}, []int{256, 256, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
		{[]int{5, 7, 3, 4}, []int{19, 7, 1, 1}, engine.ConvParams{Stride: 1}},
		{[]int{1, 4, 1, 1}, []int{6, 4, 1, 1}, engine.ConvParams{Stride: 1}},
		{[]int{2, 3, 11, 9}, []int{8, 3, 7, 7}, engine.ConvParams{Stride: 3, Pad: 3}},
		{[]int{2, 3, 4, 4}, []int{5, 3, 3, 3}, engine.ConvParams{Stride: 2, Pad: 2}},
		{[]int{3, 64, 40, 40}, []int{32, 64, 3, 3}, engine.ConvParams{Stride: 2, Pad: 1}}, // chunked
	} {
		t.Run(fmt.Sprintf("%v/%v/%+v", tc.x, tc.w, tc.p), func(t *testing.T) {
			rng := enginetest.NewRand(2)
			xh, wh, bh := enginetest.Rand(rng, engine.Numel(tc.x), 1), enginetest.Rand(rng, engine.Numel(tc.w), 0.2), enginetest.Rand(rng, tc.w[0], 1)
			old := maxColFloats
			maxColFloats = 1 << 14 // several chunks for the larger shapes
			defer func() { maxColFloats = old }()
			defer func(u float64) { minUseful = u }(minUseful)
			defer func(s int) { sharedB = s }(sharedB)
			for k := range 6 {
				withBias := k%2 == 1
				minUseful = []float64{2, 2, 0}[k/2] // im2col twice, then implicit
				sharedB = []int{1 << 30, 0, 0}[k/2] // B packed once, then per goroutine
				var bf, br engine.Tensor
				if withBias {
					bf, br = fast.FromHost(bh, tc.w[0]), slow.FromHost(bh, tc.w[0])
				}
				xf, wf, xr, wr := fast.FromHost(xh, tc.x...), fast.FromHost(wh, tc.w...), slow.FromHost(xh, tc.x...), slow.FromHost(wh, tc.w...)
				yf, yr := fast.Conv2D(xf, wf, bf, tc.p), slow.Conv2D(xr, wr, br, tc.p)
				if e, err := enginetest.MaxRelErr(fast.ToHost(yf), slow.ToHost(yr)); err != nil || e > enginetest.Tolerance {
					t.Errorf("bias=%v (minUseful %v): error %.3g %v", withBias, minUseful, e, err)
				}
				dyh := enginetest.Rand(rng, engine.Numel(yr.Shape()), 1)
				all := engine.Grads{Input: true, Params: true}
				dxf, dwf, dbf := fast.Conv2DBackward(xf, wf, fast.FromHost(dyh, yr.Shape()...), tc.p, withBias, all)
				dxr, dwr, dbr := slow.Conv2DBackward(xr, wr, slow.FromHost(dyh, yr.Shape()...), tc.p, withBias, all)
				for _, gr := range []struct {
					name string
					f, r engine.Tensor
				}{{"dx", dxf, dxr}, {"dw", dwf, dwr}, {"db", dbf, dbr}} {
					if (gr.f == nil) != (gr.r == nil) {
						t.Errorf("%s: nil %v, want nil %v", gr.name, gr.f == nil, gr.r == nil)
						continue
					}
					if gr.r == nil {
						continue
					}
					if e, err := enginetest.MaxRelErr(fast.ToHost(gr.f), slow.ToHost(gr.r)); err != nil || e > enginetest.Tolerance {
						t.Errorf("%s, bias=%v: error %.3g %v", gr.name, withBias, e, err)
					}
				}
			}
		})
	}
}

// TestWeightCache checks that packed weights are rebuilt after writes through Data and AddInto.
func TestWeightCache(t *testing.T) {
	b := New()
	x := b.FromHost([]float32{1, 2}, 1, 2, 1, 1)
	w := b.FromHost([]float32{1, 1}, 1, 2, 1, 1)
	conv := func() float32 { return b.ToHost(b.Conv2D(x, w, nil, engine.ConvParams{Stride: 1}))[0] }
	if got := conv(); got != 3 {
		t.Fatalf("conv = %v, want 3", got)
	}
	b.Data(w)[1] = 3
	if got := conv(); got != 7 {
		t.Errorf("after writing through Data: conv = %v, want 7", got)
	}
	b.AddInto(w, b.FromHost([]float32{1, 0}, 1, 2, 1, 1))
	if got := conv(); got != 8 {
		t.Errorf("after AddInto: conv = %v, want 8", got)
	}
}

// TestMaxPool compares MaxPool with the reference exactly (values, NaNs, winners' indices) on
// planes wide enough for the vector path, with ties, infinities and NaNs in the input, with the
// assembly and the plain-Go maxWindow.
func TestMaxPool(t *testing.T) {
	fast, slow := New(), ref.New()
	rng := enginetest.NewRand(3)
	for _, kern := range []struct {
		name string
		f    func([]float32, int, []int32, []float32, []float32)
	}{{"default", maxWindow}, {"go", goMaxWindow}} {
		for _, tc := range []struct {
			x []int
			p engine.PoolParams
		}{
			{[]int{2, 3, 40, 40}, engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
			{[]int{1, 2, 33, 35}, engine.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
			{[]int{1, 2, 20, 37}, engine.PoolParams{Kernel: 2, Stride: 2}},
			{[]int{1, 1, 24, 24}, engine.PoolParams{Kernel: 3, Stride: 1, Pad: 1}},
			{[]int{1, 2, 30, 50}, engine.PoolParams{Kernel: 5, Stride: 3, Pad: 2}},
		} {
			t.Run(fmt.Sprintf("%s/%v/%+v", kern.name, tc.x, tc.p), func(t *testing.T) {
				defer func(f func([]float32, int, []int32, []float32, []float32)) { maxWindow = f }(maxWindow)
				maxWindow = kern.f
				xh := make([]float32, engine.Numel(tc.x))
				for i := range xh {
					switch r := rng.IntN(40); {
					case r == 0:
						xh[i] = float32(math.NaN())
					case r == 1:
						xh[i] = float32(math.Inf(-1))
					case r == 2:
						xh[i] = float32(math.Copysign(0, -1))
					default:
						xh[i] = float32(rng.IntN(5)) // many ties
					}
				}
				yf, wf := fast.MaxPool(fast.FromHost(xh, tc.x...), tc.p)
				yr, wr := slow.MaxPool(slow.FromHost(xh, tc.x...), tc.p)
				gy, wy, gw, ww := fast.ToHost(yf), slow.ToHost(yr), fast.ToHost(wf), slow.ToHost(wr)
				if len(gy) != len(wy) {
					t.Fatalf("%d outputs, want %d", len(gy), len(wy))
				}
				bad := 0
				for i := range wy {
					if math.Float32bits(gy[i]) != math.Float32bits(wy[i]) || gw[i] != ww[i] {
						if bad++; bad <= 5 {
							t.Errorf("output %d: %v at %v, want %v at %v", i, gy[i], gw[i], wy[i], ww[i])
						}
					}
				}
			})
		}
	}
}

// TestOffKernels checks offKernel, and offKernel2 where there is one, against a float64 sum
// over an offset table with gaps and repeats.
func TestOffKernels(t *testing.T) {
	rng := enginetest.NewRand(4)
	b := enginetest.Rand(rng, 500, 1)
	for _, k := range []int{1, 2, 3, 8, 45} {
		a := enginetest.Rand(rng, k*mr, 1)
		off := make([]int32, k)
		maxOff := 0
		for p := range off {
			off[p] = int32(rng.IntN(len(b) - nr))
			maxOff = max(maxOff, int(off[p]))
		}
		const ldc = 40
		want := make([]float32, mr*nr)
		for r := 0; r < mr; r++ {
			for j := 0; j < nr; j++ {
				var s float64
				for p := 0; p < k; p++ {
					s += float64(a[p*mr+r]) * float64(b[int(off[p])+j])
				}
				want[r*nr+j] = float32(s)
			}
		}
		kernels := []struct {
			name string
			rows int
			f    func(int, []float32, []float32, []int32, int, []float32, int)
		}{{"offKernel", mr, offKernel}, {"goOffKernel", mr, goOffKernel}}
		if offKernel2 != nil {
			kernels = append(kernels, struct {
				name string
				rows int
				f    func(int, []float32, []float32, []int32, int, []float32, int)
			}{"offKernel2", 2, offKernel2})
		}
		for _, kern := range kernels {
			c := enginetest.Rand(rng, (mr-1)*ldc+nr, 1)
			kern.f(k, a, b, off, maxOff, c, ldc)
			got := make([]float32, kern.rows*nr)
			for r := 0; r < kern.rows; r++ {
				copy(got[r*nr:(r+1)*nr], c[r*ldc:])
			}
			if e, err := enginetest.MaxRelErr(got, want[:kern.rows*nr]); err != nil || e > 1e-5 {
				t.Errorf("%s, k=%d: error %.3g %v", kern.name, k, e, err)
			}
		}
	}
}

// TestParallel checks that parallel runs every task exactly once with worker indices below
// workers(), from several goroutines at once (the pool's caller and the fallback) and in
// succession (helpers spinning, then parked).
func TestParallel(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round, n := range []int{1, 2, 3, 17, 1000, 5, 64} {
				if round == 5 {
					time.Sleep(5 * time.Millisecond) // let the helpers park
				}
				counts := make([]atomic.Int32, n)
				var badWorker atomic.Bool
				parallel(n, func(w, i int) {
					if w < 0 || w >= workers() {
						badWorker.Store(true)
					}
					counts[i].Add(1)
				})
				for i := range counts {
					if c := counts[i].Load(); c != 1 {
						t.Errorf("n=%d: task %d ran %d times", n, i, c)
					}
				}
				if badWorker.Load() {
					t.Errorf("n=%d: a worker index outside [0, %d)", n, workers())
				}
			}
		}()
	}
	wg.Wait()
}
