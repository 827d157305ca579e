package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
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

// build lays out a safetensors file by hand: header text as given, then data.
func build(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}

func TestCorruptFiles(t *testing.T) {
	good := build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	huge := binary.LittleEndian.AppendUint64(nil, 1<<40)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "0 bytes, too short"},
		{"short length", []byte{1, 2, 3}, "3 bytes, too short"},
		{"header length too big", huge, "exceeds"},
		{"truncated header", good[:30], "truncated: the header should be"},
		{"not JSON", build(`[1,2]`, nil), "not a JSON object"},
		{"bad JSON", build(`{"a":{"dtype":"F32",`, nil), "invalid JSON"},
		{"garbage after", build(`{} x`, nil), `unexpected "x"`},
		{"truncated data", good[:len(good)-3], `tensor "a": data_offsets [0 8] run past the end of the data (5 bytes)`},
		{"offsets out of range", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[100,108]}}`, make([]byte, 8)), "run past the end"},
		{"unknown dtype", build(`{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), `tensor "a": unknown dtype "F99"`},
		{"dtype size mismatch", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "hold 8 bytes but F32[3] needs 12"},
		{"reversed offsets", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, make([]byte, 8)), "not a range"},
		{"three offsets", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, make([]byte, 9)), "must be [begin, end]"},
		{"negative dimension", build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, make([]byte, 8)), "impossible dimension"},
		{"overflowing shape", build(`{"a":{"dtype":"F32","shape":[2000000000,2000000000,2000000000],"data_offsets":[0,8]}}`, make([]byte, 8)), "too large"},
		{"fractional shape", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, make([]byte, 8)), `tensor "a"`},
		{"missing field", build(`{"a":{"dtype":"F32","shape":[2]}}`, make([]byte, 8)), "lacks"},
		{"duplicate name", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), `"a" appears twice`},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "overlap"},
		{"metadata not strings", build(`{"__metadata__":{"epoch":3}}`, nil), "__metadata__ must map names to strings"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Inspect(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Inspect = %v, want an error naming the file and containing %q", c.name, err, c.want)
		}
		b := ref.New()
		if err2 := ImportTorch(path, b, []*nn.Param{{Name: "a", Value: b.Zeros(2)}}, ImportOptions{}); err2 == nil {
			t.Errorf("%s: ImportTorch accepted the file", c.name)
		}
	}
	if _, _, err := Inspect(filepath.Join(dir, "absent.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Inspect(absent) = %v, want os.ErrNotExist", err)
	}
}

// expected is testdata/tiny_expected.json: per file, each float tensor's shape and its values as
// PyTorch converts them to float32.
type expected map[string]map[string]struct {
	Shape  []int
	Values []float64
}

