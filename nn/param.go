// Package nn holds catmark's layers: each layer's forward and backward pass side by side, written
// against engine.Backend, and the parameters they train.
package nn

import "github.com/catmark/catmark/engine"

// Param is one named tensor of a model. Names follow torchvision's state_dict ("conv1.weight",
// "layer3.0.downsample.1.running_mean"), so weights interchange with PyTorch by name.
type Param struct {
	Name  string
	Value engine.Tensor // plain layout; optimisers update Backend.Data(Value) in place
	Grad  engine.Tensor // gradient of the last backward pass; nil when frozen or a buffer
	// Buffer marks state that is saved but not trained (batch-norm running statistics).
	Buffer bool
	// Frozen marks a parameter that computes no gradient (freezing by name).
	Frozen bool
	// NoDecay marks parameters exempt from weight decay (biases, batch-norm scale and shift).
	NoDecay bool
}

// Trainable reports whether an optimiser should update p.
func (p *Param) Trainable() bool { return !p.Buffer && !p.Frozen }
