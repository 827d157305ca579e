package enginetest

import (
	"fmt"
	"sync"

	"github.com/catmark/catmark/engine"
)

// Tracker wraps a Backend and keeps account of the tensors it hands out, so tests can check that
// a network releases what it no longer needs, never releases a tensor twice, and asks only for
// the gradients it should. It is safe for concurrent use.
type Tracker struct {
	engine.Backend

	mu    sync.Mutex
	live  map[engine.Tensor]string // live tensor → the operation that made it
	peak  int                      // most live elements at once
	elems int                      // live elements now
	// ConvBackward records the Grads and input shape of every Conv2DBackward call.
	ConvBackward []ConvBackwardCall
	// Calls counts calls by method name.
	Calls map[string]int
}

// ConvBackwardCall is one recorded Conv2DBackward call.
type ConvBackwardCall struct {
	XShape []int
	Grads  engine.Grads
}

// NewTracker wraps b.
func NewTracker(b engine.Backend) *Tracker {
	return &Tracker{Backend: b, live: map[engine.Tensor]string{}, Calls: map[string]int{}}
}

// Live returns the number of tensors made and not yet released.
func (t *Tracker) Live() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

// LiveElements returns the number of float32 values in live tensors now, and the most at once.
func (t *Tracker) LiveElements() (now, peak int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.elems, t.peak
}

// LiveBy returns how many live tensors each operation made.
func (t *Tracker) LiveBy() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[string]int{}
	for _, op := range t.live {
		m[op]++
	}
	return m
}

func (t *Tracker) add(op string, ts ...engine.Tensor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Calls[op]++
	for _, x := range ts {
		if x == nil {
			continue
		}
		if _, dup := t.live[x]; dup {
			continue // the same tensor returned twice (BNSaved.Y is the output)
		}
		t.live[x] = op
		t.elems += engine.Numel(x.Shape())
	}
	t.peak = max(t.peak, t.elems)
}

func (t *Tracker) drop(op string, x engine.Tensor) {
	if x == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[x]; !ok {
		panic(fmt.Sprintf("enginetest: %s of a tensor of shape %v that is not live (released twice, or not from this backend)", op, x.Shape()))
	}
	delete(t.live, x)
	t.elems -= engine.Numel(x.Shape())
}

// Zeros calls the wrapped backend's Zeros and records what it makes.
func (t *Tracker) Zeros(shape ...int) engine.Tensor {
	y := t.Backend.Zeros(shape...)
	t.add("Zeros", y)
	return y
}

// FromHost calls the wrapped backend's FromHost and records what it makes.
func (t *Tracker) FromHost(data []float32, shape ...int) engine.Tensor {
	y := t.Backend.FromHost(data, shape...)
	t.add("FromHost", y)
	return y
}

// Release records the release (panicking on a tensor that is not live) and passes it on.
func (t *Tracker) Release(x engine.Tensor) {
	t.drop("Release", x)
	t.Backend.Release(x)
}

// Conv2D calls the wrapped backend's Conv2D and records what it makes.
func (t *Tracker) Conv2D(x, w, b engine.Tensor, p engine.ConvParams) engine.Tensor {
	y := t.Backend.Conv2D(x, w, b, p)
	t.add("Conv2D", y)
	return y
}

// Conv2DBackward calls the wrapped backend's Conv2DBackward and records what it makes.
func (t *Tracker) Conv2DBackward(x, w, dy engine.Tensor, p engine.ConvParams, hasBias bool, g engine.Grads) (dx, dw, db engine.Tensor) {
	dx, dw, db = t.Backend.Conv2DBackward(x, w, dy, p, hasBias, g)
	t.add("Conv2DBackward", dx, dw, db)
	t.mu.Lock()
	t.ConvBackward = append(t.ConvBackward, ConvBackwardCall{append([]int(nil), x.Shape()...), g})
	t.mu.Unlock()
	return dx, dw, db
}

// BatchNorm calls the wrapped backend's BatchNorm and records what it makes.
func (t *Tracker) BatchNorm(x engine.Tensor, bn engine.BN, p engine.BNParams) (engine.Tensor, engine.BNSaved) {
	y, s := t.Backend.BatchNorm(x, bn, p)
	t.add("BatchNorm", y, s.Y, s.Mean, s.Var)
	return y, s
}

