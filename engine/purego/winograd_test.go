package purego

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// withWinograd returns a backend whose 3×3 stride-1 convolutions all run as Winograd.
func withWinograd() *Backend {
	b := New()
	b.SetWinograd(WinogradOn)
	return b
}

// TestWinogradAgainstRef runs the conformance suite with every 3×3 stride-1 convolution on the
// Winograd path, with the assembly and the plain-Go kernels (micro-kernel and transforms).
func TestWinogradAgainstRef(t *testing.T) {
	t.Run(Kernel(), func(t *testing.T) { enginetest.CompareBackends(t, withWinograd(), ref.New()) })
	if Kernel() == "go" {
		return
	}
	t.Run("go", func(t *testing.T) {
		mk, in, out := microKernel, winoIn8, winoOut8
		defer func() { microKernel, winoIn8, winoOut8 = mk, in, out }()
		withWino16(t, false)
		microKernel, winoIn8, winoOut8 = goKernel, goWinoIn8, goWinoOut8
		enginetest.CompareBackends(t, withWinograd(), ref.New())
	})
}

// TestWinoTransforms checks winoIn8 and winoOut8, and their plain-Go versions, against the
// transforms Bᵀ d B and Aᵀ M A computed in float64 from the matrices, on eight lanes at
// scattered offsets and strides wider than eight.
func TestWinoTransforms(t *testing.T) {
	bt := [winoA][winoA]float64{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	}
	at := [winoM][winoA]float64{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	}
	rng := enginetest.NewRand(7)
	const ld, stride = 29, 13
	x := enginetest.Rand(rng, 403, 1) // lane 4 reads up to 250 + 5·29 + 7 = 402
	off := []int32{0, 7, 100, 3, 250, 180, 33, 61}
	m := enginetest.Rand(rng, (winoP-1)*stride+8, 1)
	const bias = 0.25
	for _, k := range []struct {
		name string
		in   func([]float32, []int32, int, []float32, int, *[winoP * 8]float32)
		out  func([]float32, int, float32, *[winoM * winoM * 8]float32, *[winoP * 8]float32)
	}{{"default", winoIn8, winoOut8}, {"go", goWinoIn8, goWinoOut8}} {
		var tmp [winoP * 8]float32
		dst := enginetest.Rand(rng, (winoP-1)*stride+8, 1)
		k.in(x, off, ld, dst, stride, &tmp)
		var out [winoM * winoM * 8]float32
		k.out(m, stride, bias, &out, &tmp)
		var gotIn, wantIn, gotOut, wantOut []float32
		for l, o := range off {
			for i := range winoA {
				for j := range winoA {
					var s float64 // (Bᵀ d B)[i][j]
					for r := range winoA {
						for c := range winoA {
							s += bt[i][r] * float64(x[int(o)+r*ld+c]) * bt[j][c]
						}
					}
					gotIn, wantIn = append(gotIn, dst[(i*winoA+j)*stride+l]), append(wantIn, float32(s))
				}
			}
			for i := range winoM {
				for j := range winoM {
					s := float64(bias) // (Aᵀ M A)[i][j] + bias
					for r := range winoA {
						for c := range winoA {
							s += at[i][r] * float64(m[(r*winoA+c)*stride+l]) * at[j][c]
						}
					}
					gotOut, wantOut = append(gotOut, out[(i*winoM+j)*8+l]), append(wantOut, float32(s))
				}
			}
		}
		if e, err := enginetest.MaxRelErr(gotIn, wantIn); err != nil || e > 1e-6 {
			t.Errorf("%s winoIn8: error %.3g of max |want|, %v", k.name, e, err)
		}
		if e, err := enginetest.MaxRelErr(gotOut, wantOut); err != nil || e > 1e-6 {
			t.Errorf("%s winoOut8: error %.3g of max |want|, %v", k.name, e, err)
		}
	}
}

