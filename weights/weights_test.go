package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/nn"
	"github.com/catmark/catmark/optim"
)

// model makes a small model in torchvision's naming, filled from seed (0: zeros).
func model(b engine.Backend, seed float32) []*nn.Param {
	mk := func(name string, shape ...int) *nn.Param {
		v := make([]float32, engine.Numel(shape))
		for i := range v {
			if seed != 0 {
				v[i] = seed * float32(math.Sin(float64(i)+float64(len(name))))
			}
		}
		return &nn.Param{Name: name, Value: b.FromHost(v, shape...), Grad: b.Zeros(shape...)}
	}
	ps := []*nn.Param{
		mk("conv1.weight", 4, 3, 3, 3),
		mk("bn1.weight", 4), mk("bn1.bias", 4), mk("bn1.running_mean", 4), mk("bn1.running_var", 4),
		mk("layer1.0.conv1.weight", 4, 4, 3, 3),
		mk("fc.weight", 18, 4), mk("fc.bias", 18),
	}
	for _, p := range ps {
		switch {
		case strings.Contains(p.Name, "running"):
			p.Buffer, p.Grad = true, nil
		case strings.HasPrefix(p.Name, "bn") || strings.HasSuffix(p.Name, "bias"):
			p.NoDecay = true
		}
	}
	ps[0].Frozen, ps[0].Grad = true, nil // frozen stem
	return ps
}

// train runs steps optimiser steps with made-up gradients.
func train(b engine.Backend, ps []*nn.Param, opt optim.Optimizer, steps int) {
	for s := range steps {
		for j, p := range ps {
			if p.Grad != nil {
				g := b.Data(p.Grad)
				for i := range g {
					g[i] = float32(math.Cos(float64(i*3 + j + 5*opt.Steps())))
				}
			}
		}
		opt.Step(b, ps, 0.01/float64(s+1))
	}
}

func values(b engine.Backend, ps []*nn.Param) map[string][]float32 {
	m := map[string][]float32{}
	for _, p := range ps {
		m[p.Name] = b.ToHost(p.Value)
	}
	return m
}

