package catmark

import (
	"fmt"

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
	// FirstStage picks the first stage: FirstCoarse ("" too), the coarse model with its searches,
	// or FirstCenters, the centers model (model.CentersFile in the model folder), which finds
	// every face's centre, size and angle in one pass; each candidate's refine crop is turned by
	// its angle. Only a photo whose best face's presence stays below Search gets the coarse first
	// stage's search (with AnyAngle's quarter turns and Upright), its better face kept. It needs a
	// refine model with a presence output.
	FirstStage string
	// CentersSize, with FirstCenters, is the side in pixels the centers model reads a photo at
	// (model.NewLetterbox: a photo up to 4:3 letterboxed to CentersSize², a wider one longer);
	// 0 is the size the model was trained at. Larger finds smaller faces and costs more
	// (docs/experiments.md#centers-1). A multiple of model.CentersAlign from 64 to 1024.
	CentersSize int
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
	case s.FirstStage != "" && s.FirstStage != FirstCoarse && s.FirstStage != FirstCenters:
		return fmt.Errorf("first stage %q: want %q or %q", s.FirstStage, FirstCoarse, FirstCenters)
	case s.CentersSize != 0 && (s.CentersSize < 64 || s.CentersSize > 1024 || s.CentersSize%model.CentersAlign != 0):
		return fmt.Errorf("centers size %d: want 0 (the model's own) or a multiple of %d from 64 to 1024", s.CentersSize, model.CentersAlign)
	}
	return nil
}

// DefaultMinFace is Settings.MinFace's default: the face presence a face beyond the best one
// needs to be reported by DetectAll. The largest value at which both seeds of the shipped recipe
// find 95 % of the faces in val-select's composites (docs/model-card.md).
const DefaultMinFace = 0.2
