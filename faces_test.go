package catmark

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// randomDetector loads randomly initialised models: a coarse model with the given head and a
// refine model with a presence output.
func randomDetector(t *testing.T, coarseHead string) *Detector {
	t.Helper()
	dir := t.TempDir()
	saveRandomSpec(t, filepath.Join(dir, model.CoarseFile), model.Spec{Depth: 18, Width: 4, Size: 64, Stage: model.Whole, Norm: "imagenet", Head: coarseHead, Stages: 3}, 1)
	saveRandomSpec(t, filepath.Join(dir, model.RefineFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}, 2)
	det, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return det
}

// With AnyAngle, a photo turned by quarter turns gets the same points, turned with it: the four
// turns the first pass tries are the same whichever way the photo came (within 3 pixels: the
// coarse input is resized before it is turned, which rounds differently).
func TestAnyAngleFollowsQuarterTurns(t *testing.T) {
	det := randomDetector(t, "pool")
	det.AnyAngle, det.Search = true, 0
	photo := catPhoto(t)
	want, _ := det.DetectFaceRGB(photo)
	for q := 1; q < 4; q++ {
		got, _ := det.DetectFaceRGB(photo.TurnQuarter(q))
		// Turn the points back: a counter-clockwise quarter takes (x, y) of a w-wide image to
		// (y, w − x), so undoing it takes (u, v) to (w − v, u); the last turn was of an image
		// W wide after an even number of turns, H wide after an odd one.
		w, h := float64(photo.W), float64(photo.H)
		if q%2 == 0 {
			w, h = h, w
		}
		for range q {
			for i, p := range got {
				got[i] = landmark.Point{X: w - p.Y, Y: p.X}
			}
			w, h = h, w
		}
		for i := range got {
			if d := math.Hypot(got[i].X-want[i].X, got[i].Y-want[i].Y); !(d < 3) {
				t.Errorf("%d quarter turns: point %s at %v turned back, %v upright", q, landmark.Names[i], got[i], want[i])
			}
		}
	}
}

// DetectAll's first face is DetectFace's; a coarse model with a pooled head gives one face, and
// one with heatmaps gives faces best first that do not overlap.
func TestDetectAll(t *testing.T) {
	photo := catPhoto(t).Image()
	for _, head := range []string{"pool", "integral"} {
		det := randomDetector(t, head)
		det.MinFace = 0
		p, f, err := det.DetectFace(photo)
		if err != nil {
			t.Fatal(err)
		}
		faces, err := det.DetectAll(photo)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) == 0 || faces[0].Points != p || faces[0].Face != f {
			t.Fatalf("%s head: DetectAll's first face %+v, DetectFace %v %v", head, faces, p, f)
		}
		if head == "pool" && len(faces) != 1 {
			t.Errorf("pooled coarse head: %d faces, want 1", len(faces))
		}
		for i := range faces {
			if i > 1 && faces[i].Face > faces[i-1].Face {
				t.Errorf("%s head: face %d has presence %v above face %d's %v", head, i, faces[i].Face, i-1, faces[i-1].Face)
			}
			if i > 0 && overlapsAny(faces[i].Box, faces[:i]) {
				t.Errorf("%s head: face %d overlaps a better one", head, i)
			}
			if b := faces[i].Bounds(); b.Empty() {
				t.Errorf("%s head: face %d has an empty box", head, i)
			}
		}
		t.Logf("%s head: %d faces", head, len(faces))
	}
}

// tiles covers a wide or tall photo with 4:3 tiles at its full height (or width), half a tile
// apart and inside the photo, and leaves photos of about 4:3 whole.
func TestTiles(t *testing.T) {
	for _, c := range []struct {
		w, h int
		want []image.Rectangle
	}{
		{400, 300, nil},
		{300, 400, nil},
		{401, 300, []image.Rectangle{image.Rect(0, 0, 400, 300), image.Rect(1, 0, 401, 300)}},
		{800, 300, []image.Rectangle{image.Rect(0, 0, 400, 300), image.Rect(200, 0, 600, 300), image.Rect(400, 0, 800, 300)}},
		{300, 900, []image.Rectangle{image.Rect(0, 0, 300, 400), image.Rect(0, 167, 300, 567), image.Rect(0, 333, 300, 733), image.Rect(0, 500, 300, 900)}},
	} {
		got := tiles(c.w, c.h)
		if len(got) != len(c.want) {
			t.Errorf("tiles(%d, %d) = %v, want %v", c.w, c.h, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("tiles(%d, %d) = %v, want %v", c.w, c.h, got, c.want)
				break
			}
		}
	}
}