func equalValues(a, b map[string][]float32) bool {
	return maps.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

func TestRoundTrip(t *testing.T) {
	for _, mkOpt := range []func() optim.Optimizer{
		func() optim.Optimizer { return &optim.SGD{Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true} },
		func() optim.Optimizer { return &optim.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01} },
	} {
		opt := mkOpt()
		t.Run(opt.Name(), func(t *testing.T) {
			b := ref.New()
			ps := model(b, 1)
			train(b, ps, opt, 3)
			path := filepath.Join(t.TempDir(), "last.safetensors")
			meta := map[string]string{"epoch": "7", "config": `{"lr":0.001,"loss":"mse+area"}`, "": "empty key"}
			if err := Save(path, b, ps, opt, meta); err != nil {
				t.Fatal(err)
			}

			qs, opt2 := model(b, 0), mkOpt()
			got, err := Load(path, b, qs, opt2)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, meta) {
				t.Errorf("metadata = %v, want %v", got, meta)
			}
			if !equalValues(values(b, qs), values(b, ps)) {
				t.Errorf("loaded values differ from saved ones")
			}
			if !equalValues(opt2.State(), opt.State()) || len(opt.State()) == 0 {
				t.Errorf("optimiser state: loaded %d entries, saved %d, or values differ", len(opt2.State()), len(opt.State()))
			}
			if opt2.Steps() != 3 {
				t.Errorf("Steps() = %d after loading, want 3", opt2.Steps())
			}
			// Both continue identically.
			train(b, ps, opt, 2)
			train(b, qs, opt2, 2)
			if !equalValues(values(b, qs), values(b, ps)) {
				t.Errorf("training after loading diverges from training on")
			}

			// Model only: a nil optimiser ignores the state.
			rs := model(b, 0)
			if _, err := Load(path, b, rs, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadOptimizerMismatch(t *testing.T) {
	b := ref.New()
	ps := model(b, 1)
	dir := t.TempDir()
	modelOnly, withSGD := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "s.safetensors")
	if err := Save(modelOnly, b, ps, nil, nil); err != nil {
		t.Fatal(err)
	}
	sgd := &optim.SGD{Momentum: 0.9}
	train(b, ps, sgd, 1)
	if err := Save(withSGD, b, ps, sgd, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		opt  optim.Optimizer
		want string
	}{
		{modelOnly, &optim.SGD{}, "holds no optimiser state"},
		{withSGD, &optim.AdamW{}, "holds sgd state, the optimiser is adamw"},
	}
	for _, c := range cases {
		_, err := Load(c.path, b, model(b, 0), c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("Load(%s, %s) = %v, want an error naming the file and %q", filepath.Base(c.path), c.opt.Name(), err, c.want)
		}
	}
}

// TestSavedLayout reads a saved file by hand: the format's own layout, F32 little-endian data.
func TestSavedLayout(t *testing.T) {
	b := ref.New()
	p := &nn.Param{Name: "w", Value: b.FromHost([]float32{1.5, -2, 0.25}, 3, 1)}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Save(path, b, []*nn.Param{p}, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	if n%8 != 0 || 8+n+12 != uint64(len(raw)) {
		t.Fatalf("header length %d in a %d-byte file: want a multiple of 8 followed by 12 data bytes", n, len(raw))
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	if got := string(h["w"]); got != `{"dtype":"F32","shape":[3,1],"data_offsets":[0,12]}` {
		t.Errorf("header entry for w = %s", got)
	}
	if got := string(h["__metadata__"]); got != `{"catmark.format":"1","k":"v"}` {
		t.Errorf("metadata = %s", got)
	}
	for i, want := range []float32{1.5, -2, 0.25} {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[8+n+uint64(4*i):])); got != want {
			t.Errorf("value %d = %v, want %v", i, got, want)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, want 0644", st.Mode().Perm())
	}
}

func TestSaveRejects(t *testing.T) {
	b := ref.New()
	path := filepath.Join(t.TempDir(), "x.safetensors")
	twice := model(b, 1)
	twice[1].Name = twice[2].Name
	cases := []struct {
		name   string
		params []*nn.Param
		meta   map[string]string
		want   string
	}{
		{"reserved key", model(b, 1), map[string]string{"catmark.format": "2"}, `metadata key "catmark.format" is reserved`},
		{"duplicate", twice, nil, `two parameters are named "bn1.bias"`},
		{"no value", []*nn.Param{{Name: "w"}}, nil, `"w" has no value`},
		{"optim name", []*nn.Param{{Name: "optim.x", Value: b.Zeros(1)}}, nil, `"optim.x"`},
	}
	for _, c := range cases {
		err := Save(path, b, c.params, nil, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Save = %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected Save left a file: %v", err)
	}
}

// failAfter is a writer that fails once n bytes have been written.
type failAfter struct {
	w io.Writer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errors.New("disk full (simulated)")
	}
	f.n -= len(p)
	return f.w.Write(p)
}

// TestSaveIsAtomic interrupts Save in the middle of writing (a failed rename: atomicfile's tests): the old file must
// stay as it was and no temporary file may remain.
func TestSaveIsAtomic(t *testing.T) {
	b := ref.New()
	ps := model(b, 1)
	failures := map[string]func(){
		"writer fails": func() {
			wrapWrite = func(w io.Writer) io.Writer { return &failAfter{w, 1000} }
		},
	}
	for name, inject := range failures {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "last.safetensors")
			if err := Save(path, b, ps[:2], nil, map[string]string{"epoch": "1"}); err != nil {
				t.Fatal(err)
			}
			old, _ := os.ReadFile(path)

			inject()
			defer func() { wrapWrite = func(w io.Writer) io.Writer { return w } }()
			err := Save(path, b, ps, nil, map[string]string{"epoch": "2"})
			if err == nil || !strings.Contains(err.Error(), "simulated") || !strings.Contains(err.Error(), path) {
				t.Fatalf("Save = %v, want the simulated failure, naming %s", err, path)
			}
			if now, _ := os.ReadFile(path); string(now) != string(old) {
				t.Errorf("the old file changed (%d bytes, was %d)", len(now), len(old))
			}
			if _, meta, err := Inspect(path); err != nil || meta["epoch"] != "1" {
				t.Errorf("old file after the failed save: meta %v, %v", meta, err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("folder holds %v, want only last.safetensors", names)
			}
		})
	}
	// And a save that succeeds replaces the file and leaves nothing else.
	dir := t.TempDir()
	path := filepath.Join(dir, "last.safetensors")
	for epoch := range 3 {
		if err := Save(path, b, ps, nil, map[string]string{"epoch": string(rune('0' + epoch))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, meta, err := Inspect(path); err != nil || meta["epoch"] != "2" {
		t.Errorf("after three saves: meta %v, %v; want epoch 2", meta, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries after successful saves, want 1", len(entries))
	}
}

// TestLoadIsStrict checks that a model that differs from the file fails with every difference
// listed, and that nothing is loaded.
func TestLoadIsStrict(t *testing.T) {
	b := ref.New()
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := Save(path, b, model(b, 1), nil, nil); err != nil {
		t.Fatal(err)
	}
	qs := model(b, 0)
	qs = slices.DeleteFunc(qs, func(p *nn.Param) bool { return p.Name == "bn1.bias" }) // unexpected in the file
	qs = append(qs, &nn.Param{Name: "layer2.0.conv1.weight", Value: b.Zeros(8, 4, 3, 3)})
	qs[len(qs)-2].Value = b.Zeros(10) // fc.bias: 10 where the file has 18
	_, err := Load(path, b, qs, nil)
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Load = %v, want a *MismatchError", err)
	}
	for _, want := range []string{
		"1 missing, 1 unexpected, 1 mis-shaped",
		"missing     layer2.0.conv1.weight [8 4 3 3]",
		"unexpected  bn1.bias [4] F32",
		"mis-shaped  fc.bias: model [10], file [18]",
		path,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, q := range qs {
		for _, v := range b.Data(q.Value) {
			if v != 0 {
				t.Fatalf("%s was loaded although Load failed", q.Name)
			}
		}
	}
}

func TestLoadRejectsForeignFile(t *testing.T) {
	b := ref.New()
	_, err := Load(filepath.Join("testdata", "tiny_f32.safetensors"), b, model(b, 0), nil)
	if err == nil || !strings.Contains(err.Error(), "not a catmark checkpoint") || !strings.Contains(err.Error(), "ImportTorch") {
		t.Errorf("Load of a PyTorch file = %v, want a pointer to ImportTorch", err)
	}
}

func TestLoadBytesMatchesLoad(t *testing.T) {
	b := ref.New()
	ps := model(b, 1)
	path := filepath.Join(t.TempDir(), "best.safetensors")
	if err := Save(path, b, ps, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	qs := model(b, 0)
	meta, err := LoadBytes("embedded/best.safetensors", data, b, qs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if meta["k"] != "v" || !equalValues(values(b, qs), values(b, ps)) {
		t.Errorf("LoadBytes: metadata %v or values differ from what Save wrote", meta)
	}
	if _, m, err := InspectBytes("embedded/best.safetensors", data); err != nil || m["k"] != "v" {
		t.Errorf("InspectBytes: metadata %v, error %v", m, err)
	}
	_, err = LoadBytes("embedded/cut.safetensors", data[:len(data)/2], b, model(b, 0), nil)
	if err == nil || !strings.Contains(err.Error(), "embedded/cut.safetensors") {
		t.Errorf("LoadBytes of a truncated file: error %v, want one naming embedded/cut.safetensors", err)
	}
}

func TestFloat32ToHalf(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},                       // largest half
		{65520, 0x7c00},                       // rounds up to Inf
		{float32(math.Inf(1)), 0x7c00},        // Inf
		{float32(math.Ldexp(1, -24)), 0x0001}, // smallest subnormal
		{float32(math.Ldexp(1, -14)), 0x0400}, // smallest normal
		{1 + 1.0/2048, 0x3c00},                // a tie rounds to even (down)
		{1 + 3.0/2048, 0x3c02},                // a tie rounds to even (up)
		{0.1, 0x2e66},
	}
	for _, tc := range tests {
		if got := float32ToHalf(tc.in); got != tc.want {
			t.Errorf("float32ToHalf(%v) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
	if h := float32ToHalf(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN became %#04x", h)
	}
	// Every half value survives half → float32 → half.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads
		}
		if got := float32ToHalf(halfToFloat32(uint16(h))); got != uint16(h) {
			t.Fatalf("half %#04x → %v → %#04x", h, halfToFloat32(uint16(h)), got)
		}
	}
}

func TestSaveHalf(t *testing.T) {
	b := ref.New()
	ps := model(b, 1)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := SaveHalf(path, b, ps, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	infos, _, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*nn.Param{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	for _, ti := range infos {
		want := "F16"
		if byName[ti.Name].Buffer {
			want = "F32"
		}
		if ti.DType != want {
			t.Errorf("%s stored as %s, want %s", ti.Name, ti.DType, want)
		}
	}
	qs := model(b, 0)
	if _, err := Load(path, b, qs, nil); err != nil {
		t.Fatal(err)
	}
	want, got := values(b, ps), values(b, qs)
	for name, w := range want {
		for i := range w {
			if d := math.Abs(float64(got[name][i] - w[i])); d > math.Abs(float64(w[i]))/1024+1e-7 {
				t.Fatalf("%s[%d]: %v read back as %v", name, i, w[i], got[name][i])
			}
		}
	}
}
