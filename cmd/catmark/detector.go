package main

import (
	"flag"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/internal/detectorflags"
)

// detectorFlags are the detector's inference settings, shared by predict, serve and eval (and
// catmark-beam): package internal/detectorflags.
type detectorFlags struct{ detectorflags.Flags }

func addDetectorFlags(fs *flag.FlagSet) detectorFlags {
	return detectorFlags{detectorflags.Add(fs)}
}

// apply sets d's settings from the flags, rejecting values outside their range.
func (f detectorFlags) apply(d *catmark.Detector) error { return f.Apply(d) }
