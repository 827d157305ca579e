package onnx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/models/resnet"
	"github.com/catmark/catmark/nn"
)

// runtimeDir is the node project that runs ONNX models in onnxruntime-node.
const runtimeDir = "testdata/runtime"

// needRuntime skips the test when onnxruntime-node is not installed, unless CI=true.
func needRuntime(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("node"); err != nil {
		why = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(runtimeDir, "node_modules", "onnxruntime-node")); err != nil {
		why = "onnxruntime-node is not installed (npm ci --ignore-scripts --prefix onnx/testdata/runtime)"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", why)
	}
	t.Skip(why)
}

// runtimeOutput is one output of the node runner.
type runtimeOutput struct {
	Dims []int     `json:"dims"`
	Data []float64 `json:"data"`
}

// runRuntime runs the ONNX file in onnxruntime-node on x (n×3×h×w) and returns its outputs.
func runRuntime(t *testing.T, path string, x []float32, n, h, w int) (inputs []string, outputs map[string]runtimeOutput) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "input.f32")
	raw := make([]byte, 0, 4*len(x))
	for _, v := range x {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(runtimeDir, "run.js"), path, in}
	for _, d := range []int{n, 3, h, w} {
		args = append(args, strconv.Itoa(d))
	}
	var stderr bytes.Buffer
	cmd := exec.Command("node", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnxruntime-node on %s: %v\n%s", path, err, stderr.String())
	}
	var res struct {
		Inputs  []string                 `json:"inputs"`
		Outputs map[string]runtimeOutput `json:"outputs"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("reading the runner's output: %v", err)
	}
	return res.Inputs, res.Outputs
}

// randomise gives every parameter of m deterministic random values, batch-norm statistics
// included, so that folding them into the convolutions is put to the test.
func randomise(m *model.Model, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for _, p := range m.Params() {
		d := m.B.Data(p.Value)
		switch {
		case strings.HasSuffix(p.Name, "running_var"):
			for i := range d {
				d[i] = 0.5 + r.Float32()
			}
		case strings.HasSuffix(p.Name, "running_mean"), strings.HasSuffix(p.Name, "bias"):
			for i := range d {
				d[i] = 0.4 * (r.Float32() - 0.5)
			}
		case strings.HasPrefix(p.Name, "bn") || strings.Contains(p.Name, ".bn") || strings.Contains(p.Name, "downsample.1"):
			for i := range d { // γ below 1 keeps a deep residual stack's activations in bounds
				d[i] = 0.3 + 0.5*r.Float32()
			}
		default: // convolution and linear weights: scale them by 0.5…1.5 around their init
			for i := range d {
				d[i] *= 0.5 + r.Float32()
			}
		}
	}
}

// randomImages returns n random s×s photos as catmark's input (x, normalised by the spec) and
// as the ONNX model's (v/255).
func randomImages(spec model.Spec, n int, seed uint64) (x, unit []float32) {
	r := rand.New(rand.NewPCG(seed, 2))
	for range n {
		img := imgproc.New(spec.Size, spec.Size)
		for i := range img.Pix {
			img.Pix[i] = uint8(r.IntN(256))
		}
		x = spec.AppendInput(x, img)
		unit = append(unit, make([]float32, 3*spec.Size*spec.Size)...)
		imgproc.Unit.Planes(img, unit[len(unit)-3*spec.Size*spec.Size:])
	}
	return x, unit
}

// The exported ONNX files, run in onnxruntime-node on a batch of 2 random photos, give every
// output that catmark's own forward pass (the reference backend) gives, within 1e-4: the
// shipped coarse and refine networks, and small random networks of every head, depth and
// normalisation a spec can name.
func TestRuntimeMatchesForward(t *testing.T) {
	needRuntime(t)
	b := ref.New()
	type tc struct {
		name string
		m    *model.Model
	}
	var cases []tc
	for _, f := range []string{model.CoarseFile, model.RefineFile} {
		data, err := fs.ReadFile(model.Shipped, f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := model.LoadBytes(b, f, data)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{"shipped " + f, m})
	}
	for i, spec := range []model.Spec{
		{Depth: 18, Width: 4, Size: 32, Stage: model.Whole, Norm: "imagenet", Presence: true},
		{Depth: 34, Width: 4, Size: 32, Stage: model.Whole, Norm: "unit", Head: "pool"},
		{Depth: 50, Width: 4, Size: 64, Stage: model.Crop, Norm: "imagenet", Head: "integral", Stages: 3, Presence: true},
		{Depth: 18, Width: 4, Size: 64, Stage: model.Whole, Norm: "imagenet", Head: "integral"},
		{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Head: "simcc", Presence: true},
	} {
		m, err := model.New(b, spec, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		randomise(m, uint64(i))
		cases = append(cases, tc{fmt.Sprintf("random %+v", spec), m})
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, n := c.m.Spec, 2
			path := filepath.Join(t.TempDir(), "model.onnx")
			if err := WriteFile(path, c.m); err != nil {
				t.Fatal(err)
			}
			x, unit := randomImages(spec, n, uint64(i))
			inputs, got := runRuntime(t, path, unit, n, spec.Size, spec.Size)

			rows := c.m.Forward(x, n)
			k := spec.Outputs()
			want := map[string][]float32{Points: {}}
			for r := range n {
				want[Points] = append(want[Points], rows[r*k:r*k+landmark.Dim]...)
				if spec.Presence {
					want[Face] = append(want[Face], rows[r*k+landmark.Dim])
				}
			}
			switch spec.Head {
			case "integral":
				hm, _, err := c.m.Heatmaps(x, n, spec.Size, spec.Size)
				if err != nil {
					t.Fatal(err)
				}
				want[Heatmaps] = hm
			case "simcc": // the logits before the head: every layer but nn.SoftBins
				layers := c.m.Net.Layers()
				xt := b.FromHost(x, n, 3, spec.Size, spec.Size)
				logits := b.ToHost(nn.NewSequential(b, layers[:len(layers)-1]...).Forward(xt, false))
				g, stride := landmark.Dim*256, len(logits)/n
				for r := range n {
					want[Bins] = append(want[Bins], logits[r*stride:r*stride+g]...)
				}
			}

			compareOutputs(t, inputs, got, want, n)
		})
	}
}

// compareOutputs checks that the runtime's one input is Input, that its outputs are want's, each
// with batch n and want's values within 1e-4.
func compareOutputs(t *testing.T, inputs []string, got map[string]runtimeOutput, want map[string][]float32, n int) {
	t.Helper()
	if !slices.Equal(inputs, []string{Input}) {
		t.Errorf("inputs %q, want [%q]", inputs, Input)
	}
	names := slices.Sorted(maps.Keys(got))
	wantNames := slices.Sorted(maps.Keys(want))
	if !slices.Equal(names, wantNames) {
		t.Fatalf("outputs %q, want %q", names, wantNames)
	}
	for _, name := range wantNames {
		o, w := got[name], want[name]
		if len(o.Dims) == 0 || o.Dims[0] != n || len(o.Data) != len(w) {
			t.Errorf("%s: dims %v (%d values), want batch %d and %d values", name, o.Dims, len(o.Data), n, len(w))
			continue
		}
		worst, at := 0.0, 0
		for j, v := range w {
			if d := math.Abs(o.Data[j] - float64(v)); !(d <= worst) {
				worst, at = d, j
			}
		}
		if worst > 1e-4 {
			t.Errorf("%s: max |onnxruntime − catmark| = %.3g at %d (%v against %v)", name, worst, at, o.Data[at], w[at])
		}
		t.Logf("%s %v, values %.3g…%.3g: max abs difference %.2g", name, o.Dims, slices.Min(w), slices.Max(w), worst)
	}
}

// A random centers model's ONNX file, run in onnxruntime-node on 2 random inputs, gives the maps
// of catmark's own forward pass (model.CentersMaps, reference backend) within 1e-4, split by
// meaning, at its square size and at letterboxed wide and tall sizes (the sides are dynamic).
func TestRuntimeMatchesCenters(t *testing.T) {
	needRuntime(t)
	b := ref.New()
	spec := model.Spec{Depth: 18, Width: 4, Size: 64, Stage: model.Centers, Norm: "imagenet", Head: resnet.Centers, Stages: 3}
	m, err := model.New(b, spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	randomise(m, 7)
	path := filepath.Join(t.TempDir(), "centers.onnx")
	if err := WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	norm, err := imgproc.NormNamed(spec.Norm)
	if err != nil {
		t.Fatal(err)
	}
	// The output channels of each name, in the order of model.DecodeCenters' layout.
	parts := []struct {
		name     string
		from, to int
	}{
		{Heatmap, model.CenterLogit, model.CenterLogit + 1},
		{Offset, model.CenterOffset, model.CenterOffset + 2},
		{LogSize, model.CenterLogSize, model.CenterLogSize + 1},
		{Angle, model.CenterCos, model.CenterCos + 2},
		{Points, model.CenterPoints, model.CenterPoints + landmark.Dim},
	}
	for i, size := range [][2]int{{64, 64}, {64, 112}, {96, 64}} {
		h, w, n := size[0], size[1], 2
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 3))
			x, unit := make([]float32, n*3*h*w), make([]float32, n*3*h*w)
			for k := range n {
				img := imgproc.New(w, h)
				for p := range img.Pix {
					img.Pix[p] = uint8(r.IntN(256))
				}
				norm.Planes(img, x[k*3*h*w:(k+1)*3*h*w])
				imgproc.Unit.Planes(img, unit[k*3*h*w:(k+1)*3*h*w])
			}
			inputs, got := runRuntime(t, path, unit, n, h, w)
			all, err := m.CentersMaps(x, n, h, w)
			if err != nil {
				t.Fatal(err)
			}
			gh, gw := h/model.CentersStride, w/model.CentersStride
			cells := gh * gw
			want := map[string][]float32{}
			for k := range n {
				for _, p := range parts {
					want[p.name] = append(want[p.name], all[(k*model.CentersChannels+p.from)*cells:(k*model.CentersChannels+p.to)*cells]...)
				}
			}
			compareOutputs(t, inputs, got, want, n)
			for _, p := range parts {
				if d := got[p.name].Dims; !slices.Equal(d, []int{n, p.to - p.from, gh, gw}) {
					t.Errorf("%s: dims %v, want [%d %d %d %d]", p.name, d, n, p.to-p.from, gh, gw)
				}
			}
		})
	}
}
