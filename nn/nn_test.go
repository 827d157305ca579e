package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
)

// testNet is a small network with every layer type: conv, BN with ReLU, max pooling, conv with
// bias, BN, global average pooling, linear and sigmoid.
func testNet(b engine.Backend, seed uint64) *Sequential {
	rng := enginetest.NewRand(seed)
	c1, c2 := NewConv2d(b, "c1", 2, 4, 3, 1, 1, false), NewConv2d(b, "c2", 4, 5, 3, 2, 1, true)
	fc := NewLinear(b, "fc", 5, 3)
	for _, p := range []*Param{c1.Weight, c2.Weight} {
		KaimingNormalFanOut(b, p, rng)
	}
	UniformFanIn(b, c2.Bias, 4*9, rng)
	UniformFanIn(b, fc.Weight, 5, rng)
	UniformFanIn(b, fc.Bias, 5, rng)
	bn1, bn2 := NewBatchNorm2d(b, "bn1", 4, true), NewBatchNorm2d(b, "bn2", 5, false)
	// Non-trivial γ, β and running statistics.
	for _, bn := range []*BatchNorm2d{bn1, bn2} {
		n := len(b.Data(bn.Weight.Value))
		copy(b.Data(bn.Weight.Value), enginetest.Uniform(rng, n, 0.5, 1.5))
		copy(b.Data(bn.Bias.Value), enginetest.Rand(rng, n, 0.3))
		copy(b.Data(bn.RunningMean.Value), enginetest.Rand(rng, n, 0.3))
		copy(b.Data(bn.RunningVar.Value), enginetest.Uniform(rng, n, 0.5, 2))
	}
	return NewSequential(b, c1, bn1, NewMaxPool2d(b, 3, 2, 1), c2, bn2, NewGlobalAvgPool(b), fc, NewSigmoid(b))
}

