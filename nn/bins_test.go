package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// TestSoftBinsGradients checks SoftBins' input gradient, with and without presence, against
// central differences of L = Σ r·y, and its outputs against the definition on a known case.
func TestSoftBinsGradients(t *testing.T) {
	b := ref.New()
	for _, presence := range []bool{false, true} {
		rng := enginetest.NewRand(7)
		l := NewSoftBins(b, 3, 5, presence)
		x := enginetest.RandTensor(b, rng, 2, 2, l.Inputs())
		y := l.Forward(x, true)
		if s := y.Shape(); s[0] != 2 || s[1] != l.Outputs() {
			t.Fatalf("presence %v: output shape %v", presence, s)
		}
		r := enginetest.Rand(rng, engine.Numel(y.Shape()), 1)
		dx := b.ToHost(l.Backward(b.FromHost(r, y.Shape()...), true))
		loss := func() float64 {
			s := 0.0
			for i, v := range b.ToHost(l.Forward(x, false)) {
				s += float64(r[i]) * float64(v)
			}
			return s
		}
		checkFiniteDiff(t, fmt.Sprintf("presence %v: dz", presence), b.Data(x), dx, loss)
	}
	// One coordinate, three bins at 0, 0.5 and 1, logits 0, 0, ln 2: probabilities ¼, ¼, ½,
	// expected position ¼·0.5 + ½·1 = 0.625; presence σ(0) = 0.5.
	l := NewSoftBins(b, 1, 3, true)
	got := b.ToHost(l.Forward(b.FromHost([]float32{0, 0, float32(math.Ln2), 0}, 1, 4), false))
	if math.Abs(float64(got[0])-0.625) > 1e-6 || math.Abs(float64(got[1])-0.5) > 1e-6 {
		t.Errorf("outputs %v, want [0.625 0.5]", got)
	}
}
