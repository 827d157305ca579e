package purego

import (
	"math"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// TestWinogradExported checks WinogradForward and WinogradBackwardData on plain buffers against
// the reference backend's Conv2D and input gradient. The outputs start as NaN, so a value
// either function leaves unwritten fails the comparison.
func TestWinogradExported(t *testing.T) {
	for _, g := range []WinogradGeom{
		{N: 2, C: 16, H: 8, W: 8, O: 16, Pad: 1},
		{N: 3, C: 5, H: 7, W: 6, O: 7, Pad: 0},
		{N: 3, C: 20, H: 13, W: 11, O: 24, Pad: 1},
		{N: 1, C: 9, H: 5, W: 9, O: 3, Pad: 2},
		{N: 1, C: 4, H: 4, W: 5, O: 6, Pad: 3}, // the input gradient crops (padding 2−3)
	} {
		oh, ow := g.Out()
		x, w, bias, dy, wantY, wantDX := refCase(g)

		y := nans(g.N * g.O * oh * ow)
		WinogradForward(g, x, WinogradFilters(w, g.O, g.C, false), bias, y)
		dx := nans(len(x))
		WinogradBackwardData(g, dy, WinogradFilters(w, g.O, g.C, true), dx)
		for _, c := range []struct {
			what      string
			got, want []float32
		}{{"forward", y, wantY}, {"backward data", dx, wantDX}} {
			e, err := enginetest.MaxRelErr(c.got, c.want)
			if err != nil || e > enginetest.Tolerance {
				t.Errorf("%+v %s: relative error %g (%v), want ≤ %g", g, c.what, e, err, enginetest.Tolerance)
			}
		}
	}
}

func nans(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}

// TestWinogradExportedChecks checks that wrong buffer lengths and geometries panic with a
// message naming the function.
func TestWinogradExportedChecks(t *testing.T) {
	g := WinogradGeom{N: 1, C: 2, H: 6, W: 6, O: 3, Pad: 1}
	x, y := make([]float32, 72), make([]float32, 108)
	u, ub := WinogradFilters(make([]float32, 54), 3, 2, false), WinogradFilters(make([]float32, 54), 3, 2, true)
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"short input", "WinogradForward", func() { WinogradForward(g, x[:70], u, nil, y) }},
		{"backward filters", "WinogradForward", func() {
			WinogradForward(WinogradGeom{N: 1, C: 2, H: 6, W: 6, O: 9, Pad: 1}, x, ub, nil, make([]float32, 324))
		}},
		{"short bias", "WinogradForward", func() { WinogradForward(g, x, u, []float32{1}, y) }},
		{"short output", "WinogradForward", func() { WinogradForward(g, x, u, nil, y[:100]) }},
		{"negative padding", "WinogradForward", func() { WinogradForward(WinogradGeom{N: 1, C: 2, H: 6, W: 6, O: 3, Pad: -1}, x, u, nil, y) }},
		{"short gradient", "WinogradBackwardData", func() { WinogradBackwardData(g, y[:100], ub, x) }},
		{"short dx", "WinogradBackwardData", func() { WinogradBackwardData(g, y, ub, x[:1]) }},
		{"weights", "WinogradFilters", func() { WinogradFilters(make([]float32, 53), 3, 2, false) }},
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

// TestWinogradUse checks the exported rule against the backend's own for both passes.
func TestWinogradUse(t *testing.T) {
	for _, g := range []WinogradGeom{
		{N: 2, C: 64, H: 32, W: 32, O: 64, Pad: 1},
		{N: 1, C: 8, H: 32, W: 32, O: 64, Pad: 1},
		{N: 1, C: 64, H: 4, W: 4, O: 64, Pad: 1},
	} {
		for _, m := range []Winograd{WinogradAuto, WinogradOff, WinogradOn} {
			b := New()
			b.SetWinograd(m)
			if got, want := m.Use(g), b.useWinograd(g.conv()); got != want {
				t.Errorf("%v.Use(%+v) = %v, backend's rule %v", m, g, got, want)
			}
			if got, want := m.UseBackward(g), b.useWinograd(g.back()); got != want {
				t.Errorf("%v.UseBackward(%+v) = %v, backend's rule %v", m, g, got, want)
			}
		}
	}
	if !WinogradAuto.Use(WinogradGeom{N: 2, C: 64, H: 32, W: 32, O: 64, Pad: 1}) || WinogradOff.Use(WinogradGeom{N: 2, C: 64, H: 32, W: 32, O: 64, Pad: 1}) {
		t.Error("auto should take, and off refuse, a 64-channel 32×32 layer")
	}
}

// refCase draws g's input, weights, bias and output gradient from a seed fixed by g, and
// returns them with the ref backend's output and input gradient.
func refCase(g WinogradGeom) (x, w, bias, dy, wantY, wantDX []float32) {
	rng := enginetest.NewRand(uint64(g.N*1000 + g.C*10 + g.Pad))
	oh, ow := g.Out()
	x = enginetest.Rand(rng, g.N*g.C*g.H*g.W, 1)
	w = enginetest.Rand(rng, g.O*g.C*9, 0.3)
	bias = enginetest.Rand(rng, g.O, 1)
	dy = enginetest.Rand(rng, g.N*g.O*oh*ow, 1)
	r := ref.New()
	xs, ws, p := []int{g.N, g.C, g.H, g.W}, []int{g.O, g.C, 3, 3}, engine.ConvParams{Stride: 1, Pad: g.Pad}
	xr, wr := r.FromHost(x, xs...), r.FromHost(w, ws...)
	wantY = r.ToHost(r.Conv2D(xr, wr, r.FromHost(bias, g.O), p))
	dxr, _, _ := r.Conv2DBackward(xr, wr, r.FromHost(dy, g.N, g.O, oh, ow), p, false, engine.Grads{Input: true})
	return x, w, bias, dy, wantY, r.ToHost(dxr)
}
