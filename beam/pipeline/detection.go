package pipeline

import (
	"math"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/server"
)

// detection is what catmark predict --json and catmark serve report for a photo's faces (best
// first, at least one): the best face's points and presence, and each located face's box,
// angle and points. It is the same conversion as cmd/catmark's, so that a photo's JSON line
// here is byte for byte predict's.
func detection(faces []catmark.Face) server.Detection {
	presence := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	d := server.Detection{Points: faces[0].Points, Face: presence(faces[0].Face)}
	for _, f := range faces {
		if f.Box.Side == 0 {
			break
		}
		r := f.Bounds()
		d.Faces = append(d.Faces, server.FaceDetection{
			Points: f.Points, Face: presence(f.Face), Angle: math.Round(f.Angle()*10) / 10,
			Box: server.Box{X: float64(r.Min.X), Y: float64(r.Min.Y), W: float64(r.Dx()), H: float64(r.Dy())},
		})
	}
	return d
}
