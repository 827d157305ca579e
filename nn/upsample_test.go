package nn

import (
	"slices"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

func TestUpsample2xForward(t *testing.T) {
	b := ref.New()
	x := b.FromHost([]float32{1, 2, 3, 4, 5, 6}, 1, 1, 2, 3)
	y := NewUpsample2x(b).Forward(x, false)
	want := []float32{
		1, 1, 2, 2, 3, 3,
		1, 1, 2, 2, 3, 3,
		4, 4, 5, 5, 6, 6,
		4, 4, 5, 5, 6, 6,
	}
	if got := b.ToHost(y); !slices.Equal(got, want) || !slices.Equal(y.Shape(), []int{1, 1, 4, 6}) {
		t.Fatalf("Upsample2x = %v %v, want %v [1 1 4 6]", got, y.Shape(), want)
	}
}

// TestUpsampleSumGradients checks a small feature-pyramid join, x + Upsample2x(conv(x, stride
// 2)), and the upsampling alone, against central differences of L = Σ r·y.
func TestUpsampleSumGradients(t *testing.T) {
	b := ref.New()
	rng := enginetest.NewRand(7)
	conv := NewConv2d(b, "deep", 3, 3, 3, 2, 1, true)
	copy(b.Data(conv.Weight.Value), enginetest.Rand(rng, 3*3*9, 0.5))
	copy(b.Data(conv.Bias.Value), enginetest.Rand(rng, 3, 0.5))
	lateral := NewConv2d(b, "lateral", 3, 3, 1, 1, 0, false)
	copy(b.Data(lateral.Weight.Value), enginetest.Rand(rng, 3*3, 0.5))
	for _, tc := range []struct {
		name string
		l    Layer
	}{
		{"upsample", NewUpsample2x(b)},
		{"sum", NewSum(b, true, NewSequential(b, conv, NewUpsample2x(b)))},
		{"sum without identity", NewSum(b, false, NewSequential(b, conv, NewUpsample2x(b)), lateral)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := enginetest.RandTensor(b, rng, 1, 2, 3, 4, 6)
			y := tc.l.Forward(x, true)
			r := enginetest.Rand(rng, engine.Numel(y.Shape()), 1)
			dx := tc.l.Backward(b.FromHost(r, y.Shape()...), true)
			loss := func() float64 {
				s := 0.0
				for i, v := range b.ToHost(tc.l.Forward(x, false)) {
					s += float64(r[i]) * float64(v)
				}
				return s
			}
			checkFiniteDiff(t, "dx", b.Data(x), b.ToHost(dx), loss)
			for _, p := range tc.l.Params() {
				checkFiniteDiff(t, "d"+p.Name, b.Data(p.Value), b.ToHost(p.Grad), loss)
			}
		})
	}
}
