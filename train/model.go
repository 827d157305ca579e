package train

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loader"
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/models/resnet"
	"github.com/catmark/catmark/nn"
	"github.com/catmark/catmark/weights"
)

// ModelSpec is what a checkpoint must record to rebuild and feed its network.
type ModelSpec struct {
	Depth  int     `json:"depth"`
	Width  int     `json:"width"`
	Size   int     `json:"size"`   // input side in pixels
	Stage  Stage   `json:"stage"`  // whole photo or face crop
	Norm   string  `json:"norm"`   // "imagenet" or "unit"
	Margin float64 `json:"margin"` // crop stage: share of the face box added on each side
	// Presence adds a 19th output: how sure the model is that its input shows a face
	// (Config.Negatives).
	Presence bool `json:"presence,omitempty"`
}

// presenceWeight is the weight of the face-presence term in the training loss
// (loss.EvalPresence): large enough to learn it, small beside the landmark terms' gradients.
const presenceWeight = 0.05

// Model is a ResNet landmark regressor with the facts needed to feed it: 18 sigmoid outputs,
// (x0, y0, …, x8, y8) normalised to the input (the whole photo, or the face box), and with
// Spec.Presence a 19th, the face presence.
type Model struct {
	Spec ModelSpec
	B    engine.Backend
	Net  *resnet.Model
}

// NewModel builds a freshly initialised model on backend b.
func NewModel(b engine.Backend, spec ModelSpec, seed int64) (*Model, error) {
	net, err := resnet.New(b, resnet.Config{Depth: spec.Depth, Width: spec.Width, Outputs: spec.Outputs(), InputSize: spec.Size}, seed)
	if err != nil {
		return nil, err
	}
	return &Model{Spec: spec, B: b, Net: net}, nil
}

// LoadModel rebuilds a model from a catmark checkpoint (best.safetensors or last.safetensors).
func LoadModel(b engine.Backend, path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: loading a model: %w", err)
	}
	return LoadModelBytes(b, path, data)
}

// LoadModelBytes is LoadModel for a checkpoint held in memory; name stands for its path in errors.
func LoadModelBytes(b engine.Backend, name string, data []byte) (*Model, error) {
	_, meta, err := weights.InspectBytes(name, data)
	if err != nil {
		return nil, err
	}
	var spec ModelSpec
	if err := json.Unmarshal([]byte(meta["model_spec"]), &spec); err != nil {
		return nil, fmt.Errorf("train: %s is not a catmark model checkpoint (no model_spec metadata): %v", name, err)
	}
	m, err := NewModel(b, spec, 0)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", name, err)
	}
	if _, err := weights.LoadBytes(name, data, b, m.Params(), nil); err != nil {
		return nil, err
	}
	return m, nil
}

// Params returns the network's parameters with torchvision's names.
func (m *Model) Params() []*nn.Param { return m.Net.Params() }

// Freeze stops training the named parts (e.g. "stem", "layer1").
func (m *Model) Freeze(prefixes ...string) error { return m.Net.Freeze(prefixes...) }

// LoadInit loads initial weights: a catmark checkpoint with the same architecture, or ImageNet
// weights with torchvision's names (whose 1,000-class head, fc, is skipped).
func (m *Model) LoadInit(path string) error {
	_, meta, err := weights.Inspect(path)
	if err != nil {
		return err
	}
	var skip []string
	specJSON, ours := meta["model_spec"]
	if !ours {
		skip = []string{"fc."} // an ImageNet head has 1,000 outputs
	} else {
		var spec ModelSpec
		if err := json.Unmarshal([]byte(specJSON), &spec); err == nil && m.Spec.Presence && !spec.Presence {
			return m.initFromLandmarkModel(path)
		}
	}
	return weights.ImportTorch(path, m.B, m.Params(), weights.ImportOptions{SkipPrefixes: skip})
}

