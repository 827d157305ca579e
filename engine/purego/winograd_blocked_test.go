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

// toBlocked returns the N×C×H×W plain tensor x blocked by bs channels, with pad in the padding
// channels.
func toBlocked(x []float32, n, c, h, w, bs int, pad float32) []float32 {
	cbs := (c + bs - 1) / bs
	out := make([]float32, blockedLen(n, c, h, w, bs))
	for i := range out {
		out[i] = pad
	}
	for i := range n {
		for ci := range c {
			for p := range h * w {
				out[((i*cbs+ci/bs)*h*w+p)*bs+ci%bs] = x[(i*c+ci)*h*w+p]
			}
		}
	}
	return out
}

// fromBlocked returns the plain N×C×H×W tensor in the blocked x, and the largest magnitude in
// its padding channels.
func fromBlocked(x []float32, n, c, h, w, bs int) (plain []float32, padMax float64) {
	cbs := (c + bs - 1) / bs
	plain = make([]float32, n*c*h*w)
	for i := range n {
		for ci := range cbs * bs {
			for p := range h * w {
				v := x[((i*cbs+ci/bs)*h*w+p)*bs+ci%bs]
				if ci < c {
					plain[(i*c+ci)*h*w+p] = v
				} else {
					padMax = math.Max(padMax, math.Abs(float64(v)))
					if v != v {
						padMax = math.Inf(1)
					}
				}
			}
		}
	}
	return plain, padMax
}

// blockedGeoms are the geometries the blocked tests run: the detector's 3×3 layers at batch 2,
// and odd ones (channels not a multiple of the block, sides not a multiple of 4, padding 0 to
// 3, batch 1 and 3).
func blockedGeoms() []WinogradGeom {
	gs := []WinogradGeom{
		{N: 3, C: 5, H: 7, W: 6, O: 7, Pad: 0},
		{N: 1, C: 20, H: 13, W: 11, O: 24, Pad: 1},
		{N: 3, C: 9, H: 5, W: 9, O: 3, Pad: 1},
		{N: 1, C: 17, H: 10, W: 19, O: 33, Pad: 0},
		{N: 3, C: 40, H: 6, W: 14, O: 50, Pad: 1},
		{N: 1, C: 9, H: 5, W: 9, O: 12, Pad: 2},
		{N: 1, C: 4, H: 4, W: 5, O: 6, Pad: 3}, // the input gradient crops (padding 2−3)
	}
	for _, l := range enginetest.DetectorConv3x3 {
		gs = append(gs, WinogradGeom{N: 2, C: l.C, H: l.Side, W: l.Side, O: l.C, Pad: 1})
	}
	return gs
}

// TestWinogradBlocked checks WinogradForwardBlocked and WinogradBackwardDataBlocked, with blocks
// of 8 and 16 channels, against the reference backend (relative error at most
// enginetest.Tolerance, 1e-4 of the largest magnitude) and against the plain-layout functions
// (at most 1e-6: the same arithmetic, so only the order of a few additions may differ). The
// inputs' padding channels hold NaN, which must not reach the results; the outputs start as
// NaN, so a value left unwritten fails, and their padding channels must come out zero.
func TestWinogradBlocked(t *testing.T) {
	for _, g := range blockedGeoms() {
		oh, ow := g.Out()
		x, w, bias, dy, refY, refDX := refCase(g)

		u, ub := WinogradFilters(w, g.O, g.C, false), WinogradFilters(w, g.O, g.C, true)
		plainY := make([]float32, g.N*g.O*oh*ow)
		WinogradForward(g, x, u, bias, plainY)
		plainDX := make([]float32, len(x))
		WinogradBackwardData(g, dy, ub, plainDX)

		nan := float32(math.NaN())
		for _, bs := range []int{8, 16} {
			t.Run(fmt.Sprintf("%+v/block%d", g, bs), func(t *testing.T) {
				yb := nans(blockedLen(g.N, g.O, oh, ow, bs))
				WinogradForwardBlocked(g, bs, toBlocked(x, g.N, g.C, g.H, g.W, bs, nan), u, bias, yb)
				dxb := nans(blockedLen(g.N, g.C, g.H, g.W, bs))
				WinogradBackwardDataBlocked(g, bs, toBlocked(dy, g.N, g.O, oh, ow, bs, nan), ub, dxb)
				y, yPad := fromBlocked(yb, g.N, g.O, oh, ow, bs)
				dx, dxPad := fromBlocked(dxb, g.N, g.C, g.H, g.W, bs)
				if yPad != 0 || dxPad != 0 {
					t.Errorf("padding channels hold up to %g (forward) and %g (backward data), want 0", yPad, dxPad)
				}
				for _, c := range []struct {
					what      string
					got, want []float32
					tol       float64
				}{
					{"forward against ref", y, refY, enginetest.Tolerance},
					{"backward data against ref", dx, refDX, enginetest.Tolerance},
					{"forward against plain", y, plainY, 1e-6},
					{"backward data against plain", dx, plainDX, 1e-6},
				} {
					e, err := enginetest.MaxRelErr(c.got, c.want)
					if err != nil || e > c.tol {
						t.Errorf("%s: relative error %g (%v), want ≤ %g", c.what, e, err, c.tol)
					}
				}
			})
		}
	}
}