// BatchNormBackward calls the wrapped backend's BatchNormBackward and records what it makes.
func (t *Tracker) BatchNormBackward(x, dy engine.Tensor, bn engine.BN, s engine.BNSaved, p engine.BNParams, g engine.Grads) (dx, dgamma, dbeta engine.Tensor) {
	dx, dgamma, dbeta = t.Backend.BatchNormBackward(x, dy, bn, s, p, g)
	t.add("BatchNormBackward", dx, dgamma, dbeta)
	return dx, dgamma, dbeta
}

// ReleaseBN accounts for the saved Mean and Var (and Y, when the caller left it set).
func (t *Tracker) ReleaseBN(s engine.BNSaved) {
	t.drop("ReleaseBN", s.Mean)
	t.drop("ReleaseBN", s.Var)
	t.drop("ReleaseBN", s.Y)
	t.Backend.ReleaseBN(s)
}

// ReLU calls the wrapped backend's ReLU and records what it makes.
func (t *Tracker) ReLU(x engine.Tensor) engine.Tensor {
	y := t.Backend.ReLU(x)
	t.add("ReLU", y)
	return y
}

// ReLUBackward calls the wrapped backend's ReLUBackward and records what it makes.
func (t *Tracker) ReLUBackward(y, dy engine.Tensor) engine.Tensor {
	dx := t.Backend.ReLUBackward(y, dy)
	t.add("ReLUBackward", dx)
	return dx
}

// MaxPool calls the wrapped backend's MaxPool and records what it makes.
func (t *Tracker) MaxPool(x engine.Tensor, p engine.PoolParams) (engine.Tensor, engine.Tensor) {
	y, ws := t.Backend.MaxPool(x, p)
	t.add("MaxPool", y, ws)
	return y, ws
}

// MaxPoolBackward calls the wrapped backend's MaxPoolBackward and records what it makes.
func (t *Tracker) MaxPoolBackward(x, dy, ws engine.Tensor, p engine.PoolParams) engine.Tensor {
	dx := t.Backend.MaxPoolBackward(x, dy, ws, p)
	t.add("MaxPoolBackward", dx)
	return dx
}

// GlobalAvgPool calls the wrapped backend's GlobalAvgPool and records what it makes.
func (t *Tracker) GlobalAvgPool(x engine.Tensor) engine.Tensor {
	y := t.Backend.GlobalAvgPool(x)
	t.add("GlobalAvgPool", y)
	return y
}

// GlobalAvgPoolBackward calls the wrapped backend's GlobalAvgPoolBackward and records what it makes.
func (t *Tracker) GlobalAvgPoolBackward(dy engine.Tensor, inShape []int) engine.Tensor {
	dx := t.Backend.GlobalAvgPoolBackward(dy, inShape)
	t.add("GlobalAvgPoolBackward", dx)
	return dx
}

// Linear calls the wrapped backend's Linear and records what it makes.
func (t *Tracker) Linear(x, w, b engine.Tensor) engine.Tensor {
	y := t.Backend.Linear(x, w, b)
	t.add("Linear", y)
	return y
}

// LinearBackward calls the wrapped backend's LinearBackward and records what it makes.
func (t *Tracker) LinearBackward(x, w, dy engine.Tensor, g engine.Grads) (dx, dw, db engine.Tensor) {
	dx, dw, db = t.Backend.LinearBackward(x, w, dy, g)
	t.add("LinearBackward", dx, dw, db)
	return dx, dw, db
}

// Sigmoid calls the wrapped backend's Sigmoid and records what it makes.
func (t *Tracker) Sigmoid(x engine.Tensor) engine.Tensor {
	y := t.Backend.Sigmoid(x)
	t.add("Sigmoid", y)
	return y
}

// SigmoidBackward calls the wrapped backend's SigmoidBackward and records what it makes.
func (t *Tracker) SigmoidBackward(y, dy engine.Tensor) engine.Tensor {
	dx := t.Backend.SigmoidBackward(y, dy)
	t.add("SigmoidBackward", dx)
	return dx
}

// Add calls the wrapped backend's Add and records what it makes.
func (t *Tracker) Add(a, b engine.Tensor, relu bool) engine.Tensor {
	y := t.Backend.Add(a, b, relu)
	t.add("Add", y)
	return y
}

var _ engine.Backend = (*Tracker)(nil)
