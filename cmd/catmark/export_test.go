package main

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/models/resnet"
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

// export --format onnx writes the shipped detector's two networks to a folder, a detector folder
// with a centers model's three, and a checkpoint to one file; it refuses --half, a folder model
// into one file, and unknown formats.
func TestExportONNX(t *testing.T) {
	dir := t.TempDir()
	if err := runExport([]string{"--format", "onnx", "--out", filepath.Join(dir, "shipped")}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"coarse.onnx", "refine.onnx"} {
		data, err := os.ReadFile(filepath.Join(dir, "shipped", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte("catmark.model_spec")) || len(data) < 1e6 {
			t.Errorf("%s: %d bytes without the model spec, want an ONNX model of the shipped network", f, len(data))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "shipped", "centers.onnx")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the shipped detector, which has no centers model, gave centers.onnx (%v)", err)
	}
	three := filepath.Join(dir, "three")
	if err := os.MkdirAll(three, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]model.Spec{
		model.CoarseFile:  {Depth: 18, Width: 4, Size: 32, Stage: model.Whole, Norm: "imagenet"},
		model.RefineFile:  {Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Presence: true},
		model.CentersFile: {Depth: 18, Width: 4, Size: 64, Stage: model.Centers, Norm: "imagenet", Head: resnet.Centers, Stages: 3},
	} {
		saveSpec(t, filepath.Join(three, name), spec, 1)
	}
	if err := runExport([]string{"--format", "onnx", "--model", three, "--out", filepath.Join(dir, "three-onnx")}); err != nil {
		t.Fatal(err)
	}
	for f, stage := range map[string]string{"coarse.onnx": "whole", "refine.onnx": "crop", "centers.onnx": "centers"} {
		if data, err := os.ReadFile(filepath.Join(dir, "three-onnx", f)); err != nil || !bytes.Contains(data, []byte(`"stage":"`+stage+`"`)) {
			t.Errorf("%s: %v, want an ONNX model of the %q stage", f, err, stage)
		}
	}
	b, err := engine.Open("ref")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(b, model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Head: "integral", Stages: 3, Presence: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "best.safetensors")
	if err := weights.Save(ckpt, b, m.Params(), nil, m.Meta()); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.onnx")
	if err := runExport([]string{"--format", "onnx", "--model", ckpt, "--out", one}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(one); err != nil || !bytes.Contains(data, []byte(`"stage":"crop"`)) {
		t.Errorf("%s: %v, want the checkpoint's spec in the ONNX model", one, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "onnx", "--half", "--out", dir}, "--half"},
		{[]string{"--format", "onnx", "--half=false", "--model", ckpt, "--out", one}, "--half"},
		{[]string{"--format", "onnx", "--out", filepath.Join(dir, "both.onnx")}, "folder"},
		{[]string{"--format", "onnx", "--model", ckpt, "--out", dir}, "FILE.onnx"},
		{[]string{"--format", "tflite", "--model", ckpt, "--out", one}, `"tflite"`},
		{[]string{"--out", one}, "--model"},
	} {
		err := runExport(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("export %q: %v, want an error naming %s", c.args, err, c.want)
		}
	}
}
