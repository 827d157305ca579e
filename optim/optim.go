// Package optim updates a model's parameters from their gradients: SGD with momentum and AdamW,
// both with PyTorch's semantics, and the learning-rate schedules that drive them.
//
// An optimiser works on the live plain float32 storage of each parameter (engine.Backend.Data of
// nn.Param.Value and nn.Param.Grad), in place, in tight float32 loops; once its state exists a
// step allocates nothing (a step big enough to be split over two goroutines allocates one small
// closure). The learning rate is not part of an optimiser: the caller passes the value of a
// Schedule for the current step to every Step.
//
// State is keyed by parameter name, so a checkpoint stays valid when parameters are reordered, and
// exported as "KIND/NAME" → values ("momentum/conv1.weight"), which package weights saves beside
// the model.
package optim

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// Optimizer updates parameters in place from their gradients.
//
// Step skips parameters that are not Trainable or whose Grad is nil, and never applies weight
// decay to NoDecay parameters. A parameter's state is created at its first update, so freezing
// or unfreezing parameters between steps is fine.
type Optimizer interface {
	// Name identifies the algorithm ("sgd", "adamw"); checkpoints record it.
	Name() string
	// Step applies one update with learning rate lr to every trainable parameter that has a
	// gradient. Value and Grad must be tensors b.Data accepts (plain layout, same length).
	Step(b engine.Backend, params []*nn.Param, lr float64)
	// Steps is the number of Step calls so far (restored by SetSteps).
	Steps() int
	// SetSteps sets the step counter, when resuming from a checkpoint.
	SetSteps(n int)
	// State returns copies of the optimiser's per-parameter buffers keyed "KIND/NAME"; KIND
	// contains neither '/' nor '.'.
	State() map[string][]float32
	// SetState replaces the per-parameter buffers with copies of state (as State returned it).
	// It rejects unknown kinds; lengths are checked against the parameters at the next Step
	// (package weights checks them against the model when it loads a checkpoint).
	SetState(state map[string][]float32) error
}

// New returns the optimiser called name ("sgd" or "adamw") with PyTorch's defaults for what the
// caller does not set afterwards: SGD with the given momentum, AdamW with β = (0.9, 0.999) and
// ε = 1e-8. weightDecay applies to both; momentum only to SGD.
func New(name string, momentum, weightDecay float64) (Optimizer, error) {
	switch name {
	case "sgd":
		return &SGD{Momentum: momentum, WeightDecay: weightDecay}, nil
	case "adamw":
		return &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}, nil
	}
	return nil, fmt.Errorf("optim: unknown optimiser %q (want sgd or adamw)", name)
}

// parallelMin is the number of elements below which a step runs on the calling goroutine: under
// it, starting goroutines costs more than it saves.
const parallelMin = 1 << 16

// job is one parameter's slices for one step: the values, the gradient and up to two state
// buffers, and the per-parameter scalars an update needs.
type job struct {
	p, g, s1, s2 []float32
	c            [8]float32 // the update's scalars; each kernel says what they are
}

// runner splits a step's element-wise work over up to GOMAXPROCS goroutines (2 at most: an
// optimiser step is memory-bound). Its job list is reused between steps, so a step allocates
// only when it runs in parallel (one closure per extra goroutine).
type runner struct {
	jobs []job
}

// run calls kernel on every job, splitting the total element range evenly between workers so
// that one large tensor is shared as well as many small ones.
func (r *runner) run(kernel func(j *job, lo, hi int)) {
	total := 0
	for i := range r.jobs {
		total += len(r.jobs[i].p)
	}
	workers := min(runtime.GOMAXPROCS(0), 2)
	if total < parallelMin || workers < 2 {
		for i := range r.jobs {
			kernel(&r.jobs[i], 0, len(r.jobs[i].p))
		}
		return
	}
	var wg sync.WaitGroup
	per := (total + workers - 1) / workers
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func(start, end int) {
			defer wg.Done()
			r.span(kernel, start, end)
		}(w*per, min((w+1)*per, total))
	}
	r.span(kernel, 0, min(per, total))
	wg.Wait()
}

// span runs kernel over the global element range [start, end) of the concatenated jobs.
func (r *runner) span(kernel func(j *job, lo, hi int), start, end int) {
	off := 0
	for i := range r.jobs {
		n := len(r.jobs[i].p)
		lo, hi := max(start-off, 0), min(end-off, n)
		if lo < hi {
			kernel(&r.jobs[i], lo, hi)
		}
		off += n
		if off >= end {
			return
		}
	}
}

// buffer returns the state buffer kind/name of length n from m, making a zeroed one when it is
// missing. It panics when a restored buffer's length differs from the parameter's.
func buffer(m map[string][]float32, kind, name string, n int) []float32 {
	s, ok := m[name]
	if !ok {
		s = make([]float32, n)
		m[name] = s
	}
	if len(s) != n {
		panic(fmt.Sprintf("optim: state %s/%s has %d values, parameter has %d", kind, name, len(s), n))
	}
	return s
}

// grads returns the live storage of p's value and gradient, panicking when their lengths differ.
func grads(b engine.Backend, p *nn.Param) (v, g []float32) {
	v, g = b.Data(p.Value), b.Data(p.Grad)
	if len(v) != len(g) {
		panic(fmt.Sprintf("optim: %s has %d values but its gradient %d", p.Name, len(v), len(g)))
	}
	return v, g
}

// exportState copies the buffers of each kind into one map keyed "KIND/NAME".
func exportState(kinds map[string]map[string][]float32) map[string][]float32 {
	out := map[string][]float32{}
	for kind, m := range kinds {
		for name, s := range m {
			out[kind+"/"+name] = append([]float32(nil), s...)
		}
	}
	return out
}

// importState splits state keyed "KIND/NAME" into fresh per-kind maps of copies; kinds lists the
// kinds an optimiser knows.
func importState(opt string, state map[string][]float32, kinds ...string) (map[string]map[string][]float32, error) {
	out := map[string]map[string][]float32{}
	for _, k := range kinds {
		out[k] = map[string][]float32{}
	}
	for key, s := range state {
		kind, name, ok := cut(key)
		m, known := out[kind]
		if !ok || !known || name == "" {
			return nil, fmt.Errorf("optim: %s: unknown state %q (want one of %v followed by /NAME)", opt, key, kinds)
		}
		m[name] = append([]float32(nil), s...)
	}
	return out, nil
}

// cut splits "KIND/NAME" at its first '/'.
func cut(key string) (kind, name string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}