// recipeLayers are the 3×3 stride-1 convolutions of the detector's network, a ResNet-18 of base
// width 32 with three stages, at its 128 px input (layer1, layer2, layer3; every block's
// stride-1 convolutions have these shapes), at batch 2.
var recipeLayers = []struct {
	name string
	x, w []int
}{
	{"layer1-32x32", []int{2, 32, 32, 32}, []int{32, 32, 3, 3}},
	{"layer2-16x16", []int{2, 64, 16, 16}, []int{64, 64, 3, 3}},
	{"layer3-8x8", []int{2, 128, 8, 8}, []int{128, 128, 3, 3}},
}

// TestWinogradShapes compares Winograd's forward pass (with and without bias) and input
// gradient with the reference backend on the recipe's layers and on shapes that leave partial
// tiles: sides that are not multiples of 4, batches of 1 and 3, C ≠ O, channel counts that are
// not multiples of the micro-kernel's 6 rows, padding 0 to 3, outputs smaller than one tile,
// and more tiles than one 16-column panel holds. The weight gradient, which Winograd does not
// compute, must still come back right beside it.
func TestWinogradShapes(t *testing.T) {
	type shape struct {
		x, w []int
		pad  int
	}
	shapes := []shape{
		{[]int{1, 3, 7, 5}, []int{5, 3, 3, 3}, 1},
		{[]int{3, 17, 13, 11}, []int{9, 17, 3, 3}, 1},
		{[]int{1, 8, 10, 14}, []int{20, 8, 3, 3}, 0},
		{[]int{3, 6, 6, 6}, []int{7, 6, 3, 3}, 2},
		{[]int{2, 5, 9, 7}, []int{4, 5, 3, 3}, 3},
		{[]int{1, 16, 1, 1}, []int{16, 16, 3, 3}, 1},
		{[]int{1, 4, 3, 3}, []int{2, 4, 3, 3}, 0},
		{[]int{3, 12, 30, 22}, []int{18, 12, 3, 3}, 1},
		{[]int{1, 32, 33, 35}, []int{48, 32, 3, 3}, 1},
	}
	for _, l := range recipeLayers {
		shapes = append(shapes, shape{l.x, l.w, 1})
	}
	fast, slow := withWinograd(), ref.New()
	for _, tc := range shapes {
		p := engine.ConvParams{Stride: 1, Pad: tc.pad}
		t.Run(fmt.Sprintf("%v/%v/pad%d", tc.x, tc.w, tc.pad), func(t *testing.T) {
			g := convShapes("test", tc.x, tc.w, p)
			if !fast.useWinograd(g) {
				t.Fatal("WinogradOn does not pick this convolution")
			}
			rng := enginetest.NewRand(5)
			xh := enginetest.Rand(rng, engine.Numel(tc.x), 1)
			wh := enginetest.Rand(rng, engine.Numel(tc.w), float32(math.Sqrt(2/float64(tc.w[1]*9))))
			bh := enginetest.Rand(rng, tc.w[0], 0.5)
			xf, wf, bf := fast.FromHost(xh, tc.x...), fast.FromHost(wh, tc.w...), fast.FromHost(bh, tc.w[0])
			xr, wr, br := slow.FromHost(xh, tc.x...), slow.FromHost(wh, tc.w...), slow.FromHost(bh, tc.w[0])
			for _, withBias := range []bool{false, true} {
				var bfi, bri engine.Tensor
				if withBias {
					bfi, bri = bf, br
				}
				yf, yr := fast.Conv2D(xf, wf, bfi, p), slow.Conv2D(xr, wr, bri, p)
				if e, err := enginetest.MaxRelErr(fast.ToHost(yf), slow.ToHost(yr)); err != nil || e > enginetest.Tolerance {
					t.Errorf("y (bias %v): error %.3g of max |ref|, %v", withBias, e, err)
				}
			}
			dys := []int{tc.x[0], tc.w[0], g.oh, g.ow}
			dyh := enginetest.Rand(rng, engine.Numel(dys), 1)
			for _, gr := range []engine.Grads{{Input: true}, {Input: true, Params: true}} {
				dxf, dwf, _ := fast.Conv2DBackward(xf, wf, fast.FromHost(dyh, dys...), p, false, gr)
				dxr, dwr, _ := slow.Conv2DBackward(xr, wr, slow.FromHost(dyh, dys...), p, false, gr)
				if e, err := enginetest.MaxRelErr(fast.ToHost(dxf), slow.ToHost(dxr)); err != nil || e > enginetest.Tolerance {
					t.Errorf("dx %+v: error %.3g of max |ref|, %v", gr, e, err)
				}
				if (dwf == nil) != !gr.Params {
					t.Errorf("dw %+v: nil is %v", gr, dwf == nil)
				} else if dwf != nil {
					if e, err := enginetest.MaxRelErr(fast.ToHost(dwf), slow.ToHost(dwr)); err != nil || e > enginetest.Tolerance {
						t.Errorf("dw %+v: error %.3g of max |ref|, %v", gr, e, err)
					}
				}
			}
		})
	}
}

