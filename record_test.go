package catmark

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/landmark"
)

// turnedFace is a face's nine points around (cx, cy), in whole pixels, turned by q quarters
// counter-clockwise on screen.
func turnedFace(cx, cy float64, q int) landmark.Points {
	offsets := [landmark.N][2]float64{{-3, -1}, {3, -1}, {0, 3}, {-6, -3}, {-5, -8}, {-2, -4}, {2, -4}, {5, -8}, {6, -3}}
	var p landmark.Points
	for i, o := range offsets {
		for range q {
			o[0], o[1] = o[1], -o[0]
		}
		p[i] = landmark.Point{X: cx + o[0], Y: cy + o[1]}
	}
	return p
}

// NewRecord gives the JSON record of predict --json and the HTTP API: the best face's points and
// presence at the top, every face with a box under "faces" (its bounds in whole pixels, its angle
// to 0.1°), presences left out where NaN, no "faces" without boxes, no points without faces.
func TestNewRecord(t *testing.T) {
	a, b := turnedFace(10, 10, 1), turnedFace(105, 55, 3)
	faces := []Face{
		{Points: a, Presence: 0.9, Box: facecrop.Box{CX: 10, CY: 10, Side: 20}},
		{Points: b, Presence: 0.6, Box: facecrop.Box{CX: 105, CY: 55, Side: 29.5, Angle: -90}},
		{Points: b, Presence: math.NaN(), Box: facecrop.Box{CX: 150.5, CY: 50, Side: 10}},
	}
	named := func(p landmark.Points) string {
		raw, err := json.Marshal(p.Named())
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	for _, tc := range []struct {
		name  string
		faces []Face
		want  string
	}{
		{"faces", faces, `{"path":"x.jpg","width":200,"height":100,"points":` + named(a) + `,"face":0.9,"faces":[` +
			`{"box":{"x":0,"y":0,"w":20,"h":20},"angle":90,"face":0.9,"points":` + named(a) + `},` +
			`{"box":{"x":90,"y":40,"w":30,"h":30},"angle":-90,"face":0.6,"points":` + named(b) + `},` +
			`{"box":{"x":145,"y":45,"w":11,"h":10},"angle":-90,"points":` + named(b) + `}]}`},
		{"no box", []Face{{Points: a, Presence: math.NaN()}}, `{"path":"x.jpg","width":200,"height":100,"points":` + named(a) + `}`},
		{"no face", nil, `{"path":"x.jpg","width":200,"height":100,"points":null}`},
	} {
		raw, err := json.Marshal(NewRecord("x.jpg", 200, 100, tc.faces))
		if err != nil {
			t.Fatal(err)
		}
		if string(raw) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, raw, tc.want)
		}
	}
}