func readExpected(t *testing.T) expected {
	raw, err := os.ReadFile(filepath.Join("testdata", "tiny_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// torchModel makes zeroed parameters shaped like a tensor set of tiny_expected.json.
func torchModel(b engine.Backend, tensors map[string]struct {
	Shape  []int
	Values []float64
}) []*nn.Param {
	var ps []*nn.Param
	for name, t := range tensors {
		ps = append(ps, &nn.Param{Name: name, Value: b.Zeros(t.Shape...)})
	}
	slices.SortFunc(ps, func(a, b *nn.Param) int { return strings.Compare(a.Name, b.Name) })
	return ps
}

// TestImportPyTorchFiles reads the files make_torch_files.py wrote with PyTorch (F32, F16 and
// BF16, an I64 num_batches_tracked) and matches PyTorch's own float32 conversion bit for bit.
func TestImportPyTorchFiles(t *testing.T) {
	exp := readExpected(t)
	for _, file := range []string{"tiny_f32.safetensors", "tiny_f16.safetensors", "tiny_bf16.safetensors"} {
		t.Run(file, func(t *testing.T) {
			tensors, ok := exp[file]
			if !ok || len(tensors) != 7 {
				t.Fatalf("tiny_expected.json has %d tensors for %s, want 7", len(tensors), file)
			}
			b := ref.New()
			ps := torchModel(b, tensors)
			if err := ImportTorch(filepath.Join("testdata", file), b, ps, ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				got, want := b.Data(p.Value), tensors[p.Name].Values
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(float32(want[i])) {
						t.Errorf("%s[%d] = %v, PyTorch %v", p.Name, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestInspectPyTorchFile(t *testing.T) {
	infos, meta, err := Inspect(filepath.Join("testdata", "tiny_f16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" || len(meta) != 1 {
		t.Errorf("metadata = %v, want {format: pt}", meta)
	}
	// The writer orders by dtype size, then name: the I64 counter first.
	wantNames := []string{"bn1.num_batches_tracked", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.weight", "conv1.weight", "fc.bias", "fc.weight"}
	var names []string
	for _, ti := range infos {
		names = append(names, ti.Name)
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("tensors in file order = %v, want %v", names, wantNames)
	}
	first, conv := infos[0], infos[5]
	if first.DType != "I64" || len(first.Shape) != 0 || first.Size != 8 {
		t.Errorf("num_batches_tracked = %+v, want an I64 scalar of 8 bytes", first)
	}
	if conv.DType != "F16" || !slices.Equal(conv.Shape, []int{2, 3, 3, 3}) || conv.Size != 2*54 {
		t.Errorf("conv1.weight = %+v, want F16 [2 3 3 3] of 108 bytes", conv)
	}
}

// TestImportMismatch checks that one error lists missing, unexpected and mis-shaped tensors with
// names and shapes, that nothing is loaded then, and that skipping the head makes it fit.
func TestImportMismatch(t *testing.T) {
	path := filepath.Join("testdata", "tiny_f32.safetensors")
	b := ref.New()
	ps := []*nn.Param{
		{Name: "conv1.weight", Value: b.Zeros(2, 3, 3, 3)},
		{Name: "bn1.weight", Value: b.Zeros(2)},
		{Name: "bn1.bias", Value: b.Zeros(2)},
		{Name: "bn1.running_mean", Value: b.Zeros(2)},
		// bn1.running_var left out: unexpected
		{Name: "layer1.0.conv1.weight", Value: b.Zeros(2, 2, 3, 3)}, // missing
		{Name: "fc.weight", Value: b.Zeros(18, 2)},                  // file: 4×2
		{Name: "fc.bias", Value: b.Zeros(18)},                       // file: 4
	}
	err := ImportTorch(path, b, ps, ImportOptions{})
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("ImportTorch = %v, want a *MismatchError", err)
	}
	if len(me.Missing) != 1 || len(me.Unexpected) != 1 || len(me.Misshaped) != 2 {
		t.Errorf("missing %v, unexpected %v, mis-shaped %v; want 1, 1, 2", me.Missing, me.Unexpected, me.Misshaped)
	}
	for _, want := range []string{
		path, "1 missing, 1 unexpected, 2 mis-shaped",
		"missing     layer1.0.conv1.weight [2 2 3 3]",
		"unexpected  bn1.running_var [2] F32",
		"mis-shaped  fc.weight: model [18 2], file [4 2]",
		"mis-shaped  fc.bias: model [18], file [4]",
		`skipping the prefix "fc."`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "num_batches_tracked") {
		t.Errorf("error mentions num_batches_tracked, which imports ignore:\n%v", err)
	}
	for _, p := range ps {
		if slices.ContainsFunc(b.Data(p.Value), func(v float32) bool { return v != 0 }) {
			t.Errorf("%s was written although the import failed", p.Name)
		}
	}

	// The same model with running_var, without the extra layer, skipping the head: fits.
	ps = append(ps[:4], &nn.Param{Name: "bn1.running_var", Value: b.Zeros(2)}, ps[5], ps[6])
	b.Data(ps[6].Value)[0] = 42 // fc.bias must keep its own value
	if err := ImportTorch(path, b, ps, ImportOptions{SkipPrefixes: []string{"fc."}}); err != nil {
		t.Fatal(err)
	}
	if got := b.Data(ps[4].Value); got[0] != 1.5 || got[1] != 0.75 {
		t.Errorf("bn1.running_var = %v, want [1.5 0.75]", got)
	}
	if got := b.Data(ps[6].Value)[0]; got != 42 {
		t.Errorf("skipped fc.bias changed to %v", got)
	}
}

func TestImportRejectsIntegerTensor(t *testing.T) {
	b := ref.New()
	ps := []*nn.Param{{Name: "bn1.num_batches_tracked", Value: b.Zeros()}}
	// Only this tensor, with everything else skipped; it is I64, so it cannot load.
	err := ImportTorch(filepath.Join("testdata", "tiny_f32.safetensors"), b, ps, ImportOptions{SkipPrefixes: []string{"conv1.", "fc.", "bn1.w", "bn1.b", "bn1.r"}})
	if err == nil {
		t.Fatal("ImportTorch loaded nothing into a parameter named num_batches_tracked without complaint")
	}
}

// TestImportCheckpoint checks that a catmark checkpoint can initialise a model through
// ImportTorch (its optimiser state is ignored), e.g. a crop model started from a whole-photo one.
func TestImportCheckpoint(t *testing.T) {
	b := ref.New()
	ps := model(b, 1)
	opt := &optim.SGD{Momentum: 0.9}
	train(b, ps, opt, 1)
	path := filepath.Join(t.TempDir(), "best.safetensors")
	if err := Save(path, b, ps, opt, nil); err != nil {
		t.Fatal(err)
	}
	qs := model(b, 0)
	if err := ImportTorch(path, b, qs, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if !equalValues(values(b, qs), values(b, ps)) {
		t.Error("imported values differ from the checkpoint's")
	}
}

func TestHalfToFloat32(t *testing.T) {
	cases := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},                 // largest normal
		{0x0400, 1.0 / 16384},           // smallest normal, 2⁻¹⁴
		{0x0001, 1.0 / 16777216},        // smallest subnormal, 2⁻²⁴
		{0x03ff, 1023.0 / 16777216},     // largest subnormal
		{0x8001, -1.0 / 16777216},       // negative subnormal
		{0x7c00, float32(math.Inf(1))},  // +Inf
		{0xfc00, float32(math.Inf(-1))}, // −Inf
	}
	for _, c := range cases {
		if got := halfToFloat32(c.h); got != c.want {
			t.Errorf("halfToFloat32(%#04x) = %v, want %v", c.h, got, c.want)
		}
	}
	if got := halfToFloat32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("halfToFloat32(0x8000) = %v, want −0", got)
	}
	if got := halfToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("halfToFloat32(0x7e00) = %v, want NaN", got)
	}
}
