package optim

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/nn"
)

// near reports whether got is within tol of want.
func near(got float32, want, tol float64) bool { return math.Abs(float64(got)-want) <= tol }

// param makes a trainable parameter holding value with a zero gradient.
func param(b engine.Backend, name string, value ...float32) *nn.Param {
	return &nn.Param{Name: name, Value: b.FromHost(value, len(value)), Grad: b.Zeros(len(value))}
}

// TestSGDByHand checks three steps of one value against updates worked out by hand:
// p0 = 1, gradients 0.5, −0.25, 1, lr 0.1, momentum 0.9, weight decay 0.1.
func TestSGDByHand(t *testing.T) {
	cases := []struct {
		name     string
		nesterov bool
		want     [3]float64 // p after each step
		buf      float64    // momentum buffer after step 3
	}{
		// d = g + 0.1·p; buf = 0.9·buf + d; p −= 0.1·buf
		// 1: d = 0.6, buf = 0.6, p = 0.94
		// 2: d = −0.25 + 0.094 = −0.156, buf = 0.54 − 0.156 = 0.384, p = 0.94 − 0.0384 = 0.9016
		// 3: d = 1 + 0.09016 = 1.09016, buf = 0.3456 + 1.09016 = 1.43576, p = 0.9016 − 0.143576
		{"momentum", false, [3]float64{0.94, 0.9016, 0.758024}, 1.43576},
		// as above but p −= 0.1·(d + 0.9·buf)
		// 1: d = 0.6, buf = 0.6, step 1.14, p = 0.886
		// 2: d = −0.25 + 0.0886 = −0.1614, buf = 0.54 − 0.1614 = 0.3786, step −0.1614 + 0.34074 =
		//    0.17934, p = 0.886 − 0.017934 = 0.868066
		// 3: d = 1.0868066, buf = 0.34074 + 1.0868066 = 1.4275466, step 1.0868066 + 1.28479194 =
		//    2.37159854, p = 0.868066 − 0.237159854 = 0.630906146
		{"nesterov", true, [3]float64{0.886, 0.868066, 0.630906146}, 1.4275466},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := ref.New()
			p := param(b, "w", 1)
			opt := &SGD{Momentum: 0.9, WeightDecay: 0.1, Nesterov: c.nesterov}
			for i, g := range []float32{0.5, -0.25, 1} {
				b.Data(p.Grad)[0] = g
				opt.Step(b, []*nn.Param{p}, 0.1)
				if got := b.Data(p.Value)[0]; !near(got, c.want[i], 1e-6) {
					t.Errorf("step %d: p = %.9g, want %.9g", i+1, got, c.want[i])
				}
			}
			if got := opt.State()["momentum/w"][0]; !near(got, c.buf, 1e-6) {
				t.Errorf("momentum buffer = %.9g, want %.9g", got, c.buf)
			}
			if opt.Steps() != 3 {
				t.Errorf("Steps() = %d, want 3", opt.Steps())
			}
		})
	}
}

