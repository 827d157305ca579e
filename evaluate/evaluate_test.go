package evaluate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/internal/testcache"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loader"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/train"
	"github.com/catmark/catmark/weights"
)

// makeCache prepares the photos of dir as a cache of size×size squares, 70 % in train.
func makeCache(t testing.TB, dir string, size int) *cache.Cache {
	t.Helper()
	c, err := cache.Open(testcache.Prepare(t, dir, cache.Options{Size: size, Seed: 3}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// oracle predicts the truth of the set's photos, in the order Run asks for them, moved right by
// shift times the photo's true eye distance, in the frame of the image it is given.
type oracle struct {
	set    Set
	next   int
	shift  func(k int) float64 // of the photo's index in the set
	square bool
}

func (o *oracle) Squashes() bool { return o.square }

func (o *oracle) PredictBatch(imgs []*imgproc.RGB) ([]landmark.Points, error) {
	out := make([]landmark.Points, len(imgs))
	for k, img := range imgs {
		ph, err := o.set.Photo(o.next)
		if err != nil {
			return nil, err
		}
		d := ph.Truth.EyeDistance() * o.shift(o.next)
		p := ph.Truth
		for i := range p {
			p[i].X = (p[i].X + d) * float64(img.W) / float64(ph.W)
			p[i].Y = p[i].Y * float64(img.H) / float64(ph.H)
		}
		out[k] = p
		o.next++
	}
	return out, nil
}

func TestOracle(t *testing.T) {
	dir := fixture.Photos(t, 8)
	c := makeCache(t, dir, 40)
	folder, err := OpenData(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	all, err := NewCacheSet(c, "all")
	if err != nil {
		t.Fatal(err)
	}
	sets := []struct {
		name string
		set  Set
	}{{"folder", folder}, {"cache", all}}
	for _, s := range sets {
		for _, square := range []bool{false, true} {
			// Perfect predictions.
			res, err := Run(&oracle{set: s.set, shift: func(int) float64 { return 0 }, square: square}, s.set, Options{Batch: 3})
			if err != nil {
				t.Fatal(err)
			}
			if res.N != 8 || res.MSE > 1e-20 || res.NME > 1e-12 || res.FailureRate != 0 || res.PCK005 != 1 || res.PCK01 != 1 {
				t.Errorf("%s, square %v: perfect predictions score %v", s.name, square, res.Report)
			}
			for i, v := range res.PerPoint {
				if v > 1e-12 {
					t.Errorf("%s: perfect predictions: %s error %g", s.name, landmark.Names[i], v)
				}
			}
			if len(res.Photos) != 8 || res.TrueFaceCrops {
				t.Errorf("%s: %d photo results, true face crops %v", s.name, len(res.Photos), res.TrueFaceCrops)
			}
			// Every point 0.2 eye distances off: NME 0.2, all failures, no point within 0.1.
			res, err = Run(&oracle{set: s.set, shift: func(int) float64 { return 0.2 }, square: square}, s.set, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.NME-0.2) > 1e-9 || res.FailureRate != 1 || res.PCK01 != 0 || res.PCK005 != 0 {
				t.Errorf("%s: predictions 0.2 eye distances off score %v", s.name, res.Report)
			}
		}
	}
}

func TestWorstAndPictures(t *testing.T) {
	dir := fixture.Photos(t, 6)
	c := makeCache(t, dir, 40)
	set, err := NewCacheSet(c, "all")
	if err != nil {
		t.Fatal(err)
	}
	// Photo k is k/100 eye distances off: the worst are the last ones.
	res, err := Run(&oracle{set: set, shift: func(k int) float64 { return float64(k) / 100 }}, set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	worst := res.Worst(3)
	for k, want := range []int{5, 4, 3} {
		if worst[k].Index != want || math.Abs(worst[k].NME-float64(want)/100) > 1e-9 {
			t.Errorf("worst[%d] is photo %d with NME %g, want photo %d with NME %g", k, worst[k].Index, worst[k].NME, want, float64(want)/100)
		}
	}
	out := t.TempDir()
	files, err := WritePictures(res, set, out, PictureOptions{N: 4, Cols: 2, Tile: 64})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || filepath.Base(files[0]) != WorstFile || filepath.Base(files[1]) != RandomFile {
		t.Fatalf("wrote %q", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Two columns of 64-pixel tiles, 4 pixels apart and around; two rows with captions.
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != 4+2*(64+4) || h <= 4+2*(64+4) {
			t.Errorf("%s is %d×%d, want %d wide and two rows of 64-pixel tiles with captions", f, w, h, 4+2*(64+4))
		}
	}
}

// TestInputMatchesLoader checks that Input prepares a cached photo as the loader's validation
// batches do.
func TestInputMatchesLoader(t *testing.T) {
	c := makeCache(t, fixture.Photos(t, 3), 48)
	for _, norm := range []string{"imagenet", "unit"} {
		spec := model.Spec{Size: 32, Norm: norm}
		nm, err := imgproc.NormNamed(norm)
		if err != nil {
			t.Fatal(err)
		}
		l := loader.New(c, []int{0, 1, 2}, loader.Config{Batch: 1, Norm: nm, OutSize: 32})
		x, y := make([]float32, 3*32*32), make([]float32, landmark.Dim)
		for i := range 3 {
			l.Sample(0, i, x, y)
			got := spec.AppendInput(nil, &imgproc.RGB{W: 48, H: 48, Pix: c.Pixels(i)})
			if len(got) != len(x) {
				t.Fatalf("Input has %d values, want %d", len(got), len(x))
			}
			for j := range x {
				if got[j] != x[j] {
					t.Fatalf("%s, photo %d: Input[%d] = %v, the loader has %v", norm, i, j, got[j], x[j])
				}
			}
		}
	}
}

// TestFolderAndCacheAgree evaluates a model with random weights on the same photos from a folder
// and from a cache of the model's input size: the inputs, so the figures, are the same.
func TestFolderAndCacheAgree(t *testing.T) {
	dir := fixture.Photos(t, 10)
	c := makeCache(t, dir, 32)
	tm, err := model.New(ref.New(), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Whole, Norm: "imagenet"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Model: tm, Batch: 4}
	folder, err := OpenData(dir, "all")
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	fromFolder, err := Run(m, folder, Options{Batch: 6})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := NewCacheSet(c, "all")
	fromCache, err := Run(m, set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fromFolder.N != 10 || fromCache.N != 10 {
		t.Fatalf("measured %d photos from the folder and %d from the cache, want 10", fromFolder.N, fromCache.N)
	}
	var spread float64
	for k := range fromFolder.Photos {
		a, b := fromFolder.Photos[k], fromCache.Photos[k]
		if a.Name != b.Name {
			t.Fatalf("photo %d is %s in the folder and %s in the cache", k, a.Name, b.Name)
		}
		for i := range a.Pred {
			if d := math.Hypot(a.Pred[i].X-b.Pred[i].X, a.Pred[i].Y-b.Pred[i].Y); d > 1e-3 {
				t.Errorf("%s point %d: %v from the folder, %v from the cache", a.Name, i, a.Pred[i], b.Pred[i])
			}
			n := a.Pred.NormalizeUnclipped(a.Width, a.Height)[i]
			p0 := fromFolder.Photos[0]
			n0 := p0.Pred.NormalizeUnclipped(p0.Width, p0.Height)[i]
			spread = math.Max(spread, math.Hypot(n.X-n0.X, n.Y-n0.Y))
		}
	}
	if spread < 1e-4 {
		t.Errorf("the model predicts the same normalised points for every photo (spread %g): the test cannot tell inputs apart", spread)
	}
	for _, f := range []struct {
		name string
		a, b float64
	}{{"MSE", fromFolder.MSE, fromCache.MSE}, {"NME", fromFolder.NME, fromCache.NME}, {"PCK@0.1", fromFolder.PCK01, fromCache.PCK01}, {"failure rate", fromFolder.FailureRate, fromCache.FailureRate}} {
		if math.Abs(f.a-f.b) > 1e-6*math.Max(1, math.Abs(f.a)) {
			t.Errorf("%s: %g from the folder, %g from the cache", f.name, f.a, f.b)
		}
	}
}

// TestMatchesTrainingValidation trains tiny whole-stage and crop-stage models for one epoch and
// checks that evaluating their best checkpoints on the validation split reproduces the figures
// the training loop logged.
func TestMatchesTrainingValidation(t *testing.T) {
	c := makeCache(t, fixture.Photos(t, 24), 40)
	for _, stage := range []model.Stage{model.Whole, model.Crop} {
		cfg := train.Defaults()
		cfg.Data, cfg.Out = c.Dir(), filepath.Join(t.TempDir(), "run")
		cfg.Stage, cfg.Width, cfg.Size, cfg.Batch, cfg.Epochs, cfg.Budget = stage, 4, 32, 8, 1, 0
		cfg.Backend, cfg.Quiet = "ref", true
		if _, err := train.Run(t.Context(), cfg, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		log, err := train.ReadLog(cfg.Out)
		if err != nil || len(log) != 1 {
			t.Fatalf("%s: log %v, %v", stage, log, err)
		}
		m, err := Load(filepath.Join(cfg.Out, "best.safetensors"), "ref")
		if err != nil {
			t.Fatal(err)
		}
		data, err := OpenData(c.Dir(), "")
		if err != nil {
			t.Fatal(err)
		}
		if data.Kind != "cache" || data.Split != "val" {
			t.Errorf("opened %s as a %s, split %q; want a cache, split val", c.Dir(), data.Kind, data.Split)
		}
		res, err := Run(m, data, Options{Batch: 5})
		if err != nil {
			t.Fatal(err)
		}
		val, _ := c.Split("val")
		if res.N != len(val) {
			t.Errorf("%s: measured %d photos, the val split has %d", stage, res.N, len(val))
		}
		if res.TrueFaceCrops != (stage == model.Crop) {
			t.Errorf("%s: TrueFaceCrops = %v", stage, res.TrueFaceCrops)
		}
		e := log[0]
		for _, f := range []struct {
			name      string
			got, want float64
		}{{"MSE", res.MSE, e.ValMSE}, {"NME", res.NME, e.ValNME}, {"PCK@0.1", res.PCK01, e.ValPCK01}} {
			if math.Abs(f.got-f.want) > 1e-5*math.Abs(f.want) {
				t.Errorf("%s stage: %s %g, training logged %g", stage, f.name, f.got, f.want)
			}
		}
		if stage == model.Crop {
			if _, err := m.PredictBatch([]*imgproc.RGB{imgproc.New(8, 8)}); err == nil || !strings.Contains(err.Error(), "crop-stage") {
				t.Errorf("a crop-stage model predicted whole photos (error %v)", err)
			}
		}
	}
}

func TestResultJSON(t *testing.T) {
	res := &Result{Model: "m.safetensors", Data: "cache", Split: "val"}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mse", "nme", "failure_rate", "pck_0_05", "pck_0_1", "per_point", "n", "model", "data", "split"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s has no key %q", b, k)
		}
	}
	if pp, ok := m["per_point"].([]any); !ok || len(pp) != landmark.N {
		t.Errorf("per_point is %v, want %d entries", m["per_point"], landmark.N)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A safetensors file without catmark's model_spec metadata.
	b := ref.New()
	tm, err := model.New(b, model.Spec{Depth: 18, Width: 2, Size: 32, Stage: model.Whole, Norm: "unit"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.safetensors")
	if err := weights.Save(bare, b, tm.Params(), nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.safetensors"), text, bare, dir} {
		_, err := Load(path, "ref")
		if err == nil {
			t.Errorf("Load(%s) succeeded", path)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s): error %q does not name the file", path, err)
		}
	}
}

func TestOpenDataErrors(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []struct{ path, split string }{
		{filepath.Join(empty, "nothing"), ""},
		{empty, ""},
		{fixture.Photos(t, 2), "val"},
	} {
		if d, err := OpenData(c.path, c.split); err == nil {
			d.Close()
			t.Errorf("OpenData(%s, %q) succeeded", c.path, c.split)
		} else if !strings.Contains(err.Error(), c.path) {
			t.Errorf("OpenData(%s, %q): error %q does not name the data", c.path, c.split, err)
		}
	}
}

// The median NME, the gross misses and the worst photos follow from the photos' NME.
func TestResultSummary(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shifts []float64 // photo k's NME
		median float64
		gross  int
		worst  []int // photos, worst first
	}{
		{"odd count", []float64{0.03, 0.01, 0.02}, 0.02, 0, []int{0, 2, 1}},
		{"even count", []float64{0.04, 0.01, 0.02, 0.08}, 0.03, 0, []int{3, 0, 2, 1}},
		{"gross misses", []float64{1.5, 0.05, 0.99, 2}, 1.245, 2, []int{3, 0, 2, 1}},
		{"more than WorstCount", make([]float64, 20), 0, 0, make([]int, WorstCount)},
	} {
		var set memSet
		for k := range tc.shifts {
			p := facePhoto(60, 40, uint8(k))
			p.Name = fmt.Sprintf("photo-%d.jpg", k)
			set = append(set, p)
		}
		res, err := Run(&oracle{set: set, shift: func(k int) float64 { return tc.shifts[k] }}, set, Options{Batch: 3})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(res.MedianNME-tc.median) > 1e-9 || res.GrossMisses != tc.gross {
			t.Errorf("%s: median %g, %d gross misses; want %g and %d", tc.name, res.MedianNME, res.GrossMisses, tc.median, tc.gross)
		}
		if len(res.WorstPhotos) != len(tc.worst) {
			t.Fatalf("%s: %d worst photos, want %d", tc.name, len(res.WorstPhotos), len(tc.worst))
		}
		for i, k := range tc.worst {
			w := res.WorstPhotos[i]
			if tc.shifts[k] != 0 && (w.Name != set[k].Name || math.Abs(w.NME-tc.shifts[k]) > 1e-9) {
				t.Errorf("%s: worst[%d] = %+v, want %s with NME %g", tc.name, i, w, set[k].Name, tc.shifts[k])
			}
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"nme_median", "gross_misses", "worst"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: JSON has no %q: %s", tc.name, k, b)
			}
		}
	}
}
