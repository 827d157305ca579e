package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/weights"
)

// A checkpoint with an impossible model spec or a NaN weight makes predict and eval fail with an
// error naming the file and what is wrong, before any photo is read (no panic, no crash).
func TestBadCheckpointsAreNamed(t *testing.T) {
	spec := model.Spec{Depth: 18, Width: 2, Size: 32, Stage: model.Whole, Norm: "imagenet"}
	b := ref.New()
	dir := t.TempDir()
	save := func(name, rawSpec string, nan bool) string {
		m, err := model.New(b, spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		if nan {
			m.B.Data(m.Params()[0].Value)[5] = float32(math.NaN())
		}
		meta := m.Meta()
		if rawSpec != "" {
			meta["model_spec"] = rawSpec
		}
		path := filepath.Join(dir, name)
		if err := weights.Save(path, b, m.Params(), nil, meta); err != nil {
			t.Fatal(err)
		}
		return path
	}
	photo := fixture.Path(t, 0)
	for _, c := range []struct {
		path, want string
	}{
		{save("huge.safetensors", `{"depth":18,"width":2,"size":1000000,"stage":"whole","norm":"imagenet","margin":0}`, false), "size 1000000"},
		{save("negative.safetensors", `{"depth":18,"width":2,"size":-128,"stage":"whole","norm":"imagenet","margin":0}`, false), "size -128"},
		{save("nan.safetensors", "", true), "finite"},
	} {
		for cmd, run := range map[string]func() error{
			"predict": func() error { return runPredict([]string{"--model", c.path, photo}) },
			"eval":    func() error { return runEval([]string{"--model", c.path, "--data", filepath.Dir(photo), "--quiet"}) },
		} {
			err := run()
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
				t.Errorf("%s --model %s: %v, want an error naming the file and %q", cmd, filepath.Base(c.path), err, c.want)
			}
		}
	}
}
