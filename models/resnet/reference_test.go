package resnet

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/nn"
)

// refTensor is a tensor as testdata/make_reference.py writes it.
type refTensor struct {
	Shape []int     `json:"shape"`
	Data  []float32 `json:"data"`
}

// refCase is one PyTorch forward and backward pass (see testdata/make_reference.py).
type refCase struct {
	Train      bool                 `json:"train"`
	State      map[string]refTensor `json:"state"`
	X          refTensor            `json:"x"`
	R          refTensor            `json:"r"`
	Y          refTensor            `json:"y"`
	StateAfter map[string]refTensor `json:"state_after"`
	GradX      refTensor            `json:"grad_x"`
	Grads      map[string]refTensor `json:"grads"`
}

// pytorchTol bounds the error relative to each tensor's largest magnitude. PyTorch and ref sum
// in different orders in float32; the differences seen are below 1e-5.
const pytorchTol = 1e-4

// TestAgainstPyTorch loads PyTorch's weights by name into the stem and a Bottleneck with
// downsample, runs the same forward and backward passes on the reference backend, and compares
// outputs, updated running statistics and every gradient.
func TestAgainstPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Torch string             `json:"torch"`
		Cases map[string]refCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("testdata/reference.json: %v", err)
	}
	b := ref.New()
	for name, build := range map[string]func() nn.Layer{
		"stem_train":       func() nn.Layer { return newStem(b, 8) },
		"bottleneck_train": func() nn.Layer { return newBottleneck(b, "blk", 16, 8, 2) },
		"bottleneck_eval":  func() nn.Layer { return newBottleneck(b, "blk", 16, 8, 2) },
	} {
		t.Run(name, func(t *testing.T) {
			c, ok := file.Cases[name]
			if !ok {
				t.Fatalf("testdata/reference.json has no case %q", name)
			}
			l := build()
			torchName := func(p *nn.Param) string { return strings.TrimPrefix(p.Name, "blk.") }
			for _, p := range l.Params() {
				v, ok := c.State[torchName(p)]
				if !ok {
					t.Fatalf("PyTorch has no tensor %q", torchName(p))
				}
				if fmt.Sprint(v.Shape) != fmt.Sprint(p.Value.Shape()) {
					t.Fatalf("%s: PyTorch shape %v, ours %v", p.Name, v.Shape, p.Value.Shape())
				}
				copy(b.Data(p.Value), v.Data)
			}
			if got, want := len(l.Params()), len(c.State); got != want {
				t.Errorf("%d named tensors, PyTorch's state_dict has %d", got, want)
			}
			x := b.FromHost(c.X.Data, c.X.Shape...)
			y := l.Forward(x, c.Train)
			cmp(t, b, "y", y, c.Y)
			for _, p := range l.Params() {
				if p.Buffer {
					cmp(t, b, p.Name+" after the forward pass", p.Value, c.StateAfter[torchName(p)])
				}
			}
			if !c.Train {
				// PyTorch's eval mode with gradients: our batch norms use running statistics when
				// frozen, so freeze them for this forward pass only; unfrozen again, their backward
				// pass (in the mode the forward pass chose) also gives γ and β gradients.
				for _, p := range l.Params() {
					if strings.Contains(p.Name, "bn") || strings.Contains(p.Name, "downsample.1") {
						p.Frozen = true
					}
				}
				b.Release(y)
				y = l.Forward(x, true)
				for _, p := range l.Params() {
					p.Frozen = false
				}
			}
			dx := l.Backward(b.FromHost(c.R.Data, c.R.Shape...), true)
			cmp(t, b, "dx", dx, c.GradX)
			for _, p := range l.Params() {
				if p.Buffer {
					continue
				}
				g, ok := c.Grads[torchName(p)]
				if !ok {
					t.Errorf("PyTorch has no gradient for %s", p.Name)
					continue
				}
				if p.Grad == nil {
					t.Errorf("%s: no gradient", p.Name)
					continue
				}
				cmp(t, b, "gradient of "+p.Name, p.Grad, g)
			}
		})
	}
}

func cmp(t *testing.T, b engine.Backend, what string, got engine.Tensor, want refTensor) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil", what)
		return
	}
	if fmt.Sprint(got.Shape()) != fmt.Sprint(want.Shape) {
		t.Errorf("%s: shape %v, PyTorch %v", what, got.Shape(), want.Shape)
		return
	}
	e, err := enginetest.MaxRelErr(b.ToHost(got), want.Data)
	if err != nil || e > pytorchTol {
		t.Errorf("%s: max error %.3g of max |PyTorch| (%v), want ≤ %g", what, e, err, pytorchTol)
	}
}
