package main

import (
	"flag"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/render"
)

func init() {
	register("show", "draw the annotated points of a few photos in a grid picture", runShow)
}

// shown is one photo to draw: its image and its points normalised to it (x/w, y/h, unclipped).
type shown struct {
	name string
	img  *imgproc.RGB
	pts  landmark.Points
	w, h int // the original photo's size: a cache photo is shown at this aspect again
}

func runShow(args []string) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: catmark show --data DIR|ZIP|CACHE --out grid.png [flags]\n\nDraws the annotated points of a few photos, numbered 1…9 (1 = the eye on the image's left),\nears outlined outer base → tip → inner base, in a grid picture. --data is a photo folder or zip\n(as for prepare) or a cache written by prepare (shown at the photos' own aspect). Flags:")
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "photo folder or zip, or cache folder")
	out := fs.String("out", "", "PNG file to write")
	n := fs.Int("n", 12, "number of photos")
	seed := fs.Int64("seed", 1, "seed of the choice of photos (and of --pca, --jitter)")
	cols := fs.Int("cols", 4, "photos per row")
	split := fs.String("split", "all", "for a cache: the split to choose from (train, val, all)")
	tile := fs.Int("tile", 320, "longer side of every photo in the grid, in pixels")
	flip := fs.Bool("flip", false, "mirror every photo with its points (the training flip) to check the mirror permutation")
	pca := fs.Bool("pca", false, "add PCA colour noise (std 0.1), as in training")
	jitter := fs.Bool("jitter", false, "apply a random similarity (zoom 0.9–1.1, shift 0.05, rotation 10°)")
	face := fs.Bool("face", false, "show a square crop around the face (the points' box with a margin) instead of the whole photo")
	if err := parseFlags(fs, args, "data", "out"); err != nil {
		return err
	}
	if *n < 1 || *tile < 16 {
		return fmt.Errorf("--n %d and --tile %d: want n ≥ 1 and tile ≥ 16", *n, *tile)
	}
	rng := rand.New(rand.NewPCG(uint64(*seed), 0x5407))
	var photos []shown
	var err error
	kind := "photo folder"
	if _, serr := os.Stat(filepath.Join(*data, cache.ManifestFile)); serr == nil {
		kind = "cache"
		photos, err = showFromCache(*data, *split, *n, rng)
	} else {
		photos, err = showFromSource(*data, *n, rng)
	}
	if err != nil {
		return err
	}
	cfg := augment.Config{PCA: *pca}
	if *jitter {
		cfg.Scale, cfg.Shift, cfg.Rotate = [2]float64{0.9, 1.1}, 0.05, 10
	}
	var done []string
	for _, a := range []struct {
		on   bool
		name string
	}{{*flip, "mirrored"}, {*pca, "pca"}, {*jitter, "jitter"}} {
		if a.on {
			done = append(done, a.name)
		}
	}
	suffix := ""
	if len(done) > 0 {
		suffix = " (" + strings.Join(done, ", ") + ")"
	}
	tiles := make([]image.Image, len(photos))
	captions := make([]string, len(photos))
	for i, p := range photos {
		plan := cfg.Draw(rng, p.img)
		plan.Flip = *flip
		img, pts := plan.Image(p.img), plan.Points(p.pts)
		var px landmark.Points
		if *face {
			// A square around the face in the photo's pixels, a quarter of its side added around.
			box := facecrop.FromPoints(pts.Denormalize(p.w, p.h), 0.25, 16)
			img = facecrop.Crop(img, p.w, p.h, box, *tile)
			px = box.ToBox(pts.Denormalize(p.w, p.h)).Denormalize(*tile, *tile)
		} else {
			// The whole photo at its original aspect, its longer side tile pixels.
			w, h := *tile, max(1, int(float64(*tile)*float64(p.h)/float64(p.w)+0.5))
			if p.h > p.w {
				w, h = max(1, int(float64(*tile)*float64(p.w)/float64(p.h)+0.5)), *tile
			}
			if img.W != w || img.H != h {
				img = img.Resize(w, h)
			}
			px = pts.Denormalize(w, h)
		}
		tiles[i] = render.Draw(img.Image(), &px, nil, render.Options{Lines: true})
		captions[i] = path.Base(p.name) + suffix
	}
	if err := render.SavePNG(*out, render.Grid(tiles, *cols, captions)); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d photos from the %s %s\n", *out, len(photos), kind, *data)
	return nil
}

// choose returns up to n of the numbers 0…count−1 in a random order.
func choose(count, n int, rng *rand.Rand) []int {
	perm := rng.Perm(count)
	return perm[:min(n, count)]
}

func showFromCache(dir, split string, n int, rng *rand.Rand) ([]shown, error) {
	c, err := cache.Open(dir)
	if err != nil {
		return nil, err
	}
	idx, err := c.Split(split)
	if err != nil {
		return nil, err
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("cache %s: the %s split is empty", dir, split)
	}
	var out []shown
	for _, j := range choose(len(idx), n, rng) {
		i := idx[j]
		it := c.Item(i)
		img := &imgproc.RGB{W: c.Size(), H: c.Size(), Pix: c.Pixels(i)}
		out = append(out, shown{it.Name, img, it.Points.NormalizeUnclipped(it.Width, it.Height), it.Width, it.Height})
	}
	return out, nil
}

func showFromSource(dir string, n int, rng *rand.Rand) ([]shown, error) {
	src, err := catdata.Scan(dir)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if src.Len() == 0 {
		return nil, fmt.Errorf("%s holds no photos with annotations (NAME.jpg with NAME.jpg.cat) and is not a cache", dir)
	}
	var out []shown
	for _, i := range rng.Perm(src.Len()) {
		if len(out) == n {
			break
		}
		img, pts, err := src.Load(i)
		if err != nil {
			fmt.Fprintf(os.Stderr, "catmark show: skipping %v\n", err)
			continue
		}
		out = append(out, shown{src.Entries[i].Name, img, pts.NormalizeUnclipped(img.W, img.H), img.W, img.H})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no readable photos in %s", dir)
	}
	return out, nil
}
