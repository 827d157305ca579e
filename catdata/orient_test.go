package catdata

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/exiftest"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/landmark"
)

// A fixture photo tagged with each orientation: Load keeps the stored grid and the annotation
// as written; LoadOriented turns both, and the eyes keep their order as seen (index 0 on the
// left of an upright face).
func TestLoadOriented(t *testing.T) {
	jpg, cat, err := fixture.Encode(fixture.Seed, 0)
	if err != nil {
		t.Fatal(err)
	}
	for o := imgproc.Orientation(1); o <= 8; o++ {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "cat.jpg"), exiftest.JPEG(jpg, int(o)))
		writeFile(t, filepath.Join(dir, "cat.jpg.cat"), cat)
		src, err := Scan(dir)
		if err != nil || src.Len() != 1 {
			t.Fatalf("Scan: %v, %d photos", err, src.Len())
		}
		stored, truth, err := src.Load(0)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ParseCat(cat)
		if truth != want {
			t.Fatalf("orientation %d: Load changed the annotation: %v, want %v", o, truth, want)
		}
		img, pts, got, err := src.LoadOriented(0)
		if err != nil || got != o {
			t.Fatalf("orientation %d: LoadOriented = %v, orientation %d", o, err, got)
		}
		if w, h := o.Size(stored.W, stored.H); img.W != w || img.H != h {
			t.Fatalf("orientation %d: %d×%d, want %d×%d", o, img.W, img.H, w, h)
		}
		if !bytes.Equal(img.Pix, imgproc.OrientRGB(stored, o).Pix) {
			t.Errorf("orientation %d: the photo is not the stored grid turned", o)
		}
		for i, p := range truth {
			j := i
			if o.Mirrors() {
				j = landmark.Mirror[i]
			}
			if x, y := o.Point(p.X, p.Y, stored.W, stored.H); pts[j].X != x || pts[j].Y != y {
				t.Errorf("orientation %d: point %d at %v is %v turned; want (%g, %g) as point %d", o, i, p, pts[j], x, y, j)
			}
		}
		// Eye 0, eye 1 and the mouth turn the same way round before and after: a mirror alone
		// would reverse them, the mirror permutation puts them back.
		if before, after := handedness(truth), handedness(pts); before*after <= 0 {
			t.Errorf("orientation %d: eyes and mouth turn %g before, %g after", o, before, after)
		}
	}
}

// handedness is the cross product of eye 0 → eye 1 and eye 0 → mouth: positive for an
// upright face whose eye 0 is on the left as seen.
func handedness(p landmark.Points) float64 {
	e0, e1, m := p[0], p[1], p[landmark.Mouth]
	return (e1.X-e0.X)*(m.Y-e0.Y) - (e1.Y-e0.Y)*(m.X-e0.X)
}
