package optim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Schedule gives the learning rate for each optimiser step. Steps count from 0: the first
// Step of a run uses LR(0).
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate (the seed's 1e-3).
type Constant float64

// LR returns the constant.
func (c Constant) LR(int) float64 { return float64(c) }

// StepDecay multiplies the rate by Gamma every Every steps: Base·Gamma^⌊step/Every⌋ (PyTorch's
// StepLR counted in steps).
type StepDecay struct {
	Base  float64
	Every int
	Gamma float64
}

// LR returns the decayed rate at step.
func (s StepDecay) LR(step int) float64 {
	if s.Every <= 0 || step < 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.Every))
}

// Cosine warms up linearly and then decays along half a cosine:
//
//	step < Warmup:          Base·(step+1)/Warmup
//	Warmup ≤ step < Total:  Min + (Base−Min)·(1 + cos(π·(step−Warmup)/(Total−Warmup)))/2
//	step ≥ Total:           Min
//
// The warm-up's first step is Base/Warmup rather than 0, so no step is wasted; without warm-up
// the first step uses Base.
type Cosine struct {
	Base, Min     float64
	Warmup, Total int
}

// LR returns the rate at step.
func (c Cosine) LR(step int) float64 {
	if step < c.Warmup {
		return c.Base * float64(max(step, 0)+1) / float64(c.Warmup)
	}
	span := c.Total - c.Warmup
	if span <= 0 || step >= c.Total {
		return c.Min
	}
	t := float64(step-c.Warmup) / float64(span)
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*t))/2
}

// ParseSchedule builds a schedule for a run of total steps from a description:
//
//	constant                     base throughout
//	step:every=N,gamma=G         StepDecay (gamma 0.1 when left out; every is required)
//	cosine[:warmup=W,min=M]      Cosine; W is a step count ("200") or a share of the run ("3%",
//	                             "0.03"), M the final rate (0 when left out)
func ParseSchedule(s string, base float64, total int) (Schedule, error) {
	kind, args, _ := strings.Cut(s, ":")
	opts := map[string]string{}
	if args != "" {
		for _, kv := range strings.Split(args, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" || v == "" {
				return nil, fmt.Errorf("optim: schedule %q: %q is not KEY=VALUE", s, kv)
			}
			opts[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	allow := func(keys ...string) error {
		for k := range opts {
			if !slices.Contains(keys, k) {
				return fmt.Errorf("optim: schedule %q: unknown option %q for %s (have %v)", s, k, kind, keys)
			}
		}
		return nil
	}
	switch kind {
	case "constant":
		if err := allow(); err != nil {
			return nil, err
		}
		return Constant(base), nil
	case "step":
		if err := allow("every", "gamma"); err != nil {
			return nil, err
		}
		every, err := strconv.Atoi(opts["every"])
		if err != nil || every <= 0 {
			return nil, fmt.Errorf("optim: schedule %q: every=%q must be a positive step count", s, opts["every"])
		}
		gamma := 0.1
		if g, ok := opts["gamma"]; ok {
			if gamma, err = strconv.ParseFloat(g, 64); err != nil || gamma <= 0 {
				return nil, fmt.Errorf("optim: schedule %q: gamma=%q must be a positive number", s, g)
			}
		}
		return StepDecay{Base: base, Every: every, Gamma: gamma}, nil
	case "cosine":
		if err := allow("warmup", "min"); err != nil {
			return nil, err
		}
		c := Cosine{Base: base, Total: total}
		if w, ok := opts["warmup"]; ok {
			n, err := steps(w, total)
			if err != nil {
				return nil, fmt.Errorf("optim: schedule %q: warmup: %v", s, err)
			}
			c.Warmup = n
		}
		if m, ok := opts["min"]; ok {
			v, err := strconv.ParseFloat(m, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("optim: schedule %q: min=%q must be a non-negative number", s, m)
			}
			c.Min = v
		}
		return c, nil
	}
	return nil, fmt.Errorf("optim: unknown schedule %q (want constant, step:every=N[,gamma=G] or cosine[:warmup=W,min=M])", s)
}

// steps reads a step count ("200") or a share of total ("3%", "0.03").
func steps(v string, total int) (int, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return n, nil
	}
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if pct {
		f /= 100
	}
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("%q is neither a step count nor a share of the run in [0, 1]", v)
	}
	return int(math.Round(f * float64(total))), nil
}
