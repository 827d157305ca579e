package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/catmark/catmark/evaluate"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/metrics"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/render"
)

func init() {
	register("eval", "measure a model on a cache split or a photo folder (NME, PCK, the seed's MSE)", runEval)
}

// evalPredictor opens what "catmark eval --model" names and says what it is: a folder is a
// detector (catmark.Load: coarse.safetensors and perhaps refine.safetensors), a file one
// checkpoint, measured as training validates it (a crop-stage one on true face crops).
func evalPredictor(path string, batch int, tune *detectorFlags) (evaluate.Predictor, string, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		d, err := tune.load(path)
		if err != nil {
			return nil, "", err
		}
		s, coarse := d.Settings(), d.Coarse()
		refine, twoStage := d.Refine()
		desc := "detector: whole-photo " + evalSpec(coarse)
		if twoStage {
			desc = fmt.Sprintf("two-stage detector: whole-photo %s, then face-crop %s (%d passes)", evalSpec(coarse), evalSpec(refine), max(s.Passes, 1))
		}
		if s.Flip {
			desc += ", averaged with the mirrored photo"
		}
		if twoStage && refine.Presence && s.Search > 0 {
			desc += fmt.Sprintf(", photo searched where the face presence is below %g", s.Search)
		}
		if twoStage && s.Zoom > 0 {
			desc += fmt.Sprintf(", last pass also on its crop scaled by 1±%g", s.Zoom)
		}
		if twoStage && refine.Presence && s.AnyAngle {
			desc += ", any angle"
			if s.Upright > 0 {
				desc += fmt.Sprintf(" (a turned face under presence %g gives way to the photo's upright)", s.Upright)
			}
		}
		return evaluate.PredictorFunc(d.Detect), desc + " on " + d.Backend(), nil
	}
	m, err := evaluate.Load(path, tune.backend)
	if err != nil {
		return nil, "", err
	}
	m.Batch = batch
	return m, m.Describe() + " on " + m.B.Name(), nil
}

func evalSpec(s model.Spec) string {
	return fmt.Sprintf("ResNet-%d (width %d, %d px)", s.Depth, s.Width, s.Size)
}

func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: catmark eval --model FILE --data CACHE|DIR [flags]

