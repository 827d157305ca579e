package loss

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/catmark/catmark/model"
)

// centersBatch returns random predictions and targets for b samples of g×g cells, with a face
// centre (heat 1, mask 1, a Gaussian around it) at each of centres (sample, cell).
func centersBatch(rng *rand.Rand, b, g int, centres [][2]int) (pred, target []float32) {
	const c = model.CentersChannels
	cells := g * g
	pred = make([]float32, b*c*cells)
	for i := range pred {
		pred[i] = float32(rng.NormFloat64())
	}
	target = make([]float32, b*CentersTargets*cells)
	for _, at := range centres {
		n, k := at[0], at[1]
		t := target[n*CentersTargets*cells:]
		ci, cj := k/g, k%g
		for i := range g {
			for j := range g {
				d2 := float64((i-ci)*(i-ci) + (j-cj)*(j-cj))
				t[i*g+j] = float32(max(float64(t[i*g+j]), math.Exp(-d2/2)))
			}
		}
		for ch := 1; ch < c; ch++ {
			t[ch*cells+k] = float32(rng.NormFloat64())
		}
		t[c*cells+k] = 1
	}
	return pred, target
}

func TestCentersGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const b, g = 2, 4
	pred, target := centersBatch(rng, b, g, [][2]int{{0, 5}, {1, 0}, {1, 14}})
	grad := make([]float32, len(pred))
	Centers(pred, target, grad, b, g, DefaultCentersWeights)
	const eps = 1e-3
	for i := range pred {
		v := pred[i]
		pred[i] = v + eps
		up, _, _ := Centers(pred, target, nil, b, g, DefaultCentersWeights)
		pred[i] = v - eps
		down, _, _ := Centers(pred, target, nil, b, g, DefaultCentersWeights)
		pred[i] = v
		want := (up - down) / (2 * eps)
		if math.Abs(float64(grad[i])-want) > 2e-3*(1+math.Abs(want)) {
			t.Errorf("grad[%d] = %.6f, finite difference %.6f", i, grad[i], want)
		}
	}
}

func TestCentersLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const g = 4
	pred, target := centersBatch(rng, 1, g, [][2]int{{0, 5}})
	_, heat, reg := Centers(pred, target, nil, 1, g, DefaultCentersWeights)
	if heat <= 0 || reg <= 0 {
		t.Fatalf("random prediction: heat %v, regression %v, want both positive", heat, reg)
	}
	// The right regression values leave only the heat term; a confident right heatmap lowers it.
	cells := g * g
	for ch := 1; ch < model.CentersChannels; ch++ {
		pred[ch*cells+5] = target[ch*cells+5]
	}
	for k := range cells {
		pred[k] = -8
	}
	pred[5] = 8
	_, heat2, reg2 := Centers(pred, target, nil, 1, g, DefaultCentersWeights)
	if reg2 != 0 || heat2 >= heat/10 {
		t.Errorf("right prediction: heat %v (random %v), regression %v; want heat far lower and regression 0", heat2, heat, reg2)
	}
	// Without faces the loss is the heat term alone, not divided by zero.
	empty := make([]float32, len(target))
	total, h, r := Centers(pred, empty, nil, 1, g, DefaultCentersWeights)
	if math.IsNaN(total) || r != 0 || h <= 0 {
		t.Errorf("no faces: total %v, heat %v, regression %v", total, h, r)
	}
}
