// Package engine defines the seam between catmark's networks and the kernels that run them.
//
// A Backend owns tensor memory and computes the forward and backward passes of the operations a
// landmark CNN needs. Models (package nn and below) speak only this interface; the backends live
// in subpackages:
//
//	engine/ref   pure Go, simple and obviously right: the reference every fast kernel is tested against
//	engine/dnnl  oneDNN through cgo (built when cgo is on and the build tag "nodnnl" is absent)
//
// A third backend (a GPU one) is added by implementing Backend; nothing above this package changes.
//
// Conventions. All data are float32. Activations are 4-D, N×C×H×W; convolution weights are
// O×I×KH×KW; fully connected weights are Out×In (torchvision's layout); vectors (bias, batch-norm
// parameters) are 1-D. ToHost and FromHost always use plain row-major order in those shapes;
// inside a backend a tensor may live in any layout (oneDNN keeps blocked layouts between layers).
//
// Parameters (weights, biases, batch-norm scale, shift and running statistics) are created by
// FromHost or Zeros and stay in plain layout; Data returns their live storage, which optimisers
// update in place.
package engine

import "fmt"

// Tensor is a handle to float32 data owned by one Backend. Only the backend that made it may use it.
type Tensor interface {
	// Shape is the logical shape (see the package conventions); callers must not modify it.
	Shape() []int
}

// ConvParams describes a 2-D convolution: square stride and padding, dilation 1, groups 1.
type ConvParams struct {
	Stride, Pad int
}

// OutSize is the output height (or width) of a convolution or pooling over an input of size in
// with kernel k: (in + 2·pad − k)/stride + 1.
func OutSize(in, k, stride, pad int) int { return (in+2*pad-k)/stride + 1 }

// PoolParams describes a square max pooling window.
type PoolParams struct {
	Kernel, Stride, Pad int
}

// BNMode selects how batch normalisation normalises.
type BNMode int

const (
	// BNTrain normalises with the batch's statistics and updates the running statistics:
	// running = (1−momentum)·running + momentum·batch (unbiased batch variance, as PyTorch).
	BNTrain BNMode = iota
	// BNInfer normalises with the running statistics (inference, and frozen batch norm in training:
	// its backward pass treats mean and variance as constants).
	BNInfer
)

// BNParams configures batch normalisation over the channel axis of an N×C×H×W tensor.
type BNParams struct {
	Mode     BNMode
	Eps      float32 // PyTorch's default 1e-5
	Momentum float32 // PyTorch's default 0.1
	ReLU     bool    // apply ReLU after normalising (a fused op where the backend has one)
}

// BN holds a batch-norm layer's tensors, all of length C: scale γ, shift β and running statistics.
type BN struct {
	Gamma, Beta, RunMean, RunVar Tensor
}

// BNSaved is what a batch-norm forward pass keeps for its backward pass; backends fill it as they
// need. Release it with Backend.ReleaseBN once the backward pass is done.
type BNSaved struct {
	Y        Tensor // the output (needed when ReLU is fused)
	Mean     Tensor // batch mean (BNTrain) of length C
	Var      Tensor // batch variance, biased (BNTrain)
	Internal any    // backend-private state
}

// Grads says which gradients a backward pass must compute; those not asked for come back nil.
type Grads struct {
	Input, Params bool
}

