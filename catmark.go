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
	"sort"
	"sync"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/purego" // the fast pure-Go backend, always present
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// Settings are a Detector's inference settings. The zero value is the plainest detector: one
// refine pass, no mirroring, no enlargement of the first crop, no search.
type Settings struct {
	// Passes is how many times the refine model runs, each on a crop around the previous points
	// (0 counts as 1).
	Passes int
	// Flip averages the final refine pass's prediction (and the coarse model's, without
	// AnyAngle) with its prediction on the mirrored input; earlier passes only place the next
	// crop.
	Flip bool
	// Grow enlarges the first refine pass's box (0 or 1: the refine model's own margin), so a
	// face the coarse model placed badly still falls inside the crop; later passes use the
	// refine model's margin.
	Grow float64
	// Search is the face presence below which the first crop counts as a miss and the photo is
	// searched; it needs a refine model with a presence output (train.Config.Negatives).
	// 0 turns the search off.
	Search float64
	// AnyAngle finds faces turned by any angle, upside down included: the coarse model and the
	// first refine pass look at the photo in all four quarter turns (unmirrored), the turn
	// whose crop has the highest face presence is kept, and each later pass cuts its crop
	// upright along the face's own angle (landmark.Points.Angle); a photo whose crop still
	// misses is searched in all four turns. Points keep the upright cat's labels. It needs a
	// refine model with a presence output. On by default: the crops that follow the face's
	// angle help upright photos too (docs/model-card.md).
	AnyAngle bool
	// MinFace is the face presence a face beyond the best one needs for DetectAll to report it.
	MinFace float64
	// Zoom, above 0, runs the final refine pass also on its crop scaled by 1−Zoom and 1+Zoom
	// (each mirrored too with Flip) and averages the three predictions' points; the face
	// presence stays the unscaled crop's. 0 turns it off.
	Zoom float64
	// Upright, with AnyAngle, is the face presence a face turned a quarter or more from its
	// photo's upright needs to be kept: a turned face below it gives way to what the detector
	// finds with AnyAngle off on the photo turned upright. Most photos show the cat upright in
	// the scene, so a weak turned face is more often a wrong turn (a basket's handle) than a cat
	// lying on its side. The photo's upright is the quarter turn in which the coarse model's
	// points on the photo and on its mirror image agree best, so a photo turned by quarters
	// gets the same answer, turned with it. 0 lets presence alone choose.
	Upright float64
}

// Defaults are the settings Load gives a detector, and the defaults of the command line's
// detector flags: those the shipped model (recipe 7) was measured with, Zoom, Upright and MinFace
// chosen on val-select (docs/model-card.md).
var Defaults = Settings{Passes: 3, Flip: true, Grow: 1.4, Search: 0.5, AnyAngle: true, MinFace: DefaultMinFace, Zoom: 0.15, Upright: 0.5}

// Validate reports the first setting outside its range.
func (s Settings) Validate() error {
	switch {
	case s.Passes < 0 || s.Passes > 20:
		return fmt.Errorf("passes %d out of range [0, 20]", s.Passes)
	case !(s.Grow >= 0 && s.Grow <= 10):
		return fmt.Errorf("grow %g out of range [0, 10]", s.Grow)
	case !(s.Search >= 0 && s.Search <= 1):
		return fmt.Errorf("search %g out of range [0, 1]", s.Search)
	case !(s.MinFace >= 0 && s.MinFace <= 1):
		return fmt.Errorf("min-face %g out of range [0, 1]", s.MinFace)
	case !(s.Zoom >= 0 && s.Zoom <= 0.5):
		return fmt.Errorf("zoom %g out of range [0, 0.5]", s.Zoom)
	case !(s.Upright >= 0 && s.Upright <= 1):
		return fmt.Errorf("upright %g out of range [0, 1]", s.Upright)
	}
	return nil
}

// Detector finds landmarks with a coarse model and, when it has one, a refine model. Its
// settings are fixed when it is loaded (WithSettings), so its methods are safe for concurrent
// use; calls run one at a time (the backend uses every core already).
type Detector struct {
	coarse *model.Model // whole photo → landmarks
	refine *model.Model // face crop → landmarks; nil for a single-stage detector
	cfg    Settings
	mu     sync.Mutex
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
		return &Detector{coarse: m, cfg: cfg}, nil
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
	return d, nil
}

// MinSide is the smallest photo width and height, in pixels, a detector accepts.
const MinSide = 16

