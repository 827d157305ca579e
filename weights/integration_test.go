package weights_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/nn"
	"github.com/catmark/catmark/optim"
	"github.com/catmark/catmark/weights"
)

// tiny is a small network in torchvision's naming: conv1, bn1 (with ReLU), pooling, fc, sigmoid.
func tiny(b engine.Backend, seed uint64) *nn.Sequential {
	rng := rand.New(rand.NewPCG(seed, 1))
	conv := nn.NewConv2d(b, "conv1", 3, 4, 3, 1, 1, false)
	fc := nn.NewLinear(b, "fc", 4, 18)
	nn.KaimingNormalFanOut(b, conv.Params()[0], rng)
	nn.UniformFanIn(b, fc.Weight, 4, rng)
	return nn.NewSequential(b, conv, nn.NewBatchNorm2d(b, "bn1", 4, true), nn.NewGlobalAvgPool(b), fc, nn.NewSigmoid(b))
}

// step runs one forward and backward pass on a fixed batch (loss: the sum of the outputs) and one
// optimiser step.
func step(b engine.Backend, m *nn.Sequential, opt optim.Optimizer, lr float64) {
	x := make([]float32, 2*3*5*5)
	for i := range x {
		x[i] = float32(i%11)/10 - 0.4
	}
	y := m.Forward(b.FromHost(x, 2, 3, 5, 5), true)
	ones := make([]float32, 2*18)
	for i := range ones {
		ones[i] = 1
	}
	m.Backward(b.FromHost(ones, y.Shape()...), false)
	opt.Step(b, m.Params(), lr)
}

func hostValues(b engine.Backend, ps []*nn.Param) [][]float32 {
	var out [][]float32
	for _, p := range ps {
		out = append(out, b.ToHost(p.Value))
	}
	return out
}

// TestCheckpointResumesTraining trains a real network on the reference backend, saves a
// checkpoint, loads it into a fresh network and optimiser, and checks that training goes on
// exactly as if it had never stopped (running statistics included).
func TestCheckpointResumesTraining(t *testing.T) {
	b := ref.New()
	sched := optim.Cosine{Base: 0.05, Warmup: 2, Total: 10}
	a := tiny(b, 1)
	optA, _ := optim.New("adamw", 0, 0.01)
	for s := range 4 {
		step(b, a, optA, sched.LR(s))
	}
	path := filepath.Join(t.TempDir(), "last.safetensors")
	if err := weights.Save(path, b, a.Params(), optA, map[string]string{"epoch": "4"}); err != nil {
		t.Fatal(err)
	}

	c := tiny(b, 2) // different initial weights
	optC, _ := optim.New("adamw", 0, 0.01)
	meta, err := weights.Load(path, b, c.Params(), optC)
	if err != nil {
		t.Fatal(err)
	}
	if meta["epoch"] != "4" {
		t.Errorf("meta = %v", meta)
	}
	for s := optC.Steps(); s < 7; s++ {
		step(b, a, optA, sched.LR(s))
		step(b, c, optC, sched.LR(s))
	}
	va, vc := hostValues(b, a.Params()), hostValues(b, c.Params())
	for i, p := range a.Params() {
		if !slices.Equal(va[i], vc[i]) {
			t.Errorf("%s differs after resuming: %v vs %v", p.Name, vc[i][:min(3, len(vc[i]))], va[i][:min(3, len(va[i]))])
		}
	}
}

// Example shows the calls a training loop makes: import ImageNet weights for the backbone, save
// a checkpoint each epoch, resume from it.
func Example() {
	b := ref.New()
	dir, _ := os.MkdirTemp("", "catmark-example")
	defer os.RemoveAll(dir)

	// Weights made elsewhere (here: a model with a 1000-class head standing in for ImageNet's).
	donor := nn.NewSequential(b, nn.NewConv2d(b, "conv1", 3, 4, 3, 1, 1, false), nn.NewBatchNorm2d(b, "bn1", 4, true),
		nn.NewGlobalAvgPool(b), nn.NewLinear(b, "fc", 4, 1000))
	imagenet := filepath.Join(dir, "imagenet.safetensors")
	if err := weights.Save(imagenet, b, donor.Params(), nil, nil); err != nil {
		fmt.Println(err)
	}

	m := tiny(b, 1)
	err := weights.ImportTorch(imagenet, b, m.Params(), weights.ImportOptions{})
	fmt.Println(err != nil) // the heads differ
	err = weights.ImportTorch(imagenet, b, m.Params(), weights.ImportOptions{SkipPrefixes: []string{"fc."}})
	fmt.Println(err)

	opt := &optim.SGD{Momentum: 0.9}
	step(b, m, opt, 1e-3)
	last := filepath.Join(dir, "last.safetensors")
	if err := weights.Save(last, b, m.Params(), opt, map[string]string{"epoch": "1"}); err != nil {
		fmt.Println(err)
	}

	resumed, opt2 := tiny(b, 2), &optim.SGD{Momentum: 0.9}
	meta, err := weights.Load(last, b, resumed.Params(), opt2)
	fmt.Println(meta["epoch"], opt2.Steps(), err)

	infos, _, _ := weights.Inspect(last)
	for _, ti := range infos[:3] {
		fmt.Println(ti.Name, ti.DType, ti.Shape)
	}
	// Output:
	// true
	// <nil>
	// 1 1 <nil>
	// conv1.weight F32 [4 3 3 3]
	// bn1.weight F32 [4]
	// bn1.bias F32 [4]
}
