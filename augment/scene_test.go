package augment

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// markedPhoto is a grey W×H photo (stored squashed at 64×64, as catmark's cache keeps photos)
// whose face has a red left eye and a blue right eye.
func markedPhoto() Photo {
	const w, h, s = 200, 120, 64
	pts := landmark.Points{{X: 80, Y: 60}, {X: 120, Y: 60}, {X: 100, Y: 80}, {X: 70, Y: 50}, {X: 72, Y: 25}, {X: 85, Y: 45},
		{X: 115, Y: 45}, {X: 128, Y: 25}, {X: 130, Y: 50}}
	img := imgproc.New(s, s)
	for i := range img.Pix {
		img.Pix[i] = 90
	}
	paint := func(p landmark.Point, r, b uint8) {
		cx, cy := p.X*s/w, p.Y*s/h
		for y := range s {
			for x := range s {
				if math.Hypot(float64(x)+0.5-cx, (float64(y)+0.5-cy)*w/h) < 3 {
					img.Set(x, y, r, 0, b)
				}
			}
		}
	}
	paint(pts[0], 250, 0)
	paint(pts[1], 0, 250)
	return Photo{Img: img, W: w, H: h, Points: pts}
}

// TestScenePixelsFollowPoints draws single-photo scenes (any angle, mirrored or not) and checks
// that the eyes' colours are where the returned points say: red at one eye, blue at the other
// (the mirror swaps the labels with the sides), and that the face keeps its shape up to scale.
func TestScenePixelsFollowPoints(t *testing.T) {
	p := markedPhoto()
	s := Scene{Size: 96, MinFace: 0.3, MaxFace: 0.6, Flip: true}
	g0 := model.FaceGeometry(p.Points)
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		img, faces := s.Draw(rng, p, nil)
		if len(faces) != 1 {
			t.Fatalf("seed %d: %d faces, want 1", seed, len(faces))
		}
		f := faces[0]
		colour := func(q landmark.Point) (uint8, uint8) {
			r, _, b := img.At(int(q.X), int(q.Y))
			return r, b
		}
		r0, b0 := colour(f[0])
		r1, b1 := colour(f[1])
		if !(r0 > 150 && b1 > 150 || b0 > 150 && r1 > 150) {
			t.Errorf("seed %d: eye colours (r %d b %d) and (r %d b %d), want one red and one blue", seed, r0, b0, r1, b1)
		}
		g := model.FaceGeometry(f)
		if g.Size < 0.3*96-1e-6 || g.Size > 0.6*96+1e-6 {
			t.Errorf("seed %d: face side %v outside [%v, %v]", seed, g.Size, 0.3*96, 0.6*96)
		}
		// A similarity keeps the ratio of the eye distance to the face side.
		if r, r0 := f.EyeDistance()/g.Size, p.Points.EyeDistance()/g0.Size; math.Abs(r-r0) > 1e-9 {
			t.Errorf("seed %d: eye distance over side %v, want %v", seed, r, r0)
		}
	}
}

// TestSceneKinds checks the shares: a picture with no cat reports none, one with several reports
// faces that do not overlap, and the same generator state gives the same picture.
func TestSceneKinds(t *testing.T) {
	p := markedPhoto()
	pick := func(*rand.Rand) Photo { return p }
	for _, tc := range []struct {
		name       string
		s          Scene
		minN, maxN int
	}{
		{"empty", Scene{Size: 96, MinFace: 0.1, MaxFace: 0.6, Empty: 1}, 0, 0},
		{"multi", Scene{Size: 128, MinFace: 0.1, MaxFace: 0.4, Multi: 1, MaxCats: 4}, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			several := 0
			for seed := range uint64(20) {
				img, faces := tc.s.Draw(rand.New(rand.NewPCG(seed, 2)), p, pick)
				again, _ := tc.s.Draw(rand.New(rand.NewPCG(seed, 2)), p, pick)
				if string(img.Pix) != string(again.Pix) {
					t.Fatalf("seed %d: two draws from one state differ", seed)
				}
				if len(faces) > tc.maxN {
					t.Errorf("seed %d: %d faces, want at most %d", seed, len(faces), tc.maxN)
				}
				if len(faces) > 1 {
					several++
				}
				for a := range faces {
					for b := range a {
						fa, fb := model.FaceGeometry(faces[a]), model.FaceGeometry(faces[b])
						if math.Hypot(fa.X-fb.X, fa.Y-fb.Y) < 0.6*(fa.Size+fb.Size)-1e-9 {
							t.Errorf("seed %d: faces %d and %d overlap: %+v %+v", seed, a, b, fa, fb)
						}
					}
				}
			}
			if tc.maxN > 1 && several < 10 {
				t.Errorf("%d of 20 pictures show several cats, want most", several)
			}
		})
	}
}
