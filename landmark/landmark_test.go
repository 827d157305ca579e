package landmark

import (
	"math"
	"testing"
)

func TestMirrorIsInvolution(t *testing.T) {
	for i, j := range Mirror {
		if Mirror[j] != i {
			t.Errorf("Mirror[Mirror[%d]] = %d, want %d", i, Mirror[j], i)
		}
	}
	// 1-based pairs from the dataset's README: 1↔2, 3↔3, 4↔9, 5↔8, 6↔7.
	pairs := [][2]int{{1, 2}, {3, 3}, {4, 9}, {5, 8}, {6, 7}}
	for _, p := range pairs {
		if Mirror[p[0]-1] != p[1]-1 {
			t.Errorf("point %d mirrors to %d, want %d", p[0], Mirror[p[0]-1]+1, p[1])
		}
	}
}

func TestFlipTwiceIsIdentity(t *testing.T) {
	var p Points
	for i := range p {
		p[i] = Point{float64(i) / 16, 1 - float64(i)/32} // dyadic: exact in float64
	}
	if q := p.FlipNormalized().FlipNormalized(); q != p {
		t.Errorf("flip twice = %v, want %v", q, p)
	}
	if q := p.FlipPixels(1).FlipPixels(1); q != p {
		t.Errorf("pixel flip twice = %v, want %v", q, p)
	}
}

func TestFlipKeepsLeftEyeLeft(t *testing.T) {
	p := Points{{0.3, 0.4}, {0.6, 0.4}}
	q := p.FlipNormalized()
	if !(q[0].X < q[1].X) {
		t.Errorf("after flip left eye x=%v, right eye x=%v; left eye must stay left", q[0].X, q[1].X)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in   Point
		w, h int
		want Point
	}{
		{Point{160, 120}, 320, 240, Point{0.5, 0.5}},
		{Point{-10, 250}, 320, 240, Point{0, 1}},
		{Point{320, 0}, 320, 240, Point{1, 0}},
	}
	for _, tc := range tests {
		var p Points
		p[0] = tc.in
		if got := p.Normalize(tc.w, tc.h)[0]; got != tc.want {
			t.Errorf("Normalize(%v in %dx%d) = %v, want %v", tc.in, tc.w, tc.h, got, tc.want)
		}
	}
	var p Points
	p[2] = Point{80, 60}
	if got := p.Normalize(320, 240).Denormalize(320, 240)[2]; got != p[2] {
		t.Errorf("Denormalize(Normalize(%v)) = %v", p[2], got)
	}
}

func TestFromFlat(t *testing.T) {
	if _, err := FromFlat(make([]float64, 17)); err == nil {
		t.Error("FromFlat accepted 17 values")
	}
	v := make([]float64, Dim)
	for i := range v {
		v[i] = float64(i)
	}
	p, err := FromFlat(v)
	if err != nil {
		t.Fatal(err)
	}
	if p[4] != (Point{8, 9}) {
		t.Errorf("point 4 = %v, want {8 9}", p[4])
	}
	got := p.Flat()
	for i := range v {
		if got[i] != v[i] {
			t.Fatalf("Flat()[%d] = %v, want %v", i, got[i], v[i])
		}
	}
}

// Points turned with the photo report the angle they were turned by.
func TestAngle(t *testing.T) {
	// An upright face: eyes level, mouth below, ear tips above.
	up := Points{{X: 40, Y: 50}, {X: 60, Y: 50}, {X: 50, Y: 65}, {X: 30, Y: 40}, {X: 32, Y: 15}, {X: 42, Y: 35},
		{X: 58, Y: 35}, {X: 68, Y: 15}, {X: 70, Y: 40}}
	if a := up.Angle(); math.Abs(a) > 1e-9 {
		t.Errorf("upright face: Angle() = %v, want 0", a)
	}
	for _, deg := range []float64{10, 45, 90, 135, 180, -90, -30} {
		s, c := math.Sincos(deg * math.Pi / 180)
		var p Points
		for i, q := range up {
			// Counter-clockwise on screen (y down) about (50, 50).
			dx, dy := q.X-50, q.Y-50
			p[i] = Point{X: 50 + dx*c + dy*s, Y: 50 - dx*s + dy*c}
		}
		got := p.Angle()
		if d := math.Mod(got-deg+540, 360) - 180; math.Abs(d) > 1e-6 {
			t.Errorf("face turned %v°: Angle() = %v", deg, got)
		}
	}
}

func TestExtent(t *testing.T) {
	var p Points
	for i := range p {
		p[i] = Point{X: float64(10 + i), Y: float64(50 - 3*i)}
	}
	p[4] = Point{X: -2, Y: 70}
	if x0, y0, x1, y1 := p.Extent(); x0 != -2 || y0 != 26 || x1 != 18 || y1 != 70 {
		t.Errorf("Extent = [%v, %v]×[%v, %v], want [-2, 18]×[26, 70]", x0, x1, y0, y1)
	}
}

func TestMean(t *testing.T) {
	var a, b, c Points
	for i := range a {
		a[i] = Point{X: float64(i), Y: 1}
		b[i] = Point{X: float64(2 * i), Y: 2}
		c[i] = Point{X: float64(3 * i), Y: 6}
	}
	m := Mean(a, b, c)
	for i, p := range m {
		if p.X != float64(2*i) || p.Y != 3 {
			t.Errorf("Mean point %d = %v, want (%d, 3)", i, p, 2*i)
		}
	}
	if Mean(a) != a || Mean() != (Points{}) {
		t.Errorf("Mean of one = %v, of none = %v; want it and zero", Mean(a), Mean())
	}
}
