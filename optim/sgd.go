package optim

import (
	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// SGD is stochastic gradient descent with momentum, as torch.optim.SGD with dampening 0:
//
//	g ← g + wd·p               (L2 decay added to the gradient; not for NoDecay parameters)
//	buf ← momentum·buf + g     (buf starts at zero, so the first step stores g)
//	d ← g + momentum·buf       (Nesterov) or d ← buf
//	p ← p − lr·d
//
// With Momentum 0 it keeps no state and d = g. The seed trained with momentum 0.9, lr 1e-3.
// Its zero value is plain SGD without decay.
type SGD struct {
	Momentum    float64
	WeightDecay float64
	Nesterov    bool

	steps    int
	momentum map[string][]float32 // by parameter name
	r        runner
}

// Name returns "sgd".
func (*SGD) Name() string { return "sgd" }

// Steps returns the number of Step calls so far.
func (o *SGD) Steps() int { return o.steps }

// SetSteps sets the step counter.
func (o *SGD) SetSteps(n int) { o.steps = n }

// Step applies one SGD update with learning rate lr.
func (o *SGD) Step(b engine.Backend, params []*nn.Param, lr float64) {
	if o.momentum == nil {
		o.momentum = map[string][]float32{}
	}
	o.r.jobs = o.r.jobs[:0]
	for _, p := range params {
		if !p.Trainable() || p.Grad == nil {
			continue
		}
		v, g := grads(b, p)
		j := job{p: v, g: g, c: [8]float32{float32(lr), 0, float32(o.Momentum)}}
		if !p.NoDecay {
			j.c[1] = float32(o.WeightDecay)
		}
		if o.Momentum != 0 {
			j.s1 = buffer(o.momentum, "momentum", p.Name, len(v))
		}
		o.r.jobs = append(o.r.jobs, j)
	}
	switch {
	case o.Momentum == 0:
		o.r.run(sgdPlain)
	case o.Nesterov:
		o.r.run(sgdNesterov)
	default:
		o.r.run(sgdMomentum)
	}
	o.steps++
}

// sgdPlain: c = lr, weight decay.
func sgdPlain(j *job, lo, hi int) {
	lr, wd := j.c[0], j.c[1]
	p, g := j.p[lo:hi], j.g[lo:hi]
	for i := range p {
		p[i] -= lr * (g[i] + wd*p[i])
	}
}

// sgdMomentum: c = lr, weight decay, momentum; s1 = momentum buffer.
func sgdMomentum(j *job, lo, hi int) {
	lr, wd, m := j.c[0], j.c[1], j.c[2]
	p, g, buf := j.p[lo:hi], j.g[lo:hi], j.s1[lo:hi]
	for i := range p {
		d := g[i] + wd*p[i]
		bi := m*buf[i] + d
		buf[i] = bi
		p[i] -= lr * bi
	}
}

// sgdNesterov is sgdMomentum stepping along g + momentum·buf.
func sgdNesterov(j *job, lo, hi int) {
	lr, wd, m := j.c[0], j.c[1], j.c[2]
	p, g, buf := j.p[lo:hi], j.g[lo:hi], j.s1[lo:hi]
	for i := range p {
		d := g[i] + wd*p[i]
		bi := m*buf[i] + d
		buf[i] = bi
		p[i] -= lr * (d + m*bi)
	}
}

// State returns copies of the momentum buffers keyed "momentum/NAME".
func (o *SGD) State() map[string][]float32 {
	return exportState(map[string]map[string][]float32{"momentum": o.momentum})
}

// SetState replaces the momentum buffers with copies of state's "momentum/NAME" entries.
func (o *SGD) SetState(state map[string][]float32) error {
	m, err := importState("sgd", state, "momentum")
	if err != nil {
		return err
	}
	o.momentum = m["momentum"]
	return nil
}
