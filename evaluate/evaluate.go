// Package evaluate measures landmark predictors on photos whose points are known: a prepared
// cache's split or a folder of annotated photos. Figures are computed in the photos' original
// pixels with package metrics: the seed's MSE (normalised, clipped), NME, failure rate,
// PCK@0.05 and @0.1, and per-point errors.
//
// A predictor is anything that maps photos to points (Predictor): a single checkpoint (Model),
// or the two-stage detector. Predictors that need to be told where the face is, a crop-stage
// model on its own, implement CropPredictor; Run then gives them the true face box of every
// photo and says so in the Result (TrueFaceCrops).
package evaluate

import (
	"fmt"
	"image"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/metrics"
)

// Predictor finds the landmarks of photos: photo pixels in, points in the same photos' pixels
// out, one Points per image, in order.
type Predictor interface {
	PredictBatch(imgs []*imgproc.RGB) ([]landmark.Points, error)
}

// PredictorFunc is a Predictor that finds the points of one photo at a time, such as a
// catmark.Detector's Detect.
type PredictorFunc func(image.Image) (landmark.Points, error)

// PredictBatch calls f on each photo; the first error ends it, naming the photo's place in the
// batch.
func (f PredictorFunc) PredictBatch(imgs []*imgproc.RGB) ([]landmark.Points, error) {
	out := make([]landmark.Points, len(imgs))
	for i, img := range imgs {
		p, err := f(img.Image())
		if err != nil {
			return nil, fmt.Errorf("photo %d of %d in the batch: %w", i+1, len(imgs), err)
		}
		out[i] = p
	}
	return out, nil
}

// Squasher is implemented by predictors whose first step resizes the whole photo to a square
// without keeping its aspect ratio, as a whole-stage model does. Run hands them a cache's square
// photos as the cache holds them, which is what training's validation does; other predictors get
// each cached photo resized back to its original size first.
type Squasher interface {
	Squashes() bool
}

// CropPredictor is implemented by predictors that must be told where the face is: a crop-stage
// model evaluated on its own. When FaceMargin reports ok, Run calls PredictCrops with the square
// box around each photo's true landmarks (facecrop.FaceBox with that margin) instead of
// PredictBatch.
type CropPredictor interface {
	Predictor
	// FaceMargin reports whether predictions need a face box, and the share of the box's side
	// to add on each side of the landmarks' box.
	FaceMargin() (margin float64, ok bool)
	// PredictCrops predicts each photo's points, in its original pixels, from its face box
	// (in its original pixels).
	PredictCrops(photos []Photo, boxes []facecrop.Box) ([]landmark.Points, error)
}

// Photo is one photo to measure.
type Photo struct {
	Name string
	// Img is the photo, or a resized copy of it: a cache keeps squashed squares.
	Img *imgproc.RGB
	// W and H are the original photo's size in pixels.
	W, H int
	// Truth is the annotated landmarks in the original photo's pixels, unclipped.
	Truth landmark.Points
	// Turn is the angle the photo was turned by (TurnPhoto), in degrees counter-clockwise; 0 for
	// a photo as it was taken.
	Turn float64
}

// Original returns the photo at its original size: Img, or Img resized to W×H.
func (p Photo) Original() *imgproc.RGB {
	if p.Img.W == p.W && p.Img.H == p.H {
		return p.Img
	}
	return p.Img.Resize(p.W, p.H)
}

// Set is a list of photos to measure. Photo may be called from several goroutines at once; a
// photo that cannot be read returns an error naming it, and Run skips and counts it.
type Set interface {
	Len() int
	Photo(i int) (Photo, error)
}

// Options controls Run.
type Options struct {
	// Batch is the number of photos per PredictBatch call; 0 means 32.
	Batch int
	// Progress, when set, is called after every batch with the photos done and the total.
	Progress func(done, total int)
}

// Result is an evaluation: the figures (metrics.Report, whose JSON keys are mse, nme,
// failure_rate, pck_0_05, pck_0_1, per_point, n, skipped), what was measured, and every photo's
// prediction.
type Result struct {
	metrics.Report
	Model string `json:"model"`
	Data  string `json:"data"`
	Split string `json:"split"`
	// Turned is the angle every photo was turned by (Turned), in degrees counter-clockwise.
	Turned float64 `json:"turned,omitempty"`
	// TurnedRandom is set when every photo was turned by its own random angle (RandomTurned),
	// drawn with TurnSeed; each photo's angle is in Photos and WorstPhotos.
	TurnedRandom bool   `json:"turned_random,omitempty"`
	TurnSeed     uint64 `json:"turn_seed,omitempty"`
	// MedianNME is the median of the measured photos' NME.
	MedianNME float64 `json:"nme_median"`
	// GrossMisses counts the photos whose NME is above GrossMiss: the face was not found at all.
	GrossMisses int `json:"gross_misses"`
	// WorstPhotos lists the WorstCount photos with the highest NME, worst first.
	WorstPhotos []WorstPhoto `json:"worst"`
	// TrueFaceCrops is set when the predictor was given the true face box of every photo (a
	// crop-stage model on its own): its figures are not those of a detector that finds faces.
	TrueFaceCrops bool `json:"given_true_face_crops"`
	// BadPhotos names the photos that could not be read, with the reason; they are not measured.
	BadPhotos []string `json:"bad_photos,omitempty"`
	// Photos holds every measured photo's prediction, in the Set's order.
	Photos []PhotoResult `json:"-"`
}

