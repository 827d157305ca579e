package nn

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// TestIntegralHeadGradients checks the integral head's parameter and input gradients, with and
// without presence and the variance regulariser, against central differences of L = Σ r·y + R.
func TestIntegralHeadGradients(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name, presence string
		spread, sigma  float64
	}{
		{"plain", "", 0, 0},
		{"presence", "fc", 0, 0},
		{"spread", "", 0.7, 1},
		{"presence and spread", "fc", 0.3, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := enginetest.NewRand(4)
			l := NewIntegralHead(b, "heatmap", 4, 3, tc.presence)
			l.SpreadWeight, l.SpreadSigma = tc.spread, tc.sigma
			for _, p := range l.Params() {
				copy(b.Data(p.Value), enginetest.Rand(rng, engine.Numel(p.Value.Shape()), 1))
			}
			x := enginetest.RandTensor(b, rng, 1, 2, 4, 3, 5)
			y := l.Forward(x, true)
			r := enginetest.Rand(rng, engine.Numel(y.Shape()), 1)
			dx := l.Backward(b.FromHost(r, y.Shape()...), true)
			loss := func() float64 {
				s := 0.0
				for i, v := range b.ToHost(l.Forward(x, true)) {
					s += float64(r[i]) * float64(v)
				}
				s += l.Spread()
				l.Free()
				return s
			}
			if tc.spread > 0 && loss() <= 0 {
				t.Fatalf("loss %v with the regulariser", loss())
			}
			checks := map[string][2]engine.Tensor{"x": {x, dx}}
			for _, p := range l.Params() {
				checks[p.Name] = [2]engine.Tensor{p.Value, p.Grad}
			}
			for name, c := range checks {
				checkFiniteDiff(t, "d"+name, b.Data(c[0]), b.ToHost(c[1]), loss)
			}
		})
	}
}

// checkFiniteDiff checks each got[i], the gradient of loss by val[i], against the central
// difference of loss with val[i] moved by ±0.01 (val is changed and restored in place).
func checkFiniteDiff(t *testing.T, name string, val, got []float32, loss func() float64) {
	t.Helper()
	const eps = 1e-2
	for i := range val {
		v := val[i]
		val[i] = v + eps
		up := loss()
		val[i] = v - eps
		down := loss()
		val[i] = v
		want := (up - down) / (2 * eps)
		if math.Abs(float64(got[i])-want) > 2e-3*(1+math.Abs(want)) {
			t.Errorf("%s[%d] = %.6f, finite difference %.6f", name, i, got[i], want)
		}
	}
}

// TestIntegralHeadTorch checks the head's outputs and gradients against PyTorch's
// (testdata/integral_torch.py: Conv2d 1×1, softmax, expectation, sigmoid of Linear on the mean).
func TestIntegralHeadTorch(t *testing.T) {
	var v struct {
		Shape       []int
		X, R, Y, Dx []float64
		ConvW       []float64 `json:"conv_w"`
		ConvB       []float64 `json:"conv_b"`
		FcW         []float64 `json:"fc_w"`
		FcB         []float64 `json:"fc_b"`
		DconvW      []float64 `json:"dconv_w"`
		DconvB      []float64 `json:"dconv_b"`
		DfcW        []float64 `json:"dfc_w"`
		DfcB        []float64 `json:"dfc_b"`
	}
	raw, err := os.ReadFile("testdata/integral.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	n, c, h, w, k := v.Shape[0], v.Shape[1], v.Shape[2], v.Shape[3], v.Shape[4]
	f32 := func(a []float64) []float32 {
		out := make([]float32, len(a))
		for i, x := range a {
			out[i] = float32(x)
		}
		return out
	}
	b := ref.New()
	l := NewIntegralHead(b, "heatmap", c, k, "fc")
	copy(b.Data(l.Weight.Value), f32(v.ConvW))
	copy(b.Data(l.Bias.Value), f32(v.ConvB))
	copy(b.Data(l.PWeight.Value), f32(v.FcW))
	copy(b.Data(l.PBias.Value), f32(v.FcB))
	x := b.FromHost(f32(v.X), n, c, h, w)
	y := l.Forward(x, true)
	dx := l.Backward(b.FromHost(f32(v.R), y.Shape()...), true)
	for _, c := range []struct {
		name      string
		got, want []float64
	}{
		{"y", f64(b.ToHost(y)), v.Y}, {"dx", f64(b.ToHost(dx)), v.Dx},
		{"dheatmap.weight", f64(b.ToHost(l.Weight.Grad)), v.DconvW}, {"dheatmap.bias", f64(b.ToHost(l.Bias.Grad)), v.DconvB},
		{"dfc.weight", f64(b.ToHost(l.PWeight.Grad)), v.DfcW}, {"dfc.bias", f64(b.ToHost(l.PBias.Grad)), v.DfcB},
	} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %d values, PyTorch %d", c.name, len(c.got), len(c.want))
		}
		for i := range c.got {
			if math.Abs(c.got[i]-c.want[i]) > 1e-5*(1+math.Abs(c.want[i])) {
				t.Errorf("%s[%d] = %.7f, PyTorch %.7f", c.name, i, c.got[i], c.want[i])
			}
		}
	}
}

func f64(a []float32) []float64 {
	out := make([]float64, len(a))
	for i, x := range a {
		out[i] = float64(x)
	}
	return out
}

// The expected positions of Heatmaps' softmaxes are Forward's outputs.
func TestIntegralHeatmapsMatchForward(t *testing.T) {
	b := ref.New()
	rng := enginetest.NewRand(5)
	l := NewIntegralHead(b, "heatmap", 3, 2, "")
	for _, p := range l.Params() {
		copy(b.Data(p.Value), enginetest.Rand(rng, engine.Numel(p.Value.Shape()), 1))
	}
	const n, h, w = 2, 4, 5
	x := enginetest.RandTensor(b, rng, 1, n, 3, h, w)
	y := b.ToHost(l.Forward(x, false))
	maps := l.Heatmaps(x)
	for i := range n {
		for k := range 2 {
			z := maps[(i*2+k)*h*w : (i*2+k+1)*h*w]
			m := z[0]
			for _, v := range z {
				m = max(m, v)
			}
			var sum, ex, ey float64
			for p, v := range z {
				e := math.Exp(float64(v - m))
				sum += e
				ex += e * float64(p%w) / (w - 1)
				ey += e * float64(p/w) / (h - 1)
			}
			if gx, gy := float64(y[i*4+2*k]), float64(y[i*4+2*k+1]); math.Abs(ex/sum-gx) > 1e-5 || math.Abs(ey/sum-gy) > 1e-5 {
				t.Errorf("input %d point %d: heatmap expectation (%v, %v), Forward (%v, %v)", i, k, ex/sum, ey/sum, gx, gy)
			}
		}
	}
}