func byName(ps []*Param) map[string]*Param {
	m := map[string]*Param{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

// TestSequentialGradients checks every parameter gradient and the input gradient of testNet
// against central differences of L = Σ r·y (float64 accumulation, eps 1e-2).
func TestSequentialGradients(t *testing.T) {
	b := ref.New()
	for _, train := range []bool{true, false} {
		t.Run(fmt.Sprintf("train=%v", train), func(t *testing.T) {
			net := testNet(b, 1)
			if !train {
				// Frozen batch norms use the running statistics also in training.
				for _, p := range net.Params() {
					if p.Name[:2] == "bn" {
						p.Frozen = true
					}
				}
			}
			rng := enginetest.NewRand(2)
			x := enginetest.RandTensor(b, rng, 1, 2, 2, 7, 7)
			y := net.Forward(x, true)
			r := enginetest.Rand(rng, engine.Numel(y.Shape()), 1)
			dx := net.Backward(b.FromHost(r, y.Shape()...), true)
			loss := func() float64 {
				y := net.Forward(x, false)
				if train {
					y = net.Forward(x, true) // batch statistics
					net.Free()
				}
				var s float64
				for i, v := range b.ToHost(y) {
					s += float64(r[i]) * float64(v)
				}
				return s
			}
			type check struct {
				name string
				in   []float32
				grad engine.Tensor
			}
			checks := []check{{"x", b.Data(x), dx}}
			for _, p := range net.Params() {
				if p.Trainable() {
					checks = append(checks, check{p.Name, b.Data(p.Value), p.Grad})
				} else if p.Grad != nil {
					t.Errorf("%s: not trainable but has a gradient", p.Name)
				}
			}
			for _, c := range checks {
				if c.grad == nil {
					t.Errorf("%s: no gradient", c.name)
					continue
				}
				an := b.ToHost(c.grad)
				var scale float64
				for _, v := range an {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for i := 0; i < len(c.in); i += 1 + len(c.in)/6 {
					const eps = 1e-2
					x0 := c.in[i]
					c.in[i] = x0 + eps
					lp := loss()
					c.in[i] = x0 - eps
					lm := loss()
					c.in[i] = x0
					fd := (lp - lm) / (2 * eps)
					if d := math.Abs(fd - float64(an[i])); d > 2e-2*math.Abs(fd)+3e-3*scale+1e-5 {
						t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", c.name, i, an[i], fd)
					}
				}
			}
		})
	}
}

// TestMemory checks that a training step releases everything but parameters and gradients,
// releases nothing twice, and that an inference pass keeps only its output.
func TestMemory(t *testing.T) {
	tr := enginetest.NewTracker(ref.New())
	net := testNet(tr, 3)
	params := tr.Live()
	rng := enginetest.NewRand(4)
	x := enginetest.RandTensor(tr, rng, 1, 2, 2, 9, 9)
	for step := 0; step < 2; step++ {
		y := net.Forward(x, true)
		dy := enginetest.RandTensor(tr, rng, 1, y.Shape()...)
		dx := net.Backward(dy, false)
		if dx != nil {
			t.Errorf("step %d: dx computed without needInputGrad", step)
		}
		tr.Release(y)
		tr.Release(dy)
		// Parameters, x, and one gradient per trainable parameter (2 convs + bias, 2 BN γ/β, fc).
		if got, want := tr.Live(), params+1+3+4+2; got != want {
			t.Errorf("step %d: %d live tensors after a training step, want %d: %v", step, got, want, tr.LiveBy())
		}
	}
	y := net.Forward(x, false)
	tr.Release(y)
	if got, want := tr.Live(), params+1+9; got != want {
		t.Errorf("%d live tensors after inference, want %d: %v", got, want, tr.LiveBy())
	}
	// A training forward pass abandoned without a backward pass is dropped by the next one.
	y1 := net.Forward(x, true)
	y = net.Forward(x, true)
	net.Free()
	tr.Release(y1)
	tr.Release(y)
	if got, want := tr.Live(), params+1+9; got != want {
		t.Errorf("%d live tensors after Free, want %d: %v", got, want, tr.LiveBy())
	}
}

// TestFreezing checks that frozen layers compute no gradients, frozen batch norms keep their
// running statistics in training, and the backward pass stops below the lowest trainable layer.
func TestFreezing(t *testing.T) {
	tr := enginetest.NewTracker(ref.New())
	net := testNet(tr, 5)
	ps := byName(net.Params())
	for _, n := range []string{"c1.weight", "bn1.weight", "bn1.bias"} {
		ps[n].Frozen = true
	}
	rm, rm2 := tr.ToHost(ps["bn1.running_mean"].Value), tr.ToHost(ps["bn2.running_mean"].Value)
	x := enginetest.RandTensor(tr, enginetest.NewRand(6), 1, 2, 2, 7, 7)
	y := net.Forward(x, true)
	if got := tr.ToHost(ps["bn1.running_mean"].Value); fmt.Sprint(got) != fmt.Sprint(rm) {
		t.Errorf("frozen bn1 changed its running mean in training: %v → %v", rm, got)
	}
	if got := tr.ToHost(ps["bn2.running_mean"].Value); fmt.Sprint(got) == fmt.Sprint(rm2) {
		t.Errorf("trainable bn2 did not update its running mean")
	}
	net.Backward(tr.FromHost(make([]float32, engine.Numel(y.Shape())), y.Shape()...), false)
	for _, n := range []string{"c1.weight", "bn1.weight", "bn1.bias"} {
		if ps[n].Grad != nil {
			t.Errorf("frozen %s has a gradient", n)
		}
	}
	for _, n := range []string{"c2.weight", "c2.bias", "bn2.weight", "fc.weight"} {
		if ps[n].Grad == nil {
			t.Errorf("trainable %s has no gradient", n)
		}
	}
	// Only c2 runs backwards, and it needs no input gradient (nothing below is trainable).
	if len(tr.ConvBackward) != 1 || tr.ConvBackward[0].Grads != (engine.Grads{Params: true}) {
		t.Errorf("Conv2DBackward calls %+v, want one with Grads{Params: true}", tr.ConvBackward)
	}
	if n := tr.Calls["MaxPoolBackward"]; n != 0 {
		t.Errorf("MaxPoolBackward ran %d times below the lowest trainable layer", n)
	}
	if n := tr.Calls["BatchNormBackward"]; n != 1 {
		t.Errorf("BatchNormBackward ran %d times, want 1 (bn2 only)", n)
	}
}

// TestGradOverwritten checks that a second backward pass overwrites, not accumulates.
func TestGradOverwritten(t *testing.T) {
	b := ref.New()
	net := testNet(b, 7)
	x := enginetest.RandTensor(b, enginetest.NewRand(8), 1, 2, 2, 7, 7)
	var first []float32
	for i := 0; i < 2; i++ {
		y := net.Forward(x, false) // inference statistics, so both passes are identical
		b.Release(y)
		for _, p := range net.Params() {
			if p.Name[:2] == "bn" {
				p.Frozen = true
			}
		}
		y = net.Forward(x, true)
		net.Backward(b.FromHost(enginetest.Rand(enginetest.NewRand(9), engine.Numel(y.Shape()), 1), y.Shape()...), false)
		g := b.ToHost(byName(net.Params())["c1.weight"].Grad)
		if i == 0 {
			first = g
		} else if e, _ := enginetest.MaxRelErr(g, first); e > 1e-6 {
			t.Errorf("second pass's gradient differs from the first by %g (accumulated?)", e)
		}
	}
}