// TestAdamWByHand checks three AdamW steps on two values against the update rule written out in
// float64: decoupled decay, moment estimates and bias correction.
func TestAdamWByHand(t *testing.T) {
	const lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.5
	p0 := []float64{1, -2}
	grads := [][]float64{{0.5, 0.001}, {-0.25, 0.002}, {1, -3}}

	// The rule, step by step, for a parameter with decay (i = 0) and one without (i = 1).
	want := make([][]float64, len(grads))
	p, m, v := append([]float64(nil), p0...), []float64{0, 0}, []float64{0, 0}
	for s, g := range grads {
		n := float64(s + 1)
		for i := range p {
			if i == 0 {
				p[i] -= lr * wd * p[i]
			}
			m[i] = b1*m[i] + (1-b1)*g[i]
			v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
			mhat := m[i] / (1 - math.Pow(b1, n))
			vhat := v[i] / (1 - math.Pow(b2, n))
			p[i] -= lr * mhat / (math.Sqrt(vhat) + eps)
		}
		want[s] = append([]float64(nil), p...)
	}
	// On step 1 the bias-corrected ratio is g/|g|, so each value moves by about lr.
	if math.Abs(want[0][1]-(-2-lr)) > 1e-6 {
		t.Fatalf("the test's own rule is off: step 1 of value 1 = %v, want about %v", want[0][1], -2-lr)
	}

	b := ref.New()
	w := param(b, "w", float32(p0[0]))
	nd := param(b, "bias", float32(p0[1]))
	nd.NoDecay = true
	opt := &AdamW{Beta1: b1, Beta2: b2, Eps: eps, WeightDecay: wd}
	for s, g := range grads {
		b.Data(w.Grad)[0], b.Data(nd.Grad)[0] = float32(g[0]), float32(g[1])
		opt.Step(b, []*nn.Param{w, nd}, lr)
		for i, q := range []*nn.Param{w, nd} {
			if got := b.Data(q.Value)[0]; !near(got, want[s][i], 1e-6) {
				t.Errorf("step %d, %s: p = %.9g, want %.9g", s+1, q.Name, got, want[s][i])
			}
		}
	}
	st := opt.State()
	for i, name := range []string{"w", "bias"} {
		if got := st["exp_avg/"+name][0]; !near(got, m[i], 1e-7) {
			t.Errorf("exp_avg/%s = %g, want %g", name, got, m[i])
		}
		if got := st["exp_avg_sq/"+name][0]; !near(got, v[i], 1e-9) {
			t.Errorf("exp_avg_sq/%s = %g, want %g", name, got, v[i])
		}
		if got := st["step/"+name]; len(got) != 1 || got[0] != 3 {
			t.Errorf("step/%s = %v, want [3]", name, got)
		}
	}
}

// reference is testdata/reference.json, written by make_reference.py with PyTorch.
type reference struct {
	Torch string
	Cases []struct {
		Name        string
		Optimizer   string
		LR          []float64
		Momentum    float64
		WeightDecay float64 `json:"weight_decay"`
		Nesterov    bool
		Betas       []float64
		Eps         float64
		Params      map[string]struct {
			Init  []float32
			Grads [][]float32
			After [][]float64
			State map[string][]float64
		}
	}
}

// TestMatchesPyTorch replays torch.optim.SGD and torch.optim.AdamW runs (five steps, a changing
// learning rate, one parameter with decay and one in a no-decay group) and matches every value
// after every step, and the final state, to 1e-6.
func TestMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var torch reference
	if err := json.Unmarshal(raw, &torch); err != nil {
		t.Fatalf("reference.json: %v", err)
	}
	if len(torch.Cases) < 4 {
		t.Fatalf("reference.json has %d cases, want at least 4", len(torch.Cases))
	}
	stateName := map[string]string{"momentum_buffer": "momentum", "exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}
	for _, c := range torch.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var opt Optimizer
			switch c.Optimizer {
			case "sgd":
				opt = &SGD{Momentum: c.Momentum, WeightDecay: c.WeightDecay, Nesterov: c.Nesterov}
			case "adamw":
				opt = &AdamW{Beta1: c.Betas[0], Beta2: c.Betas[1], Eps: c.Eps, WeightDecay: c.WeightDecay}
			default:
				t.Fatalf("unknown optimizer %q", c.Optimizer)
			}
			b := ref.New()
			names := []string{"w", "b"}
			params := make([]*nn.Param, len(names))
			for i, n := range names {
				params[i] = param(b, n, c.Params[n].Init...)
				params[i].NoDecay = n == "b"
			}
			for s, lr := range c.LR {
				for i, n := range names {
					copy(b.Data(params[i].Grad), c.Params[n].Grads[s])
				}
				opt.Step(b, params, lr)
				for i, n := range names {
					got := b.Data(params[i].Value)
					for k, want := range c.Params[n].After[s] {
						if !near(got[k], want, 1e-6) {
							t.Errorf("step %d: %s[%d] = %.9g, PyTorch %.9g", s+1, n, k, got[k], want)
						}
					}
				}
			}
			st := opt.State()
			for _, n := range names {
				for tk, want := range c.Params[n].State {
					got := st[stateName[tk]+"/"+n]
					if len(got) != len(want) {
						t.Fatalf("state %s/%s has %d values, PyTorch %s has %d", stateName[tk], n, len(got), tk, len(want))
					}
					for k := range want {
						if !near(got[k], want[k], 1e-6) {
							t.Errorf("state %s/%s[%d] = %.9g, PyTorch %.9g", stateName[tk], n, k, got[k], want[k])
						}
					}
				}
			}
		})
	}
}

