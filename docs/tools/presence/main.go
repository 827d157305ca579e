// Command presence measures how well refine models' face presence tells a cat's face from the
// rest of a photo, on photos no model was trained on: for each photo of --data (with its .cat
// file) it scores the crop around the true face (the model's own face box, and the box grown 1.4×
// as the detector's first crop is) and --negatives crops cut away from the face as training cuts
// its negatives (facecrop.Away, seeded), and prints, per model, the positives' median presence and
// share below 0.5 and 0.1, the negatives' median and share at 0.5 or above, the AUC (the chance
// that a face crop outscores a crop without one), and the photos whose face scores lowest.
//
//	go run ./docs/tools/presence --data /tmp/val-select --models model,docs/runs/centers-1/small-faces/model
//
// A model is a detector folder (its refine.safetensors is measured) or a crop-stage checkpoint.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/backends"
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "presence:", err)
		os.Exit(1)
	}
}

// photo is one measured photo: its name, pixels and true points.
type photo struct {
	name string
	img  *imgproc.RGB
	pts  landmark.Points
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("presence", flag.ContinueOnError)
	data := fs.String("data", "", "folder of photos with .cat files")
	models := fs.String("models", "", "comma-separated detector folders or crop-stage checkpoints")
	negatives := fs.Int("negatives", 4, "crops cut away from the face, per photo")
	seed := fs.Uint64("seed", 1, "seed of the negative crops")
	backend := fs.String("backend", "", "engine backend (empty: the fastest)")
	worst := fs.Int("worst", 5, "photos with the lowest face presence listed per model")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *models == "" || fs.NArg() > 0 {
		return errors.New("usage: presence --data DIR --models M1,M2,… (no other arguments)")
	}
	if *negatives < 1 {
		return fmt.Errorf("--negatives %d: want at least 1", *negatives)
	}
	photos, err := readPhotos(*data)
	if err != nil {
		return err
	}
	b, err := engine.Open(*backend)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d photos in %s, %d negatives each (seed %d)\n\n", len(photos), *data, *negatives, *seed)
	fmt.Fprintln(out, "| model | face: median presence | face < 0.5 | face < 0.1 | face ×1.4: median, < 0.5 | no face: median | no face ≥ 0.5 | AUC |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|")
	var notes []string
	for _, m := range strings.Split(*models, ",") {
		path := m
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			path = filepath.Join(m, "refine.safetensors")
		}
		r, err := model.Load(b, path)
		if err != nil {
			return err
		}
		if !r.Spec.Presence {
			return fmt.Errorf("%s has no face-presence output", path)
		}
		s := measure(r, photos, *negatives, *seed)
		fmt.Fprintf(out, "| %s | %.3f | %.1f %% | %.1f %% | %.3f, %.1f %% | %.3f | %.1f %% | %.4f |\n", m,
			median(s.face), 100*below(s.face, 0.5), 100*below(s.face, 0.1), median(s.grown), 100*below(s.grown, 0.5),
			median(s.none), 100*(1-below(s.none, 0.5)), auc(s.face, s.none))
		idx := make([]int, len(photos))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, c int) bool { return s.face[idx[a]] < s.face[idx[c]] })
		var low []string
		for _, i := range idx[:min(*worst, len(idx))] {
			low = append(low, fmt.Sprintf("%s %.3f", photos[i].name, s.face[i]))
		}
		notes = append(notes, fmt.Sprintf("- lowest face presence, %s: %s", m, strings.Join(low, ", ")))
	}
	fmt.Fprintln(out)
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	return nil
}

// scores are one model's presences: on each photo's face box, on the box grown 1.4×, and on the
// negative crops.
type scores struct{ face, grown, none []float64 }

// measure scores every crop of photos with r, a photo at a time.
func measure(r *model.Model, photos []photo, negatives int, seed uint64) scores {
	var s scores
	rng := rand.New(rand.NewPCG(seed, 0))
	size := r.Spec.Size
	for _, p := range photos {
		box := facecrop.FaceBoxAt(p.pts, r.Spec.Margin, p.pts.Angle())
		grown := box
		grown.Side *= 1.4
		boxes := []facecrop.Box{box, grown}
		upright := facecrop.FaceBox(p.pts, r.Spec.Margin)
		for range negatives {
			boxes = append(boxes, facecrop.Away(rng, upright, p.img.W, p.img.H))
		}
		x := make([]float32, 0, len(boxes)*3*size*size)
		for _, bx := range boxes {
			x = r.Spec.AppendInput(x, facecrop.Crop(p.img, p.img.W, p.img.H, bx, size))
		}
		o := r.Predict(x, len(boxes))
		s.face = append(s.face, o[0].Presence)
		s.grown = append(s.grown, o[1].Presence)
		for _, n := range o[2:] {
			s.none = append(s.none, n.Presence)
		}
	}
	return s
}

// readPhotos reads every photo of dir that has a .cat file, in name order.
func readPhotos(dir string) ([]photo, error) {
	cats, err := filepath.Glob(filepath.Join(dir, "*.cat"))
	if err != nil {
		return nil, err
	}
	if len(cats) == 0 {
		return nil, fmt.Errorf("%s holds no .cat files", dir)
	}
	slices.Sort(cats)
	var out []photo
	for _, c := range cats {
		name := strings.TrimSuffix(c, ".cat")
		text, err := os.ReadFile(c)
		if err != nil {
			return nil, err
		}
		pts, err := catdata.ParseCat(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		img, _, err := imgproc.Limits{IgnoreOrientation: true}.Decode(context.Background(), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, photo{name: filepath.Base(name), img: imgproc.FromImage(img), pts: pts})
	}
	return out, nil
}

// median returns the median of v.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// below returns the share of v below t.
func below(v []float64, t float64) float64 {
	n := 0
	for _, x := range v {
		if x < t {
			n++
		}
	}
	return float64(n) / float64(len(v))
}

// auc returns the chance that a value of pos exceeds one of neg (ties count half): the area under
// the ROC curve of presence as a face detector.
func auc(pos, neg []float64) float64 {
	var sum float64
	for _, p := range pos {
		for _, n := range neg {
			switch {
			case p > n:
				sum++
			case p == n:
				sum += 0.5
			}
		}
	}
	return sum / float64(len(pos)*len(neg))
}
