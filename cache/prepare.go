package cache

import (
	"io"

	"github.com/catmark/catmark/catdata"
)

// Options controls Prepare. The zero value asks for the defaults.
type Options struct {
	Size          int     // side of the square photos; 0 means DefaultSize
	TrainFraction float64 // share of photos in the train split; 0 means 0.7
	Seed          int64   // seed of the split
	GroupByPrefix bool    // keep photos sharing the 8-digit ID prefix on one side
	TrainList     []string
	ValList       []string  // explicit split by name (overrides TrainFraction)
	Workers       int       // decoding goroutines; 0 means GOMAXPROCS
	Progress      io.Writer // where the progress bar goes; nil means none
}

// Summary reports what Prepare did.
type Summary struct {
	Kept          int
	Skipped       []Skip
	OutsidePhotos int // photos with at least one point outside the frame
	OutsidePoints int // points outside the frame, over all photos
	Train, Val    int
}

// Prepare decodes every photo of src, resizes it to opt.Size² and writes a cache to dir.
func Prepare(src *catdata.Source, dir string, opt Options) (*Summary, error) {
	panic("cache: Prepare: not yet implemented")
}
