// Package catmark finds the nine landmarks of a cat's face in a photo: both eyes, the mouth and
// three points on each ear, in the photo's pixel coordinates.
//
// It runs catmark's two-stage detector: a coarse model looks at the whole photo and finds the
// face; a refine model places the points on a square crop around it; the points are mapped back
// to the photo. Load("") gives the model shipped inside the module (package model).
//
//	det, err := catmark.Load("")
//	pts, err := det.Detect(img)
//	fmt.Println(pts[0].X, pts[0].Y) // the left eye
//
// The detector takes pixels as it is given them. Phones store most photos sideways with an
// EXIF orientation that browsers and viewers apply; decode with imgproc.DecodeImage (or
// imgproc.Limits.Decode), which applies it too, so that the points are in the frame the photo
// is shown in. An image decoded otherwise (image.Decode) is in the stored grid; turn it with
//
//	o, _ := imgproc.ReadOrientation(data) // data: the file's bytes
//	img = imgproc.Orient(img, o)
//
// The package imports nothing of training and no cgo: by itself it runs on catmark's pure-Go
// backend (engine/purego: assembly GEMM kernels on amd64, plain Go elsewhere). A program links
// the oneDNN backend in, as a database/sql driver, with
//
//	import _ "github.com/catmark/catmark/engine/dnnl"
//
// and Load then takes it (or the backend WithBackend names).
package catmark

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/purego" // the fast pure-Go backend, always present
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// Detector finds landmarks with a coarse model and, when it has one, a refine model. Its
// settings are fixed when it is loaded (WithSettings), so its methods are safe for concurrent
// use; calls run one at a time (the backend uses every core already).
type Detector struct {
	coarse  *model.Model // whole photo → landmarks
	refine  *model.Model // face crop → landmarks; nil for a single-stage detector
	centers *model.Model // whole photo → every face's centre, size and angle; nil without one
	cfg     Settings
	mu      sync.Mutex
	// firstStage gives the centers pipeline its candidates (findCenters; a test's own).
	firstStage func(context.Context, []*imgproc.RGB) ([][]model.Candidate, error)
}

// Settings returns the detector's inference settings.
func (d *Detector) Settings() Settings { return d.cfg }

// Coarse returns the spec of the whole-photo model, the detector's first stage.
func (d *Detector) Coarse() model.Spec { return d.coarse.Spec }

// Refine returns the spec of the face-crop model, the detector's second stage, and true; false
// for a single-stage detector.
func (d *Detector) Refine() (model.Spec, bool) {
	if d.refine == nil {
		return model.Spec{}, false
	}
	return d.refine.Spec, true
}

// Backend returns the name of the engine backend the detector runs on ("go", "ref", "dnnl").
func (d *Detector) Backend() string { return d.coarse.B.Name() }

// An Option adjusts Load.
type Option func(*options)

type options struct {
	backend  string
	settings *Settings
}

// WithBackend runs the detector on the named engine backend ("ref", "dnnl", …; see
// engine.Available). Without it Load takes the fastest backend the program has: the pure-Go one
// ("go") unless oneDNN is linked in by
//
//	import _ "github.com/catmark/catmark/engine/dnnl"
func WithBackend(name string) Option { return func(o *options) { o.backend = name } }

// WithSettings gives the detector settings s instead of Defaults; Load rejects them when
// s.Validate does.
func WithSettings(s Settings) Option { return func(o *options) { o.settings = &s } }

// Load loads a detector. path is "" for the shipped model (model.Shipped), a folder holding
// coarse.safetensors and optionally refine.safetensors, or one whole-photo checkpoint (a run's
// best.safetensors). Its settings are Defaults unless WithSettings gives others.
func Load(path string, opts ...Option) (*Detector, error) {
	o := options{settings: &Defaults}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := *o.settings
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("catmark: settings: %w", err)
	}
	b, err := engine.Open(o.backend)
	if err != nil {
		return nil, fmt.Errorf("catmark: %w", err)
	}
	var fsys fs.FS
	switch st, err := os.Stat(path); {
	case path == "":
		fsys, path = model.Shipped, "(shipped model)"
	case err != nil:
		return nil, fmt.Errorf("catmark: loading a model: %w", err)
	case !st.IsDir():
		m, err := model.Load(b, path)
		if err != nil {
			return nil, err
		}
		if m.Spec.Stage != model.Whole {
			return nil, fmt.Errorf("catmark: %s is a face-crop model; a detector needs a whole-photo model first (pass a folder with %s and %s)", path, model.CoarseFile, model.RefineFile)
		}
		d := &Detector{coarse: m, cfg: cfg}
		if err := d.checkCenters(path); err != nil {
			return nil, err
		}
		return d, nil
	default:
		fsys = os.DirFS(path)
	}
	load := func(name string) (*model.Model, error) {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		return model.LoadBytes(b, filepath.Join(path, name), data)
	}
	d := &Detector{cfg: cfg}
	d.firstStage = d.findCenters
	if d.coarse, err = load(model.CoarseFile); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("catmark: %s holds no %s (train one: see the README)", path, model.CoarseFile)
	} else if err != nil {
		return nil, err
	}
	if d.refine, err = load(model.RefineFile); errors.Is(err, fs.ErrNotExist) {
		d.refine = nil
	} else if err != nil {
		return nil, err
	}
	if d.coarse.Spec.Stage != model.Whole || d.refine != nil && d.refine.Spec.Stage != model.Crop {
		return nil, fmt.Errorf("catmark: %s: %s must be a whole-photo model and %s a face-crop model", path, model.CoarseFile, model.RefineFile)
	}
	if d.centers, err = load(model.CentersFile); errors.Is(err, fs.ErrNotExist) {
		d.centers = nil
	} else if err != nil {
		return nil, err
	}
	if err := d.checkCenters(path); err != nil {
		return nil, err
	}
	return d, nil
}