// GrossMiss is the NME above which a photo's prediction is a gross miss: its points are, on
// average, farther from the truth than the eyes are from each other.
const GrossMiss = 1.0

// WorstCount is the number of photos Result.Worst lists.
const WorstCount = 12

// WorstPhoto is one of the photos with the highest NME: its name, its NME and the angle it was
// turned by (degrees counter-clockwise; 0 when not turned).
type WorstPhoto struct {
	Name string  `json:"name"`
	NME  float64 `json:"nme"`
	Turn float64 `json:"turn,omitempty"`
}

// PhotoResult is one photo's prediction and truth.
type PhotoResult struct {
	Index int // position in the Set
	Name  string
	Turn  float64 // the angle the photo was turned by (Photo.Turn), in degrees
	metrics.Sample
	// NME is the photo's mean point error over the distance between its true eyes; NaN when
	// that distance is zero (such photos are left out of the figures).
	NME float64
}

// Run predicts every photo of set with p and measures the predictions against the truth in the
// photos' original pixels. Photos that cannot be read are skipped and listed in BadPhotos; a
// predictor error ends the evaluation.
func Run(p Predictor, set Set, opt Options) (*Result, error) {
	batch := opt.Batch
	if batch <= 0 {
		batch = 32
	}
	cp, _ := p.(CropPredictor)
	margin, crops := 0.0, false
	if cp != nil {
		margin, crops = cp.FaceMargin()
	}
	sq, _ := p.(Squasher)
	squash := sq != nil && sq.Squashes()

	res := &Result{TrueFaceCrops: crops}
	var samples []metrics.Sample
	n := set.Len()
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		photos, idx, bad := loadPhotos(set, lo, hi)
		res.BadPhotos = append(res.BadPhotos, bad...)
		if len(photos) == 0 {
			continue
		}
		var pred []landmark.Points
		var err error
		if crops {
			boxes := make([]facecrop.Box, len(photos))
			for k, ph := range photos {
				boxes[k] = facecrop.FaceBox(ph.Truth, margin)
			}
			pred, err = cp.PredictCrops(photos, boxes)
		} else {
			imgs := make([]*imgproc.RGB, len(photos))
			for k, ph := range photos {
				if squash {
					imgs[k] = ph.Img
				} else {
					imgs[k] = ph.Original()
				}
			}
			pred, err = p.PredictBatch(imgs)
			if err == nil && len(pred) == len(imgs) {
				for k, img := range imgs {
					pred[k] = scalePoints(pred[k], float64(photos[k].W)/float64(img.W), float64(photos[k].H)/float64(img.H))
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("evaluate: predicting %s…: %w", photos[0].Name, err)
		}
		if len(pred) != len(photos) {
			return nil, fmt.Errorf("evaluate: the predictor returned %d predictions for %d photos", len(pred), len(photos))
		}
		for k, ph := range photos {
			s := metrics.Sample{Pred: pred[k], Truth: ph.Truth, Width: ph.W, Height: ph.H}
			samples = append(samples, s)
			res.Photos = append(res.Photos, PhotoResult{Index: idx[k], Name: ph.Name, Turn: ph.Turn, Sample: s, NME: photoNME(s)})
		}
		if opt.Progress != nil {
			opt.Progress(hi, n)
		}
	}
	res.Report = metrics.Compute(samples)
	res.summarise()
	return res, nil
}

// summarise fills in the figures taken from the photos' NME: the median, the gross misses and
// the worst photos.
func (r *Result) summarise() {
	var nmes []float64
	r.GrossMisses = 0
	for _, p := range r.Photos {
		if math.IsNaN(p.NME) {
			continue
		}
		nmes = append(nmes, p.NME)
		if p.NME > GrossMiss {
			r.GrossMisses++
		}
	}
	r.MedianNME = median(nmes)
	r.WorstPhotos = []WorstPhoto{}
	for _, p := range r.Worst(WorstCount) {
		if !math.IsNaN(p.NME) {
			r.WorstPhotos = append(r.WorstPhotos, WorstPhoto{Name: p.Name, NME: p.NME, Turn: p.Turn})
		}
	}
}

// median returns the median of v (the mean of the middle two for an even count), 0 for none;
// it sorts v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// loadPhotos reads photos lo…hi−1 of set in parallel; it returns those that could be read, their
// indices, and a message for each that could not.
func loadPhotos(set Set, lo, hi int) ([]Photo, []int, []string) {
	photos := make([]Photo, hi-lo)
	errs := make([]error, hi-lo)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), hi-lo) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				photos[i-lo], errs[i-lo] = set.Photo(i)
			}
		}()
	}
	for i := lo; i < hi; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	var ok []Photo
	var idx []int
	var bad []string
	for k, err := range errs {
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		ok = append(ok, photos[k])
		idx = append(idx, lo+k)
	}
	return ok, idx, bad
}

func scalePoints(p landmark.Points, sx, sy float64) landmark.Points {
	if sx == 1 && sy == 1 {
		return p
	}
	for i := range p {
		p[i].X *= sx
		p[i].Y *= sy
	}
	return p
}

// photoNME is one photo's NME, or NaN when it cannot be measured.
func photoNME(s metrics.Sample) float64 {
	e, ok := s.Errors()
	if !ok {
		return math.NaN()
	}
	var sum float64
	for _, v := range e {
		sum += v
	}
	return sum / landmark.N
}
