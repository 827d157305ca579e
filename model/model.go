// Package model is catmark's landmark network as inference sees it: the Spec a checkpoint
// records, loading a checkpoint onto an engine backend, preparing an input and decoding the
// outputs. The files beside this one are the shipped two-stage model (Shipped).
//
// A Model is a ResNet (models/resnet) with Spec.Outputs() sigmoid outputs per input: 18, the
// nine points (x0, y0, …, x8, y8) normalised to the input (0…1 across the whole photo, or across
// the face box for a crop-stage model), and with Spec.Presence a 19th, the face presence in (0, 1).
// Inputs are N×3×S×S float32 planes (Spec.Input). Training (package train) builds and updates the
// same Model; nothing here imports training.
package model

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/models/resnet"
	"github.com/catmark/catmark/nn"
	"github.com/catmark/catmark/weights"
)

// Model file names inside a model folder (and Shipped).
const (
	CoarseFile = "coarse.safetensors"
	RefineFile = "refine.safetensors"
	// CentersFile is an optional first stage that finds every face at once (Stage Centers).
	CentersFile = "centers.safetensors"
)

//go:embed coarse.safetensors refine.safetensors
var shipped embed.FS

// Shipped is the model folder catmark ships: CoarseFile and RefineFile.
var Shipped fs.FS = shipped

// Stage is what a model sees: the whole photo, or a square crop around the face.
type Stage string

const (
	// Whole regresses the points from the whole photo resized to Size×Size (aspect not kept).
	Whole Stage = "whole"
	// Crop regresses the points from a square crop around the face (facecrop), jittered in
	// training to mimic the coarse model's errors.
	Crop Stage = "crop"
	// Centers finds every face at once: the whole photo letterboxed to Size×Size (aspect kept,
	// padded; Letterbox) in, a map of CentersChannels values every CentersStride pixels out
	// (DecodeCenters). Its head is resnet.Centers, on three stages.
	Centers Stage = "centers"
)

// Spec is what a checkpoint must record to rebuild and feed its network. Its JSON form is the
// checkpoint's "model_spec" metadata.
type Spec struct {
	Depth  int     `json:"depth"`  // ResNet depth: 18, 34 or 50
	Width  int     `json:"width"`  // base width (64 = torchvision's)
	Size   int     `json:"size"`   // input side in pixels
	Stage  Stage   `json:"stage"`  // whole photo or face crop
	Norm   string  `json:"norm"`   // pixel normalisation: "imagenet" or "unit" (imgproc.NormNamed)
	Margin float64 `json:"margin"` // crop stage: share of the face box added on each side
	// Presence adds a 19th output: how sure the model is that its input shows a face.
	Presence bool `json:"presence,omitempty"`
	// Head is how the network turns features into points: "pool" (empty in older checkpoints)
	// regresses them from globally pooled features, "integral" takes each point as the expected
	// position of a heatmap, "simcc" each coordinate as that of its bins (resnet.Config.Head).
	Head string `json:"head,omitempty"`
	// Stages is the number of ResNet stages, 3 or 4 (0, in older checkpoints: 4).
	Stages int `json:"stages,omitempty"`
}

// Limits of a Spec that Validate accepts: wide enough for every model catmark trains, narrow
// enough that a hostile checkpoint cannot make a loader allocate without bound.
const (
	MinSize, MaxSize   = 16, 1024
	MinWidth, MaxWidth = 1, 256
	MaxMargin          = 2
)

