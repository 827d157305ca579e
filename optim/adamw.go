package optim

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/nn"
)

// AdamW is Adam with decoupled weight decay, as torch.optim.AdamW (amsgrad off). For a
// parameter's t-th update (t counts that parameter's own updates, from 1):
//
//	p ← p·(1 − lr·wd)          (not for NoDecay parameters)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)
//
// PyTorch's defaults are β1 0.9, β2 0.999, ε 1e-8, weight decay 0.01 (New sets the first three).
type AdamW struct {
	Beta1, Beta2, Eps float64
	WeightDecay       float64

	steps  int
	expAvg map[string][]float32 // m, by parameter name
	expSq  map[string][]float32 // v
	count  map[string]int       // t, by parameter name
	r      runner
}

// Name returns "adamw".
func (*AdamW) Name() string { return "adamw" }

// Steps returns the number of Step calls so far.
func (o *AdamW) Steps() int { return o.steps }

// SetSteps sets the step counter.
func (o *AdamW) SetSteps(n int) { o.steps = n }

// Step applies one AdamW update with learning rate lr.
func (o *AdamW) Step(b engine.Backend, params []*nn.Param, lr float64) {
	if o.expAvg == nil {
		o.expAvg, o.expSq, o.count = map[string][]float32{}, map[string][]float32{}, map[string]int{}
	}
	o.r.jobs = o.r.jobs[:0]
	for _, p := range params {
		if !p.Trainable() || p.Grad == nil {
			continue
		}
		v, g := grads(b, p)
		t := o.count[p.Name] + 1
		o.count[p.Name] = t
		bc1 := 1 - math.Pow(o.Beta1, float64(t))
		bc2 := 1 - math.Pow(o.Beta2, float64(t))
		j := job{
			p: v, g: g,
			s1: buffer(o.expAvg, "exp_avg", p.Name, len(v)),
			s2: buffer(o.expSq, "exp_avg_sq", p.Name, len(v)),
			c: [8]float32{
				1,
				float32(o.Beta1), float32(1 - o.Beta1),
				float32(o.Beta2), float32(1 - o.Beta2),
				float32(lr / bc1), float32(1 / math.Sqrt(bc2)),
				float32(o.Eps),
			},
		}
		if !p.NoDecay {
			j.c[0] = float32(1 - lr*o.WeightDecay)
		}
		o.r.jobs = append(o.r.jobs, j)
	}
	o.r.run(adamwKernel)
	o.steps++
}

// adamwKernel: c = 1−lr·wd, β1, 1−β1, β2, 1−β2, lr/(1−β1ᵗ), 1/√(1−β2ᵗ), ε; s1 = m, s2 = v. The
// operations follow PyTorch's order, except that √v is multiplied by 1/√(1−β2ᵗ) where PyTorch
// divides by √(1−β2ᵗ) (one division less per element; results differ in the last bit or two).
func adamwKernel(j *job, lo, hi int) {
	keep, b1, nb1, b2, nb2, step, rsbc2, eps := j.c[0], j.c[1], j.c[2], j.c[3], j.c[4], j.c[5], j.c[6], j.c[7]
	p, g, m, v := j.p[lo:hi], j.g[lo:hi], j.s1[lo:hi], j.s2[lo:hi]
	for i := range p {
		gi := g[i]
		mi := b1*m[i] + nb1*gi
		vi := b2*v[i] + nb2*(gi*gi)
		m[i], v[i] = mi, vi
		denom := float32(math.Sqrt(float64(vi)))*rsbc2 + eps
		p[i] = p[i]*keep - step*(mi/denom)
	}
}

// State returns copies of the moment buffers keyed "exp_avg/NAME" and "exp_avg_sq/NAME", and each
// parameter's update count as a one-value "step/NAME" (exact up to 2²⁴ updates).
func (o *AdamW) State() map[string][]float32 {
	out := exportState(map[string]map[string][]float32{"exp_avg": o.expAvg, "exp_avg_sq": o.expSq})
	for name, t := range o.count {
		out["step/"+name] = []float32{float32(t)}
	}
	return out
}

// SetState replaces the moment buffers and update counts with copies of state's entries.
func (o *AdamW) SetState(state map[string][]float32) error {
	m, err := importState("adamw", state, "exp_avg", "exp_avg_sq", "step")
	if err != nil {
		return err
	}
	count := map[string]int{}
	for name, s := range m["step"] {
		if len(s) != 1 || s[0] < 0 || s[0] != float32(math.Trunc(float64(s[0]))) || s[0] > 1<<24 {
			return fmt.Errorf("optim: adamw: state step/%s is %v, want one whole number of updates", name, s)
		}
		count[name] = int(s[0])
	}
	for name := range m["exp_avg"] {
		if _, ok := m["exp_avg_sq"][name]; !ok {
			return fmt.Errorf("optim: adamw: state has exp_avg/%s but no exp_avg_sq/%s", name, name)
		}
		if _, ok := count[name]; !ok {
			return fmt.Errorf("optim: adamw: state has exp_avg/%s but no step/%s", name, name)
		}
	}
	for name := range m["exp_avg_sq"] {
		if _, ok := m["exp_avg"][name]; !ok {
			return fmt.Errorf("optim: adamw: state has exp_avg_sq/%s but no exp_avg/%s", name, name)
		}
	}
	o.expAvg, o.expSq, o.count = m["exp_avg"], m["exp_avg_sq"], count
	return nil
}