// TestSkipsAndDecay checks which parameters an optimiser touches: not frozen ones, not buffers,
// not those without a gradient; and NoDecay ones move by the gradient alone.
func TestSkipsAndDecay(t *testing.T) {
	for _, opt := range []Optimizer{
		&SGD{Momentum: 0.9, WeightDecay: 0.1},
		&AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1},
	} {
		t.Run(opt.Name(), func(t *testing.T) {
			b := ref.New()
			frozen := param(b, "frozen", 1, 2)
			frozen.Frozen = true
			buf := param(b, "bn.running_mean", 1, 2)
			buf.Buffer = true
			nograd := param(b, "nograd", 1, 2)
			nograd.Grad = nil
			nodecay := param(b, "bias", 1, 2) // zero gradient: only decay could move it
			decay := param(b, "weight", 1, 2)
			for _, p := range []*nn.Param{frozen, buf} {
				b.Data(p.Grad)[0] = 1
			}
			params := []*nn.Param{frozen, buf, nograd, nodecay, decay}
			nodecay.NoDecay = true
			opt.Step(b, params, 0.1)
			opt.Step(b, params, 0.1)
			for _, p := range []*nn.Param{frozen, buf, nograd, nodecay} {
				if v := b.Data(p.Value); v[0] != 1 || v[1] != 2 {
					t.Errorf("%s changed to %v, want [1 2] untouched", p.Name, v)
				}
			}
			if v := b.Data(decay.Value); !(v[0] < 1 && v[1] < 2) {
				t.Errorf("weight = %v: weight decay with a zero gradient should shrink it", v)
			}
			for key := range opt.State() {
				if strings.HasSuffix(key, "/frozen") || strings.HasSuffix(key, "/bn.running_mean") || strings.HasSuffix(key, "/nograd") {
					t.Errorf("state %q kept for a parameter that was never updated", key)
				}
			}
		})
	}
}

// TestAdamWCountsPerParameter checks that a parameter unfrozen later gets its own bias
// correction: its first update moves it by about lr, as every parameter's first update does.
func TestAdamWCountsPerParameter(t *testing.T) {
	b := ref.New()
	early, late := param(b, "early", 0), param(b, "late", 0)
	late.Frozen = true
	opt := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	b.Data(early.Grad)[0], b.Data(late.Grad)[0] = 1, 1
	for range 10 {
		opt.Step(b, []*nn.Param{early, late}, 0.01)
	}
	late.Frozen = false
	opt.Step(b, []*nn.Param{early, late}, 0.01)
	if got := b.Data(late.Value)[0]; !near(got, -0.01, 1e-6) {
		t.Errorf("first update after unfreezing moved late to %g, want −0.01 (lr·sign(g))", got)
	}
	if st := opt.State(); st["step/late"][0] != 1 || st["step/early"][0] != 11 {
		t.Errorf("update counts early %v, late %v, want [11] and [1]", st["step/early"], st["step/late"])
	}
	if opt.Steps() != 11 {
		t.Errorf("Steps() = %d, want 11", opt.Steps())
	}
}