Predicts every photo of a prepared cache's split (default val) or of a folder of photos with .cat
annotations, and measures the predictions against the truth in the photos' original pixels: the
seed's MSE (normalised, clipped coordinates), NME (mean point error over the true eye distance),
failure rate (share of photos with NME > 0.10), PCK@0.05 and @0.1, and each point's error.
A crop-stage checkpoint on its own is given the true face crop of every photo; a detector folder
(coarse.safetensors and refine.safetensors, as catmark predict loads it) finds the faces itself.
Flags:`)
		fs.PrintDefaults()
	}
	model := fs.String("model", "", "a checkpoint (RUN/best.safetensors), or a detector folder (coarse.safetensors, refine.safetensors)")
	data := fs.String("data", "", "prepared cache folder, or folder or zip of photos with .cat files")
	split := fs.String("split", "", `for a cache: the split to measure, train, val or all (default val); a folder is measured whole`)
	asJSON := fs.Bool("json", false, "print the figures as one JSON object")
	out := fs.String("out", "", "folder for pictures: worst.png (the 12 worst photos by NME), random.png (12 random ones), eval.json, photos.csv (each photo's NME); with --composite, misses.png (the pictures where a face was missed or a false one reported) and each such picture as picture-N.png")
	batch := fs.Int("batch", 32, "photos per forward pass")
	seed := fs.Int64("seed", 1, "seed of the random draws: the photos in random.png, the composites' photos and scales, and the angles of --turn random")
	quiet := fs.Bool("quiet", false, "no progress bar")
	var turn turnFlag
	fs.Var(&turn, "turn", "turn every photo (and its truth) by this many degrees, counter-clockwise, before predicting: how the detector copes with tilted and upside-down heads; random: each photo by its own angle, uniform over [0, 360), drawn from --seed and the photo's name (the same photo gets the same angle in every run), each photo's angle in photos.csv and the JSON's worst photos")
	composite := fs.Int("composite", 0, "instead: place this many photos side by side (each scaled as --composite-scale says) and measure how many cats' faces a detector folder finds (recall, false faces per picture, NME of the found faces; with 2 or more, the recall of each picture's smallest face and of the others apart)")
	var scales scaleRange = [2]float64{0.5, 1}
	fs.Var(&scales, "composite-scale", "with --composite: LOW,HIGH, each photo of a composite is scaled by a factor drawn uniformly from LOW to HIGH (0 < LOW ≤ HIGH ≤ 1)")
	small := fs.Float64("composite-small", 0, "with --composite 2 or more: every picture holds a small face, the photo whose face is smallest shrunk further until its face's size is at most this share of the largest face's (0.25: a quarter or less; 0: off)")
	tune := addDetectorFlags(fs)
	oriented := addOrientationFlag(fs)
	if err := parseFlags(fs, args, "model", "data"); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *composite != 0 {
		if set["batch"] {
			return errors.New("--batch does not apply to --composite (DetectAll takes one picture at a time)")
		}
		if err := evaluate.CheckScales(scales[0], scales[1], *small); err != nil {
			return fmt.Errorf("--composite-scale %s, --composite-small %g: %w", scales.String(), *small, err)
		}
		return evalComposites(compositeRun{
			path: *model, data: *data, split: *split, k: *composite, turn: turn, seed: *seed,
			scales: scales, small: *small, out: *out, asJSON: *asJSON, oriented: *oriented, tune: tune,
		})
	}
	for _, name := range []string{"composite-scale", "composite-small"} {
		if set[name] {
			return fmt.Errorf("--%s applies only with --composite", name)
		}
	}
	if *batch < 1 {
		return fmt.Errorf("--batch %d must be positive", *batch)
	}
	pred, desc, err := evalPredictor(*model, *batch, tune)
	if err != nil {
		return err
	}
	d, err := evaluate.OpenData(*data, *split)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Orient(*oriented)
	for _, p := range d.Problems {
		fmt.Fprintf(os.Stderr, "catmark eval: skipping %s\n", p)
	}

	opt := evaluate.Options{Batch: *batch}
	var bar *progressbar.ProgressBar
	if !*quiet {
		bar = progressbar.NewOptions(d.Len(), progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("predicting"), progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
		opt.Progress = func(done, _ int) { bar.Set(done) }
	}
	photos := turn.set(d, *seed)
	start := time.Now()
	res, err := evaluate.Run(pred, photos, opt)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	res.Model, res.Data, res.Split = *model, *data, d.Split
	if turn.random {
		res.TurnedRandom, res.TurnSeed = true, uint64(*seed)
	} else {
		res.Turned = turn.degrees
	}
	for _, b := range res.BadPhotos {
		fmt.Fprintf(os.Stderr, "catmark eval: skipped %s\n", b)
	}
	if res.N == 0 {
		return fmt.Errorf("no photo of %s could be measured (%d unreadable, %d without a measurable eye distance)", *data, len(res.BadPhotos), res.Skipped)
	}

	// With --json, stdout holds the JSON object alone; other messages go to stderr.
	msg := io.Writer(os.Stdout)
	if *asJSON {
		msg = os.Stderr
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printEval(os.Stdout, res, desc, d, elapsed)
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		files, err := evaluate.WritePictures(res, photos, *out, evaluate.PictureOptions{Seed: *seed})
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		jsonPath := filepath.Join(*out, "eval.json")
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
		csvPath := filepath.Join(*out, "photos.csv")
		if err := writePhotoNMEs(csvPath, res, turn.random || turn.degrees != 0); err != nil {
			return err
		}
		fmt.Fprintf(msg, "wrote %s, %s (truth green, prediction magenta), %s and %s\n", files[0], files[1], jsonPath, csvPath)
	}
	return nil
}

// writePhotoNMEs writes path as CSV: a header (photo,nme, and turn when turned is set), then
// every measured photo's name and NME in the set's order, and the angle it was turned by in
// degrees counter-clockwise; the NME is empty for a photo whose true eyes coincide.
func writePhotoNMEs(path string, res *evaluate.Result, turned bool) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	head := []string{"photo", "nme"}
	if turned {
		head = append(head, "turn")
	}
	w.Write(head)
	for _, p := range res.Photos {
		nme := ""
		if !math.IsNaN(p.NME) {
			nme = strconv.FormatFloat(p.NME, 'f', 5, 64)
		}
		row := []string{p.Name, nme}
		if turned {
			row = append(row, strconv.FormatFloat(p.Turn, 'f', 3, 64))
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// printEval writes the readable report.
func printEval(w io.Writer, res *evaluate.Result, desc string, d *evaluate.Data, elapsed time.Duration) {
	fmt.Fprintf(w, "model  %s\n       %s\n", res.Model, desc)
	what := d.Kind
	if d.Kind == "cache" {
		what += ", " + d.Split + " split"
	}
	if res.Turned != 0 {
		what += fmt.Sprintf(", every photo turned %g° counter-clockwise", res.Turned)
	}
	if res.TurnedRandom {
		what += fmt.Sprintf(", each photo turned by its own random angle (seed %d)", res.TurnSeed)
	}
	fmt.Fprintf(w, "data   %s (%s)\n", res.Data, what)
	fmt.Fprintf(w, "       %d photos measured in %s", res.N, elapsed.Round(time.Millisecond))
	if res.Skipped > 0 {
		fmt.Fprintf(w, ", %d left out (true eyes coincide)", res.Skipped)
	}
	if n := len(res.BadPhotos) + len(d.Problems); n > 0 {
		fmt.Fprintf(w, ", %d unreadable", n)
	}
	fmt.Fprintln(w)
	if res.TrueFaceCrops {
		fmt.Fprintln(w, "       given true face crops: a crop-stage model sees the box around the true points,\n       so these are not the figures of a detector that finds the face itself")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "MSE (the seed's metric)     %.5f\n", res.MSE)
	fmt.Fprintf(w, "NME                         %.4f\n", res.NME)
	fmt.Fprintf(w, "NME (median)                %.4f\n", res.MedianNME)
	fmt.Fprintf(w, "failure rate (NME > %.2f)   %.1f %%\n", metrics.FailureThreshold, 100*res.FailureRate)
	fmt.Fprintf(w, "PCK@0.05                    %.1f %%\n", 100*res.PCK005)
	fmt.Fprintf(w, "PCK@0.1                     %.1f %%\n", 100*res.PCK01)
	fmt.Fprintf(w, "gross misses (NME > %g)      %d\n", evaluate.GrossMiss, res.GrossMisses)
	fmt.Fprintln(w, "\nper point: mean error / true eye distance")
	for i, v := range res.PerPoint {
		fmt.Fprintf(w, "  %d %-22s %.4f\n", i+1, landmark.Names[i], v)
	}
}

// evalComposites measures a detector folder's DetectAll on composites of k photos of data.
// With out set, it draws the pictures on which a face was missed or a false face reported in
// out/misses.png, and saves each such picture undrawn as out/picture-N.png (to run catmark
// predict on).
func evalComposites(r compositeRun) error {
	path, data, split, k, seed, out, asJSON, tune := r.path, r.data, r.split, r.k, r.seed, r.out, r.asJSON, r.tune
	if k < 1 || k > 8 {
		return fmt.Errorf("--composite %d: want 1 to 8 photos a picture", k)
	}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return fmt.Errorf("--composite measures a detector folder (coarse.safetensors, refine.safetensors); %s is not one", path)
	}
	det, err := tune.load(path)
	if err != nil {
		return err
	}
	d, err := evaluate.OpenData(data, split)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Orient(r.oriented)
	set := r.turn.set(d, seed)
	start := time.Now()
	opt := evaluate.FacesOptions{PerPhoto: k, MinScale: r.scales[0], MaxScale: r.scales[1], SmallRatio: r.small, Seed: uint64(seed)}
	var tiles []image.Image
	var captions []string
	var saveErr error
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		opt.Miss = func(c int, img *imgproc.RGB, truths, found []landmark.Points, ok []bool) {
			if err := render.SavePNG(filepath.Join(out, fmt.Sprintf("picture-%d.png", c)), img.Image()); err != nil && saveErr == nil {
				saveErr = err
			}
			tiles = append(tiles, drawComposite(img, truths, found))
			captions = append(captions, fmt.Sprintf("picture %d: %d of %d found, %d detections", c, countTrue(ok), len(truths), len(found)))
		}
	}
	rep, err := evaluate.MeasureFaces(det.DetectAll, set, opt)
	if err != nil {
		return err
	}
	if out != "" {
		if saveErr != nil {
			return saveErr
		}
		note := "no picture with a face missed or a false one: nothing written to " + out
		if len(tiles) > 0 {
			file := filepath.Join(out, "misses.png")
			if err := render.SavePNG(file, render.Grid(tiles, 2, captions)); err != nil {
				return err
			}
			note = fmt.Sprintf("wrote %s: %d pictures with a face missed or a false one (truth green, detections magenta), each also as picture-N.png", file, len(tiles))
		}
		defer fmt.Fprintln(os.Stderr, note) // after the figures
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	how := fmt.Sprintf("each scaled by %g to %g", r.scales[0], r.scales[1])
	if r.small > 0 && k > 1 {
		how += fmt.Sprintf(", the smallest face at most %g of the largest's size", r.small)
	}
	fmt.Printf("model  %s (min face presence %g)\ndata   %s: %d pictures of %d photos side by side, %s, in %s\n\n", path, det.Settings().MinFace, data, rep.Photos, k, how, time.Since(start).Round(time.Millisecond))
	fmt.Printf("faces found (NME < %g)   %d of %d (recall %.1f %%)\n", evaluate.FaceMatch, rep.Found, rep.Faces, 100*rep.Recall)
	if rep.OthersFaces > 0 {
		fmt.Printf("  smallest of a picture  %d of %d (recall %.1f %%; at most %.2f of the largest's size)\n", rep.SmallestFound, rep.Photos, 100*rep.SmallestRecall, rep.SizeRatio)
		fmt.Printf("  the others             %d of %d (recall %.1f %%)\n", rep.OthersFound, rep.OthersFaces, 100*rep.OthersRecall)
	}
	fmt.Printf("false faces              %d (%.2f a picture)\n", rep.FalseFaces, rep.FalsePer)
	fmt.Printf("NME of the found faces   %.4f\n", rep.NME)
	return nil
}

// compositeRun is what catmark eval --composite measures, and how.
type compositeRun struct {
	path, data, split string
	k                 int // photos a picture
	turn              turnFlag
	seed              int64
	scales            scaleRange
	small             float64 // FacesOptions.SmallRatio
	out               string
	asJSON, oriented  bool
	tune              *detectorFlags
}

// turnFlag is --turn: an angle in degrees, or "random" (each photo its own angle).
type turnFlag struct {
	degrees float64
	random  bool
}

func (t *turnFlag) String() string {
	if t == nil {
		return "0"
	}
	if t.random {
		return "random"
	}
	return strconv.FormatFloat(t.degrees, 'g', -1, 64)
}

func (t *turnFlag) Set(v string) error {
	if v == "random" {
		*t = turnFlag{random: true}
		return nil
	}
	d, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(d) || math.IsInf(d, 0) {
		return fmt.Errorf("want an angle in degrees or random")
	}
	*t = turnFlag{degrees: d}
	return nil
}

// set returns the photos of s turned as the flag says (s itself when not turned); seed draws
// the random angles.
func (t turnFlag) set(s evaluate.Set, seed int64) evaluate.Set {
	switch {
	case t.random:
		return evaluate.RandomTurned{Set: s, Seed: uint64(seed)}
	case t.degrees != 0:
		return evaluate.Turned{Set: s, Degrees: t.degrees}
	}
	return s
}

// scaleRange is --composite-scale: LOW,HIGH.
type scaleRange [2]float64

func (r *scaleRange) String() string {
	if r == nil {
		return ""
	}
	return strconv.FormatFloat(r[0], 'g', -1, 64) + "," + strconv.FormatFloat(r[1], 'g', -1, 64)
}

func (r *scaleRange) Set(v string) error {
	lo, hi, ok := strings.Cut(v, ",")
	if !ok {
		return fmt.Errorf("want LOW,HIGH, such as 0.2,1")
	}
	a, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	b, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("want two numbers LOW,HIGH, such as 0.2,1")
	}
	if err := evaluate.CheckScales(a, b, 0); err != nil {
		return err
	}
	*r = scaleRange{a, b}
	return nil
}

// drawComposite draws every true face (green) and every detection (magenta) on a composite,
// at most 640 pixels wide.
func drawComposite(img *imgproc.RGB, truths, found []landmark.Points) image.Image {
	k := min(1, 640/float64(img.W))
	w, h := max(1, int(float64(img.W)*k+0.5)), max(1, int(float64(img.H)*k+0.5))
	small := img.Resize(w, h)
	kx, ky := float64(w)/float64(img.W), float64(h)/float64(img.H)
	pic := small.Image()
	scaled := func(p landmark.Points) *landmark.Points {
		for i := range p {
			p[i].X *= kx
			p[i].Y *= ky
		}
		return &p
	}
	for _, p := range truths {
		pic = render.Draw(pic, scaled(p), nil, render.Options{NoNumbers: true})
	}
	for _, p := range found {
		pic = render.Draw(pic, nil, scaled(p), render.Options{NoNumbers: true})
	}
	return pic
}

func countTrue(v []bool) int {
	n := 0
	for _, b := range v {
		if b {
			n++
		}
	}
	return n
}
