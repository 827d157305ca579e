package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/weights"
)

func TestStudyCommand(t *testing.T) {
	data := evalTestCache(t, fixture.Photos(t, 16))
	dir := filepath.Join(t.TempDir(), "study")
	args := []string{"--data", data, "--out", dir, "--scale", "tiny", "--epochs", "1", "--width", "4", "--size", "32", "--batch", "8", "--cases", "6", "--backend", "ref"}
	out, err := evalCapture(t, func() error { return runStudy(args) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ResNet-18, width 4, 32 px, batch 8, 1 epochs per case", "case 6 (mse+ddmse:1-8+area): training 1 epochs", "| 6 | mse+ddmse:1-8+area | 1 |", "study.png"} {
		if !strings.Contains(out, want) {
			t.Errorf("study output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"study.md", "study.json", "study.png", "case6/best.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "case1")); err == nil {
		t.Error("a study of case 6 trained case 1")
	}
}

func TestStudyErrors(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", data}, "--out"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "huge"}, "huge"},
		{[]string{"--data", data, "--out", t.TempDir(), "--cases", "1,x"}, "x"},
		{[]string{"--data", data, "--out", t.TempDir(), "--cases", "11"}, "case 11"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "seed"}, "--init"},
		{[]string{"--data", data, "--out", t.TempDir()}, "not a prepared cache"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "refine", "--cache-frozen", "--init", "x.safetensors"}, "--freeze"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "refine", "--cache-frozen", "--freeze", "stem,layer1"}, "--init"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "refine", "--cache-frozen", "--freeze", "stem", "--init", "x", "--rotate", "10"}, "--rotate 10"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "refine", "--cache-frozen", "--freeze", "stem", "--init", "x", "--shift", "0.1"}, "--shift 0.1"},
	} {
		_, err := evalCapture(t, func() error { return runStudy(c.args) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("study %q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}

// A study on cached frozen features: the refine scale's architecture (integral head, three
// stages) from a backbone checkpoint, the stem to layer2 frozen, flips only. Case 1 uses the
// feature file in the study folder; case 7 (PCA colour) runs through the frozen layers.
func TestStudyCacheFrozen(t *testing.T) {
	data := evalTestCache(t, fixture.Photos(t, 16))
	b, err := engine.Open("ref")
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Whole, Norm: "imagenet", Head: "integral", Stages: 3}
	m, err := model.New(b, spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	init := filepath.Join(t.TempDir(), "backbone.safetensors")
	if err := weights.Save(init, b, m.Params(), nil, m.Meta()); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "study")
	args := []string{"--data", data, "--out", dir, "--scale", "refine", "--epochs", "1", "--width", "4", "--size", "32", "--batch", "4",
		"--cases", "1,7", "--backend", "ref", "--init", init, "--freeze", "stem,layer1,layer2", "--cache-frozen"}
	out, err := evalCapture(t, func() error { return runStudy(args) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "outputs computed once per crop and mirror") || !strings.Contains(out, "box scale ±0, shift ±0, rotation ±0°") {
		t.Errorf("study output does not say the features are cached and the crops not jittered:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "frozen-*.features"))
	if len(files) != 1 {
		t.Errorf("feature files in the study folder: %v, want one", files)
	}
	for c, want := range map[string]bool{"case1": true, "case7": false} {
		b, err := os.ReadFile(filepath.Join(dir, c, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), `"cache_frozen": true`); got != want {
			t.Errorf("%s/config.json: cache_frozen %v, want %v:\n%s", c, got, want, b)
		}
	}
}
