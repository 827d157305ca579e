package augment

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

func TestAffineAlgebra(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	p := landmark.Point{X: 0.3, Y: 0.8}
	for range 50 {
		a := RandomSimilarity(rng, [2]float64{0.5, 2}, 0.2, 45)
		b := RandomSimilarity(rng, [2]float64{0.5, 2}, 0.2, 45)
		if q := a.Inverse().Point(a.Point(p)); math.Hypot(q.X-p.X, q.Y-p.Y) > 1e-12 {
			t.Errorf("a⁻¹(a(p)) = %v, want %v", q, p)
		}
		if q, r := a.Then(b).Point(p), b.Point(a.Point(p)); math.Hypot(q.X-r.X, q.Y-r.Y) > 1e-12 {
			t.Errorf("a.Then(b)(p) = %v, b(a(p)) = %v", q, r)
		}
	}
	// The centre stays put under scaling and rotation without shift; 90° counter-clockwise on
	// screen takes the point right of the centre to the point above it (smaller y).
	s := NewSimilarity(1, 90, 0, 0)
	if c := s.Point(landmark.Point{X: 0.5, Y: 0.5}); math.Hypot(c.X-0.5, c.Y-0.5) > 1e-12 {
		t.Errorf("centre moved to %v", c)
	}
	if q := s.Point(landmark.Point{X: 0.75, Y: 0.5}); math.Hypot(q.X-0.5, q.Y-0.25) > 1e-12 {
		t.Errorf("90° took (0.75, 0.5) to %v, want (0.5, 0.25)", q)
	}
	if q := NewSimilarity(2, 0, 0.1, 0).Point(landmark.Point{X: 0.75, Y: 0.5}); math.Hypot(q.X-1.1, q.Y-0.5) > 1e-12 {
		t.Errorf("zoom 2 and shift 0.1 took (0.75, 0.5) to %v, want (1.1, 0.5)", q)
	}
}

func TestWarpIdentityAndMirrorAreExact(t *testing.T) {
	for _, p := range somePhotos(t, 8) {
		out := imgproc.New(side, side)
		Warp(out, p.img, Identity)
		if !bytes.Equal(out.Pix, p.img.Pix) {
			t.Errorf("%s: warping with the identity changed the pixels", p.name)
		}
		Warp(out, p.img, MirrorX)
		ref := p.img.Clone()
		FlipImage(ref)
		if !bytes.Equal(out.Pix, ref.Pix) {
			t.Errorf("%s: warping with the mirror differs from FlipImage", p.name)
		}
	}
}

// centroid returns the brightness-weighted centre of img in pixel-index coordinates (the centre
// of pixel (i, j) is (i, j)), and the total weight.
func centroid(img *imgproc.RGB) (x, y, w float64) {
	for j := 0; j < img.H; j++ {
		for i := 0; i < img.W; i++ {
			r, _, _ := img.At(i, j)
			v := float64(r)
			x += v * float64(i)
			y += v * float64(j)
			w += v
		}
	}
	return x / w, y / w, w
}

// A bright dot drawn at a landmark of a photo appears, after a similarity transform of the
// image, where the transformed landmark says.
func TestSimilarityMovesDotsWithPoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	cfg := Config{Flip: true, Scale: [2]float64{0.8, 1.25}, Shift: 0.1, Rotate: 20}
	checked := 0
	for _, p := range somePhotos(t, 16) {
		for k := range landmark.N {
			// The dot: a 3×3 white square centred on the landmark's pixel, on black.
			ci, cj := int(p.pts[k].X*side), int(p.pts[k].Y*side)
			if ci < 1 || cj < 1 || ci > side-2 || cj > side-2 {
				continue
			}
			dot := imgproc.New(side, side)
			for j := cj - 1; j <= cj+1; j++ {
				for i := ci - 1; i <= ci+1; i++ {
					dot.Set(i, j, 255, 255, 255)
				}
			}
			var pts landmark.Points
			pts[k] = landmark.Point{X: (float64(ci) + 0.5) / side, Y: (float64(cj) + 0.5) / side}
			plan := cfg.Draw(rng, dot)
			out := plan.Image(dot)
			// Under a flip the point changes its index to its mirror partner.
			k2 := k
			if plan.Flip {
				k2 = landmark.Mirror[k]
			}
			q := plan.Points(pts)[k2]
			wx, wy := q.X*side-0.5, q.Y*side-0.5
			if wx < 3 || wy < 3 || wx > side-4 || wy > side-4 {
				continue // partly outside the frame: the centroid would be cut
			}
			gx, gy, w := centroid(out)
			if w == 0 {
				t.Fatalf("%s point %d: the dot vanished (plan %+v)", p.name, k+1, plan)
			}
			if d := math.Hypot(gx-wx, gy-wy); d > 0.35 {
				t.Errorf("%s point %d: dot at (%.2f, %.2f), transformed landmark at (%.2f, %.2f): %.2f px apart (plan %+v)", p.name, k+1, gx, gy, wx, wy, d, plan)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d dots checked", checked)
	}
}

func TestSimilarityFunction(t *testing.T) {
	p := somePhotos(t, 4)[1]
	orig := p.img.Clone()
	img, pts := Similarity(rand.New(rand.NewPCG(1, 2)), p.img, p.pts, [2]float64{0.9, 1.1}, 0.05, 10)
	if !bytes.Equal(orig.Pix, p.img.Pix) {
		t.Errorf("Similarity modified its input")
	}
	// Same draws as RandomSimilarity from the same seed.
	a := RandomSimilarity(rand.New(rand.NewPCG(1, 2)), [2]float64{0.9, 1.1}, 0.05, 10)
	if pts != a.Points(p.pts) {
		t.Errorf("Similarity's points differ from RandomSimilarity's map")
	}
	ref := imgproc.New(side, side)
	Warp(ref, p.img, a)
	if !bytes.Equal(img.Pix, ref.Pix) {
		t.Errorf("Similarity's image differs from Warp with RandomSimilarity's map")
	}
	if a == Identity {
		t.Errorf("random similarity is the identity")
	}
}

func BenchmarkWarp224(b *testing.B) {
	src := imgproc.New(224, 224)
	dst := imgproc.New(224, 224)
	a := NewSimilarity(1.1, 10, 0.05, -0.03)
	for b.Loop() {
		Warp(dst, src, a)
	}
}

func BenchmarkFlipImage224(b *testing.B) {
	img := imgproc.New(224, 224)
	for b.Loop() {
		FlipImage(img)
	}
}
