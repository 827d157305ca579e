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

// FaceBoxAt is FaceBox for a face turned by angle degrees (Box.Angle): the box is the square
// around the points' bounding box in the frame that makes the face upright, grown by margin on
// each side, at least MinFaceSide.
func FaceBoxAt(p landmark.Points, margin, angle float64) Box {
	if angle == 0 {
		return FaceBox(p, margin)
	}
	// Upright coordinates of the points: their components along the turned box's axes.
	axes := Box{Side: 1, Angle: angle}
	up := axes.ToBox(p) // offsets from the origin along the axes, in pixels, plus 0.5
	b := FromPoints(up, margin, MinFaceSide)
	c := axes.FromBox(landmark.Points{{X: b.CX, Y: b.CY}})[0]
	return Box{CX: c.X, CY: c.Y, Side: b.Side, Angle: angle}
}
