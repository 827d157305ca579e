package nn

import "github.com/catmark/catmark/engine"

// Linear is a fully connected layer, y = x·wᵀ + b, with x N×In, weight Out×In
// ("<name>.weight") and bias Out ("<name>.bias"), as torch.nn.Linear.
type Linear struct {
	Weight, Bias *Param
	b            engine.Backend
	x            engine.Tensor
}

// NewLinear returns a fully connected layer with zero weights (see the init functions).
func NewLinear(b engine.Backend, name string, in, out int) *Linear {
	bias := newParam(b, join(name, "bias"), out)
	bias.NoDecay = true
	return &Linear{Weight: newParam(b, join(name, "weight"), out, in), Bias: bias, b: b}
}

// Forward returns x·wᵀ + b.
func (l *Linear) Forward(x engine.Tensor, train bool) engine.Tensor {
	y := l.b.Linear(x, l.Weight.Value, l.Bias.Value)
	l.x = nil
	if train {
		l.x = x
	}
	return y
}

// Backward sets the weight and bias gradients (unless frozen) and returns dx if needInputGrad.
func (l *Linear) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	mustCache("Linear "+l.Weight.Name, l.x)
	g := engine.Grads{Input: needInputGrad, Params: anyTrainable(l.Params())}
	var dx engine.Tensor
	if g.Input || g.Params {
		var dw, db engine.Tensor
		dx, dw, db = l.b.LinearBackward(l.x, l.Weight.Value, dy, g)
		setGrads(l.b, l.Params(), dw, db)
	}
	l.x = nil
	return dx
}

// Free forgets the kept input.
func (l *Linear) Free() { l.x = nil }

// Params returns the weight and the bias.
func (l *Linear) Params() []*Param { return []*Param{l.Weight, l.Bias} }
