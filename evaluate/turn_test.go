package evaluate

import (
	"math"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// Four quarter turns give back the photo exactly; at any angle a bright dot at a truth point ends
// where the turned truth point is.
func TestTurnPhoto(t *testing.T) {
	img := imgproc.New(41, 30)
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	p := Photo{Name: "x", Img: img, W: 41, H: 30}
	for i := range p.Truth {
		p.Truth[i] = landmark.Point{X: 3 + 4*float64(i), Y: 2 + 3*float64(i)}
	}
	q := p
	for range 4 {
		q = TurnPhoto(q, 90)
	}
	if q.W != p.W || q.H != p.H || string(q.Img.Pix) != string(p.Img.Pix) {
		t.Fatalf("four quarter turns: %d×%d, pixels equal %v", q.W, q.H, string(q.Img.Pix) == string(p.Img.Pix))
	}
	for i := range p.Truth {
		if math.Abs(q.Truth[i].X-p.Truth[i].X) > 1e-9 || math.Abs(q.Truth[i].Y-p.Truth[i].Y) > 1e-9 {
			t.Fatalf("point %d: %v after four quarter turns, was %v", i, q.Truth[i], p.Truth[i])
		}
	}
	if h := TurnPhoto(p, 90); h.W != 30 || h.H != 41 {
		t.Errorf("a quarter turn of 41×30 is %d×%d", h.W, h.H)
	}

	dark := imgproc.New(80, 60)
	dot := landmark.Point{X: 20.5, Y: 15.5} // the centre of pixel (20, 15)
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			dark.Set(20+dx, 15+dy, 255, 255, 255)
		}
	}
	d := Photo{Img: dark, W: 80, H: 60}
	d.Truth[0] = dot
	for _, deg := range []float64{90, 180, 270, 30, -45, 137} {
		r := TurnPhoto(d, deg)
		bx, by, best := 0, 0, -1
		for y := range r.H {
			for x := range r.W {
				if v, _, _ := r.Img.At(x, y); int(v) > best {
					bx, by, best = x, y, int(v)
				}
			}
		}
		if math.Abs(float64(bx)+0.5-r.Truth[0].X) > 1.5 || math.Abs(float64(by)+0.5-r.Truth[0].Y) > 1.5 {
			t.Errorf("%v°: dot at (%d, %d), turned truth %v", deg, bx, by, r.Truth[0])
		}
		// Counter-clockwise on screen: a point left of the centre moves down.
		if deg == 90 && !(r.Truth[0].Y > float64(r.H)/2) {
			t.Errorf("90°: the point left of the centre went to %v, want below the centre of %d×%d", r.Truth[0], r.W, r.H)
		}
	}
}