// Validate reports the first field of s outside what catmark can build, naming it.
func (s Spec) Validate() error {
	switch {
	case s.Depth != 18 && s.Depth != 34 && s.Depth != 50:
		return fmt.Errorf("model spec: depth %d not supported (want 18, 34 or 50)", s.Depth)
	case s.Width < MinWidth || s.Width > MaxWidth:
		return fmt.Errorf("model spec: width %d out of range [%d, %d]", s.Width, MinWidth, MaxWidth)
	case s.Size < MinSize || s.Size > MaxSize:
		return fmt.Errorf("model spec: size %d out of range [%d, %d]", s.Size, MinSize, MaxSize)
	case s.Stage != Whole && s.Stage != Crop && s.Stage != Centers:
		return fmt.Errorf("model spec: stage %q: want %q, %q or %q", s.Stage, Whole, Crop, Centers)
	case (s.Stage == Centers) != (s.Head == resnet.Centers):
		return fmt.Errorf("model spec: stage %q with head %q: the %q stage and head go together", s.Stage, s.Head, Centers)
	case s.Stage == Centers && (s.Stages != 3 || s.Depth == 50 || s.Presence || s.Size%CentersAlign != 0):
		return fmt.Errorf("model spec: a %q model needs 3 stages of ResNet-18 or 34, no presence output and a size divisible by %d (got %d stages, depth %d, size %d)", Centers, CentersAlign, s.Stages, s.Depth, s.Size)
	case !(s.Margin >= 0 && s.Margin <= MaxMargin):
		return fmt.Errorf("model spec: margin %g out of range [0, %d]", s.Margin, MaxMargin)
	case !resnet.HeadOK(s.Head):
		return fmt.Errorf("model spec: head %q: want %q, %q, %q or %q", s.Head, resnet.Pool, resnet.Integral, resnet.SimCC, resnet.Centers)
	case s.Stages != 0 && s.Stages != 3 && s.Stages != 4:
		return fmt.Errorf("model spec: stages %d: want 3 or 4", s.Stages)
	}
	if _, err := imgproc.NormNamed(s.Norm); err != nil {
		return fmt.Errorf("model spec: norm: %w", err)
	}
	return nil
}

// stages is the number of ResNet stages the network has.
func (s Spec) stages() int {
	if s.Stages == 0 {
		return 4
	}
	return s.Stages
}

// Outputs is the number of values the network gives per input: 18, or 19 with Presence; for a
// Centers model the number of maps, CentersChannels.
func (s Spec) Outputs() int {
	if s.Stage == Centers {
		return CentersChannels
	}
	if s.Presence {
		return landmark.Dim + 1
	}
	return landmark.Dim
}

// Input writes img, resized to the model's input size (imgproc's bilinear filter, aspect not
// kept; not resized when it has that size already), into dst (3×S×S float32 planes, NCHW) with
// the model's normalisation. It is the preparation the training loader gives validation
// batches: for a whole-stage model img is the whole photo, for a crop-stage model its face crop.
func (s Spec) Input(img *imgproc.RGB, dst []float32) {
	if img.W != s.Size || img.H != s.Size {
		img = img.Resize(s.Size, s.Size)
	}
	norm, err := imgproc.NormNamed(s.Norm)
	if err != nil {
		panic(fmt.Sprintf("model: Input with an invalid spec: %v", err)) // Validate rejects it
	}
	norm.Planes(img, dst)
}

// AppendInput appends the Input of img to dst and returns the extended slice.
func (s Spec) AppendInput(dst []float32, img *imgproc.RGB) []float32 {
	off := len(dst)
	dst = slices.Grow(dst, 3*s.Size*s.Size)[:off+3*s.Size*s.Size]
	s.Input(img, dst[off:])
	return dst
}

// Model is a landmark network with the facts needed to feed it. It is not safe for concurrent use.
type Model struct {
	Spec Spec
	B    engine.Backend
	Net  *resnet.Model
}

// New builds a freshly initialised model on backend b.
func New(b engine.Backend, spec Spec, seed int64) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	net, err := resnet.New(b, resnet.Config{Depth: spec.Depth, Width: spec.Width, Outputs: spec.Outputs(), InputSize: spec.Size, Head: spec.Head, Stages: spec.Stages}, seed)
	if err != nil {
		return nil, err
	}
	return &Model{Spec: spec, B: b, Net: net}, nil
}

