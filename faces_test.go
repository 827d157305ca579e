package catmark

import (
	"context"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
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
// coarse input is resized before it is turned, which rounds differently). So with Upright 1,
// which sends every face to preferUpright: the photo's upright turns with it (upTurns).
func TestAnyAngleFollowsQuarterTurns(t *testing.T) {
	for _, up := range []float64{0, 1} {
		t.Run(fmt.Sprintf("upright-%g", up), func(t *testing.T) { testFollowsQuarterTurns(t, up) })
	}
}

func testFollowsQuarterTurns(t *testing.T, upright float64) {
	det := randomDetector(t, "pool")
	det.cfg.AnyAngle, det.cfg.Search, det.cfg.Upright = true, 0, upright
	photo := catPhoto(t)
	want, _ := detectRGB(t, det, photo)
	for q := 1; q < 4; q++ {
		got, _ := detectRGB(t, det, photo.TurnQuarter(q))
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

// DetectAll's first face is DetectFace's, the others follow best first and do not overlap it,
// and none is added whose presence is under MinFace.
func TestDetectAll(t *testing.T) {
	photo := catPhoto(t).Image()
	for _, head := range []string{"pool", "integral"} {
		det := randomDetector(t, head)
		det.cfg.MinFace = 0
		p, f, err := det.DetectFace(photo)
		if err != nil {
			t.Fatal(err)
		}
		faces, err := det.DetectAll(photo)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) == 0 || faces[0].Points != p || faces[0].Presence != f {
			t.Fatalf("%s head: DetectAll's first face %+v, DetectFace %v %v", head, faces, p, f)
		}
		det.cfg.MinFace = 1 // above any presence: only the best face
		if one, err := det.DetectAll(photo); err != nil || len(one) != 1 || one[0].Points != p {
			t.Errorf("%s head, min face 1: %d faces (%v), want the best one only", head, len(one), err)
		}
		for i := range faces {
			if i > 1 && faces[i].Presence > faces[i-1].Presence {
				t.Errorf("%s head: face %d has presence %v above face %d's %v", head, i, faces[i].Presence, i-1, faces[i-1].Presence)
			}
			if i > 0 && overlapsAny(faces[i].Points, faces[:i]) {
				t.Errorf("%s head: face %d overlaps a better one", head, i)
			}
			if b := faces[i].Bounds(); b.Empty() {
				t.Errorf("%s head: face %d has an empty box", head, i)
			}
		}
		t.Logf("%s head: %d faces", head, len(faces))
	}
}

// tiles covers a photo wider (or taller) than 4:3 with 4:3 tiles at all of its height (or
// width), and from 1.8:1 also at half of it, neighbours at most half a tile apart, inside the
// photo and reaching each edge, and leaves 4:3 photos whole.
func TestTiles(t *testing.T) {
	for _, c := range []struct{ w, h int }{{400, 300}, {300, 400}, {401, 300}, {450, 300}, {1600, 900}, {541, 300}, {800, 300}, {1234, 411}, {300, 900}, {97, 350}} {
		got := tiles(c.w, c.h)
		wide, tall := 3*c.w > 4*c.h, 3*c.h > 4*c.w
		if !wide && !tall {
			if got != nil {
				t.Errorf("tiles(%d, %d) = %v, want none", c.w, c.h, got)
			}
			continue
		}
		bySize := map[image.Point][]image.Rectangle{}
		for _, r := range got {
			if !r.In(image.Rect(0, 0, c.w, c.h)) {
				t.Errorf("tiles(%d, %d): %v outside the photo", c.w, c.h, r)
			}
			long, short := r.Dx(), r.Dy()
			if tall {
				long, short = short, long
			}
			if math.Abs(float64(long)-float64(short)*4/3) > 1 {
				t.Errorf("tiles(%d, %d): %v is not 4:3", c.w, c.h, r)
			}
			bySize[r.Size()] = append(bySize[r.Size()], r)
		}
		if len(bySize) != 2 {
			t.Errorf("tiles(%d, %d): %d tile sizes, want 2", c.w, c.h, len(bySize))
		}
		smallest := image.Point{X: c.w, Y: c.h}
		for size := range bySize {
			if size.X < smallest.X {
				smallest = size
			}
		}
		for size, rs := range bySize {
			// The small tiles are at most a tile apart, the large ones half a tile.
			stride := image.Point{X: (size.X + 1) / 2, Y: (size.Y + 1) / 2}
			if size == smallest {
				stride = size.Add(image.Point{X: 1, Y: 1})
			}
			var union image.Rectangle
			for _, r := range rs {
				union = union.Union(r)
				near := false
				for _, q := range rs {
					dx, dy := abs(q.Min.X-r.Min.X), abs(q.Min.Y-r.Min.Y)
					near = near || q != r && dx <= stride.X && dy <= stride.Y
				}
				if !near && len(rs) > 1 {
					t.Errorf("tiles(%d, %d): %v has no neighbour within %v", c.w, c.h, r, stride)
				}
			}
			if union != image.Rect(0, 0, c.w, c.h) {
				t.Errorf("tiles(%d, %d): tiles of %v cover %v, not the photo", c.w, c.h, size, union)
			}
		}
	}
}

func abs(v int) int { return max(v, -v) }

// pickTurns keeps the turn with the highest presence and returns the runner-up: a choice made
// from the presences alone, so turning the photo by quarters turns the choice with it.
func TestPickTurns(t *testing.T) {
	d := &Detector{}
	for _, tc := range []struct {
		face         [4]float64
		best, second int
	}{
		{[4]float64{0.9, 0.1, 0.2, 0.3}, 0, 3},
		{[4]float64{0.1, 0.9, 0.3, 0.2}, 1, 2},
		{[4]float64{0.2, 0.3, 0.1, 0.9}, 3, 1},
		{[4]float64{0.3, 0.2, 0.9, 0.1}, 2, 0},
		{[4]float64{0.5, 0.5, 0.1, 0.1}, 0, 1}, // a tie goes to the earlier turn
	} {
		refined := make([]model.Output, 4)
		all := make([]facecrop.Box, 4)
		for q := range 4 {
			refined[q] = model.Output{Presence: tc.face[q]}
			all[q] = facecrop.Box{CX: 50, CY: 50, Side: 40, Angle: quarterAngle(q)}
		}
		out := make([]Face, 1)
		second := d.pickTurns(refined, all, out)
		if out[0].Box != all[tc.best] || out[0].Presence != tc.face[tc.best] {
			t.Errorf("presences %v: kept %+v, want turn %d", tc.face, out[0].Box, tc.best)
		}
		if second[0].Box != all[tc.second] || second[0].Presence != tc.face[tc.second] {
			t.Errorf("presences %v: runner-up %+v, want turn %d", tc.face, second[0].Box, tc.second)
		}
	}
}

// With Upright, a face turned a quarter or more from its photo's upright (upTurns) whose
// presence is below it gives way to what the detector finds with AnyAngle off on the photo turned
// upright, mapped back; a face upright in its photo, or one whose presence reaches Upright, stands.
func TestUprightOverridesWeakTurnedFaces(t *testing.T) {
	det := randomDetector(t, "pool")
	det.cfg.Search = 0
	upright := &Detector{coarse: det.coarse, refine: det.refine, cfg: det.cfg}
	upright.cfg.AnyAngle = false
	photo := catPhoto(t)
	turned := 0
	for q := range 4 {
		p := photo.TurnQuarter(q)
		up := det.upTurns([]*imgproc.RGB{p})[0]
		det.cfg.Upright = 0
		free, face := detectRGB(t, det, p)
		if nearestQuarter(free.Angle()) == up {
			det.cfg.Upright = 1
			if got, _ := detectRGB(t, det, p); got != free {
				t.Errorf("%d quarter turns: a face upright in its photo (angle %.0f°, up %d) changed with Upright 1: %v, want %v", q, free.Angle(), up, got, free)
			}
			continue
		}
		turned++
		straight := p.TurnQuarter(up)
		res, _, err := upright.detect(context.Background(), []*imgproc.RGB{straight})
		if err != nil {
			t.Fatal(err)
		}
		want := unturnFace(res[0], up, straight, p).Points
		if free == want {
			t.Fatalf("%d quarter turns: the upright detector finds the same face as the any-angle one; the test cannot tell them apart", q)
		}
		det.cfg.Upright = math.Nextafter(face, 2)
		if got, _ := detectRGB(t, det, p); got != want {
			t.Errorf("%d quarter turns: a face turned %.0f° (up %d) with presence %g under Upright %g: %v, want the upright detector's %v", q, free.Angle(), up, face, det.cfg.Upright, got, want)
		}
		det.cfg.Upright = face
		if got, _ := detectRGB(t, det, p); got != free {
			t.Errorf("%d quarter turns: a face turned %.0f° with presence %g reaching Upright %g: %v, want it kept, %v", q, free.Angle(), face, det.cfg.Upright, got, free)
		}
	}
	if turned == 0 {
		t.Fatal("no turn of the photo gave a turned face: the test checks nothing")
	}
}

// upTurns follows the photo: turned by q quarters, its upright is q quarters fewer.
func TestUpTurnsFollowQuarterTurns(t *testing.T) {
	det := randomDetector(t, "pool")
	photo := catPhoto(t)
	ps := []*imgproc.RGB{photo, photo.TurnQuarter(1), photo.TurnQuarter(2), photo.TurnQuarter(3)}
	ups := det.upTurns(ps)
	for q, up := range ups {
		if want := (ups[0] - q) & 3; up != want {
			t.Errorf("photo turned %d quarters: upright %d quarters on, want %d (the photo's own: %d)", q, up, want, ups[0])
		}
	}
}

// unturnFace undoes TurnQuarter on a detection's points, box centre and box angle.
func TestUnturnFace(t *testing.T) {
	photo := imgproc.New(40, 30)
	var pts landmark.Points
	for i := range pts {
		pts[i] = landmark.Point{X: float64(3 + 4*i), Y: float64(2 + 3*i)}
	}
	box := facecrop.Box{CX: 11, CY: 7, Side: 9, Angle: 30}
	for q := range 4 {
		turned := photo.TurnQuarter(q)
		// A counter-clockwise quarter of a w-wide image takes (x, y) to (y, w − x).
		on := pts
		c := landmark.Point{X: box.CX, Y: box.CY}
		w := float64(photo.W)
		for k := range q {
			if k%2 == 1 {
				w = float64(photo.H)
			} else {
				w = float64(photo.W)
			}
			for i, p := range on {
				on[i] = landmark.Point{X: p.Y, Y: w - p.X}
			}
			c = landmark.Point{X: c.Y, Y: w - c.X}
		}
		det := Face{Points: on, Presence: 0.5, Box: facecrop.Box{CX: c.X, CY: c.Y, Side: box.Side, Angle: box.Angle + 90*float64(q)}}
		got := unturnFace(det, q, turned, photo)
		for i := range pts {
			if d := math.Hypot(got.Points[i].X-pts[i].X, got.Points[i].Y-pts[i].Y); d > 1e-9 {
				t.Errorf("%d quarters: point %d at %v, want %v", q, i, got.Points[i], pts[i])
			}
		}
		if math.Abs(got.Box.CX-box.CX) > 1e-9 || math.Abs(got.Box.CY-box.CY) > 1e-9 || got.Box.Side != box.Side || math.Abs(got.Box.Angle-box.Angle) > 1e-9 || got.Presence != 0.5 {
			t.Errorf("%d quarters: box %+v face %g, want %+v and 0.5", q, got.Box, got.Presence, box)
		}
	}
}

func TestNearestQuarter(t *testing.T) {
	for _, tc := range []struct {
		angle float64
		q     int
	}{{0, 0}, {44, 0}, {-44, 0}, {-90, 1}, {-120, 1}, {180, 2}, {-170, 2}, {90, 3}, {60, 3}} {
		if got := nearestQuarter(tc.angle); got != tc.q {
			t.Errorf("nearestQuarter(%v) = %d, want %d", tc.angle, got, tc.q)
		}
		if a := quarterAngle(nearestQuarter(tc.angle)); math.Abs(math.Remainder(a-tc.angle, 360)) > 45 {
			t.Errorf("quarterAngle(nearestQuarter(%v)) = %v, more than 45° away", tc.angle, a)
		}
	}
}
