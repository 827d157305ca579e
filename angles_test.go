package catmark

import (
	"bytes"
	"math"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// unturnPoint takes a pixel's normalised position in the photo turned by q quarters (TurnQuarter)
// back to its position in the photo, for every q (taken modulo 4, negative ones too), and unturn
// does it to each point.
func TestUnturnPoint(t *testing.T) {
	const w, h = 4, 3
	for q := -5; q <= 5; q++ {
		var want, turnedAt landmark.Points
		for k := range landmark.N {
			x, y := k%w, k/w // nine distinct pixels
			photo := imgproc.New(w, h)
			photo.Set(x, y, 255, 255, 255)
			turned := photo.TurnQuarter(q)
			at := -1
			for p := 0; p < len(turned.Pix); p += 3 {
				if turned.Pix[p] == 255 {
					at = p / 3
				}
			}
			tx, ty := at%turned.W, at/turned.W
			turnedAt[k] = landmark.Point{X: (float64(tx) + 0.5) / float64(turned.W), Y: (float64(ty) + 0.5) / float64(turned.H)}
			want[k] = landmark.Point{X: (float64(x) + 0.5) / w, Y: (float64(y) + 0.5) / h}
			if got := unturnPoint(turnedAt[k], q); math.Abs(got.X-want[k].X) > 1e-12 || math.Abs(got.Y-want[k].Y) > 1e-12 {
				t.Errorf("q %d, pixel (%d, %d): unturnPoint(%v) = %v, want %v", q, x, y, turnedAt[k], got, want[k])
			}
		}
		got := unturn(turnedAt, q)
		for k := range got {
			if math.Abs(got[k].X-want[k].X) > 1e-12 || math.Abs(got[k].Y-want[k].Y) > 1e-12 {
				t.Errorf("q %d: unturn point %d = %v, want %v", q, k, got[k], want[k])
			}
		}
	}
}

// quarterAngle is −q quarters in (−180, 180], q modulo 4, and nearestQuarter inverts it.
func TestQuarterAngle(t *testing.T) {
	for _, tc := range []struct {
		q     int
		angle float64
	}{{0, 0}, {1, -90}, {2, 180}, {3, 90}, {4, 0}, {5, -90}, {-1, 90}, {-2, 180}} {
		a := quarterAngle(tc.q)
		if a != tc.angle {
			t.Errorf("quarterAngle(%d) = %v, want %v", tc.q, a, tc.angle)
		}
		if a <= -180 || a > 180 {
			t.Errorf("quarterAngle(%d) = %v, outside (−180, 180]", tc.q, a)
		}
		if got := nearestQuarter(a); got != tc.q&3 {
			t.Errorf("nearestQuarter(quarterAngle(%d)) = %d, want %d", tc.q, got, tc.q&3)
		}
	}
}

// quarterInputs gives photo i resized to s×s and turned by q quarters at 4i+q.
func TestQuarterInputs(t *testing.T) {
	const s = 8
	var photos []*imgproc.RGB
	for i, size := range [][2]int{{20, 10}, {9, 13}} {
		p := imgproc.New(size[0], size[1])
		for k := range p.Pix {
			p.Pix[k] = uint8(k*7 + i*50)
		}
		photos = append(photos, p)
	}
	got := quarterInputs(photos, s)
	if len(got) != 4*len(photos) {
		t.Fatalf("%d inputs for %d photos, want %d", len(got), len(photos), 4*len(photos))
	}
	for i, p := range photos {
		small := p.Resize(s, s)
		for q := range 4 {
			in, want := got[4*i+q], small.TurnQuarter(q)
			if in.W != s || in.H != s || !bytes.Equal(in.Pix, want.Pix) {
				t.Errorf("input %d (photo %d, %d quarters): %d×%d, not the photo resized to %d×%d and turned", 4*i+q, i, q, in.W, in.H, s, s)
			}
		}
	}
}
