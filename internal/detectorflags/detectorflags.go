// Package detectorflags is the command line's detector settings (--passes, --flip, --grow,
// --search, --min-face, --zoom, --upright, --any-angle, --first-stage): the flags catmark predict, serve and
// eval share, and catmark-beam (the beam module) takes too. Their defaults are catmark.Defaults,
// the settings a loaded Detector starts with.
package detectorflags

import (
	"flag"
	"fmt"

	"github.com/catmark/catmark"
)

// Flags are the detector flags added to one flag set.
type Flags struct {
	passes *int
	flip   *bool
	grow   *float64
	search *float64
	angle  *bool
	min    *float64
	zoom   *float64
	up     *float64
	first  *string
	csize  *int
	fs     *flag.FlagSet
}

// Add adds the detector flags to fs.
func Add(fs *flag.FlagSet) Flags {
	d := catmark.Defaults
	return Flags{
		fs:     fs,
		passes: fs.Int("passes", d.Passes, "detector: refine passes, each on a crop around the previous points (at least 1)"),
		flip:   fs.Bool("flip", d.Flip, "detector: average the final prediction with the mirrored photo's"),
		grow:   fs.Float64("grow", d.Grow, "detector: enlarge the first refine crop by this factor (1 or 0: not at all)"),
		search: fs.Float64("search", d.Search, "detector: search the whole photo when the first crop's face presence is below this (0: never; needs a refine model with a presence output)"),
		min:    fs.Float64("min-face", d.MinFace, "detector: the face presence a face beyond the best one needs to be reported (faces in --json, every face drawn)"),
		zoom:   fs.Float64("zoom", d.Zoom, "detector: average the final refine pass with its crop scaled by 1−zoom and 1+zoom (0: not at all)"),
		up:     fs.Float64("upright", d.Upright, "detector, with --any-angle: the face presence a face turned a quarter or more from its photo's upright needs; a weaker one gives way to the upright crops' answer on the photo turned upright (0: presence alone chooses)"),
		angle:  fs.Bool("any-angle", d.AnyAngle, "detector: find faces turned by any angle, upside down included (all four quarter turns on the first pass; later crops follow the face's angle); --any-angle=false for upright crops only"),
		csize:  fs.Int("centers-size", d.CentersSize, "detector, with --first-stage centers: the side in pixels the centers model reads each photo at, letterboxed (0: the size it was trained at); larger finds smaller faces and costs more"),
		first:  fs.String("first-stage", catmark.FirstCoarse, "detector: the first stage, coarse (the coarse model, searching turns and windows) or centers (the model folder's centers.safetensors finds every face's centre, size and angle in one pass; each refine crop is turned by its face's angle; a photo whose best face's presence stays below --search is searched as with coarse)"),
	}
}

// Settings returns the settings the parsed flags give, rejecting values outside their range and
// an --upright that --any-angle=false and a --centers-size that the coarse first stage would
// silently ignore.
func (f Flags) Settings() (catmark.Settings, error) {
	s := catmark.Settings{Passes: *f.passes, Flip: *f.flip, Grow: *f.grow, Search: *f.search, AnyAngle: *f.angle, MinFace: *f.min, Zoom: *f.zoom, Upright: *f.up, FirstStage: *f.first, CentersSize: *f.csize}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("detector flags: %w", err)
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["upright"] && s.Upright > 0 && !s.AnyAngle {
		return s, fmt.Errorf("detector flags: --upright %g applies only with --any-angle (with --any-angle=false every crop is upright already)", s.Upright)
	}
	if set["centers-size"] && s.CentersSize != 0 && s.FirstStage != catmark.FirstCenters {
		return s, fmt.Errorf("detector flags: --centers-size %d applies only with --first-stage %s", s.CentersSize, catmark.FirstCenters)
	}
	return s, nil
}

// Load loads the detector at path ("": the shipped model; see catmark.Load) on the named engine
// backend ("": the fastest linked in), with the parsed flags' settings.
func (f Flags) Load(path, backend string) (*catmark.Detector, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, err
	}
	return catmark.Load(path, catmark.WithBackend(backend), catmark.WithSettings(s))
}
