package evaluate

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// Composite places photos side by side, left to right, each resized by its scale, vertically
// centred on a mid-grey canvas with gap pixels between them and around them, and returns the
// picture and each photo's truth in its pixels: a photo of several cats whose faces are all
// annotated.
func Composite(photos []Photo, scales []float64, gap int) (*imgproc.RGB, []landmark.Points) {
	if len(photos) != len(scales) {
		panic(fmt.Sprintf("evaluate: Composite of %d photos with %d scales", len(photos), len(scales)))
	}
	ws, hs := make([]int, len(photos)), make([]int, len(photos))
	w, h := gap, 0
	for i, p := range photos {
		ws[i] = max(1, int(math.Round(float64(p.W)*scales[i])))
		hs[i] = max(1, int(math.Round(float64(p.H)*scales[i])))
		w += ws[i] + gap
		h = max(h, hs[i])
	}
	h += 2 * gap
	out := imgproc.New(w, h)
	out.Fill(image.Rect(0, 0, w, h), 128)
	truths := make([]landmark.Points, len(photos))
	x := gap
	for i, p := range photos {
		small := p.Original().Resize(ws[i], hs[i])
		y := (h - hs[i]) / 2
		for r := range hs[i] {
			copy(out.Pix[((y+r)*w+x)*3:((y+r)*w+x+ws[i])*3], small.Pix[r*ws[i]*3:(r+1)*ws[i]*3])
		}
		sx, sy := float64(ws[i])/float64(p.W), float64(hs[i])/float64(p.H)
		for j, q := range p.Truth {
			truths[i][j] = landmark.Point{X: float64(x) + q.X*sx, Y: float64(y) + q.Y*sy}
		}
		x += ws[i] + gap
	}
	return out, truths
}

// FaceMatch is the largest NME (mean point error over the true face's eye distance) at which a
// detected face counts as finding a true face.
const FaceMatch = 0.5

// FacesReport is how a detector of every face did on composites: how many true faces it found
// (a detection within FaceMatch of a face, each face and detection matched once, detections in
// the detector's order), how many detections matched no face, and the NME of the found faces.
type FacesReport struct {
	Photos     int     `json:"photos"`
	Faces      int     `json:"faces"`
	Found      int     `json:"found"`
	FalseFaces int     `json:"false_faces"`
	Recall     float64 `json:"recall"`
	FalsePer   float64 `json:"false_faces_per_photo"`
	NME        float64 `json:"nme_found"` // 0 when none was found
	// Skipped counts photos that could not be read; composites are made of the others.
	Skipped int `json:"skipped,omitempty"`
	// With two or more photos a composite, the smallest true face of each picture (by
	// FaceSize) and the other faces are counted apart: how many of each were found, and the
	// recall of each.
	SmallestFound  int     `json:"smallest_found"`
	SmallestRecall float64 `json:"smallest_recall"`
	OthersFaces    int     `json:"others_faces"`
	OthersFound    int     `json:"others_found"`
	OthersRecall   float64 `json:"others_recall"`
	// SizeRatio is the largest, over the pictures, of the smallest face's size over the largest
	// face's (FaceSize): with FacesOptions.SmallRatio set, at most that.
	SizeRatio float64 `json:"size_ratio_max"`
}

// FacesOptions sets up MeasureFaces.
type FacesOptions struct {
	PerPhoto int // photos per composite (2 or 3, say)
	// Each photo is scaled by a factor drawn uniformly from [MinScale, MaxScale]; MaxScale 0
	// means 1. CheckScales gives the valid ranges.
	MinScale, MaxScale float64
	// SmallRatio, when above 0, makes every composite of two or more photos hold a small face:
	// the photo whose face is smallest after its draw is shrunk further, where needed, until its
	// face's size (FaceSize) is at most SmallRatio times the largest face's in the picture.
	SmallRatio float64
	Composites int       // how many composites; 0: as many as the set fills
	Seed       uint64    // the draw of photos and scales
	Progress   func(int) // called after each composite with the number done
	// Miss, when set, is called for each composite on which a true face was missed or a false
	// face reported, with the picture, its true faces, what detect found, and which true faces
	// were found: what catmark eval --composite --out draws.
	Miss func(c int, img *imgproc.RGB, truths, found []landmark.Points, foundTruth []bool)
}

