package main

import "flag"

// addOrientationFlag adds --exif-orientation, shared by predict, eval and serve: whether a
// photo is turned as its EXIF orientation says before detection (imgproc.Limits'
// IgnoreOrientation is its negation). prepare has no such flag: the training cache keeps the
// stored pixel grid, which the Cat Dataset's annotations are in.
func addOrientationFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("exif-orientation", true, "turn each photo as its EXIF orientation says (phones store most photos sideways), as browsers show it, so that points are in that frame; eval turns a photo folder's truth along (a prepared cache is in the stored grid already); false keeps the stored pixel grid")
}
