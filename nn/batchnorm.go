package nn

import "github.com/catmark/catmark/engine"

// BatchNorm2d is batch normalisation over the channels of an N×C×H×W tensor, with PyTorch's
// semantics and names: "<name>.weight" (γ), "<name>.bias" (β), and the buffers
// "<name>.running_mean" and "<name>.running_var". PyTorch's num_batches_tracked counter is not
// kept (it only matters for momentum=None).
//
// In training it normalises with the batch statistics and updates the running ones; in
// inference, and in training when its weight is frozen, it normalises with the running
// statistics, which then stay fixed (a frozen batch norm is an affine map).
//
// With ReLU set it applies max(·, 0) after normalising (fused where the backend can). Without
// ReLU, Backward does not read the output, which the caller may release right after use.
type BatchNorm2d struct {
	Weight, Bias, RunningMean, RunningVar *Param
	Eps, Momentum                         float32
	ReLU                                  bool

	b     engine.Backend
	x     engine.Tensor
	saved engine.BNSaved
	p     engine.BNParams
}

// NewBatchNorm2d returns a batch norm over c channels with γ = 1, β = 0, running mean 0 and
// running variance 1, eps 1e-5 and momentum 0.1 (PyTorch's defaults).
func NewBatchNorm2d(b engine.Backend, name string, c int, relu bool) *BatchNorm2d {
	ones := make([]float32, c)
	for i := range ones {
		ones[i] = 1
	}
	l := &BatchNorm2d{
		Weight:      &Param{Name: join(name, "weight"), Value: b.FromHost(ones, c), NoDecay: true},
		Bias:        &Param{Name: join(name, "bias"), Value: b.Zeros(c), NoDecay: true},
		RunningMean: &Param{Name: join(name, "running_mean"), Value: b.Zeros(c), Buffer: true},
		RunningVar:  &Param{Name: join(name, "running_var"), Value: b.FromHost(ones, c), Buffer: true},
		Eps:         1e-5, Momentum: 0.1, ReLU: relu, b: b,
	}
	return l
}

func (l *BatchNorm2d) bn() engine.BN {
	return engine.BN{Gamma: l.Weight.Value, Beta: l.Bias.Value, RunMean: l.RunningMean.Value, RunVar: l.RunningVar.Value}
}

// Frozen reports whether the layer is frozen (its weight is; it then uses running statistics).
func (l *BatchNorm2d) Frozen() bool { return l.Weight.Frozen }

// Forward normalises x.
func (l *BatchNorm2d) Forward(x engine.Tensor, train bool) engine.Tensor {
	l.Free()
	p := engine.BNParams{Mode: engine.BNInfer, Eps: l.Eps, Momentum: l.Momentum, ReLU: l.ReLU}
	if train && !l.Frozen() {
		p.Mode = engine.BNTrain
	}
	y, saved := l.b.BatchNorm(x, l.bn(), p)
	if train {
		l.x, l.saved, l.p = x, saved, p
	} else {
		l.releaseSaved(saved)
	}
	return y
}

// releaseSaved releases the forward pass's private state; its Y is the output, which belongs to
// the caller.
func (l *BatchNorm2d) releaseSaved(s engine.BNSaved) {
	s.Y = nil
	l.b.ReleaseBN(s)
}

// Backward sets the γ and β gradients (unless frozen) and returns dx if needInputGrad. In
// training mode the batch statistics depend on x; with running statistics they are constants.
func (l *BatchNorm2d) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	mustCache("BatchNorm2d "+l.Weight.Name, l.x)
	g := engine.Grads{Input: needInputGrad, Params: l.Weight.Trainable() || l.Bias.Trainable()}
	var dx engine.Tensor
	if g.Input || g.Params {
		var dgamma, dbeta engine.Tensor
		dx, dgamma, dbeta = l.b.BatchNormBackward(l.x, dy, l.bn(), l.saved, l.p, g)
		setGrads(l.b, []*Param{l.Weight, l.Bias}, dgamma, dbeta)
	}
	l.Free()
	return dx
}

// Free releases the state kept for the backward pass.
func (l *BatchNorm2d) Free() {
	if l.x == nil {
		return
	}
	l.releaseSaved(l.saved)
	l.x, l.saved = nil, engine.BNSaved{}
}

// Params returns weight, bias, running_mean and running_var, in PyTorch's order.
func (l *BatchNorm2d) Params() []*Param {
	return []*Param{l.Weight, l.Bias, l.RunningMean, l.RunningVar}
}
