package nn

import "github.com/catmark/catmark/engine"

// Sum runs its branches on the same input and adds their outputs, which must have one shape:
// y = x + Σ branch(x) with Identity set, Σ branch(x) without. It is a feature pyramid's join
// (a deep branch upsampled back onto the shallow map) and, with one branch and Identity, a
// residual connection without the final ReLU.
type Sum struct {
	Branches []Layer
	Identity bool // add the input itself
	b        engine.Backend
	outs     []engine.Tensor // branch outputs kept by a training Forward
}

// NewSum returns the sum of the branches (and of the input, with identity).
func NewSum(b engine.Backend, identity bool, branches ...Layer) *Sum {
	return &Sum{Branches: branches, Identity: identity, b: b}
}

// Forward returns the sum of the branches' outputs (plus x with Identity).
func (l *Sum) Forward(x engine.Tensor, train bool) engine.Tensor {
	l.Free()
	var sum engine.Tensor
	if l.Identity {
		sum = clone(l.b, x)
	}
	for _, br := range l.Branches {
		y := br.Forward(x, train)
		if sum == nil {
			sum = clone(l.b, y)
		} else {
			l.b.AddInto(sum, y)
		}
		if train {
			l.outs = append(l.outs, y) // the branch's output stays alive until its Backward
		} else {
			l.b.Release(y)
		}
	}
	return sum
}

// Backward passes dy to every branch and returns the sum of their input gradients (plus dy
// with Identity) if needInputGrad.
func (l *Sum) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	mustCache("Sum", l.outsOrNil())
	var dx engine.Tensor
	if needInputGrad && l.Identity {
		dx = clone(l.b, dy)
	}
	for k, br := range l.Branches {
		var g engine.Tensor
		if needInputGrad || Trainable(br) {
			g = br.Backward(dy, needInputGrad)
		} else {
			br.Free()
		}
		l.b.Release(l.outs[k])
		switch {
		case g == nil:
		case dx == nil:
			dx = g
		default:
			l.b.AddInto(dx, g)
			l.b.Release(g)
		}
	}
	l.outs = nil
	return dx
}

// outsOrNil is a non-nil tensor when a training Forward ran (for mustCache).
func (l *Sum) outsOrNil() engine.Tensor {
	if len(l.outs) == 0 {
		return nil
	}
	return l.outs[0]
}

// Free drops what a training Forward kept.
func (l *Sum) Free() {
	for k, br := range l.Branches {
		br.Free()
		if k < len(l.outs) {
			l.b.Release(l.outs[k])
		}
	}
	l.outs = nil
}

// Params lists the branches' parameters in order.
func (l *Sum) Params() []*Param {
	var ps []*Param
	for _, br := range l.Branches {
		ps = append(ps, br.Params()...)
	}
	return ps
}

// clone returns a new tensor holding x's values.
func clone(b engine.Backend, x engine.Tensor) engine.Tensor {
	y := b.Zeros(x.Shape()...)
	b.AddInto(y, x)
	return y
}
