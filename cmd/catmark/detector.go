package main

import (
	"flag"
	"fmt"

	"github.com/catmark/catmark"
)

// detectorFlags are the flags that load a detector, shared by predict, serve and eval: its engine
// backend and its inference settings. The settings' defaults are catmark.Defaults, the same
// catmark.Load gives.
type detectorFlags struct {
	backend string
	passes  *int
	flip    *bool
	grow    *float64
	search  *float64
	angle   *bool
	min     *float64
	zoom    *float64
	up      *float64
	first   *string
	fs      *flag.FlagSet
}

func addDetectorFlags(fs *flag.FlagSet) *detectorFlags {
	d := catmark.Defaults
	f := &detectorFlags{
		fs:     fs,
		passes: fs.Int("passes", d.Passes, "detector: refine passes, each on a crop around the previous points (at least 1)"),
		flip:   fs.Bool("flip", d.Flip, "detector: average the final prediction with the mirrored photo's"),
		grow:   fs.Float64("grow", d.Grow, "detector: enlarge the first refine crop by this factor (1 or 0: not at all)"),
		search: fs.Float64("search", d.Search, "detector: search the whole photo when the first crop's face presence is below this (0: never; needs a refine model with a presence output)"),
		min:    fs.Float64("min-face", d.MinFace, "detector: the face presence a face beyond the best one needs to be reported (faces in --json, every face drawn)"),
		zoom:   fs.Float64("zoom", d.Zoom, "detector: average the final refine pass with its crop scaled by 1−zoom and 1+zoom (0: not at all)"),
		up:     fs.Float64("upright", d.Upright, "detector, with --any-angle: the face presence a face turned a quarter or more from its photo's upright needs; a weaker one gives way to the upright crops' answer on the photo turned upright (0: presence alone chooses)"),
		angle:  fs.Bool("any-angle", d.AnyAngle, "detector: find faces turned by any angle, upside down included (all four quarter turns on the first pass; later crops follow the face's angle); --any-angle=false for upright crops only"),
	}
	f.first = fs.String("first-stage", catmark.FirstCoarse, "detector: the first stage, coarse (the coarse model, searching turns and windows) or centers (the model folder's centers.safetensors finds every face's centre, size and angle in one pass; each refine crop is turned by its face's angle)")
	backendVar(fs, &f.backend)
	return f
}

// settings returns the settings the flags give, rejecting values outside their range and a flag
// that would be silently ignored.
func (f *detectorFlags) settings() (catmark.Settings, error) {
	s := catmark.Settings{Passes: *f.passes, Flip: *f.flip, Grow: *f.grow, Search: *f.search, AnyAngle: *f.angle, MinFace: *f.min, Zoom: *f.zoom, Upright: *f.up, FirstStage: *f.first}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("detector flags: %w", err)
	}
	set := false
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "upright" })
	if set && s.Upright > 0 && !s.AnyAngle {
		return s, fmt.Errorf("detector flags: --upright %g applies only with --any-angle (with --any-angle=false every crop is upright already)", s.Upright)
	}
	return s, nil
}

// load loads the detector at path ("": the shipped model; see catmark.Load) on the flags'
// backend, with their settings.
func (f *detectorFlags) load(path string) (*catmark.Detector, error) {
	s, err := f.settings()
	if err != nil {
		return nil, err
	}
	return catmark.Load(path, catmark.WithBackend(f.backend), catmark.WithSettings(s))
}
