package model

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/weights"
)

// tinySpec is the smallest network the loader accepts; its checkpoint is a few kilobytes.
var tinySpec = Spec{Depth: 18, Width: 1, Size: 16, Stage: Crop, Norm: "imagenet", Margin: 0.3, Presence: true}

// checkpoint saves a freshly initialised model of spec, with its model_spec metadata replaced by
// rawSpec when that is not empty, and returns the file's bytes. poison, when set, runs on the
// model before it is saved.
func checkpoint(t testing.TB, spec Spec, rawSpec string, poison func(*Model)) []byte {
	t.Helper()
	b := ref.New()
	m, err := New(b, spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	if poison != nil {
		poison(m)
	}
	meta := m.Meta()
	if rawSpec != "" {
		meta["model_spec"] = rawSpec
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := weights.Save(path, b, m.Params(), nil, meta); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSpecValidate(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  func(*Spec)
		field string // "" for a valid spec
	}{
		{"valid", func(*Spec) {}, ""},
		{"whole stage", func(s *Spec) { s.Stage = Whole }, ""},
		{"unit norm", func(s *Spec) { s.Norm = "unit" }, ""},
		{"huge input", func(s *Spec) { s.Size = 1_000_000 }, "size"},
		{"negative input", func(s *Spec) { s.Size = -128 }, "size"},
		{"zero input", func(s *Spec) { s.Size = 0 }, "size"},
		{"depth 20", func(s *Spec) { s.Depth = 20 }, "depth"},
		{"depth 152", func(s *Spec) { s.Depth = 152 }, "depth"},
		{"width 0", func(s *Spec) { s.Width = 0 }, "width"},
		{"width 100000", func(s *Spec) { s.Width = 100000 }, "width"},
		{"stage", func(s *Spec) { s.Stage = "face" }, "stage"},
		{"norm", func(s *Spec) { s.Norm = "zscore" }, "norm"},
		{"negative margin", func(s *Spec) { s.Margin = -1 }, "margin"},
		{"NaN margin", func(s *Spec) { s.Margin = math.NaN() }, "margin"},
		{"integral head", func(s *Spec) { s.Head = "integral" }, ""},
		{"pool head", func(s *Spec) { s.Head = "pool" }, ""},
		{"three stages", func(s *Spec) { s.Stages = 3 }, ""},
		{"head", func(s *Spec) { s.Head = "heatmap" }, "head"},
		{"stages", func(s *Spec) { s.Stages = 5 }, "stages"},
	} {
		s := tinySpec
		c.edit(&s)
		err := s.Validate()
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", c.name, err)
		case c.field != "" && (err == nil || !strings.Contains(err.Error(), c.field)):
			t.Errorf("%s: Validate() = %v, want an error naming %q", c.name, err, c.field)
		}
	}
}

// A checkpoint whose recorded spec is out of range, or disagrees with its tensors, is refused
// with an error naming the file and what was wrong, before the network is built.
func TestLoadRejectsBadSpecs(t *testing.T) {
	for _, c := range []struct {
		name, spec, want string
	}{
		{"huge input", `{"depth":18,"width":1,"size":1000000,"stage":"crop","norm":"imagenet","margin":0.3,"presence":true}`, "size 1000000"},
		{"negative input", `{"depth":18,"width":1,"size":-128,"stage":"crop","norm":"imagenet","margin":0.3,"presence":true}`, "size -128"},
		{"unknown norm", `{"depth":18,"width":1,"size":16,"stage":"crop","norm":"what","margin":0.3,"presence":true}`, "norm"},
		{"not JSON", `{"depth":`, "model_spec"},
		{"wider than its tensors", `{"depth":18,"width":200,"size":16,"stage":"crop","norm":"imagenet","margin":0.3,"presence":true}`, "conv1.weight"},
		{"deeper than its tensors", `{"depth":34,"width":1,"size":16,"stage":"crop","norm":"imagenet","margin":0.3,"presence":true}`, "layer"},
		{"no presence output in the file", `{"depth":18,"width":1,"size":16,"stage":"crop","norm":"imagenet","margin":0.3}`, "fc.weight"},
		{"integral head, pooled file", `{"depth":18,"width":1,"size":16,"stage":"crop","norm":"imagenet","margin":0.3,"presence":true,"head":"integral"}`, "heatmap.weight"},
		{"three stages, four in the file", `{"depth":18,"width":1,"size":16,"stage":"crop","norm":"imagenet","margin":0.3,"presence":true,"stages":3}`, "fc.weight"},
	} {
		data := checkpoint(t, tinySpec, c.spec, nil)
		_, err := LoadBytes(ref.New(), "bad.safetensors", data)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.safetensors") {
			t.Errorf("%s: LoadBytes = %v, want an error naming bad.safetensors and %q", c.name, err, c.want)
		}
	}
}

