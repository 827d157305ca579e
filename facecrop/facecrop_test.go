package facecrop

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

func TestFromPoints(t *testing.T) {
	var p landmark.Points
	for i := range p {
		p[i] = landmark.Point{X: 100 + float64(i%3)*20, Y: 50 + float64(i/3)*10} // bbox 100..140 × 50..70
	}
	b := FromPoints(p, 0.25, 0)
	if b.CX != 120 || b.CY != 60 || b.Side != 60 {
		t.Errorf("FromPoints = %+v, want centre (120,60), side 40·1.5 = 60", b)
	}
	if b := FromPoints(p, 0, 100); b.Side != 100 {
		t.Errorf("minSide ignored: side %v, want 100", b.Side)
	}
}

func TestBoxRoundTrip(t *testing.T) {
	for _, angle := range []float64{0, 30, 90, -135, 180} {
		b := Box{CX: 80, CY: 90, Side: 64, Angle: angle}
		var p landmark.Points
		for i := range p {
			p[i] = landmark.Point{X: 50 + float64(i)*7, Y: 120 - float64(i)*5}
		}
		q := b.FromBox(b.ToBox(p))
		for i := range p {
			if math.Abs(q[i].X-p[i].X) > 1e-9 || math.Abs(q[i].Y-p[i].Y) > 1e-9 {
				t.Fatalf("angle %v: point %d: %v → %v", angle, i, p[i], q[i])
			}
		}
	}
	if c := (Box{CX: 80, CY: 90, Side: 64}).ToBox(landmark.Points{{X: 48, Y: 58}})[0]; c != (landmark.Point{}) {
		t.Errorf("box corner maps to %v, want (0,0)", c)
	}
	// A face turned a quarter counter-clockwise has its top on the photo's left and its left
	// side at the bottom: the crop's top-left corner is the photo square's bottom-left, its
	// top-right the square's top-left.
	c := (Box{CX: 80, CY: 90, Side: 64, Angle: 90}).Corners()
	if math.Abs(c[0].X-48) > 1e-9 || math.Abs(c[0].Y-122) > 1e-9 || math.Abs(c[1].X-48) > 1e-9 || math.Abs(c[1].Y-58) > 1e-9 {
		t.Errorf("corners of a box turned 90°: %v, want top-left (48,122), top-right (48,58)", c)
	}
}

// FaceBoxAt of points turned with the photo is FaceBox of the upright points, turned.
func TestFaceBoxAt(t *testing.T) {
	var up landmark.Points
	for i := range up {
		up[i] = landmark.Point{X: 100 + float64(i%3)*20, Y: 50 + float64(i/3)*10}
	}
	want := FaceBox(up, 0.3)
	for _, angle := range []float64{0, 25, 90, 180, -70} {
		// Turn the photo's points about (0,0) by angle, counter-clockwise on screen: a box at
		// angle maps its upright coordinates so.
		turn := Box{Side: 1, Angle: angle}
		var p landmark.Points
		for i, q := range up {
			p[i] = turn.FromBox(landmark.Points{{X: q.X + 0.5, Y: q.Y + 0.5}})[0]
		}
		got := FaceBoxAt(p, 0.3, angle)
		c := turn.FromBox(landmark.Points{{X: want.CX + 0.5, Y: want.CY + 0.5}})[0]
		if math.Abs(got.Side-want.Side) > 1e-9 || math.Abs(got.CX-c.X) > 1e-9 || math.Abs(got.CY-c.Y) > 1e-9 || got.Angle != angle {
			t.Errorf("angle %v: FaceBoxAt = %+v, want side %v, centre (%v,%v)", angle, got, want.Side, c.X, c.Y)
		}
		// In the box's crop the points sit where the upright points sit in the upright box's.
		a, b := got.ToBox(p), want.ToBox(up)
		for i := range a {
			if math.Abs(a[i].X-b[i].X) > 1e-9 || math.Abs(a[i].Y-b[i].Y) > 1e-9 {
				t.Fatalf("angle %v: point %d in the crop at %v, upright %v", angle, i, a[i], b[i])
			}
		}
	}
}

func TestJitterBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := Box{CX: 100, CY: 100, Side: 50}
	for i := 0; i < 1000; i++ {
		j := b.Jitter(rng, 0.2, 0.1)
		if j.Side < 50/1.2-1e-9 || j.Side > 50*1.2+1e-9 {
			t.Fatalf("side %v outside [%v, %v]", j.Side, 50/1.2, 60.0)
		}
		if math.Abs(j.CX-100) > 5+1e-9 || math.Abs(j.CY-100) > 5+1e-9 {
			t.Fatalf("centre (%v,%v) moved more than 5", j.CX, j.CY)
		}
	}
}

// A bright dot in a photo stored squashed (as in the cache) must land in the crop where the box
// mapping puts its photo coordinates.
func TestCropFollowsPoints(t *testing.T) {
	const photoW, photoH = 320, 200
	src := imgproc.New(160, 160) // the photo squashed to 160×160
	dot := landmark.Point{X: 200, Y: 60}
	sx, sy := int(dot.X*160/photoW), int(dot.Y*160/photoH)
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			src.Set(sx+dx, sy+dy, 255, 255, 255)
		}
	}
	for _, angle := range []float64{0, 40, 90, 180, -100} {
		b := Box{CX: 190, CY: 70, Side: 80, Angle: angle}
		out := Crop(src, photoW, photoH, b, 64)
		want := b.ToBox(landmark.Points{dot})[0]
		bx, by, best := 0, 0, -1
		for y := 0; y < 64; y++ {
			for x := 0; x < 64; x++ {
				if r, _, _ := out.At(x, y); int(r) > best {
					bx, by, best = x, y, int(r)
				}
			}
		}
		gx, gy := (float64(bx)+0.5)/64, (float64(by)+0.5)/64
		if math.Abs(gx-want.X) > 3.0/64 || math.Abs(gy-want.Y) > 3.0/64 {
			t.Errorf("angle %v: dot at crop (%.3f,%.3f), box mapping says (%.3f,%.3f)", angle, gx, gy, want.X, want.Y)
		}
	}
}

// Every box Away returns misses the face by one of its three rules.
func TestAwayMissesTheFace(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name string
		face Box
		w, h int
	}{
		{"small face", Box{CX: 100, CY: 80, Side: 40}, 320, 240},
		{"face filling the photo", Box{CX: 160, CY: 120, Side: 300}, 320, 240},
		{"face at the edge", Box{CX: 10, CY: 230, Side: 60}, 320, 240},
	}
	for _, tc := range tests {
		for range 500 {
			b := Away(rng, tc.face, tc.w, tc.h)
			outside := math.Abs(tc.face.CX-b.CX) > b.Side/2 || math.Abs(tc.face.CY-b.CY) > b.Side/2
			if !outside && tc.face.Side >= b.Side/4 && b.Side >= 0.4*tc.face.Side {
				t.Fatalf("%s: box %+v frames the face %+v", tc.name, b, tc.face)
			}
			if b.Side <= 0 || math.IsNaN(b.CX+b.CY+b.Side) {
				t.Fatalf("%s: box %+v", tc.name, b)
			}
		}
	}
}
