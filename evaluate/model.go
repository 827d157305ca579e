package evaluate

import (
	"errors"
	"fmt"
	"os"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// Model is a Predictor made of one catmark checkpoint. A whole-stage model predicts from any
// photo; a crop-stage model needs the face box (it is a CropPredictor, and PredictBatch fails).
// A Model is not safe for concurrent use.
type Model struct {
	*model.Model
	// Path is the checkpoint the model was loaded from ("" when built in memory).
	Path string
	// Batch bounds the photos per forward pass; 0 means 32.
	Batch int
}

// Load reads a catmark checkpoint (best.safetensors or last.safetensors of a run) onto the named
// engine backend ("" for the fastest this build has). Errors name the file.
func Load(path, backend string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("evaluate: model file %s does not exist", path)
		}
		return nil, fmt.Errorf("evaluate: model file %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("evaluate: model file %s is a folder (give a checkpoint such as %s/best.safetensors)", path, path)
	}
	b, err := engine.Open(backend)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(b, path)
	if err != nil {
		return nil, fmt.Errorf("evaluate: model file %s is not a catmark checkpoint: %w", path, err)
	}
	if m.Spec.Stage == model.Centers {
		return nil, fmt.Errorf("evaluate: %s is a %q model, which gives face candidates, not points: measure it as %s in a detector folder with --first-stage centers", path, model.Centers, model.CentersFile)
	}
	return &Model{Model: m, Path: path}, nil
}

// Squashes reports whether the model sees the whole photo squashed to a square (a whole-stage
// model).
func (m *Model) Squashes() bool { return m.Spec.Stage != model.Crop }

// FaceMargin reports whether the model needs a face box (a crop-stage model), and its margin.
func (m *Model) FaceMargin() (float64, bool) { return m.Spec.Margin, m.Spec.Stage == model.Crop }

// PredictBatch predicts the points of whole photos, in each photo's pixels. It fails for a
// crop-stage model, which needs PredictCrops.
func (m *Model) PredictBatch(imgs []*imgproc.RGB) ([]landmark.Points, error) {
	if m.Spec.Stage == model.Crop {
		return nil, fmt.Errorf("%s is a crop-stage model: it needs a face box for each photo (PredictCrops)", m.name())
	}
	out := make([]landmark.Points, 0, len(imgs))
	for lo := 0; lo < len(imgs); lo += m.batch() {
		part := imgs[lo:min(lo+m.batch(), len(imgs))]
		var x []float32
		for _, img := range part {
			x = m.Spec.AppendInput(x, img)
		}
		for k, o := range m.Predict(x, len(part)) {
			out = append(out, o.Points.Denormalize(part[k].W, part[k].H))
		}
	}
	return out, nil
}

// PredictCrops predicts each photo's points from the face box given in its original pixels: the
// box is cut out of the photo (facecrop.Crop, which also reads a cache's squashed squares) at the
// model's input size, and the points are mapped back to the original pixels.
func (m *Model) PredictCrops(photos []Photo, boxes []facecrop.Box) ([]landmark.Points, error) {
	if len(boxes) != len(photos) {
		return nil, fmt.Errorf("evaluate: %d face boxes for %d photos", len(boxes), len(photos))
	}
	out := make([]landmark.Points, 0, len(photos))
	s := m.Spec.Size
	for lo := 0; lo < len(photos); lo += m.batch() {
		hi := min(lo+m.batch(), len(photos))
		var x []float32
		for k := lo; k < hi; k++ {
			x = m.Spec.AppendInput(x, facecrop.Crop(photos[k].Img, photos[k].W, photos[k].H, boxes[k], s))
		}
		for k, o := range m.Predict(x, hi-lo) {
			out = append(out, boxes[lo+k].FromBox(o.Points))
		}
	}
	return out, nil
}

// Describe says what the model is, e.g. "whole-stage ResNet-18, width 8, 64 px input".
func (m *Model) Describe() string {
	return fmt.Sprintf("%s-stage ResNet-%d, width %d, %d px input, %s normalisation", m.Spec.Stage, m.Spec.Depth, m.Spec.Width, m.Spec.Size, m.Spec.Norm)
}

func (m *Model) batch() int {
	if m.Batch > 0 {
		return m.Batch
	}
	return 32
}

func (m *Model) name() string {
	if m.Path != "" {
		return m.Path
	}
	return "the model"
}