// MeasureFaces builds composites of opt.PerPhoto photos of set each (photos in a seeded random
// order, each used once) and measures detect, which returns every face's points it finds on a
// picture, best first (catmark.Detector's DetectAll).
func MeasureFaces(detect func(image.Image) ([]catmark.Face, error), set Set, opt FacesOptions) (FacesReport, error) {
	if opt.PerPhoto < 1 {
		return FacesReport{}, fmt.Errorf("evaluate: %d photos per composite", opt.PerPhoto)
	}
	if opt.MaxScale == 0 {
		opt.MaxScale = 1
	}
	if err := CheckScales(opt.MinScale, opt.MaxScale, opt.SmallRatio); err != nil {
		return FacesReport{}, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xface5))
	order := rng.Perm(set.Len())
	var rep FacesReport
	var nmeSum float64
	n := len(order) / opt.PerPhoto
	if opt.Composites > 0 {
		n = min(n, opt.Composites)
	}
	next := 0
	for c := range n {
		var photos []Photo
		var scales []float64
		for len(photos) < opt.PerPhoto && next < len(order) {
			p, err := set.Photo(order[next])
			next++
			if err != nil || !(p.Truth.EyeDistance() > 0) {
				rep.Skipped++
				continue
			}
			photos = append(photos, p)
			scales = append(scales, opt.MinScale+(opt.MaxScale-opt.MinScale)*rng.Float64())
		}
		if len(photos) < opt.PerPhoto {
			break
		}
		img, truths := Composite(photos, scales, 16)
		if opt.SmallRatio > 0 && len(photos) > 1 {
			img, truths = shrinkSmallest(photos, scales, opt.SmallRatio, img, truths)
		}
		smallest, ratio := smallestFace(truths)
		if len(truths) > 1 {
			rep.SizeRatio = max(rep.SizeRatio, ratio)
		}
		faces, err := detect(img.Image())
		if err != nil {
			return rep, fmt.Errorf("evaluate: composite %d: %w", c, err)
		}
		found := make([]landmark.Points, len(faces))
		for i, f := range faces {
			found[i] = f.Points
		}
		used := make([]bool, len(truths))
		falseBefore := rep.FalseFaces
		for _, f := range found {
			best, bestNME := -1, FaceMatch
			for t, truth := range truths {
				if e := faceNME(f, truth); !used[t] && e < bestNME {
					best, bestNME = t, e
				}
			}
			if best < 0 {
				rep.FalseFaces++
				continue
			}
			used[best] = true
			rep.Found++
			nmeSum += bestNME
		}
		if opt.Miss != nil && (rep.FalseFaces > falseBefore || slices.Contains(used, false)) {
			opt.Miss(c, img, truths, found, used)
		}
		rep.Photos++
		rep.Faces += len(truths)
		if len(truths) > 1 {
			rep.OthersFaces += len(truths) - 1
			for t, ok := range used {
				switch {
				case ok && t == smallest:
					rep.SmallestFound++
				case ok:
					rep.OthersFound++
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(c + 1)
		}
	}
	if rep.Faces > 0 {
		rep.Recall = float64(rep.Found) / float64(rep.Faces)
		rep.FalsePer = float64(rep.FalseFaces) / float64(rep.Photos)
	}
	if rep.Found > 0 {
		rep.NME = nmeSum / float64(rep.Found)
	}
	if rep.OthersFaces > 0 {
		rep.SmallestRecall = float64(rep.SmallestFound) / float64(rep.Photos)
		rep.OthersRecall = float64(rep.OthersFound) / float64(rep.OthersFaces)
	}
	return rep, nil
}

// CheckScales reports whether composites can be made with photos scaled by [lo, hi] and, when
// small is above 0, a smallest face at most small times the largest: 0 < lo ≤ hi ≤ 1 and
// 0 ≤ small < 1.
func CheckScales(lo, hi, small float64) error {
	if !(lo > 0 && lo <= hi && hi <= 1) {
		return fmt.Errorf("evaluate: composite scales %g to %g: want 0 < low ≤ high ≤ 1 (a share of each photo's size)", lo, hi)
	}
	if !(small >= 0 && small < 1) {
		return fmt.Errorf("evaluate: small-face ratio %g: want a share of the largest face's size, above 0 and below 1 (0: off)", small)
	}
	return nil
}

// FaceSize is the size of the face whose points are p, in their pixels: the side of the box
// around them in the frame that turns the face upright, the size the centers first stage
// predicts (model.FaceGeometry).
func FaceSize(p landmark.Points) float64 {
	return model.FaceGeometry(p).Size
}

// smallestFace returns the index of the smallest face of truths (FaceSize) and its size over
// the largest's.
func smallestFace(truths []landmark.Points) (int, float64) {
	small, lo, hi := 0, math.Inf(1), 0.0
	for i, p := range truths {
		s := FaceSize(p)
		if s < lo {
			small, lo = i, s
		}
		hi = max(hi, s)
	}
	if !(hi > 0) {
		return small, 0
	}
	return small, lo / hi
}

// shrinkSmallest takes the composite img of photos at scales, with its true faces truths, and
// composes it again, changing scales, until the photo whose face comes out smallest has its face
// at most ratio times the largest face in the picture. The shrinking is worked out from the true
// faces and checked on the composite itself, whose sizes are rounded to whole pixels.
func shrinkSmallest(photos []Photo, scales []float64, ratio float64, img *imgproc.RGB, truths []landmark.Points) (*imgproc.RGB, []landmark.Points) {
	for range 20 {
		small, r := smallestFace(truths)
		if r <= ratio {
			break
		}
		// Faces scale with their photos; aim a little under the ratio for the rounding.
		scales[small] *= ratio / r * 0.995
		img, truths = Composite(photos, scales, 16)
	}
	return img, truths
}

// faceNME is the mean distance between p and the true points over the true eye distance.
func faceNME(p, truth landmark.Points) float64 {
	var sum float64
	for i := range p {
		sum += math.Hypot(p[i].X-truth[i].X, p[i].Y-truth[i].Y)
	}
	return sum / float64(len(p)) / truth.EyeDistance()
}
