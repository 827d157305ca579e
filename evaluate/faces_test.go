package evaluate

import (
	"image"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// memSet is a Set of photos held in memory.
type memSet []Photo

func (s memSet) Len() int                   { return len(s) }
func (s memSet) Photo(i int) (Photo, error) { return s[i], nil }

func facePhoto(w, h int, shade uint8) Photo {
	img := imgproc.New(w, h)
	for i := range img.Pix {
		img.Pix[i] = shade
	}
	var p landmark.Points
	for i := range p {
		p[i] = landmark.Point{X: float64(w)/4 + float64(i)*3, Y: float64(h) / 2}
	}
	return Photo{Img: img, W: w, H: h, Truth: p}
}

// Composite keeps each photo's pixels where its truth says: the colour under every true point is
// that photo's shade.
func TestComposite(t *testing.T) {
	photos := []Photo{facePhoto(60, 40, 10), facePhoto(80, 60, 200)}
	img, truths := Composite(photos, []float64{1, 0.5}, 16)
	if img.W != 16+60+16+40+16 || img.H != 40+32 {
		t.Fatalf("composite %d×%d", img.W, img.H)
	}
	for i, truth := range truths {
		for _, q := range truth {
			if r, _, _ := img.At(int(q.X), int(q.Y)); r != photos[i].Img.Pix[0] {
				t.Errorf("photo %d: shade %d under its point %v, want %d", i, r, q, photos[i].Img.Pix[0])
			}
		}
	}
}

// An oracle finds every face and nothing else; a detector that adds a stray face and misses one
// is counted so.
func TestMeasureFaces(t *testing.T) {
	var set memSet
	for i := range 12 {
		set = append(set, facePhoto(60+i, 40, uint8(20*i)))
	}
	find := func(pic image.Image, stray, drop bool) []catmark.Face {
		out := findByShade(set, pic)
		if drop {
			out = out[1:]
		}
		if stray {
			out = append(out, catmark.Face{Presence: 1})
		}
		return out
	}
	var misses []int
	var missed int
	opt := FacesOptions{PerPhoto: 3, MinScale: 1, Seed: 1, Miss: func(c int, img *imgproc.RGB, truths, found []landmark.Points, ok []bool) {
		misses = append(misses, c)
		if len(truths) != len(ok) || len(found) != 3 {
			t.Errorf("Miss(%d): %d truths, %d flags, %d found; want 3, 3, 3", c, len(truths), len(ok), len(found))
		}
		for _, f := range ok {
			if !f {
				missed++
			}
		}
	}}
	rep, err := MeasureFaces(func(img image.Image) ([]catmark.Face, error) { return find(img, false, false), nil }, set, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Photos != 4 || rep.Faces != 12 || rep.Found != 12 || rep.FalseFaces != 0 || rep.Recall != 1 || rep.NME > 0.05 {
		t.Errorf("oracle: %+v, want 4 composites, all 12 faces found, none false", rep)
	}
	if len(misses) != 0 {
		t.Errorf("oracle: Miss called for composites %v, want none", misses)
	}
	rep, err = MeasureFaces(func(img image.Image) ([]catmark.Face, error) { return find(img, true, true), nil }, set, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Found != 8 || rep.FalseFaces != 4 || rep.FalsePer != 1 {
		t.Errorf("a stray face and a miss per composite: %+v, want 8 found, 4 false", rep)
	}
	if !slices.Equal(misses, []int{0, 1, 2, 3}) || missed != 4 {
		t.Errorf("Miss called for composites %v with %d faces missed, want 0…3 and 4", misses, missed)
	}
}

// findByShade finds the faces of set's photos on a composite, as MeasureFaces hands it to a
// detector (the picture only): each photo by its shade along the composite's middle row, and
// its scale by the length of that run. The photos' shades must differ from each other and from
// the mid-grey background.
func findByShade(set memSet, pic image.Image) []catmark.Face {
	img := imgproc.FromImage(pic)
	var out []catmark.Face
	for _, p := range set {
		shade := p.Img.Pix[0]
		y := img.H / 2
		for x := range img.W {
			if r, _, _ := img.At(x, y); r == shade {
				run := 0
				for x+run < img.W {
					if r, _, _ := img.At(x+run, y); r != shade {
						break
					}
					run++
				}
				s := float64(run) / float64(p.W)
				var pts landmark.Points
				for i, q := range p.Truth {
					pts[i] = landmark.Point{X: float64(x) + q.X*s, Y: float64(img.H)/2 - float64(p.H)*s/2 + q.Y*s}
				}
				out = append(out, catmark.Face{Points: pts, Presence: 1})
				break
			}
		}
	}
	return out
}

// Each photo of a composite is scaled within the range asked for, and with a small-face ratio
// the smallest face of every picture is at most that share of the largest, the others still in
// the range.
func TestMeasureFacesScales(t *testing.T) {
	var set memSet
	for i := range 12 {
		set = append(set, facePhoto(100+4*i, 80, uint8(10+20*i)))
	}
	full := FaceSize(set[0].Truth) // the same for every photo: 24 px
	for _, tc := range []struct {
		lo, hi, small float64
		perPhoto      int
	}{
		{0.5, 1, 0, 2},
		{0.2, 1, 0, 3},
		{0.3, 0.3, 0, 2},
		{1, 1, 0, 4},
		{0.5, 1, 0.25, 2},
		{0.8, 1, 0.25, 3},
		{1, 1, 0.1, 4},
	} {
		pictures := 0
		opt := FacesOptions{PerPhoto: tc.perPhoto, MinScale: tc.lo, MaxScale: tc.hi, SmallRatio: tc.small, Seed: 3,
			Miss: func(c int, _ *imgproc.RGB, truths, _ []landmark.Points, _ []bool) {
				pictures++
				small, ratio := smallestFace(truths)
				for i, p := range truths {
					s := FaceSize(p) / full
					if tc.small > 0 && i == small {
						continue
					}
					// Sides are rounded to whole pixels: 1 in 100 at most.
					if s < tc.lo-0.01 || s > tc.hi+0.01 {
						t.Errorf("%+v: picture %d face %d scaled by %.3f, outside [%g, %g]", tc, c, i, s, tc.lo, tc.hi)
					}
				}
				if tc.small > 0 && ratio > tc.small {
					t.Errorf("%+v: picture %d smallest face %.3f of the largest, want at most %g", tc, c, ratio, tc.small)
				}
			}}
		rep, err := MeasureFaces(func(image.Image) ([]catmark.Face, error) { return nil, nil }, set, opt)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if want := 12 / tc.perPhoto; pictures != want || rep.Photos != want {
			t.Errorf("%+v: %d pictures, %d drawn; want %d", tc, rep.Photos, pictures, want)
		}
		if tc.small > 0 && (rep.SizeRatio > tc.small || rep.SizeRatio <= 0) {
			t.Errorf("%+v: largest size ratio %g, want in (0, %g]", tc, rep.SizeRatio, tc.small)
		}
		if tc.small == 0 && tc.lo == tc.hi && math.Abs(rep.SizeRatio-1) > 0.01 {
			t.Errorf("%+v: one scale for all, size ratio %g, want 1 (to the pixel rounding)", tc, rep.SizeRatio)
		}
	}
}

// The smallest face of each picture and the others are counted apart.
func TestMeasureFacesSmallest(t *testing.T) {
	var set memSet
	for i := range 12 {
		set = append(set, facePhoto(100+4*i, 80, uint8(10+20*i)))
	}
	all := func(pic image.Image) ([]catmark.Face, error) { return findByShade(set, pic), nil }
	dropSmallest := func(pic image.Image) ([]catmark.Face, error) {
		faces := findByShade(set, pic)
		k := 0
		for i, f := range faces {
			if FaceSize(f.Points) < FaceSize(faces[k].Points) {
				k = i
			}
		}
		return slices.Delete(faces, k, k+1), nil
	}
	for _, tc := range []struct {
		name              string
		detect            func(image.Image) ([]catmark.Face, error)
		perPhoto          int
		smallest, others  float64
		photos, othersAll int
	}{
		{"every face", all, 3, 1, 1, 4, 8},
		{"all but the smallest", dropSmallest, 3, 0, 1, 4, 8},
		{"all but the smallest of two", dropSmallest, 2, 0, 1, 6, 6},
	} {
		rep, err := MeasureFaces(tc.detect, set, FacesOptions{PerPhoto: tc.perPhoto, MinScale: 0.4, Seed: 5})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep.Photos != tc.photos || rep.OthersFaces != tc.othersAll || rep.SmallestRecall != tc.smallest || rep.OthersRecall != tc.others {
			t.Errorf("%s: %+v, want %d pictures, %d other faces, smallest recall %g, others %g", tc.name, rep, tc.photos, tc.othersAll, tc.smallest, tc.others)
		}
		if rep.SmallestFound+rep.OthersFound != rep.Found {
			t.Errorf("%s: %d smallest and %d others found, %d in all", tc.name, rep.SmallestFound, rep.OthersFound, rep.Found)
		}
	}
}

// Scale ranges and small-face ratios outside their bounds are refused with the value named.
func TestCheckScales(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, small float64
		ok            bool
	}{
		{0.5, 1, 0, true},
		{0.2, 0.2, 0.25, true},
		{1, 1, 0.9, true},
		{0, 1, 0, false},
		{-0.1, 1, 0, false},
		{0.6, 0.5, 0, false},
		{0.5, 1.5, 0, false},
		{math.NaN(), 1, 0, false},
		{0.5, 1, 1, false},
		{0.5, 1, -0.25, false},
		{0.5, 1, math.NaN(), false},
	} {
		err := CheckScales(tc.lo, tc.hi, tc.small)
		if (err == nil) != tc.ok {
			t.Errorf("CheckScales(%g, %g, %g) = %v, want ok %v", tc.lo, tc.hi, tc.small, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "want") {
			t.Errorf("CheckScales(%g, %g, %g): %v does not say what is wanted", tc.lo, tc.hi, tc.small, err)
		}
		_, merr := MeasureFaces(func(image.Image) ([]catmark.Face, error) { return nil, nil }, memSet{facePhoto(60, 40, 10)},
			FacesOptions{PerPhoto: 1, MinScale: tc.lo, MaxScale: tc.hi, SmallRatio: tc.small})
		if (merr == nil) != tc.ok {
			t.Errorf("MeasureFaces with scales %g to %g, small %g: %v, want ok %v", tc.lo, tc.hi, tc.small, merr, tc.ok)
		}
	}
}