// MinSide is the smallest photo width and height, in pixels, a detector accepts.
const MinSide = 16

// ErrTooSmall is returned (wrapped, naming the size) for a photo under MinSide pixels a side.
var ErrTooSmall = errors.New("photo too small")

// Face is one cat's face a Detector found on a photo.
type Face struct {
	// Points are the nine landmarks in the photo's pixels, labelled as on the upright cat (the
	// cat's left eye is Points[0] however the head is turned).
	Points landmark.Points
	// Presence is how sure the refine model is that the points frame a cat's face, 0 to 1; NaN
	// for a model without a presence output.
	Presence float64
	// Box is the last refine pass's crop in the photo's pixels; Box.Angle is how far the crop
	// is turned, counter-clockwise in degrees. It is zero for a detector without a refine model.
	Box facecrop.Box
}

// Angle is how far the face is turned from upright, counter-clockwise in degrees, from its
// points (landmark.Points.Angle).
func (f Face) Angle() float64 { return f.Points.Angle() }

// Bounds is the smallest rectangle of whole pixels holding Box (turned or not).
func (f Face) Bounds() image.Rectangle {
	c := f.Box.Corners()
	x0, y0, x1, y1 := c[0].X, c[0].Y, c[0].X, c[0].Y
	for _, p := range c[1:] {
		x0, x1 = min(x0, p.X), max(x1, p.X)
		y0, y1 = min(y0, p.Y), max(y1, p.Y)
	}
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1)), int(math.Ceil(y1)))
}

// Faces is what DetectAllBatch (or DetectBatch, the best face only) found on one photo: its
// faces, best first, or the error that kept the photo from being measured.
type Faces struct {
	Faces []Face
	Err   error
}

// Detect returns the nine landmarks of the cat's face in img, in img's pixel coordinates
// (relative to img.Bounds().Min). A photo with several cats gets the points of one of them.
func (d *Detector) Detect(img image.Image) (landmark.Points, error) {
	p, _, err := d.DetectFaceContext(context.Background(), img)
	return p, err
}

// DetectFace is Detect that also returns how sure the refine model is that the points frame a
// cat's face: its face presence, in (0, 1), or NaN when the model has no presence output.
//
// With a presence output, a first crop whose presence is below Settings.Search counts as a miss
// of the coarse model: the detector then scores square windows of up to six sizes all over the
// photo, refines the best three and keeps whichever ends with the highest presence.
func (d *Detector) DetectFace(img image.Image) (landmark.Points, float64, error) {
	return d.DetectFaceContext(context.Background(), img)
}

// DetectFaceContext is DetectFace that stops, returning ctx's error, once ctx is done: it checks
// ctx before every model call, so an abandoned request costs at most one more batch.
func (d *Detector) DetectFaceContext(ctx context.Context, img image.Image) (landmark.Points, float64, error) {
	res, err := d.DetectBatch(ctx, []image.Image{img})
	if err != nil {
		return landmark.Points{}, math.NaN(), err
	}
	if res[0].Err != nil {
		return landmark.Points{}, math.NaN(), res[0].Err
	}
	return res[0].Faces[0].Points, res[0].Faces[0].Presence, nil
}

// DetectBatch detects the points on several photos at once: each stage runs its model once on
// all of them (the mirrored copies in the same batch), which uses the cores far better than photo
// by photo; a photo whose first crop misses is then searched on its own. It returns one Faces
// per photo, in imgs' order, holding the photo's best face only (DetectAllBatch finds them all)
// or, for a photo it could not use (one under MinSide a side), the error instead. The faces equal,
// within float rounding, what DetectFace finds photo by photo. The error is ctx's, when it ends
// first.
func (d *Detector) DetectBatch(ctx context.Context, imgs []image.Image) ([]Faces, error) {
	best, _, errs, _, err := d.detectImages(ctx, imgs)
	if err != nil {
		return nil, err
	}
	out := make([]Faces, len(imgs))
	for i := range out {
		if out[i].Err = errs[i]; errs[i] == nil {
			out[i].Faces = []Face{best[i]}
		}
	}
	return out, nil
}

// detectImages is DetectBatch's work: each photo's best face, or the error that kept it from
// being measured (its face then has a NaN presence), each photo's faces when the first stage
// found them all at once (the centers stage; nil otherwise), and each photo's RGB form (nil for
// one it could not use), for callers that go on working on the photos.
func (d *Detector) detectImages(ctx context.Context, imgs []image.Image) ([]Face, [][]Face, []error, []*imgproc.RGB, error) {
	out := make([]Face, len(imgs))
	errs := make([]error, len(imgs))
	rgb := make([]*imgproc.RGB, len(imgs))
	var photos []*imgproc.RGB
	var at []int
	for i, img := range imgs {
		b := img.Bounds()
		if b.Dx() < MinSide || b.Dy() < MinSide {
			out[i] = Face{Presence: math.NaN()}
			errs[i] = fmt.Errorf("catmark: image of %d×%d pixels: %w (at least %d×%d)", b.Dx(), b.Dy(), ErrTooSmall, MinSide, MinSide)
			continue
		}
		rgb[i] = imgproc.FromImage(img)
		photos = append(photos, rgb[i])
		at = append(at, i)
	}
	if len(photos) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, nil, err
		}
		return out, nil, errs, rgb, nil
	}
	det, all, err := d.detect(ctx, photos)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var faces [][]Face
	if all != nil {
		faces = make([][]Face, len(imgs))
	}
	for k, i := range at {
		out[i] = det[k]
		if all != nil {
			faces[i] = all[k]
		}
	}
	return out, faces, errs, rgb, nil
}
