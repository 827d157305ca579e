package loss

import (
	"math"
	"math/rand/v2"
	"testing"
)

// presenceBatch is three samples for EvalPresence: two faces and, in the middle, one without.
func presenceBatch(rng *rand.Rand) (pred, truth []float32) {
	pred, truth = make([]float32, 3*19), make([]float32, 3*18)
	for i := range 3 {
		p, t := randomPair(rng)
		for k := range 18 {
			pred[i*19+k], truth[i*18+k] = float32(p[k]), float32(t[k])
		}
		pred[i*19+18] = float32(0.2 + 0.6*rng.Float64())
	}
	for k := range 18 {
		truth[18+k] = float32(math.NaN())
	}
	return pred, truth
}

func TestEvalPresenceValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pred, truth := presenceBatch(rng)
	l := MustParse("mse+ddmse:1-8+area")
	const w = 0.5
	got := l.EvalPresence(pred, truth, nil, w)
	// By hand: the landmark loss of samples 0 and 2, and the presence terms of all three.
	faces := l.Eval(append(append([]float32{}, pred[:18]...), pred[38:56]...), append(append([]float32{}, truth[:18]...), truth[36:]...), nil) * 2
	s0, s1, s2 := float64(pred[18]), float64(pred[37]), float64(pred[56])
	want := (faces + w*((s0-1)*(s0-1)+s1*s1+(s2-1)*(s2-1))) / 3
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("EvalPresence = %.15g, want %.15g", got, want)
	}
}

func TestEvalPresenceGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pred, truth := presenceBatch(rng)
	l := MustParse("mse+ddmse:1-8")
	const w = 0.3
	grad := make([]float32, len(pred))
	for i := range grad {
		grad[i] = 99 // must be overwritten
	}
	l.EvalPresence(pred, truth, grad, w)
	for k := 19; k < 37; k++ {
		if grad[k] != 0 {
			t.Fatalf("no-face sample: landmark gradient [%d] = %g, want 0", k, grad[k])
		}
	}
	const h = 1e-3
	for k := range pred {
		pp := append([]float32{}, pred...)
		pm := append([]float32{}, pred...)
		pp[k] += h
		pm[k] -= h
		fd := (l.EvalPresence(pp, truth, nil, w) - l.EvalPresence(pm, truth, nil, w)) / (float64(pp[k]) - float64(pm[k]))
		if math.Abs(fd-float64(grad[k])) > 1e-4 {
			t.Errorf("∂/∂pred[%d] = %.6g, finite difference %.6g", k, grad[k], fd)
		}
	}
}

func TestEvalPresenceShapes(t *testing.T) {
	l := MustParse("mse")
	defer func() {
		if recover() == nil {
			t.Error("EvalPresence accepted pred B×18 with truth B×18")
		}
	}()
	l.EvalPresence(make([]float32, 18), make([]float32, 18), nil, 1)
}