// TestWinogradBlockedGoKernels runs one odd geometry with the pure-Go transforms, transposes and
// micro-kernel (what non-amd64 CPUs and CPUs without AVX2 and FMA run) against the reference.
func TestWinogradBlockedGoKernels(t *testing.T) {
	saved := [...]any{winoIn8, winoOut8, transpose8, microKernel}
	savedStore := storeBlocked8
	winoIn8, winoOut8, transpose8, microKernel, storeBlocked8 = goWinoIn8, goWinoOut8, goTranspose8, goKernel, nil
	defer func() {
		storeBlocked8 = savedStore
		winoIn8 = saved[0].(func([]float32, []int32, int, []float32, int, *[winoP * 8]float32))
		winoOut8 = saved[1].(func([]float32, int, float32, *[winoM * winoM * 8]float32, *[winoP * 8]float32))
		transpose8 = saved[2].(func([]float32, int, []float32, int))
		microKernel = saved[3].(func(int, []float32, []float32, []float32, int))
	}()
	withWino16(t, false)
	g := WinogradGeom{N: 3, C: 19, H: 18, W: 14, O: 21, Pad: 1} // whole tiles and partial ones
	rng := enginetest.NewRand(11)
	oh, ow := g.Out()
	x, w := enginetest.Rand(rng, g.N*g.C*g.H*g.W, 1), enginetest.Rand(rng, g.O*g.C*9, 0.3)
	r := ref.New()
	want := r.ToHost(r.Conv2D(r.FromHost(x, g.N, g.C, g.H, g.W), r.FromHost(w, g.O, g.C, 3, 3), nil, engine.ConvParams{Stride: 1, Pad: 1}))
	for _, bs := range []int{8, 16} {
		yb := nans(blockedLen(g.N, g.O, oh, ow, bs))
		WinogradForwardBlocked(g, bs, toBlocked(x, g.N, g.C, g.H, g.W, bs, 0), WinogradFilters(w, g.O, g.C, false), nil, yb)
		y, pad := fromBlocked(yb, g.N, g.O, oh, ow, bs)
		if e, err := enginetest.MaxRelErr(y, want); err != nil || e > enginetest.Tolerance || pad != 0 {
			t.Errorf("block %d: relative error %g (%v), padding up to %g", bs, e, err, pad)
		}
	}
}

// TestTranspose8 checks transpose8 (the assembly where the CPU has it) against goTranspose8 with
// strides other than 8.
func TestTranspose8(t *testing.T) {
	src := enginetest.Rand(enginetest.NewRand(12), 8*13, 1)
	got, want := nans(8*21), nans(8*21)
	transpose8(src, 13, got, 21)
	goTranspose8(src, 13, want, 21)
	for i := range 8 {
		for j := range 8 {
			if want[j*21+i] != src[i*13+j] {
				t.Fatalf("goTranspose8: dst[%d][%d] = %v, want %v", j, i, want[j*21+i], src[i*13+j])
			}
		}
	}
	for i := range got {
		if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("transpose8 value %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestWinogradBlockedChecks checks that a wrong block or buffer length panics naming the
// function.
func TestWinogradBlockedChecks(t *testing.T) {
	g := WinogradGeom{N: 1, C: 2, H: 6, W: 6, O: 3, Pad: 1}
	x, y := make([]float32, 6*6*8), make([]float32, 6*6*8)
	u, ub := WinogradFilters(make([]float32, 54), 3, 2, false), WinogradFilters(make([]float32, 54), 3, 2, true)
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"block 4", "WinogradForwardBlocked", func() { WinogradForwardBlocked(g, 4, x, u, nil, y) }},
		{"plain-length input", "WinogradForwardBlocked", func() { WinogradForwardBlocked(g, 8, x[:72], u, nil, y) }},
		{"short output", "WinogradForwardBlocked", func() { WinogradForwardBlocked(g, 8, x, u, nil, y[:100]) }},
		{"block 16 lengths", "WinogradBackwardDataBlocked", func() { WinogradBackwardDataBlocked(g, 16, y, ub, x) }},
		{"forward filters", "WinogradBackwardDataBlocked", func() { WinogradBackwardDataBlocked(g, 8, y, u, x) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, c.want) {
					t.Errorf("panic %q, want one naming %s", msg, c.want)
				}
			}()
			c.f()
		})
	}
}
