package evaluate

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"path"
	"path/filepath"
	"sort"

	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/render"
)

// PictureOptions controls WritePictures. The zero value means 12 photos per grid, 4 columns,
// tiles of 256 pixels and seed 1.
type PictureOptions struct {
	N    int   // photos per grid
	Cols int   // photos per row
	Tile int   // longer side of every photo in the grids, in pixels
	Seed int64 // the choice of the random photos
}

// Picture file names that WritePictures writes.
const (
	WorstFile  = "worst.png"
	RandomFile = "random.png"
)

// WritePictures draws predictions (render.PredColor) against the truth (render.TruthColor) in
// two grids in dir: WorstFile, the photos with the highest NME, worst first, and RandomFile, a
// seeded random choice of photos in the Set's order. Captions give each photo's name and NME.
// set must be the Set res was computed on. It returns the files written.
func WritePictures(res *Result, set Set, dir string, opt PictureOptions) ([]string, error) {
	if opt.N <= 0 {
		opt.N = 12
	}
	if opt.Cols <= 0 {
		opt.Cols = 4
	}
	if opt.Tile <= 0 {
		opt.Tile = 256
	}
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if len(res.Photos) == 0 {
		return nil, fmt.Errorf("evaluate: no measured photos to draw")
	}
	worst := res.worst(opt.N)
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0xe7a1))
	random := rng.Perm(len(res.Photos))[:min(opt.N, len(res.Photos))]
	sort.Ints(random)

	var written []string
	for _, g := range []struct {
		file string
		pick []int
	}{{WorstFile, worst}, {RandomFile, random}} {
		tiles := make([]image.Image, len(g.pick))
		captions := make([]string, len(g.pick))
		for k, j := range g.pick {
			pr := res.Photos[j]
			ph, err := set.Photo(pr.Index)
			if err != nil {
				return written, fmt.Errorf("evaluate: drawing %s: %w", pr.Name, err)
			}
			tiles[k] = drawTile(ph, pr, opt.Tile)
			captions[k] = fmt.Sprintf("%s NME %.3f", path.Base(pr.Name), pr.NME)
		}
		p := filepath.Join(dir, g.file)
		if err := render.SavePNG(p, render.Grid(tiles, opt.Cols, captions)); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// Worst returns the n measured photos with the highest NME, worst first (ties in the Set's
// order); photos that cannot be measured come last.
func (r *Result) Worst(n int) []PhotoResult {
	out := make([]PhotoResult, 0, n)
	for _, k := range r.worst(n) {
		out = append(out, r.Photos[k])
	}
	return out
}

// worst returns the positions in r.Photos of the n photos with the highest NME.
func (r *Result) worst(n int) []int {
	order := make([]int, len(r.Photos))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		na, nb := r.Photos[order[a]].NME, r.Photos[order[b]].NME
		if math.IsNaN(nb) {
			return !math.IsNaN(na)
		}
		return na > nb
	})
	return order[:min(n, len(order))]
}

// drawTile draws a photo at its own aspect, its longer side tile pixels, with truth and
// prediction.
func drawTile(ph Photo, pr PhotoResult, tile int) image.Image {
	w, h := tile, max(1, int(float64(tile)*float64(ph.H)/float64(ph.W)+0.5))
	if ph.H > ph.W {
		w, h = max(1, int(float64(tile)*float64(ph.W)/float64(ph.H)+0.5)), tile
	}
	img := ph.Img
	if img.W != w || img.H != h {
		img = img.Resize(w, h)
	}
	sx, sy := float64(w)/float64(ph.W), float64(h)/float64(ph.H)
	scale := func(p landmark.Points) *landmark.Points {
		q := scalePoints(p, sx, sy)
		return &q
	}
	return render.Draw(img.Image(), scale(pr.Truth), scale(pr.Pred), render.Options{})
}