// Backend computes catmark's operations. Methods panic on shape mismatches (a programming error,
// never a data error), with a message naming the operation and both shapes.
type Backend interface {
	// Name identifies the backend ("ref", "dnnl").
	Name() string

	// Zeros returns a new tensor of the given shape filled with zeros.
	Zeros(shape ...int) Tensor
	// FromHost copies data (plain row-major, len = product of shape) into a new tensor.
	FromHost(data []float32, shape ...int) Tensor
	// ToHost copies t into a new plain row-major slice.
	ToHost(t Tensor) []float32
	// Data returns the live storage of a parameter tensor (made by Zeros or FromHost) in plain
	// layout; writes to it change the tensor.
	//
	// When it may be written: from the Data call until the next backend operation that reads t.
	// Data marks t as changed, so a backend that keeps derived forms of a tensor (oneDNN's
	// reordered weights) rebuilds them; a slice kept and written after t has been read again is
	// not guaranteed to be seen. So call Data afresh before each round of writes (an optimiser
	// step, loading a checkpoint), never while another goroutine runs an operation on t.
	Data(t Tensor) []float32
	// Release frees a tensor's memory; t must not be used afterwards. Releasing is optional for
	// correctness and lets backends that manage memory themselves reuse it.
	Release(t Tensor)

	// Conv2D computes y = conv(x, w) + b. x: N×C×H×W, w: O×C×K×K, b: O or nil. y: N×O×H'×W'.
	Conv2D(x, w, b Tensor, p ConvParams) Tensor
	// Conv2DBackward returns dx (if g.Input), dw and db (if g.Params; db nil when hasBias is false).
	Conv2DBackward(x, w, dy Tensor, p ConvParams, hasBias bool, g Grads) (dx, dw, db Tensor)

	// BatchNorm normalises x per channel (and applies ReLU when p.ReLU).
	BatchNorm(x Tensor, bn BN, p BNParams) (y Tensor, saved BNSaved)
	// BatchNormBackward returns dx (if g.Input) and dγ, dβ (if g.Params).
	BatchNormBackward(x, dy Tensor, bn BN, saved BNSaved, p BNParams, g Grads) (dx, dgamma, dbeta Tensor)
	// ReleaseBN frees the tensors a batch-norm forward pass saved.
	ReleaseBN(saved BNSaved)

	// ReLU returns max(x, 0).
	ReLU(x Tensor) Tensor
	// ReLUBackward returns dy where y > 0, else 0 (y is ReLU's output).
	ReLUBackward(y, dy Tensor) Tensor

	// MaxPool returns the window maxima and a workspace recording where they came from.
	MaxPool(x Tensor, p PoolParams) (y, ws Tensor)
	// MaxPoolBackward routes dy to the arg-max positions of a forward pass over x.
	MaxPoolBackward(x, dy, ws Tensor, p PoolParams) Tensor

	// GlobalAvgPool averages each channel: N×C×H×W → N×C.
	GlobalAvgPool(x Tensor) Tensor
	// GlobalAvgPoolBackward spreads dy (N×C) evenly over an N×C×H×W input.
	GlobalAvgPoolBackward(dy Tensor, inShape []int) Tensor

	// Linear computes y = x·wᵀ + b. x: N×In, w: Out×In, b: Out. y: N×Out.
	Linear(x, w, b Tensor) Tensor
	// LinearBackward returns dx (if g.Input) and dw, db (if g.Params).
	LinearBackward(x, w, dy Tensor, g Grads) (dx, dw, db Tensor)

	// Sigmoid returns 1/(1+e^−x).
	Sigmoid(x Tensor) Tensor
	// SigmoidBackward returns dy·y·(1−y) (y is Sigmoid's output).
	SigmoidBackward(y, dy Tensor) Tensor

	// Add returns a + b (same shape); with relu, max(a+b, 0) (a residual join).
	Add(a, b Tensor, relu bool) Tensor
	// AddInto accumulates src into dst (dst += src), same shape; used to sum gradients.
	AddInto(dst, src Tensor)
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// SameShape panics, naming op, if a and b differ.
func SameShape(op string, a, b []int) {
	if len(a) != len(b) {
		panic(fmt.Sprintf("engine: %s: shapes %v and %v differ", op, a, b))
	}
	for i := range a {
		if a[i] != b[i] {
			panic(fmt.Sprintf("engine: %s: shapes %v and %v differ", op, a, b))
		}
	}
}

var registry = map[string]func() (Backend, error){}

// preference lists backends from fastest to simplest; Open("") takes the first registered.
var preference = []string{"dnnl", "go", "ref"}

// Register makes a backend available to Open by name. Backends call it from init; import
// engine/backends to register every backend this build has.
func Register(name string, open func() (Backend, error)) {
	if _, dup := registry[name]; dup {
		panic("engine: backend registered twice: " + name)
	}
	registry[name] = open
}

// Open returns the named backend, or with name "" the fastest one this build has.
func Open(name string) (Backend, error) {
	if name == "" {
		for _, n := range preference {
			if open, ok := registry[n]; ok {
				return open()
			}
		}
		return nil, fmt.Errorf("engine: no backend registered (import github.com/catmark/catmark/engine/backends)")
	}
	open, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("engine: unknown backend %q (this build has %v)", name, Available())
	}
	return open()
}

// Available lists the registered backends' names in order of preference.
func Available() []string {
	var names []string
	for _, n := range preference {
		if _, ok := registry[n]; ok {
			names = append(names, n)
		}
	}
	for n := range registry {
		known := false
		for _, p := range preference {
			known = known || p == n
		}
		if !known {
			names = append(names, n)
		}
	}
	return names
}