func TestLoadRejectsNonFiniteWeights(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		data := checkpoint(t, tinySpec, "", func(m *Model) {
			p := m.Params()[3]
			m.B.Data(p.Value)[0] = v
		})
		_, err := LoadBytes(ref.New(), "nan.safetensors", data)
		if err == nil || !strings.Contains(err.Error(), "finite") || !strings.Contains(err.Error(), "nan.safetensors") {
			t.Errorf("weight %v: LoadBytes = %v, want an error saying weights must be finite", v, err)
		}
	}
}

// A saved model loads back with the same spec and the same outputs; Predict decodes Forward's
// rows: points first, then the presence. Both heads, three and four stages.
func TestLoadRoundTripAndDecode(t *testing.T) {
	b := ref.New()
	integral3 := tinySpec
	integral3.Head, integral3.Stages, integral3.Size = "integral", 3, 32
	integral4 := tinySpec
	integral4.Head, integral4.Size = "integral", 64
	simcc := tinySpec
	simcc.Head, simcc.Stages, simcc.Size = "simcc", 3, 32
	for _, spec := range []Spec{tinySpec, integral3, integral4, simcc} {
		orig, err := New(b, spec, 7)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := weights.Save(path, b, orig.Params(), nil, orig.Meta()); err != nil {
			t.Fatal(err)
		}
		m, err := Load(b, path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Spec != spec {
			t.Fatalf("loaded spec %+v, want %+v", m.Spec, spec)
		}
		img := imgproc.New(20, 12)
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		s := spec.Size
		x := m.Spec.AppendInput(m.Spec.AppendInput(nil, img), img)
		if len(x) != 2*3*s*s {
			t.Fatalf("AppendInput twice: %d values, want %d", len(x), 2*3*s*s)
		}
		raw, want := m.Forward(x, 2), orig.Forward(x, 2)
		if len(raw) != 2*19 {
			t.Fatalf("%+v: Forward: %d values, want 38", spec, len(raw))
		}
		for i := range raw {
			if raw[i] != want[i] {
				t.Fatalf("%+v: output %d: %v after loading, %v before", spec, i, raw[i], want[i])
			}
			if !(raw[i] >= 0 && raw[i] <= 1) {
				t.Errorf("%+v: output %d = %v, outside [0, 1]", spec, i, raw[i])
			}
		}
		for i, o := range m.Predict(x, 2) {
			row := raw[i*19:]
			if o.Points[0].X != float64(row[0]) || o.Points[4].Y != float64(row[9]) || o.Presence != float64(row[18]) {
				t.Errorf("%+v: input %d: decoded %+v from row %v", spec, i, o, row[:19])
			}
		}
	}
	noFace := Spec{Depth: 18, Width: 1, Size: 16, Stage: Whole, Norm: "unit"}
	if o := noFace.Decode(make([]float32, 18), 1)[0]; !math.IsNaN(o.Presence) {
		t.Errorf("a model without presence decoded face %v, want NaN", o.Presence)
	}
}

func TestShippedLoads(t *testing.T) {
	for _, name := range []string{CoarseFile, RefineFile} {
		f, err := Shipped.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(f)
		f.Close()
		m, err := LoadBytes(ref.New(), name, buf.Bytes())
		if err != nil {
			t.Fatalf("shipped %s: %v", name, err)
		}
		if want := map[string]Stage{CoarseFile: Whole, RefineFile: Crop}[name]; m.Spec.Stage != want {
			t.Errorf("shipped %s is a %s-stage model, want %s", name, m.Spec.Stage, want)
		}
	}
}

// FuzzLoadBytes feeds the checkpoint loader arbitrary bytes: it must return a model or an error,
// never panic or allocate without bound. Longer runs: go test -run '^$' -fuzz FuzzLoadBytes
// -fuzztime 10m ./model
func FuzzLoadBytes(f *testing.F) {
	good := checkpoint(f, tinySpec, "", nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(checkpoint(f, tinySpec, `{"depth":18,"width":1,"size":-128,"stage":"crop","norm":"imagenet","margin":0.3,"presence":true}`, nil))
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}         "))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadBytes(ref.New(), "fuzz.safetensors", data)
		if err == nil {
			if verr := m.Spec.Validate(); verr != nil {
				t.Fatalf("loaded a model with an invalid spec: %v", verr)
			}
			if ferr := m.CheckFinite(); ferr != nil {
				t.Fatalf("loaded non-finite weights: %v", ferr)
			}
		}
	})
}