// ErrTooSmall is returned (wrapped, naming the size) for a photo under MinSide pixels a side.
var ErrTooSmall = errors.New("photo too small")

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
	best, errs, _, err := d.detectImages(ctx, imgs)
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
// being measured (its face then has a NaN presence), and each photo's RGB form (nil for one it
// could not use), for callers that go on working on the photos.
func (d *Detector) detectImages(ctx context.Context, imgs []image.Image) ([]Face, []error, []*imgproc.RGB, error) {
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
			return nil, nil, nil, err
		}
		return out, errs, rgb, nil
	}
	det, err := d.detect(ctx, photos)
	if err != nil {
		return nil, nil, nil, err
	}
	for k, i := range at {
		out[i] = det[k]
	}
	return out, errs, rgb, nil
}

// detect runs the two stages on photos in batches and searches the photos whose first crop
// missed, stopping when ctx is done.
func (d *Detector) detect(ctx context.Context, photos []*imgproc.RGB) ([]Face, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.detectLocked(ctx, photos, d.cfg.Search)
}

// detectLocked is detect for a caller that holds d.mu, searching the photos whose first crop's
// presence is below search.
func (d *Detector) detectLocked(ctx context.Context, photos []*imgproc.RGB, search float64) ([]Face, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Face, len(photos))
	boxes := make([]facecrop.Box, len(photos))
	passes := max(d.cfg.Passes, 1)
	anyAngle := d.anyAngle()
	if anyAngle {
		// Stage 1 in four quarter turns, and the first refine pass on each. The turn with the
		// highest presence goes through the remaining passes; so does the runner-up where the
		// winner's presence is below the search threshold or the runner-up's reaches half of
		// MinFace (in one batch), and the higher final presence wins: a first-pass presence can
		// saturate on a wrong turn. Only presences choose, so a photo turned by quarters is
		// measured as the upright one is, except where Upright overrules a weak turned face
		// (preferUpright, at the end).
		second, err := d.quarterTurns(ctx, photos, out)
		if err != nil {
			return nil, err
		}
		if passes--; passes > 0 {
			ps := append([]*imgproc.RGB(nil), photos...)
			all := append([]Face(nil), out...)
			var at []int
			for i, u := range second {
				if out[i].Presence < d.cfg.Search || u.Presence >= d.cfg.MinFace/2 {
					ps, all, at = append(ps, photos[i]), append(all, u), append(at, i)
				}
			}
			bs := make([]facecrop.Box, len(all))
			for i := range bs {
				bs[i] = d.passBox(all[i].Points)
			}
			if err := d.runRefine(ctx, ps, bs, all, passes); err != nil {
				return nil, err
			}
			copy(out, all)
			for k, i := range at {
				if alt := all[len(photos)+k]; alt.Presence > out[i].Presence {
					out[i] = alt
				}
			}
			passes = 0
		}
	} else {
		// Stage 1: the whole photos, points normalised to each.
		for i, o := range d.predict(d.coarse, photos, d.cfg.Flip) {
			out[i] = Face{Points: o.Points.Denormalize(photos[i].W, photos[i].H), Presence: math.NaN()}
		}
		if d.refine == nil {
			return out, nil
		}
		for i := range boxes {
			boxes[i] = d.firstBox(out[i].Points, 0)
		}
	}
	if passes > 0 {
		if err := d.runRefine(ctx, photos, boxes, out, passes); err != nil {
			return nil, err
		}
	}
	if !d.refine.Spec.Presence {
		return out, nil
	}
	for i, photo := range photos {
		if out[i].Presence >= search {
			continue
		}
		// With AnyAngle the search scores every window in the four quarter turns: the
		// turn that won the first pass may be the very reason the crop missed.
		angles := []float64{0}
		if anyAngle {
			angles = []float64{0, quarterAngle(1), quarterAngle(2), quarterAngle(3)}
		}
		wins, err := d.windows(ctx, photo, 3, angles)
		if err != nil {
			return nil, err
		}
		tries := make([]Face, len(wins))
		same := make([]*imgproc.RGB, len(wins))
		for k := range same {
			same[k] = photo
		}
		if err := d.runRefine(ctx, same, wins, tries, max(d.cfg.Passes, 1)); err != nil {
			return nil, err
		}
		for _, t := range tries {
			if t.Presence > out[i].Presence {
				out[i] = t
			}
		}
	}
	if anyAngle && d.cfg.Upright > 0 {
		if err := d.preferUpright(ctx, photos, out, search); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// preferUpright replaces each face in out whose presence is below d.cfg.Upright and which is turned
// a quarter or more from its photo's upright (by its points' angle against upTurns' quarter)
// with what the detector finds with AnyAngle off on the photo turned upright (searching below
// search), in one batch. The photo's upright comes from the photo itself, not its frame, so a
// photo turned by quarters gets the same choice, turned with it.
func (d *Detector) preferUpright(ctx context.Context, photos []*imgproc.RGB, out []Face, search float64) error {
	var weak []*imgproc.RGB
	var at []int
	for i, o := range out {
		if o.Presence < d.cfg.Upright {
			weak, at = append(weak, photos[i]), append(at, i)
		}
	}
	if len(weak) == 0 {
		return nil
	}
	ups := d.upTurns(weak)
	var ps []*imgproc.RGB
	var turns, redo []int
	for k, i := range at {
		if q := ups[k]; nearestQuarter(out[i].Points.Angle()) != q {
			ps, turns, redo = append(ps, photos[i].TurnQuarter(q)), append(turns, q), append(redo, i)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	upright := &Detector{coarse: d.coarse, refine: d.refine, cfg: d.cfg}
	upright.cfg.AnyAngle = false
	res, err := upright.detectLocked(ctx, ps, search)
	if err != nil {
		return err
	}
	for k, i := range redo {
		out[i] = unturnFace(res[k], turns[k], ps[k], photos[i])
	}
	return nil
}

// upTurns returns, for each photo, the quarter turn q (0…3) that shows it upright: the turn in
// which the coarse model's points agree best with its points on the mirrored photo (the sum of
// the nine distances, in the coarse input's normalised coordinates), one batch of eight coarse
// inputs a photo. A model asked about a scene on its side guesses, and its guesses on the two
// mirror images part. On the validation photos it names the upright turn of 122 and 123 of
// val-select's 133 with recipe 7's two coarse models (119 and 122 with the distances over the
// points' extent, 120 and 123 with their median; docs/model-card.md).
func (d *Detector) upTurns(photos []*imgproc.RGB) []int {
	plain, mirrored := d.predictPair(d.coarse, quarterInputs(photos, d.coarse.Spec.Size), true)
	ups := make([]int, len(photos))
	for i := range photos {
		best := math.Inf(1)
		for q := range 4 {
			a, b := plain[4*i+q].Points, mirrored[4*i+q].Points.FlipNormalized()
			var gap float64
			for j := range a {
				gap += math.Hypot(a[j].X-b[j].X, a[j].Y-b[j].Y)
			}
			if gap < best {
				best, ups[i] = gap, q
			}
		}
	}
	return ups
}

// quarterInputs returns each photo resized to s×s in the four quarter turns, counter-clockwise:
// photo i turned by q at 4i+q.
func quarterInputs(photos []*imgproc.RGB, s int) []*imgproc.RGB {
	turned := make([]*imgproc.RGB, 0, 4*len(photos))
	for _, photo := range photos {
		small := photo.Resize(s, s)
		for q := range 4 {
			turned = append(turned, small.TurnQuarter(q))
		}
	}
	return turned
}

// unturnFace maps a face found on turned (photo turned by q quarters counter-clockwise) back to
// photo: its points and box centre, and its box angle less q quarters.
func unturnFace(det Face, q int, turned, photo *imgproc.RGB) Face {
	det.Points = unturn(det.Points.NormalizeUnclipped(turned.W, turned.H), q).Denormalize(photo.W, photo.H)
	c := unturnPoint(landmark.Point{X: det.Box.CX / float64(turned.W), Y: det.Box.CY / float64(turned.H)}, q)
	det.Box.CX, det.Box.CY = c.X*float64(photo.W), c.Y*float64(photo.H)
	det.Box.Angle = math.Remainder(det.Box.Angle+quarterAngle(q), 360)
	if det.Box.Angle == -180 {
		det.Box.Angle = 180
	}
	return det
}

// firstBox is the first refine pass's box for a face at points (photo pixels) turned by angle:
// the refine model's face box, grown by d.cfg.Grow.
func (d *Detector) firstBox(points landmark.Points, angle float64) facecrop.Box {
	b := facecrop.FaceBoxAt(points, d.refine.Spec.Margin, angle)
	if d.cfg.Grow > 0 {
		b.Side *= d.cfg.Grow
	}
	return b
}

// anyAngle reports whether AnyAngle applies: it needs a refine model with a presence output.
func (d *Detector) anyAngle() bool {
	return d.cfg.AnyAngle && d.refine != nil && d.refine.Spec.Presence
}

// passBox is a later refine pass's box around the previous pass's points: upright, or, with
// AnyAngle, turned with the face.
func (d *Detector) passBox(points landmark.Points) facecrop.Box {
	if d.anyAngle() {
		return facecrop.FaceBoxAt(points, d.refine.Spec.Margin, points.Angle())
	}
	return facecrop.FaceBox(points, d.refine.Spec.Margin)
}

// refine runs passes refine passes on photos[i] from boxes[i], all photos in one batch per pass,
// each pass on crops around the previous points, and leaves the last pass's points (photo
// pixels), face presence and box in out. The last pass is the final one: averaged with the
// mirrored crops' prediction with d.cfg.Flip and with the scaled crops' with d.cfg.Zoom; earlier passes
// only place the next crop and run unmirrored.
func (d *Detector) runRefine(ctx context.Context, photos []*imgproc.RGB, boxes []facecrop.Box, out []Face, passes int) error {
	return d.passes(ctx, photos, boxes, out, passes, true)
}

// firstPass runs one unmirrored refine pass on photos[i] from boxes[i] (one batch), leaving the
// points, presence and box in out: a candidate's first look, which decides whether it gets the
// remaining passes (finishPasses).
func (d *Detector) firstPass(ctx context.Context, photos []*imgproc.RGB, boxes []facecrop.Box, out []Face) error {
	return d.passes(ctx, photos, boxes, out, 1, false)
}

// passes is refine; its last pass is a final one (Flip and Zoom apply) when final.
func (d *Detector) passes(ctx context.Context, photos []*imgproc.RGB, boxes []facecrop.Box, out []Face, passes int, final bool) error {
	n := len(photos)
	for pass := range passes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pass > 0 {
			for i := range boxes {
				boxes[i] = d.passBox(out[i].Points)
			}
		}
		last := final && pass == passes-1
		// The crops: n of the boxes themselves, then, zooming, n scaled by each other factor.
		zooms := []float64{1}
		if last && d.cfg.Zoom > 0 {
			zooms = append(zooms, 1-d.cfg.Zoom, 1+d.cfg.Zoom)
		}
		crops := make([]*imgproc.RGB, len(zooms)*n)
		at := make([]facecrop.Box, len(zooms)*n)
		for k, z := range zooms {
			for i, photo := range photos {
				at[k*n+i] = boxes[i]
				at[k*n+i].Side *= z
				crops[k*n+i] = facecrop.Crop(photo, photo.W, photo.H, at[k*n+i], d.refine.Spec.Size)
			}
		}
		res := d.predict(d.refine, crops, last && d.cfg.Flip)
		views := make([]landmark.Points, len(zooms))
		for i := range photos {
			for k := range zooms {
				views[k] = at[k*n+i].FromBox(res[k*n+i].Points)
			}
			out[i] = Face{Points: landmark.Mean(views...), Presence: res[i].Presence, Box: boxes[i]}
		}
	}
	return nil
}

// quarterTurns is AnyAngle's first pass. The coarse model sees every photo in the four quarter
// turns, counter-clockwise (one batch, unmirrored); each turn's points give a first box turned
// back with the photo (a face upright in the photo turned by q quarters is turned by −q
// quarters in the photo); the refine model runs on all four boxes (one batch, unmirrored) and
// each photo keeps the turn with the highest face presence, in out. It returns each photo's
// runner-up turn's result too (pickTurns).
func (d *Detector) quarterTurns(ctx context.Context, photos []*imgproc.RGB, out []Face) ([]Face, error) {
	n := len(photos)
	turned := quarterInputs(photos, d.coarse.Spec.Size)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	coarse := d.predict(d.coarse, turned, false)
	all := make([]facecrop.Box, 4*n)
	crops := make([]*imgproc.RGB, 4*n)
	for i, photo := range photos {
		for q := range 4 {
			p := unturn(coarse[4*i+q].Points, q)
			b := d.firstBox(p.Denormalize(photo.W, photo.H), quarterAngle(q))
			all[4*i+q] = b
			crops[4*i+q] = facecrop.Crop(photo, photo.W, photo.H, b, d.refine.Spec.Size)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.pickTurns(d.predict(d.refine, crops, false), all, out), nil
}

// windowSides are the search windows' sides as shares of the photo's longer side: from a small
// face's box to the whole photo, each 1.5 times the last.
var windowSides = []float64{0.15, 0.225, 0.34, 0.5, 0.76, 1.1}

// minWindow is the smallest search window's side in pixels: smaller faces are not searched for,
// which bounds a small photo's search (the whole-photo window is always scored).
const minWindow = 32

// windows scores square windows over the photo with the refine model's presence output (one
// unmirrored pass each, in batches of 32) and returns the k best, skipping a window whose centre
// lies inside a better one's middle half. Windows step by half their side; each place is scored
// at every one of angles (box angles: its crop upright for a face turned so).
func (d *Detector) windows(ctx context.Context, photo *imgproc.RGB, k int, angles []float64) ([]facecrop.Box, error) {
	long := float64(max(photo.W, photo.H))
	var boxes []facecrop.Box
	for i, f := range windowSides {
		side := f * long
		if side < minWindow && i < len(windowSides)-1 {
			continue
		}
		for _, cy := range steps(float64(photo.H), side, 0.5) {
			for _, cx := range steps(float64(photo.W), side, 0.5) {
				for _, a := range angles {
					boxes = append(boxes, facecrop.Box{CX: cx, CY: cy, Side: side, Angle: a})
				}
			}
		}
	}
	m := d.refine
	s := m.Spec.Size
	score := make([]float64, 0, len(boxes))
	// Every batch is full (the last one padded with copies): a backend prepares its kernels
	// once per batch size, which would cost more than the padding.
	const batch = 32
	x := make([]float32, batch*3*s*s)
	for lo := 0; lo < len(boxes); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(batch, len(boxes)-lo)
		for i := range n {
			m.Spec.Input(facecrop.Crop(photo, photo.W, photo.H, boxes[lo+i], s), x[i*3*s*s:])
		}
		for i := n; i < batch; i++ {
			copy(x[i*3*s*s:(i+1)*3*s*s], x[:3*s*s])
		}
		for _, o := range m.Predict(x, batch)[:n] {
			score = append(score, o.Presence)
		}
	}
	order := make([]int, len(boxes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
	var best []facecrop.Box
	for _, i := range order {
		b := boxes[i]
		near := false
		for _, c := range best {
			near = near || math.Abs(b.CX-c.CX) < c.Side/4 && math.Abs(b.CY-c.CY) < c.Side/4
		}
		if !near {
			best = append(best, b)
		}
		if len(best) == k {
			break
		}
	}
	return best, nil
}

// steps returns the centres of windows of the given side along an axis of length n, at most
// stride sides apart and spread evenly from edge to edge (one centred window when the side
// exceeds n).
func steps(n, side, stride float64) []float64 {
	if side >= n {
		return []float64{n / 2}
	}
	k := int(math.Ceil((n-side)/(side*stride))) + 1
	c := make([]float64, k)
	for i := range c {
		c[i] = side/2 + (n-side)*float64(i)/float64(k-1)
	}
	return c
}

// predict runs m on imgs in one batch and returns each one's points normalised to it and face
// presence (NaN without a presence output), averaged with the mirrored input's prediction when
// flip (the mirrored copies run in the same batch).
func (d *Detector) predict(m *model.Model, imgs []*imgproc.RGB, flip bool) []model.Output {
	out, mirrored := d.predictPair(m, imgs, flip)
	if flip {
		for i := range out {
			p := landmark.Mean(out[i].Points, mirrored[i].Points.FlipNormalized())
			out[i] = model.Output{Points: p, Presence: (out[i].Presence + mirrored[i].Presence) / 2}
		}
	}
	return out
}

// predictPair runs m on imgs and, when flip, on their mirror images, all in one batch, and
// returns both predictions as m gives them (the mirrored ones in the mirrored inputs'
// coordinates; nil without flip).
func (d *Detector) predictPair(m *model.Model, imgs []*imgproc.RGB, flip bool) (plain, mirrored []model.Output) {
	s, n := m.Spec.Size, len(imgs)
	copies := 1
	if flip {
		copies = 2
	}
	x := make([]float32, copies*n*3*s*s)
	for i, img := range imgs {
		small := img
		if img.W != s || img.H != s {
			small = img.Resize(s, s)
		}
		m.Spec.Input(small, x[i*3*s*s:])
		if flip {
			m2 := small.Clone()
			augment.FlipImage(m2)
			m.Spec.Input(m2, x[(n+i)*3*s*s:])
		}
	}
	out := m.Predict(x, copies*n)
	if flip {
		return out[:n], out[n:]
	}
	return out, nil
}
