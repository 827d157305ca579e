package facecrop

import "github.com/catmark/catmark/landmark"

// MinFaceSide is the smallest face box side FaceBox returns, in pixels.
const MinFaceSide = 8

// FaceBox is the crop stage's box around a face's landmarks (in photo pixels): the square around
// their bounding box grown by margin on each side (FromPoints), at least MinFaceSide. Training
// cuts its crops with it and the detector its refine passes.
func FaceBox(p landmark.Points, margin float64) Box {
	return FromPoints(p, margin, MinFaceSide)
}
