// Command ced summarises per-photo errors written by `catmark eval --out DIR` (DIR/photos.csv:
// photo,nme) for the model card: the median NME, the failure rate, AUC@0.1 (the area under the
// cumulative error distribution up to NME 0.1, normalised to 1), a PNG of the cumulative error
// distribution, and, given the photos' folder, the errors by face size and by head tilt.
//
//	go run ./docs/tools/ced --photos docs/runs/recipe-7/seed1/photos-val-report.csv \
//	    --data /tmp/val-report --out docs/ced-val-report.png
//
// Several --photos files (comma-separated, with --labels) draw one curve each; the figures and the
// factor tables are printed for each file, the factors only for the first.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/catmark/catmark/catdata"
)

// failAt is the NME above which a photo counts as a failure, and the limit of AUC@0.1.
const failAt = 0.1

func main() {
	photos := flag.String("photos", "", "comma-separated photos.csv files (photo,nme), as catmark eval --out writes them")
	labels := flag.String("labels", "", "comma-separated curve labels (default: the files' folder names)")
	data := flag.String("data", "", "folder of the photos and their .cat files: adds the errors by face size and head tilt (first file only)")
	out := flag.String("out", "", "PNG file for the cumulative error distribution (empty: none)")
	title := flag.String("title", "Cumulative error distribution", "the plot's title")
	xmax := flag.Float64("xmax", 0.3, "largest NME on the plot's x axis")
	flag.Parse()
	if err := run(*photos, *labels, *data, *out, *title, *xmax); err != nil {
		fmt.Fprintln(os.Stderr, "ced:", err)
		os.Exit(1)
	}
}

// sample is one photo's NME.
type sample struct {
	photo string
	nme   float64
}

func run(photos, labels, data, out, title string, xmax float64) error {
	if photos == "" {
		return errors.New("--photos is required")
	}
	files := strings.Split(photos, ",")
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(filepath.Dir(f))
	}
	if labels != "" {
		l := strings.Split(labels, ",")
		if len(l) != len(files) {
			return fmt.Errorf("--labels gives %d labels for %d files", len(l), len(files))
		}
		names = l
	}
	sets := make([][]sample, len(files))
	for i, f := range files {
		s, err := readCSV(f)
		if err != nil {
			return err
		}
		sets[i] = s
		e := nmes(s)
		fmt.Printf("%s (%s): %d photos, mean NME %.4f, median %.4f, failure (NME > %.2f) %.1f %%, AUC@%.1f %.3f\n",
			names[i], f, len(e), mean(e), median(e), failAt, 100*failure(e), failAt, auc(e, failAt))
	}
	if data != "" {
		if err := factors(sets[0], data); err != nil {
			return err
		}
	}
	if out != "" {
		if err := plotCED(out, title, names, sets, xmax); err != nil {
			return err
		}
		fmt.Println("wrote", out)
	}
	return nil
}

// readCSV reads a photos.csv with the header photo,nme.
func readCSV(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(head) != 2 || head[0] != "photo" || head[1] != "nme" {
		return nil, fmt.Errorf("%s: header %q, want photo,nme", path, head)
	}
	var s []sample
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil || v < 0 || math.IsNaN(v) {
			return nil, fmt.Errorf("%s line %d: NME %q is not a non-negative number", path, line, rec[1])
		}
		s = append(s, sample{rec[0], v})
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("%s: no photos", path)
	}
	return s, nil
}

func nmes(s []sample) []float64 {
	e := make([]float64, len(s))
	for i, x := range s {
		e[i] = x.nme
	}
	return e
}

func mean(e []float64) float64 {
	t := 0.0
	for _, v := range e {
		t += v
	}
	return t / float64(len(e))
}

