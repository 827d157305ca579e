package augment

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

func samePoints(a, b landmark.Points, tol float64) bool {
	for i := range a {
		if math.Abs(a[i].X-b[i].X) > tol || math.Abs(a[i].Y-b[i].Y) > tol {
			return false
		}
	}
	return true
}

func TestFlipTwiceIsIdentity(t *testing.T) {
	for _, p := range somePhotos(t, 24) {
		img := p.img.Clone()
		pts := Flip(img, p.pts)
		if bytes.Equal(img.Pix, p.img.Pix) {
			t.Fatalf("%s: one flip left the pixels unchanged", p.name)
		}
		pts = Flip(img, pts)
		if !bytes.Equal(img.Pix, p.img.Pix) {
			t.Errorf("%s: flipping twice changed the pixels", p.name)
		}
		if !samePoints(pts, p.pts, 1e-12) {
			t.Errorf("%s: flipping twice moved the points: %v → %v", p.name, p.pts, pts)
		}
	}
}

// The flipped pixel under each flipped point is the original pixel under the original point.
func TestFlipMovesPixelsWithPoints(t *testing.T) {
	checked := 0
	for _, p := range somePhotos(t, 24) {
		img := p.img.Clone()
		pts := Flip(img, p.pts)
		for k := range landmark.N {
			q := pts[landmark.Mirror[k]]
			ox, oy := p.pts[k].X*side, p.pts[k].Y*side
			if ox < 0 || oy < 0 || ox >= side || oy >= side || ox-math.Floor(ox) < 1e-9 {
				continue // outside, or on a pixel border where the rounding could go either way
			}
			r0, g0, b0 := p.img.At(int(ox), int(oy))
			r1, g1, b1 := img.At(int(q.X*side), int(q.Y*side))
			if r0 != r1 || g0 != g1 || b0 != b1 {
				t.Errorf("%s: point %d: pixel %v under the flipped point, %v under the original", p.name, k+1, []uint8{r1, g1, b1}, []uint8{r0, g0, b0})
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d points checked", checked)
	}
}

func TestFlipKeepsEyesInImageOrder(t *testing.T) {
	checkEyesInImageOrder(t, annotations(t, fixtureSource(t)))
}

// checkEyesInImageOrder checks that the flip keeps point 1 left of point 2 on the annotations.
func checkEyesInImageOrder(t *testing.T, all []annotated) {
	t.Helper()
	before, after := 0, 0
	for _, a := range all {
		f := a.pts.FlipNormalized()
		if a.pts[0].X < a.pts[1].X {
			before++
			if f[0].X < f[1].X {
				after++
			} else {
				t.Errorf("%s: point 1 lies left of point 2 before the flip (x %.3f < %.3f) but not after (%.3f, %.3f)", a.name, a.pts[0].X, a.pts[1].X, f[0].X, f[1].X)
			}
		}
	}
	// Point 1 is the eye on the image's left by definition; nearly every annotation agrees.
	if before < len(all)*9/10 {
		t.Fatalf("point 1 is left of point 2 on only %d of %d photos", before, len(all))
	}
	t.Logf("%d of %d photos have point 1 left of point 2; %d still do after the flip", before, len(all), after)
}

// outerFarther reports, for the left and right ear, whether the outer base lies farther from the
// eyes' midpoint than the inner base.
func outerFarther(p landmark.Points) [2]bool {
	mx, my := (p[0].X+p[1].X)/2, (p[0].Y+p[1].Y)/2
	d := func(i int) float64 { return math.Hypot(p[i].X-mx, p[i].Y-my) }
	return [2]bool{d(3) > d(5), d(8) > d(6)}
}

func TestFlipKeepsOuterEarBasesOutside(t *testing.T) {
	checkOuterEarBasesOutside(t, annotations(t, fixtureSource(t)))
}

// checkOuterEarBasesOutside checks that the flip keeps the outer ear bases labelled outer on the
// annotations, and that the seed's wrong permutation would not.
func checkOuterEarBasesOutside(t *testing.T, all []annotated) {
	t.Helper()
	holds := 0
	for _, a := range all {
		b := outerFarther(a.pts)
		f := outerFarther(a.pts.FlipNormalized())
		// The mirror moves the left ear to the right: its outer base must still be labelled outer.
		if b[0] && !f[1] {
			t.Errorf("%s: left ear's outer base (point 4) is outside its inner base before the flip; after it, point 9 is not", a.name)
		}
		if b[1] && !f[0] {
			t.Errorf("%s: right ear's outer base (point 9) is outside its inner base before the flip; after it, point 4 is not", a.name)
		}
		for e := range 2 {
			if b[e] {
				holds++
			}
		}
	}
	// The property must hold on many ears (about 60 % of the real ones, all of the fixture's), or
	// the test checks nothing.
	t.Logf("outer base farther from the eyes' midpoint than the inner base on %d of %d ears", holds, 2*len(all))
	if holds < len(all) {
		t.Fatalf("outer base farther from the eyes than the inner base on only %d of %d ears", holds, 2*len(all))
	}
	// The seed's permutation (ear blocks swapped without reversing them) breaks it.
	seedMirror := [landmark.N]int{1, 0, 2, 6, 7, 8, 3, 4, 5}
	broken := 0
	for _, a := range all {
		var f landmark.Points
		for i, q := range a.pts {
			f[seedMirror[i]] = landmark.Point{X: 1 - q.X, Y: q.Y}
		}
		b, g := outerFarther(a.pts), outerFarther(f)
		if (b[0] && !g[1]) || (b[1] && !g[0]) {
			broken++
		}
	}
	t.Logf("the seed's permutation would break it on %d of %d photos", broken, len(all))
	if broken < len(all)/4 {
		t.Errorf("the seed's wrong permutation breaks only %d of %d photos: the check is too weak", broken, len(all))
	}
}

func TestZeroConfigIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range somePhotos(t, 8) {
		img, pts := Config{}.Apply(rng, p.img, p.pts)
		if img == p.img || !bytes.Equal(img.Pix, p.img.Pix) {
			t.Errorf("%s: zero Config changed the pixels or returned its input", p.name)
		}
		if pts != p.pts {
			t.Errorf("%s: zero Config moved the points", p.name)
		}
	}
}

func TestApplyIsDeterministic(t *testing.T) {
	cfg := Config{Flip: true, PCA: true, Scale: [2]float64{0.9, 1.1}, Shift: 0.05, Rotate: 10}
	for _, p := range somePhotos(t, 8) {
		orig := p.img.Clone()
		a, pa := cfg.Apply(rand.New(rand.NewPCG(7, 8)), p.img, p.pts)
		b, pb := cfg.Apply(rand.New(rand.NewPCG(7, 8)), p.img, p.pts)
		if !bytes.Equal(a.Pix, b.Pix) || pa != pb {
			t.Errorf("%s: two runs from the same seed differ", p.name)
		}
		if !bytes.Equal(orig.Pix, p.img.Pix) {
			t.Errorf("%s: Apply modified its input", p.name)
		}
	}
}

func TestFlipProbabilityHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	img := imgproc.New(4, 4)
	flips := 0
	const n = 4000
	for range n {
		if (Config{Flip: true}).Draw(rng, img).Flip {
			flips++
		}
	}
	// 4000 fair coins: standard deviation about 32.
	if flips < n/2-150 || flips > n/2+150 {
		t.Errorf("%d flips in %d draws, want about half", flips, n)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Flip: true, PCA: true, Scale: [2]float64{0.8, 1.2}, Shift: 0.1, Rotate: 15}, true},
		{Config{Scale: [2]float64{1.2, 0.8}}, false},
		{Config{Scale: [2]float64{0, 1.2}}, false},
		{Config{Shift: -0.1}, false},
		{Config{Shift: 1}, false},
		{Config{Rotate: 200}, false},
		{Config{PCAStd: -1}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
}