// conv64 is a direct 3×3 stride-1 convolution in float64: x N×C×H×W, w O×C×3×3, padding pad;
// with back, the input gradient's convolution instead (x is dy, N×O×OH×OW, w rotated by 180°
// and read as C×O×3×3, padding 2−pad).
func conv64(x, w []float32, n, c, h, wd, o, pad int) []float64 {
	oh, ow := h+2*pad-2, wd+2*pad-2
	y := make([]float64, n*o*oh*ow)
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			out := y[(i*o+oc)*oh*ow : (i*o+oc+1)*oh*ow]
			for ic := 0; ic < c; ic++ {
				plane := x[(i*c+ic)*h*wd : (i*c+ic+1)*h*wd]
				k := w[(oc*c+ic)*9 : (oc*c+ic+1)*9]
				for ki := range 3 {
					for kj := range 3 {
						kv := float64(k[ki*3+kj])
						for oy := 0; oy < oh; oy++ {
							iy := oy + ki - pad
							if iy < 0 || iy >= h {
								continue
							}
							for ox := 0; ox < ow; ox++ {
								if ix := ox + kj - pad; ix >= 0 && ix < wd {
									out[oy*ow+ox] += kv * float64(plane[iy*wd+ix])
								}
							}
						}
					}
				}
			}
		}
	}
	return y
}

// rotSwap returns w (O×C×3×3) rotated by 180° with its channel axes swapped (C×O×3×3): the
// filters of a convolution's input gradient.
func rotSwap(w []float32, o, c int) []float32 {
	r := make([]float32, len(w))
	for oc := 0; oc < o; oc++ {
		for ic := 0; ic < c; ic++ {
			for k := range 9 {
				r[(ic*o+oc)*9+8-k] = w[(oc*c+ic)*9+k]
			}
		}
	}
	return r
}

// errors64 returns the largest absolute error of got against want, and that error relative to
// want's largest magnitude (enginetest.MaxRelErr's measure).
func errors64(got []float32, want []float64) (abs, rel float64) {
	var scale float64
	for i, w := range want {
		abs = math.Max(abs, math.Abs(float64(got[i])-w))
		scale = math.Max(scale, math.Abs(w))
	}
	return abs, abs / scale
}

// winoTolerance is the error TestWinogradError accepts of Winograd on the recipe's layers,
// relative to the output's largest magnitude: a little over the largest measured (7.75e-6,
// layer3's 128 channels), which is about seven times the direct convolution's largest
// (1.05e-6, layer3's forward pass).
const winoTolerance = 1e-5

// directTolerance is the same bound for the direct GEMM path, a little over its largest.
const directTolerance = 1.5e-6