// TestStateRoundTrip checks that an optimiser restored from State, SetState and SetSteps
// continues exactly as the original.
func TestStateRoundTrip(t *testing.T) {
	makers := map[string]func() Optimizer{
		"sgd":      func() Optimizer { return &SGD{Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true} },
		"adamw":    func() Optimizer { return &AdamW{Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.05} },
		"sgdplain": func() Optimizer { return &SGD{} },
	}
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			b := ref.New()
			mkParams := func() []*nn.Param {
				return []*nn.Param{param(b, "a", 1, -1, 0.5), param(b, "b", 3)}
			}
			grad := func(ps []*nn.Param, s int) {
				for i, p := range ps {
					for k := range b.Data(p.Grad) {
						b.Data(p.Grad)[k] = float32(math.Sin(float64(s*7 + i*3 + k)))
					}
				}
			}
			pa, pb := mkParams(), mkParams()
			oa := mk()
			for s := range 3 {
				grad(pa, s)
				oa.Step(b, pa, 0.05)
			}
			// Bring pb to pa's values, restore a fresh optimiser from oa, and step both twice.
			for i := range pa {
				copy(b.Data(pb[i].Value), b.Data(pa[i].Value))
			}
			ob := mk()
			if err := ob.SetState(oa.State()); err != nil {
				t.Fatal(err)
			}
			ob.SetSteps(oa.Steps())
			for s := 3; s < 5; s++ {
				grad(pa, s)
				grad(pb, s)
				oa.Step(b, pa, 0.05)
				ob.Step(b, pb, 0.05)
			}
			for i := range pa {
				va, vb := b.Data(pa[i].Value), b.Data(pb[i].Value)
				for k := range va {
					if va[k] != vb[k] {
						t.Errorf("%s[%d]: restored optimiser gives %v, original %v", pa[i].Name, k, vb[k], va[k])
					}
				}
			}
			if oa.Steps() != 5 || ob.Steps() != 5 {
				t.Errorf("Steps() = %d and %d, want 5", oa.Steps(), ob.Steps())
			}
		})
	}
}

// TestStateIsACopy checks that State and SetState copy, so a saved state cannot change under
// training and vice versa.
func TestStateIsACopy(t *testing.T) {
	b := ref.New()
	p := param(b, "w", 1)
	b.Data(p.Grad)[0] = 1
	opt := &SGD{Momentum: 0.9}
	opt.Step(b, []*nn.Param{p}, 0.1)
	st := opt.State()
	st["momentum/w"][0] = 100
	if got := opt.State()["momentum/w"][0]; got != 1 {
		t.Errorf("momentum = %v after editing State's result, want 1", got)
	}
	in := map[string][]float32{"momentum/w": {2}}
	if err := opt.SetState(in); err != nil {
		t.Fatal(err)
	}
	in["momentum/w"][0] = 100
	if got := opt.State()["momentum/w"][0]; got != 2 {
		t.Errorf("momentum = %v after editing SetState's argument, want 2", got)
	}
}

func TestSetStateErrors(t *testing.T) {
	cases := []struct {
		opt   Optimizer
		state map[string][]float32
		want  string
	}{
		{&SGD{Momentum: 0.9}, map[string][]float32{"exp_avg/w": {1}}, `unknown state "exp_avg/w"`},
		{&SGD{Momentum: 0.9}, map[string][]float32{"momentum": {1}}, `unknown state "momentum"`},
		{&SGD{Momentum: 0.9}, map[string][]float32{"momentum/": {1}}, `unknown state "momentum/"`},
		{&AdamW{}, map[string][]float32{"momentum/w": {1}}, `unknown state "momentum/w"`},
		{&AdamW{}, map[string][]float32{"exp_avg/w": {1}, "step/w": {1}}, "no exp_avg_sq/w"},
		{&AdamW{}, map[string][]float32{"exp_avg_sq/w": {1}, "step/w": {1}}, "no exp_avg/w"},
		{&AdamW{}, map[string][]float32{"exp_avg/w": {1}, "exp_avg_sq/w": {1}}, "no step/w"},
		{&AdamW{}, map[string][]float32{"step/w": {1.5}}, "step/w is [1.5]"},
		{&AdamW{}, map[string][]float32{"step/w": {1, 2}}, "step/w is [1 2]"},
	}
	for _, c := range cases {
		err := c.opt.SetState(c.state)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s.SetState(%v) = %v, want an error containing %q", c.opt.Name(), c.state, err, c.want)
		}
	}
}

