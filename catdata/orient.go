package catdata

import (
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// LoadOriented is Load with the photo shown as its EXIF orientation says, as browsers show it
// and as catmark predict and serve give it to the detector by default, and its landmarks
// mapped into that frame (OrientPoints); it also returns the orientation. The Cat Dataset's
// annotations are in the stored pixel grid, so Load, not LoadOriented, is what training
// uses.
func (s *Source) LoadOriented(i int) (*imgproc.RGB, landmark.Points, imgproc.Orientation, error) {
	img, pts, o, err := s.load(i)
	if err != nil || o == imgproc.Upright {
		return img, pts, o, err
	}
	return imgproc.OrientRGB(img, o), OrientPoints(pts, o, img.W, img.H), o, nil
}

// OrientPoints maps landmarks of a photo stored w×h pixels into the frame its orientation o
// shows (imgproc.Orientation.Point). A mirroring orientation (2, 4, 5, 7) also gives each point
// its mirror partner's index (landmark.Mirror), as augment's flips do, so that index 0 is
// again the eye on the face's left as seen.
func OrientPoints(p landmark.Points, o imgproc.Orientation, w, h int) landmark.Points {
	var q landmark.Points
	for i, pt := range p {
		x, y := o.Point(pt.X, pt.Y, w, h)
		j := i
		if o.Mirrors() {
			j = landmark.Mirror[i]
		}
		q[j] = landmark.Point{X: x, Y: y}
	}
	return q
}
