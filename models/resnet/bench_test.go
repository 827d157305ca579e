package resnet

import (
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// BenchmarkTrainStepRef is one training step (forward and backward, no optimiser) of a
// ResNet-18 at width 16 on 8×3×64×64 inputs on the reference backend.
func BenchmarkTrainStepRef(b *testing.B) {
	be := ref.New()
	m, _ := New(be, Config{Depth: 18, Width: 16, Outputs: 18}, 1)
	x := enginetest.RandTensor(be, enginetest.NewRand(1), 1, 8, 3, 64, 64)
	dy := be.FromHost(make([]float32, 8*18), 8, 18)
	b.ReportAllocs()
	for b.Loop() {
		y := m.Forward(x, true)
		m.Backward(dy)
		be.Release(y)
	}
	b.ReportMetric(float64(8*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkPredictRef is inference of the same network and batch.
func BenchmarkPredictRef(b *testing.B) {
	be := ref.New()
	m, _ := New(be, Config{Depth: 18, Width: 16, Outputs: 18}, 1)
	x := enginetest.RandTensor(be, enginetest.NewRand(1), 1, 8, 3, 64, 64)
	for b.Loop() {
		be.Release(m.Forward(x, false))
	}
	b.ReportMetric(float64(8*b.N)/b.Elapsed().Seconds(), "images/s")
}

var _ engine.Backend = ref.New()
