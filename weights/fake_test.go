package weights

import (
	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// fakeBackend is just enough of engine.Backend for optimisers: plain host tensors. Its other
// methods are the nil embedded interface's and panic if called.
type fakeBackend struct{ engine.Backend }

type fakeTensor struct {
	data  []float32
	shape []int
}

func (t *fakeTensor) Shape() []int { return t.shape }

func (fakeBackend) Name() string { return "fake" }

func (fakeBackend) FromHost(data []float32, shape ...int) engine.Tensor {
	return &fakeTensor{append([]float32(nil), data...), shape}
}

func (fakeBackend) Zeros(shape ...int) engine.Tensor {
	return &fakeTensor{make([]float32, engine.Numel(shape)), shape}
}

func (fakeBackend) Data(t engine.Tensor) []float32 { return t.(*fakeTensor).data }

func (fakeBackend) ToHost(t engine.Tensor) []float32 {
	return append([]float32(nil), t.(*fakeTensor).data...)
}

// param makes a trainable parameter holding value with a zero gradient.
func param(b engine.Backend, name string, value ...float32) *nn.Param {
	return &nn.Param{Name: name, Value: b.FromHost(value, len(value)), Grad: b.Zeros(len(value))}
}