func median(e []float64) float64 {
	s := append([]float64(nil), e...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func failure(e []float64) float64 {
	n := 0
	for _, v := range e {
		if v > failAt {
			n++
		}
	}
	return float64(n) / float64(len(e))
}

// auc is the area under the cumulative error distribution F(x) = share of photos with NME ≤ x,
// from 0 to limit, divided by limit: 1 when every photo is perfect, 0 when none is under limit.
// For the step function F it is exactly the mean of max(0, limit − NME) / limit.
func auc(e []float64, limit float64) float64 {
	t := 0.0
	for _, v := range e {
		t += max(0, limit-v)
	}
	return t / limit / float64(len(e))
}

// face is one photo's NME with its face's size and tilt from the true points.
type face struct {
	nme  float64
	size float64 // eye distance ÷ the photo's longer side
	tilt float64 // |landmark.Points.Angle()|, degrees
}

// factors prints the errors by tercile of face size and of head tilt.
func factors(s []sample, dir string) error {
	fs := make([]face, len(s))
	for i, x := range s {
		path := filepath.Join(dir, x.photo)
		raw, err := os.ReadFile(path + ".cat")
		if err != nil {
			return err
		}
		p, err := catdata.ParseCat(raw)
		if err != nil {
			return fmt.Errorf("%s.cat: %w", path, err)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fs[i] = face{x.nme, p.EyeDistance() / float64(max(cfg.Width, cfg.Height)), math.Abs(p.Angle())}
	}
	table("face size: true eye distance ÷ photo's longer side", "%.1f %%", 100, fs, func(f face) float64 { return f.size })
	table("head tilt: |angle of the true face from upright|", "%.0f°", 1, fs, func(f face) float64 { return f.tilt })
	return nil
}

// table prints a Markdown table of the photos' errors by tercile of key.
func table(title, format string, scale float64, fs []face, key func(face) float64) {
	s := append([]face(nil), fs...)
	sort.SliceStable(s, func(i, j int) bool { return key(s[i]) < key(s[j]) })
	fmt.Printf("\n%s\n\n| tercile | range | photos | mean NME | median NME | failure | AUC@0.1 |\n|---|---|---:|---:|---:|---:|---:|\n", title)
	n := len(s)
	for t, name := range []string{"lowest", "middle", "highest"} {
		part := s[t*n/3 : (t+1)*n/3]
		e := make([]float64, len(part))
		for i, f := range part {
			e[i] = f.nme
		}
		lo, hi := fmt.Sprintf(format, scale*key(part[0])), fmt.Sprintf(format, scale*key(part[len(part)-1]))
		fmt.Printf("| %s | %s – %s | %d | %.4f | %.4f | %.1f %% | %.3f |\n", name, lo, hi, len(part), mean(e), median(e), 100*failure(e), auc(e, failAt))
	}
}

// plotCED draws each set's cumulative error distribution up to xmax, with the failure threshold
// as a dashed line.
func plotCED(path, title string, names []string, sets [][]sample, xmax float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "NME (point error ÷ true eye distance, mean of the nine points)"
	p.Y.Label.Text = "share of photos with NME ≤ x"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, xmax, 0, 1
	p.Add(plotter.NewGrid())
	for i, s := range sets {
		e := nmes(s)
		sort.Float64s(e)
		pts := plotter.XYs{{X: 0, Y: 0}}
		for j, v := range e {
			if v > xmax {
				break
			}
			pts = append(pts, plotter.XY{X: v, Y: float64(j) / float64(len(e))}, plotter.XY{X: v, Y: float64(j+1) / float64(len(e))})
		}
		pts = append(pts, plotter.XY{X: xmax, Y: pts[len(pts)-1].Y})
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s: AUC@0.1 %.3f, failure %.1f %%", names[i], auc(e, failAt), 100*failure(e)), l)
	}
	th, err := plotter.NewLine(plotter.XYs{{X: failAt, Y: 0}, {X: failAt, Y: 1}})
	if err != nil {
		return err
	}
	th.Color = color.Gray{Y: 96}
	th.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(th)
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
