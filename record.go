package catmark

import (
	"math"

	"github.com/catmark/catmark/landmark"
)

// Record is what was found on one photo in the form "catmark predict --json" prints it (one
// record a line) and the HTTP API (package server) answers it:
//
//	{"path": "cat.jpg", "width": 500, "height": 375,
//	 "points": [{"name": "left_eye", "x": 211.4, "y": 160.2}, …],
//	 "face": 0.98,
//	 "faces": [{"box": {"x": 150, "y": 90, "w": 180, "h": 180}, "angle": -3.5, "face": 0.98,
//	            "points": […]}, …]}
//
// Make one with NewRecord.
type Record struct {
	Path   string           `json:"path"`   // the photo's file name (or path, for catmark predict)
	Width  int              `json:"width"`  // image width in pixels, as shown (EXIF orientation applied unless ignored)
	Height int              `json:"height"` // image height in pixels, as shown
	Points []landmark.Named `json:"points"` // the best face's nine points in annotation order, pixel coordinates
	// Presence is the best face's presence, 0 to 1 (low: probably no cat's face there); absent
	// when the model has no presence output.
	Presence *float64 `json:"face,omitempty"`
	// Faces are every cat's face found, best first, each with its box, angle, presence and
	// points; the first is Points and Presence. Absent for a detector without a refine model,
	// which has no face box.
	Faces []RecordFace `json:"faces,omitempty"`
}

// RecordFace is one face of a Record.
type RecordFace struct {
	Box      RecordBox        `json:"box"`            // the smallest rectangle of whole pixels holding the face's crop (Face.Bounds)
	Angle    float64          `json:"angle"`          // how far the face is turned from upright, counter-clockwise, in degrees to 0.1
	Presence *float64         `json:"face,omitempty"` // the face's presence, 0 to 1; absent without a presence output
	Points   []landmark.Named `json:"points"`         // its nine points in annotation order, pixel coordinates
}

// RecordBox is a rectangle in pixels: its top-left corner and size.
type RecordBox struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// NewRecord is the Record of the faces found on a width×height photo called path, best first as
// DetectAll (or one Faces of DetectAllBatch) gives them. A NaN presence is left out. faces holds
// at least one face for every photo a Detector measured; given none, the record has no points.
func NewRecord(path string, width, height int, faces []Face) Record {
	r := Record{Path: path, Width: width, Height: height}
	if len(faces) == 0 {
		return r
	}
	r.Points, r.Presence = faces[0].Points.Named(), presence(faces[0].Presence)
	for _, f := range faces {
		if f.Box.Side == 0 {
			break
		}
		b := f.Bounds()
		r.Faces = append(r.Faces, RecordFace{
			Box:      RecordBox{X: float64(b.Min.X), Y: float64(b.Min.Y), W: float64(b.Dx()), H: float64(b.Dy())},
			Angle:    math.Round(f.Angle()*10) / 10,
			Presence: presence(f.Presence),
			Points:   f.Points.Named(),
		})
	}
	return r
}

// presence is v as a Record gives it: nil for NaN.
func presence(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}
