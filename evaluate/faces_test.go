package evaluate

import (
	"image"
	"slices"
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
	// MeasureFaces hands the detector the picture only: this one finds each photo by its shade
	// along the composite's middle row, and its scale by the length of that run.
	find := func(pic image.Image, stray, drop bool) []catmark.Face {
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