// TestWinogradError measures Winograd's float32 error, and the direct GEMM's beside it, against
// a float64 convolution on the recipe's layers with He-initialised weights and unit inputs,
// forward and for the input gradient, and logs them (go test -run WinogradError -v). Each must
// stay within winoTolerance (the direct path within directTolerance), a bound ten times
// tighter than enginetest.Tolerance.
func TestWinogradError(t *testing.T) {
	wino, direct := withWinograd(), New()
	direct.SetWinograd(WinogradOff)
	for _, l := range recipeLayers {
		n, c, h, w, o := l.x[0], l.x[1], l.x[2], l.x[3], l.w[0]
		rng := enginetest.NewRand(6)
		xh := enginetest.Rand(rng, engine.Numel(l.x), 1)
		wh := enginetest.Rand(rng, engine.Numel(l.w), float32(math.Sqrt(2/float64(c*9))))
		dyh := enginetest.Rand(rng, n*o*h*w, 1)
		p := engine.ConvParams{Stride: 1, Pad: 1}
		want := conv64(xh, wh, n, c, h, w, o, 1)
		wantDx := conv64(dyh, rotSwap(wh, o, c), n, o, h, w, c, 1)
		for _, be := range []struct {
			name string
			b    *Backend
			tol  float64
		}{{"winograd", wino, winoTolerance}, {"direct", direct, directTolerance}} {
			x, wt, dy := be.b.FromHost(xh, l.x...), be.b.FromHost(wh, l.w...), be.b.FromHost(dyh, n, o, h, w)
			abs, rel := errors64(be.b.ToHost(be.b.Conv2D(x, wt, nil, p)), want)
			dx, _, _ := be.b.Conv2DBackward(x, wt, dy, p, false, engine.Grads{Input: true})
			absDx, relDx := errors64(be.b.ToHost(dx), wantDx)
			t.Logf("%-13s %-8s y: max abs %.2e, rel %.2e; dx: max abs %.2e, rel %.2e", l.name, be.name, abs, rel, absDx, relDx)
			if rel > be.tol || relDx > be.tol {
				t.Errorf("%s %s: relative error y %.3g, dx %.3g, want ≤ %.0e", l.name, be.name, rel, relDx, be.tol)
			}
		}
	}
}

// TestWinogradCache checks that the transformed filters are kept between calls and rebuilt after
// writes through Data and AddInto, for the forward pass and the input gradient alike.
func TestWinogradCache(t *testing.T) {
	b := withWinograd()
	x := b.FromHost([]float32{1}, 1, 1, 1, 1)
	wh := make([]float32, 9)
	wh[4] = 2 // the centre tap: y = 2x, dx = 2dy
	w := b.FromHost(wh, 1, 1, 3, 3)
	p := engine.ConvParams{Stride: 1, Pad: 1}
	check := func(when string, want float32) {
		t.Helper()
		y := b.ToHost(b.Conv2D(x, w, nil, p))[0]
		dx, _, _ := b.Conv2DBackward(x, w, b.FromHost([]float32{1}, 1, 1, 1, 1), p, false, engine.Grads{Input: true})
		if d := b.ToHost(dx)[0]; math.Abs(float64(y-want)) > 1e-6 || math.Abs(float64(d-want)) > 1e-6 {
			t.Errorf("%s: y = %v, dx = %v, want %v", when, y, d, want)
		}
	}
	check("first", 2)
	b.mu.Lock()
	fwd, bwd := b.packed[weightKey{w, formWinoFwd}], b.packed[weightKey{w, formWinoBwd}]
	b.mu.Unlock()
	if fwd == nil || bwd == nil {
		t.Fatalf("transformed filters not cached: forward %v, backward %v", fwd != nil, bwd != nil)
	}
	check("again", 2)
	b.mu.Lock()
	same := b.packed[weightKey{w, formWinoFwd}] == fwd && b.packed[weightKey{w, formWinoBwd}] == bwd
	b.mu.Unlock()
	if !same {
		t.Error("the transformed filters were rebuilt for unchanged weights")
	}
	b.Data(w)[4] = 3
	check("after writing through Data", 3)
	b.AddInto(w, b.FromHost([]float32{0, 0, 0, 0, 1, 0, 0, 0, 0}, 1, 1, 3, 3))
	check("after AddInto", 4)
}

