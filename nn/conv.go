package nn

import "github.com/catmark/catmark/engine"

// Conv2d is a 2-D convolution, y = conv(x, w) + b, on N×C×H×W tensors, with weight
// Out×In×K×K named "<name>.weight" and an optional bias "<name>.bias".
type Conv2d struct {
	Weight, Bias *Param // Bias is nil without a bias
	P            engine.ConvParams
	b            engine.Backend
	x            engine.Tensor // input kept for the backward pass
}

// NewConv2d returns a convolution with zero weights (see the init functions).
func NewConv2d(b engine.Backend, name string, in, out, kernel, stride, pad int, bias bool) *Conv2d {
	l := &Conv2d{Weight: newParam(b, join(name, "weight"), out, in, kernel, kernel),
		P: engine.ConvParams{Stride: stride, Pad: pad}, b: b}
	if bias {
		l.Bias = newParam(b, join(name, "bias"), out)
		l.Bias.NoDecay = true
	}
	return l
}

// Forward returns conv(x, w) + b.
func (l *Conv2d) Forward(x engine.Tensor, train bool) engine.Tensor {
	var bias engine.Tensor
	if l.Bias != nil {
		bias = l.Bias.Value
	}
	y := l.b.Conv2D(x, l.Weight.Value, bias, l.P)
	l.x = nil
	if train {
		l.x = x
	}
	return y
}

// Backward sets the weight and bias gradients (unless frozen) and returns dx if needInputGrad.
func (l *Conv2d) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	mustCache("Conv2d "+l.Weight.Name, l.x)
	g := engine.Grads{Input: needInputGrad, Params: anyTrainable(l.Params())}
	var dx engine.Tensor
	if g.Input || g.Params {
		var dw, db engine.Tensor
		dx, dw, db = l.b.Conv2DBackward(l.x, l.Weight.Value, dy, l.P, l.Bias != nil, g)
		if l.Bias != nil {
			setGrads(l.b, l.Params(), dw, db)
		} else {
			setGrads(l.b, l.Params(), dw)
		}
	}
	l.x = nil
	return dx
}

// Free forgets the kept input.
func (l *Conv2d) Free() { l.x = nil }

// Params returns the weight and, if present, the bias.
func (l *Conv2d) Params() []*Param {
	if l.Bias == nil {
		return []*Param{l.Weight}
	}
	return []*Param{l.Weight, l.Bias}
}
