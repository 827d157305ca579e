package main

import (
	"flag"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/internal/detectorflags"
)

// detectorFlags are the flags that load a detector, shared by predict, serve and eval: its engine
// backend (--backend) and its inference settings (package internal/detectorflags, which
// catmark-beam shares).
type detectorFlags struct {
	detectorflags.Flags
	backend string
}

func addDetectorFlags(fs *flag.FlagSet) *detectorFlags {
	f := &detectorFlags{Flags: detectorflags.Add(fs)}
	backendVar(fs, &f.backend)
	return f
}

// load loads the detector at path ("": the shipped model; see catmark.Load) on the flags'
// backend, with their settings.
func (f *detectorFlags) load(path string) (*catmark.Detector, error) {
	return f.Load(path, f.backend)
}