// TestUseWinograd checks the selection rule and the modes that force either path.
func TestUseWinograd(t *testing.T) {
	conv := func(n, c, o, side, k, stride int) convGeom {
		return convShapes("test", []int{n, c, side, side}, []int{o, c, k, k}, engine.ConvParams{Stride: stride, Pad: k / 2})
	}
	for _, tc := range []struct {
		name          string
		g             convGeom
		auto, on, off bool
	}{
		{"layer1 32x32 batch 1", conv(1, 32, 32, 32, 3, 1), true, true, false},
		{"layer3 8x8 batch 8", conv(8, 128, 128, 8, 3, 1), true, true, false},
		{"layer3 8x8 batch 2: 8 tiles", conv(2, 128, 128, 8, 3, 1), false, true, false},
		{"8 input channels", conv(4, 8, 32, 32, 3, 1), false, true, false},
		{"8 output channels", conv(4, 32, 8, 32, 3, 1), false, true, false},
		{"output 7x7", conv(32, 64, 64, 7, 3, 1), false, true, false},
		{"stride 2", conv(8, 32, 64, 32, 3, 2), false, false, false},
		{"1x1", conv(8, 32, 64, 32, 1, 1), false, false, false},
		{"7x7", conv(8, 32, 64, 32, 7, 1), false, false, false},
		// enginetest's 3x3s1p1oddtiles: the conformance suite reaches Winograd in auto mode too.
		{"13x11, 36 tiles", convShapes("test", []int{3, 20, 13, 11}, []int{24, 20, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}), true, true, false},
	} {
		for _, m := range []struct {
			mode Winograd
			want bool
		}{{WinogradAuto, tc.auto}, {WinogradOn, tc.on}, {WinogradOff, tc.off}} {
			b := New()
			b.SetWinograd(m.mode)
			if got := b.useWinograd(tc.g); got != m.want {
				t.Errorf("%s, %v: useWinograd = %v, want %v", tc.name, m.mode, got, m.want)
			}
		}
	}
}

func TestParseWinograd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Winograd
		ok   bool
	}{{"", WinogradAuto, true}, {"auto", WinogradAuto, true}, {"on", WinogradOn, true}, {"off", WinogradOff, true}, {"yes", 0, false}, {"ON", 0, false}} {
		got, err := ParseWinograd(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseWinograd(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, m := range []Winograd{WinogradAuto, WinogradOff, WinogradOn} {
		if got, err := ParseWinograd(m.String()); err != nil || got != m {
			t.Errorf("ParseWinograd(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
}

// TestWinogradEnv checks that engine.Open("go") takes its mode from CATMARK_WINOGRAD and rejects
// a value it does not know, naming the variable.
func TestWinogradEnv(t *testing.T) {
	t.Setenv(WinogradEnv, "off")
	be, err := engine.Open("go")
	if err != nil {
		t.Fatal(err)
	}
	if m := be.(*Backend).winograd; m != WinogradOff {
		t.Errorf("%s=off: mode %v", WinogradEnv, m)
	}
	t.Setenv(WinogradEnv, "fast")
	if _, err := engine.Open("go"); err == nil || !strings.Contains(err.Error(), WinogradEnv) || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("%s=fast: error %v, want one naming the variable and the value", WinogradEnv, err)
	}
}

// BenchmarkWinoTransforms times one call of winoIn8 and of winoOut8 (eight tiles of one
// channel) on data in cache.
func BenchmarkWinoTransforms(b *testing.B) {
	const ld, stride = 34, 32*nr + nr
	x := enginetest.Rand(enginetest.NewRand(8), 34*34+8, 1)
	off := []int32{0, 4, 8, 12, 16, 20, 24, 28}
	dst := make([]float32, winoP*stride)
	var tmp [winoP * 8]float32
	var out [winoM * winoM * 8]float32
	b.Run("in", func(b *testing.B) {
		for b.Loop() {
			winoIn8(x, off, ld, dst, stride, &tmp)
		}
	})
	b.Run("out", func(b *testing.B) {
		for b.Loop() {
			winoOut8(dst, stride, 1, &out, &tmp)
		}
	})
}
