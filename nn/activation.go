package nn

import "github.com/catmark/catmark/engine"

// Sigmoid is the logistic function 1/(1+e^−x). Its backward pass reads the output.
type Sigmoid struct {
	b engine.Backend
	y engine.Tensor
}

// NewSigmoid returns a sigmoid layer.
func NewSigmoid(b engine.Backend) *Sigmoid { return &Sigmoid{b: b} }

// Forward returns 1/(1+e^−x).
func (l *Sigmoid) Forward(x engine.Tensor, train bool) engine.Tensor {
	y := l.b.Sigmoid(x)
	l.y = nil
	if train {
		l.y = y
	}
	return y
}

// Backward returns dy·y·(1−y) if needInputGrad.
func (l *Sigmoid) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	mustCache("Sigmoid", l.y)
	var dx engine.Tensor
	if needInputGrad {
		dx = l.b.SigmoidBackward(l.y, dy)
	}
	l.y = nil
	return dx
}

// Free forgets the kept output.
func (l *Sigmoid) Free() { l.y = nil }

// Params returns nil.
func (l *Sigmoid) Params() []*Param { return nil }
