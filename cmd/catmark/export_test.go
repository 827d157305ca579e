package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/weights"
)

// An exported half-precision model predicts what the full checkpoint predicts, to F16 accuracy.
func TestExportHalf(t *testing.T) {
	b, err := engine.Open("ref")
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Whole, Norm: "imagenet"}
	m, err := model.New(b, spec, 3)
	if err != nil {
		t.Fatal(err)
	}
	meta := m.Meta()
	meta["train_state"] = `{"epoch":7}`
	dir := t.TempDir()
	in, out := filepath.Join(dir, "best.safetensors"), filepath.Join(dir, "coarse.safetensors")
	if err := weights.Save(in, b, m.Params(), nil, meta); err != nil {
		t.Fatal(err)
	}
	if err := runExport([]string{"--model", in, "--out", out}); err != nil {
		t.Fatal(err)
	}
	h, err := model.Load(b, out)
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec != spec {
		t.Errorf("exported spec %+v, want %+v", h.Spec, spec)
	}
	x := make([]float32, 2*3*32*32)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	p, q := m.Forward(x, 2), h.Forward(x, 2)
	for i := range p {
		if math.Abs(float64(p[i]-q[i])) > 5e-3 {
			t.Fatalf("output %d: %v from the checkpoint, %v from the half export", i, p[i], q[i])
		}
	}
	if err := runExport([]string{"--model", filepath.Join(dir, "missing"), "--out", out}); err == nil {
		t.Error("exporting a missing checkpoint succeeded")
	}
}