// TestRestoredLengthMismatchPanics checks that a restored buffer of the wrong length is caught
// at the next step instead of corrupting memory or silently restarting.
func TestRestoredLengthMismatchPanics(t *testing.T) {
	b := ref.New()
	p := param(b, "w", 1, 2)
	opt := &SGD{Momentum: 0.9}
	if err := opt.SetState(map[string][]float32{"momentum/w": {1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "momentum/w has 3 values, parameter has 2") {
			t.Errorf("panic = %v, want one naming momentum/w and both lengths", r)
		}
	}()
	opt.Step(b, []*nn.Param{p}, 0.1)
}

// TestParallelCoversEveryElement runs a step big enough to be split between goroutines over
// tensors whose boundaries fall anywhere, and checks every element was updated exactly once.
func TestParallelCoversEveryElement(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	b := ref.New()
	sizes := []int{parallelMin/2 + 3, 1, parallelMin + 17, 5}
	var params []*nn.Param
	for i, n := range sizes {
		p := &nn.Param{Name: string(rune('a' + i)), Value: b.Zeros(n), Grad: b.Zeros(n)}
		for k := range n {
			b.Data(p.Value)[k] = float32(k%97) / 10
			b.Data(p.Grad)[k] = float32(k%13) - 6
		}
		params = append(params, p)
	}
	const lr, wd = 0.01, 0.1
	opt := &SGD{WeightDecay: wd}
	opt.Step(b, params, lr)
	for _, p := range params {
		for k, got := range b.Data(p.Value) {
			v, g := float32(k%97)/10, float32(k%13)-6
			want := v - float32(lr)*(g+float32(wd)*v)
			if got != want {
				t.Fatalf("%s[%d] = %v, want %v (updated %s)", p.Name, k, got, want, map[bool]string{true: "never", false: "twice?"}[got == v])
			}
		}
	}
}

// TestStepAllocatesNothing checks the steady state: once buffers exist, a step of a small model
// allocates nothing.
func TestStepAllocatesNothing(t *testing.T) {
	var b engine.Backend = ref.New() // converted once, outside the measured calls
	params := []*nn.Param{param(b, "a", 1, 2, 3), param(b, "b", 4)}
	for _, opt := range []Optimizer{&SGD{Momentum: 0.9, WeightDecay: 1e-4}, &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}} {
		opt.Step(b, params, 0.1)
		if n := testing.AllocsPerRun(20, func() { opt.Step(b, params, 0.1) }); n != 0 {
			t.Errorf("%s: %v allocations per step, want 0", opt.Name(), n)
		}
	}
}

func TestNew(t *testing.T) {
	o, err := New("adamw", 0, 0.01)
	if a, ok := o.(*AdamW); err != nil || !ok || a.Beta1 != 0.9 || a.Beta2 != 0.999 || a.Eps != 1e-8 || a.WeightDecay != 0.01 {
		t.Errorf("New(adamw) = %#v, %v", o, err)
	}
	o, err = New("sgd", 0.9, 1e-4)
	if s, ok := o.(*SGD); err != nil || !ok || s.Momentum != 0.9 || s.WeightDecay != 1e-4 {
		t.Errorf("New(sgd) = %#v, %v", o, err)
	}
	if _, err := New("adam", 0, 0); err == nil || !strings.Contains(err.Error(), `"adam"`) {
		t.Errorf("New(adam) error = %v, want one naming it", err)
	}
}

func benchmarkStep(bn *testing.B, opt Optimizer) {
	b := ref.New()
	const n = 4 << 20
	params := []*nn.Param{{Name: "w", Value: b.Zeros(n), Grad: b.Zeros(n)}}
	for k := range b.Data(params[0].Grad) {
		b.Data(params[0].Grad)[k] = float32(k%7) - 3
	}
	opt.Step(b, params, 1e-3)
	bn.SetBytes(n * 4)
	bn.ResetTimer()
	for bn.Loop() {
		opt.Step(b, params, 1e-3)
	}
}

func BenchmarkSGD(b *testing.B) { benchmarkStep(b, &SGD{Momentum: 0.9, WeightDecay: 1e-4}) }
func BenchmarkAdamW(b *testing.B) {
	benchmarkStep(b, &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4})
}
