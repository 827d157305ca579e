package train

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/nn"
	"github.com/catmark/catmark/weights"
)

// presenceWeight is the weight of the face-presence term in the training loss
// (loss.EvalPresence): large enough to learn it, small beside the landmark terms' gradients.
const presenceWeight = 0.05

// Step runs forward and backward on one batch (x: n×3×S×S, S the model's input side or another
// the network takes; y: n×18, a row of NaN for a crop without a face) and leaves the gradients
// in m's parameters; it returns the batch's loss. grad is scratch of n×m.Outputs().
func Step(m *model.Model, x, y []float32, n int, l *loss.Loss, grad []float32) float64 {
	s := int(math.Round(math.Sqrt(float64(len(x)) / float64(3*n))))
	if 3*n*s*s != len(x) {
		panic(fmt.Sprintf("train: Step: %d values for %d square 3-channel inputs", len(x), n))
	}
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

// LoadInit loads m's initial weights from path: a catmark checkpoint with the same architecture,
// a landmark model's checkpoint for a centers model (its stem and stages; the centers head keeps
// its initial values), or ImageNet weights with torchvision's names (whose 1,000-class head, fc, is skipped).
func LoadInit(m *model.Model, path string) error {
	_, meta, err := weights.Inspect(path)
	if err != nil {
		return err
	}
	var skip []string
	specJSON, ours := meta["model_spec"]
	if !ours {
		skip = []string{"fc."} // an ImageNet head has 1,000 outputs
	} else {
		var spec model.Spec
		if err := json.Unmarshal([]byte(specJSON), &spec); err == nil && m.Spec.Presence && !spec.Presence {
			return initFromLandmarkModel(m, path)
		}
		if m.Spec.Stage == model.Centers && spec.Stage != model.Centers {
			// A landmark model lends its backbone; the heads differ.
			skip = []string{"fc.", "heatmap.", "lateral.", "centers."}
		}
	}
	return weights.ImportTorch(path, m.B, m.Params(), weights.ImportOptions{SkipPrefixes: skip})
}

// headPrefixes name the head's tensors in every head kind (resnet.Pool, Integral, SimCC).
var headPrefixes = []string{"fc.", "heatmap."}

// loadInit loads cfg.Init into m: all of it (LoadInit), or with cfg.FreshHead the backbone only,
// the head keeping its initialisation from cfg.Seed.
func loadInit(m *model.Model, cfg Config) error {
	if !cfg.FreshHead {
		return LoadInit(m, cfg.Init)
	}
	return weights.ImportTorch(cfg.Init, m.B, m.Params(), weights.ImportOptions{SkipPrefixes: headPrefixes})
}

// initFromLandmarkModel starts a presence model from a catmark checkpoint without presence: every
// tensor is copied, the head's 18 landmark rows included; the presence row keeps its initial
// values.
func initFromLandmarkModel(m *model.Model, path string) error {
	old, err := model.Load(m.B, path)
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

// checkpointMeta is the checkpoint metadata of a run: the model's (its spec), the run's config
// and its state.
func checkpointMeta(m *model.Model, cfg Config, st State) (map[string]string, error) {
	meta := m.Meta()
	c, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	s, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	meta["config"], meta["train_state"] = string(c), string(s)
	return meta, nil
}
