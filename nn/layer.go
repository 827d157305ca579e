package nn

import (
	"fmt"

	"github.com/catmark/catmark/engine"
)

// Layer is one step of a network: a forward pass and its backward pass.
//
// Ownership. Forward returns a new tensor that the caller owns. With train set, the layer
// remembers what its backward pass needs, and the caller must keep the layer's input and
// output alive until the layer's Backward (or Free) has run; without train the layer remembers
// nothing and the caller may release the input at once. Backward returns dx (nil unless
// needInputGrad), owned by the caller; it does not release dy, the input or the output, but it
// does release the layer's private state (batch-norm statistics, pooling workspaces). Free drops
// that state without a backward pass.
//
// Gradients. Backward overwrites the Grad of each trainable parameter with the gradient of this
// pass (a plain tensor made by Zeros, reused from pass to pass); frozen parameters are left
// without a gradient and cost nothing. A layer whose parameters are all frozen and whose input
// gradient is not needed is not run backwards at all (see Sequential).
type Layer interface {
	Forward(x engine.Tensor, train bool) engine.Tensor
	Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor
	Free()
	Params() []*Param
}

// Trainable reports whether any parameter of l is trainable.
func Trainable(l Layer) bool { return anyTrainable(l.Params()) }

// newParam returns a parameter named name holding zeros of the given shape.
func newParam(b engine.Backend, name string, shape ...int) *Param {
	return &Param{Name: name, Value: b.Zeros(shape...)}
}

// join joins a prefix and a name with a dot ("layer1.0" + "conv1"); an empty prefix adds none.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// setGrad stores g, the gradient of p computed by a backward pass, in p.Grad and releases g.
// p.Grad is a plain tensor made by Zeros (what optimisers read through Backend.Data); it is
// made on first use and overwritten afterwards.
func setGrad(b engine.Backend, p *Param, g engine.Tensor) {
	if g == nil {
		return
	}
	if p.Grad == nil {
		p.Grad = b.Zeros(p.Value.Shape()...)
	} else {
		clear(b.Data(p.Grad))
	}
	b.AddInto(p.Grad, g)
	b.Release(g)
}

// setGrads stores each gradient in its parameter's Grad when the parameter is trainable, and
// releases it otherwise.
func setGrads(b engine.Backend, ps []*Param, gs ...engine.Tensor) {
	for i, p := range ps {
		if p.Trainable() {
			setGrad(b, p, gs[i])
		} else {
			release(b, gs[i])
		}
	}
}

// anyTrainable reports whether any of ps is trainable.
func anyTrainable(ps []*Param) bool {
	for _, p := range ps {
		if p.Trainable() {
			return true
		}
	}
	return false
}

// release releases each non-nil tensor.
func release(b engine.Backend, ts ...engine.Tensor) {
	for _, t := range ts {
		if t != nil {
			b.Release(t)
		}
	}
}

func mustCache(layer string, x engine.Tensor) {
	if x == nil {
		panic(fmt.Sprintf("nn: %s: Backward without a training Forward", layer))
	}
}

// Sequential runs layers one after another. It owns the activations between its layers and
// releases each as soon as both the layer that made it and the one that read it are done; the
// input and the final output belong to the caller.
type Sequential struct {
	Layers []Layer
	b      engine.Backend
	acts   []engine.Tensor // acts[i] is the input of Layers[i], i ≥ 1 (kept in training)
}

// NewSequential returns the layers as one Layer.
func NewSequential(b engine.Backend, layers ...Layer) *Sequential {
	return &Sequential{Layers: layers, b: b}
}

// Forward runs each layer on the previous one's output.
func (s *Sequential) Forward(x engine.Tensor, train bool) engine.Tensor {
	s.Free()
	if train {
		s.acts = make([]engine.Tensor, len(s.Layers))
	}
	cur := x
	for i, l := range s.Layers {
		y := l.Forward(cur, train)
		if i > 0 {
			if train {
				s.acts[i] = cur
			} else {
				s.b.Release(cur)
			}
		}
		cur = y
	}
	return cur
}

// Backward runs the layers backwards. A layer gets needInputGrad only when a layer before it is
// trainable or the caller needs the input gradient; once neither holds, the remaining layers
// are skipped (freed) and the pass stops.
func (s *Sequential) Backward(dy engine.Tensor, needInputGrad bool) engine.Tensor {
	if s.acts == nil {
		panic("nn: Sequential: Backward without a training Forward")
	}
	// below[i]: some layer before i is trainable.
	below := make([]bool, len(s.Layers))
	for i := 1; i < len(s.Layers); i++ {
		below[i] = below[i-1] || Trainable(s.Layers[i-1])
	}
	g := dy
	for i := len(s.Layers) - 1; i >= 0; i-- {
		l := s.Layers[i]
		need := needInputGrad || below[i]
		if !need && !Trainable(l) {
			// Nothing at or below l needs a gradient: drop what the forward pass kept.
			if i+1 < len(s.Layers) {
				release(s.b, s.acts[i+1])
			}
			for j := i; j >= 0; j-- {
				s.Layers[j].Free()
				if j > 0 {
					release(s.b, s.acts[j])
				}
			}
			if g != dy {
				release(s.b, g)
			}
			g = nil
			break
		}
		dx := l.Backward(g, need)
		if g != dy {
			release(s.b, g)
		}
		// The output of l (the input of Layers[i+1]) is dead now that both are done.
		if i+1 < len(s.Layers) {
			release(s.b, s.acts[i+1])
		}
		g = dx
	}
	s.acts = nil
	return g
}

// Free drops every layer's saved state and the activations kept for a backward pass.
func (s *Sequential) Free() {
	if s.acts == nil {
		return
	}
	for i, l := range s.Layers {
		l.Free()
		if i > 0 {
			release(s.b, s.acts[i])
		}
	}
	s.acts = nil
}

// Params lists the layers' parameters in order.
func (s *Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range s.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}