// Meta is the checkpoint metadata that records m's spec (weights.Save writes it; ReadSpec reads
// it back). Training adds its config and state to it.
func (m *Model) Meta() map[string]string {
	spec, err := json.Marshal(m.Spec)
	if err != nil {
		panic(err) // a Spec always marshals
	}
	return map[string]string{"format": "catmark-model-v1", "model_spec": string(spec)}
}

// ReadSpec returns the validated Spec recorded in a checkpoint's metadata; name stands for the
// checkpoint in errors.
func ReadSpec(name string, meta map[string]string) (Spec, error) {
	raw, ok := meta["model_spec"]
	if !ok {
		return Spec{}, fmt.Errorf("model: %s is not a catmark model checkpoint (no model_spec metadata)", name)
	}
	var spec Spec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return Spec{}, fmt.Errorf("model: %s: model_spec metadata: %v", name, err)
	}
	if err := spec.Validate(); err != nil {
		return Spec{}, fmt.Errorf("model: %s: %w", name, err)
	}
	return spec, nil
}

// Load rebuilds a model from a catmark checkpoint (a run's best.safetensors or last.safetensors,
// or an exported model file).
func Load(b engine.Backend, path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: loading %w", err)
	}
	return LoadBytes(b, path, data)
}

// LoadBytes is Load for a checkpoint held in memory; name stands for its path in errors. It
// rejects a spec outside Spec.Validate and weights that are not finite.
func LoadBytes(b engine.Backend, name string, data []byte) (*Model, error) {
	infos, meta, err := weights.InspectBytes(name, data)
	if err != nil {
		return nil, err
	}
	spec, err := ReadSpec(name, meta)
	if err != nil {
		return nil, err
	}
	if err := checkShapes(name, spec, infos); err != nil {
		return nil, err
	}
	m, err := New(b, spec, 0)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	if _, err := weights.LoadBytes(name, data, b, m.Params(), nil); err != nil {
		return nil, err
	}
	if err := m.CheckFinite(); err != nil {
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	return m, nil
}

// checkShapes checks, before anything is allocated for the network, that the checkpoint's tensors
// are those of spec's network: the stem's and the head's shapes give the width, the depth and the
// outputs, and each stage must have its number of blocks. A spec that claims a network larger
// than its file holds is rejected here rather than exhausting memory.
func checkShapes(name string, spec Spec, infos []weights.TensorInfo) error {
	bottleneck, blocks, err := resnet.Stages(spec.Depth)
	if err != nil {
		return err
	}
	shapes := make(map[string][]int, len(infos))
	for _, ti := range infos {
		shapes[ti.Name] = ti.Shape
	}
	expansion := 1
	if bottleneck {
		expansion = 4
	}
	type need struct {
		name  string
		shape []int // nil: any shape
	}
	stages := spec.stages()
	features := spec.Width << (stages - 1) * expansion
	want := []need{{"conv1.weight", []int{spec.Width, 3, 7, 7}}}
	if spec.Head == resnet.Centers {
		want = append(want, need{"centers.out.weight", []int{CentersChannels, 2 * spec.Width, 1, 1}})
	} else if spec.Head == resnet.Integral {
		want = append(want, need{"heatmap.weight", []int{landmark.Dim / 2, features, 1, 1}})
		if spec.Presence {
			want = append(want, need{"fc.weight", []int{1, features}})
		}
	} else if spec.Head == resnet.SimCC {
		want = append(want, need{"fc.weight", []int{landmark.Dim*resnet.SimCCBins + spec.Outputs()%2, features}})
	} else {
		want = append(want, need{"fc.weight", []int{spec.Outputs(), features}})
	}
	for s, n := range blocks[:stages] {
		want = append(want, need{fmt.Sprintf("layer%d.%d.conv1.weight", s+1, n-1), nil}) // present
	}
	for _, w := range want {
		got, ok := shapes[w.name]
		if !ok {
			return fmt.Errorf("model: %s: no tensor %s, which its model spec (ResNet-%d, width %d, %d outputs) needs", name, w.name, spec.Depth, spec.Width, spec.Outputs())
		}
		if w.shape != nil && !slices.Equal(got, w.shape) {
			return fmt.Errorf("model: %s: tensor %s has shape %v, its model spec (ResNet-%d, width %d, %d outputs) needs %v", name, w.name, got, spec.Depth, spec.Width, spec.Outputs(), w.shape)
		}
	}
	for s, n := range blocks[:stages] {
		if t := fmt.Sprintf("layer%d.%d.conv1.weight", s+1, n); shapes[t] != nil {
			return fmt.Errorf("model: %s: tensor %s is one block more than ResNet-%d has", name, t, spec.Depth)
		}
	}
	if stages < 4 && shapes["layer4.0.conv1.weight"] != nil {
		return fmt.Errorf("model: %s: tensor layer4.0.conv1.weight is a stage more than its model spec's %d", name, stages)
	}
	return nil
}

// CheckFinite reports the first parameter holding a NaN or an infinity.
func (m *Model) CheckFinite() error {
	for _, p := range m.Params() {
		for i, v := range m.B.Data(p.Value) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("tensor %s holds %v at index %d (weights must be finite)", p.Name, v, i)
			}
		}
	}
	return nil
}