// initFromLandmarkModel starts a presence model from a catmark checkpoint without presence: every
// tensor is copied, the head's 18 landmark rows included; the presence row keeps its initial
// values.
func (m *Model) initFromLandmarkModel(path string) error {
	old, err := LoadModel(m.B, path)
	if err != nil {
		return err
	}
	src := map[string]*nn.Param{}
	for _, p := range old.Params() {
		src[p.Name] = p
	}
	for _, p := range m.Params() {
		q, ok := src[p.Name]
		if !ok {
			return fmt.Errorf("train: %s has no tensor %s (a different architecture?)", path, p.Name)
		}
		dst, from := m.B.Data(p.Value), old.B.Data(q.Value)
		head := p.Name == "fc.weight" || p.Name == "fc.bias"
		if len(dst) != len(from) && !(head && len(from)*(landmark.Dim+1) == len(dst)*landmark.Dim) {
			return fmt.Errorf("train: %s: tensor %s has %d values, want %d", path, p.Name, len(from), len(dst))
		}
		copy(dst, from) // fc is row-major outputs×inputs: the landmark rows come first
	}
	return nil
}

// Meta is the checkpoint metadata of a run: the model spec, the run's config and its state.
func (m *Model) Meta(cfg Config, st State) (map[string]string, error) {
	spec, err := json.Marshal(m.Spec)
	if err != nil {
		return nil, err
	}
	c, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	s, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return map[string]string{"format": "catmark-model-v1", "model_spec": string(spec), "config": string(c), "train_state": string(s)}, nil
}

// Outputs is the number of values the network gives per input: 18, or 19 with Presence.
func (s ModelSpec) Outputs() int {
	if s.Presence {
		return landmark.Dim + 1
	}
	return landmark.Dim
}

// Outputs is m.Spec.Outputs().
func (m *Model) Outputs() int { return m.Spec.Outputs() }

// TrainStep runs forward and backward on one batch (x: n×3×S×S, y: n×18, a row of NaN for a
// crop without a face) and leaves the gradients in the parameters; it returns the batch's loss.
// grad is scratch of n×Outputs().
func (m *Model) TrainStep(x, y []float32, n int, l *loss.Loss, grad []float32) float64 {
	s := m.Spec.Size
	xt := m.B.FromHost(x, n, 3, s, s)
	out := m.Net.Forward(xt, true)
	pred := m.B.ToHost(out)
	var v float64
	if m.Spec.Presence {
		v = l.EvalPresence(pred, y, grad, presenceWeight)
	} else {
		v = l.Eval(pred, y, grad)
	}
	dy := m.B.FromHost(grad, n, m.Outputs())
	m.Net.Backward(dy)
	m.B.Release(xt)
	m.B.Release(out)
	m.B.Release(dy)
	return v
}

// Predict returns the n×18 landmark outputs for the inputs x (n×3×S×S), in inference mode.
func (m *Model) Predict(x []float32, n int) []float32 {
	pts, _ := m.PredictFace(x, n)
	return pts
}

// PredictFace is Predict that also returns each input's face presence in (0, 1), or nil when the
// model has no presence output.
func (m *Model) PredictFace(x []float32, n int) (pts, face []float32) {
	s := m.Spec.Size
	xt := m.B.FromHost(x, n, 3, s, s)
	out := m.Net.Forward(xt, false)
	pred := m.B.ToHost(out)
	m.B.Release(xt)
	m.B.Release(out)
	if !m.Spec.Presence {
		return pred, nil
	}
	const d = landmark.Dim
	pts, face = make([]float32, n*d), make([]float32, n)
	for i := range n {
		copy(pts[i*d:(i+1)*d], pred[i*(d+1):])
		face[i] = pred[i*(d+1)+d]
	}
	return pts, face
}

// Input writes img, resized to the model's input size, into dst (3×S×S, NCHW) with the model's
// normalisation: the preparation the loader gives validation batches.
func (s ModelSpec) Input(img *imgproc.RGB, dst []float32) {
	if img.W != s.Size || img.H != s.Size {
		img = img.Resize(s.Size, s.Size)
	}
	norm := loader.ImageNet
	if s.Norm == "unit" {
		norm = loader.Unit
	}
	t := norm.Table([3]int{})
	plane := s.Size * s.Size
	for i := 0; i < plane; i++ {
		p := img.Pix[3*i : 3*i+3 : 3*i+3]
		dst[i], dst[plane+i], dst[2*plane+i] = t[0][p[0]], t[1][p[1]], t[2][p[2]]
	}
}
