// Package catmark finds the nine landmarks of a cat's face in a photo: both eyes, the mouth and
// three points on each ear, in the photo's pixel coordinates.
//
// It runs catmark's two-stage detector: a coarse model looks at the whole photo and finds the
// face; a refine model places the points on a square crop around it; the points are mapped back
// to the photo. Load("") gives the model shipped inside the package.
//
//	det, err := catmark.Load("")
//	pts, err := det.Detect(img)
//	fmt.Println(pts[0].X, pts[0].Y) // the left eye
package catmark

import (
	"embed"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/backends" // the backends this build has
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/train"
)

//go:embed model
var shipped embed.FS

// Model file names inside a model folder (and the embedded default).
const (
	CoarseFile = "coarse.safetensors"
	RefineFile = "refine.safetensors"
)

// Detector finds landmarks with a coarse model and, when it has one, a refine model. Its methods
// are safe for concurrent use; calls run one at a time (the backend uses every core already).
type Detector struct {
	Coarse *train.Model // whole photo → landmarks
	Refine *train.Model // face crop → landmarks; nil for a single-stage detector
	// Passes is how many times the refine model runs, each on a crop around the previous points
	// (default 3).
	Passes int
	// Flip averages each model's prediction with its prediction on the mirrored input.
	Flip bool
	// Grow enlarges the first refine pass's box (1 = the refine model's own margin), so a face
	// the coarse model placed badly still falls inside the crop; later passes use the refine
	// model's margin.
	Grow float64
	mu   sync.Mutex
}

// Load loads a detector. path is "" for the shipped model, a folder holding coarse.safetensors
// and optionally refine.safetensors, or one whole-photo checkpoint (a run's best.safetensors).
// The fastest backend this build has runs it.
func Load(path string) (*Detector, error) {
	b, err := engine.Open("")
	if err != nil {
		return nil, err
	}
	var fsys fs.FS
	switch st, err := os.Stat(path); {
	case path == "":
		sub, _ := fs.Sub(shipped, "model")
		fsys, path = sub, "(shipped model)"
	case err != nil:
		return nil, fmt.Errorf("catmark: loading a model: %w", err)
	case !st.IsDir():
		m, err := train.LoadModel(b, path)
		if err != nil {
			return nil, err
		}
		if m.Spec.Stage != train.Whole {
			return nil, fmt.Errorf("catmark: %s is a face-crop model; a detector needs a whole-photo model first (pass a folder with %s and %s)", path, CoarseFile, RefineFile)
		}
		return &Detector{Coarse: m, Passes: 3, Flip: true, Grow: 1.4}, nil
	default:
		fsys = os.DirFS(path)
	}
	load := func(name string) (*train.Model, error) {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		return train.LoadModelBytes(b, filepath.Join(path, name), data)
	}
	d := &Detector{Passes: 3, Flip: true, Grow: 1.4}
	if d.Coarse, err = load(CoarseFile); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("catmark: %s holds no %s (train one: see the README)", path, CoarseFile)
	} else if err != nil {
		return nil, err
	}
	if d.Refine, err = load(RefineFile); errors.Is(err, fs.ErrNotExist) {
		d.Refine = nil
	} else if err != nil {
		return nil, err
	}
	if d.Coarse.Spec.Stage != train.Whole || d.Refine != nil && d.Refine.Spec.Stage != train.Crop {
		return nil, fmt.Errorf("catmark: %s: %s must be a whole-photo model and %s a face-crop model", path, CoarseFile, RefineFile)
	}
	return d, nil
}

// Detect returns the nine landmarks of the cat's face in img, in img's pixel coordinates
// (relative to img.Bounds().Min). A photo with several cats gets the points of one of them.
func (d *Detector) Detect(img image.Image) (landmark.Points, error) {
	b := img.Bounds()
	if b.Dx() < 8 || b.Dy() < 8 {
		return landmark.Points{}, fmt.Errorf("catmark: image of %d×%d pixels is too small to find a face in", b.Dx(), b.Dy())
	}
	return d.DetectRGB(imgproc.FromImage(img)), nil
}

// DetectRGB is Detect for an image already in catmark's RGB form.
func (d *Detector) DetectRGB(photo *imgproc.RGB) landmark.Points {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Stage 1: the whole photo, points normalised to it.
	pts := d.predict(d.Coarse, photo).Denormalize(photo.W, photo.H)
	if d.Refine == nil {
		return pts
	}
	passes := max(d.Passes, 1)
	for pass := range passes {
		box := train.FaceBox(pts, d.Refine.Spec.Margin)
		if pass == 0 && d.Grow > 0 {
			box.Side *= d.Grow
		}
		crop := facecrop.Crop(photo, photo.W, photo.H, box, d.Refine.Spec.Size)
		pts = box.FromBox(d.predict(d.Refine, crop))
	}
	return pts
}

// predict runs m on img and returns the points normalised to img, averaged with the mirrored
// input's prediction when d.Flip.
func (d *Detector) predict(m *train.Model, img *imgproc.RGB) landmark.Points {
	s := m.Spec.Size
	n := 1
	if d.Flip {
		n = 2
	}
	x := make([]float32, n*3*s*s)
	small := img
	if img.W != s || img.H != s {
		small = img.Resize(s, s)
	}
	m.Spec.Input(small, x)
	if d.Flip {
		mirrored := small.Clone()
		augment.FlipImage(mirrored)
		m.Spec.Input(mirrored, x[3*s*s:])
	}
	y := m.Predict(x, n)
	var p landmark.Points
	for j := range p {
		p[j] = landmark.Point{X: float64(y[2*j]), Y: float64(y[2*j+1])}
	}
	if d.Flip {
		var q landmark.Points
		for j := range q {
			q[j] = landmark.Point{X: float64(y[18+2*j]), Y: float64(y[18+2*j+1])}
		}
		q = q.FlipNormalized()
		for j := range p {
			p[j] = landmark.Point{X: (p[j].X + q[j].X) / 2, Y: (p[j].Y + q[j].Y) / 2}
		}
	}
	return p
}