// Params returns the network's parameters with torchvision's names.
func (m *Model) Params() []*nn.Param { return m.Net.Params() }

// Outputs is m.Spec.Outputs().
func (m *Model) Outputs() int { return m.Spec.Outputs() }

// Output is what the model says of one input: the nine points normalised to the input, and the
// face presence in (0, 1), NaN for a model without a presence output.
type Output struct {
	Points   landmark.Points
	Presence float64
}

// Forward runs the network in inference mode on n inputs x (n×3×S×S) and returns its raw
// outputs, n×Outputs().
func (m *Model) Forward(x []float32, n int) []float32 {
	s := m.Spec.Size
	xt := m.B.FromHost(x, n, 3, s, s)
	out := m.Net.Forward(xt, false)
	y := m.B.ToHost(out)
	m.B.Release(xt)
	m.B.Release(out)
	return y
}

// Heatmaps runs an integral-head network (Spec.Head "integral") in inference mode on n inputs x of
// h×w pixels (n×3×h×w, prepared as Input prepares them but of any size) and returns its heatmap
// logits, n×9×h'×w' (h' = h/16 with three stages, h/32 with four), and their shape.
func (m *Model) Heatmaps(x []float32, n, h, w int) ([]float32, [4]int, error) {
	if m.Spec.Head != resnet.Integral {
		return nil, [4]int{}, fmt.Errorf("model: heatmaps need an integral head, not %q", m.Spec.Head)
	}
	if len(x) != n*3*h*w {
		return nil, [4]int{}, fmt.Errorf("model: Heatmaps: %d values for %d×3×%d×%d inputs", len(x), n, h, w)
	}
	xt := m.B.FromHost(x, n, 3, h, w)
	maps, shape, _ := m.Net.Heatmaps(xt)
	m.B.Release(xt)
	return maps, shape, nil
}

// Predict runs the network in inference mode on n inputs x (n×3×S×S) and decodes its outputs.
func (m *Model) Predict(x []float32, n int) []Output {
	return m.Spec.Decode(m.Forward(x, n), n)
}

// Decode reads n raw output rows (n×Outputs(), as Forward returns them).
func (s Spec) Decode(y []float32, n int) []Output {
	k := s.Outputs()
	out := make([]Output, n)
	for i := range out {
		row := y[i*k : (i+1)*k]
		for j := range out[i].Points {
			out[i].Points[j] = landmark.Point{X: float64(row[2*j]), Y: float64(row[2*j+1])}
		}
		out[i].Presence = math.NaN()
		if s.Presence {
			out[i].Presence = float64(row[landmark.Dim])
		}
	}
	return out
}
