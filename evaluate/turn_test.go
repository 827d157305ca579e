package evaluate

import (
	"fmt"
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

// Random angles are the seed's and the name's alone, within [0°, 360°), spread over the circle.
func TestRandomAngle(t *testing.T) {
	for _, tc := range []struct {
		seed1, seed2 uint64
		name1, name2 string
		same         bool
	}{
		{1, 1, "00000001_000.jpg", "00000001_000.jpg", true},
		{1, 2, "00000001_000.jpg", "00000001_000.jpg", false},
		{1, 1, "00000001_000.jpg", "00000001_001.jpg", false},
		{7, 7, "", "", true},
	} {
		a, b := RandomAngle(tc.seed1, tc.name1), RandomAngle(tc.seed2, tc.name2)
		if (a == b) != tc.same {
			t.Errorf("RandomAngle(%d, %q) = %g, RandomAngle(%d, %q) = %g; want same %v", tc.seed1, tc.name1, a, tc.seed2, tc.name2, b, tc.same)
		}
	}
	var quarters [4]int
	const n = 4000
	for i := range n {
		a := RandomAngle(1, fmt.Sprintf("%08d_%03d.jpg", i/4+1, i%4))
		if !(a >= 0 && a < 360) {
			t.Fatalf("angle %g outside [0, 360)", a)
		}
		quarters[int(a/90)]++
	}
	for q, c := range quarters {
		if c < n/4-200 || c > n/4+200 {
			t.Errorf("%d of %d angles in quarter %d, want about %d", c, n, q, n/4)
		}
	}
}

// RandomTurned turns each photo by its own angle, truth along, and records the angle; Run hands
// it on to every photo's result.
func TestRandomTurned(t *testing.T) {
	var set memSet
	for i := range 5 {
		p := facePhoto(50+i, 40, uint8(30*i))
		p.Name = fmt.Sprintf("%08d_000.jpg", i+1)
		set = append(set, p)
	}
	for _, seed := range []uint64{1, 2} {
		rt := RandomTurned{Set: set, Seed: seed}
		seen := map[float64]bool{}
		for i := range set {
			got, err := rt.Photo(i)
			if err != nil {
				t.Fatal(err)
			}
			angle := RandomAngle(seed, set[i].Name)
			want := TurnPhoto(set[i], angle)
			if got.Turn != angle || got.W != want.W || got.H != want.H || got.Truth != want.Truth || string(got.Img.Pix) != string(want.Img.Pix) {
				t.Errorf("seed %d photo %d: turned %g° (%d×%d), want %g° (%d×%d) as TurnPhoto gives", seed, i, got.Turn, got.W, got.H, angle, want.W, want.H)
			}
			seen[angle] = true
		}
		if len(seen) != len(set) {
			t.Errorf("seed %d: %d distinct angles for %d photos", seed, len(seen), len(set))
		}
		res, err := Run(&oracle{set: rt, shift: func(int) float64 { return 0.01 }}, rt, Options{Batch: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Photos {
			if want := RandomAngle(seed, p.Name); p.Turn != want {
				t.Errorf("seed %d: %s measured turned %g°, want %g°", seed, p.Name, p.Turn, want)
			}
		}
		for _, w := range res.WorstPhotos {
			if w.Turn != RandomAngle(seed, w.Name) {
				t.Errorf("seed %d: worst photo %+v, want its turn %g°", seed, w, RandomAngle(seed, w.Name))
			}
		}
	}
}
