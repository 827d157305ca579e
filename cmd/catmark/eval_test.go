package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/internal/testcache"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/train"
)

// evalTestCache prepares the photos of dir as a 40-pixel cache, split 7:3.
func evalTestCache(t *testing.T, dir string) string {
	t.Helper()
	return testcache.Prepare(t, dir, cache.Options{Size: 40, Seed: 2})
}

// evalTestRun trains a tiny model of the stage for the given epochs on the reference backend and
// returns its run folder.
func evalTestRun(t *testing.T, data string, stage model.Stage, epochs int) string {
	t.Helper()
	cfg := train.Defaults()
	cfg.Data, cfg.Out = data, filepath.Join(t.TempDir(), "run")
	cfg.Stage, cfg.Width, cfg.Size, cfg.Batch, cfg.Epochs, cfg.Budget = stage, 4, 32, 8, epochs, 0
	cfg.Backend, cfg.Quiet = "ref", true
	if _, err := train.Run(t.Context(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	return cfg.Out
}

var stdoutMu sync.Mutex

// evalCapture runs f with os.Stdout going to a buffer and returns what it wrote.
func evalCapture(t *testing.T, f func() error) (string, error) {
	t.Helper()
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, r); close(done) }()
	ferr := f()
	os.Stdout = saved
	w.Close()
	<-done
	r.Close()
	return buf.String(), ferr
}

func TestEvalCommand(t *testing.T) {
	photos := fixture.Photos(t, 16)
	data := evalTestCache(t, photos)
	run := evalTestRun(t, data, model.Whole, 1)
	ckpt := filepath.Join(run, "best.safetensors")
	log, err := train.ReadLog(run)
	if err != nil || len(log) != 1 {
		t.Fatalf("log %v, %v", log, err)
	}

	// JSON on the cache's val split: the figures training logged, and every key.
	out, err := evalCapture(t, func() error {
		return runEval([]string{"--model", ckpt, "--data", data, "--json", "--quiet", "--backend", "ref"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	for _, k := range []string{"mse", "nme", "failure_rate", "pck_0_05", "pck_0_1", "per_point", "n", "model", "data", "split"} {
		if _, ok := m[k]; !ok {
			t.Errorf("--json output has no key %q: %s", k, out)
		}
	}
	if nme, _ := m["nme"].(float64); nme == 0 || abs(nme-log[0].ValNME) > 1e-5*log[0].ValNME {
		t.Errorf("eval NME %v, training logged %v", m["nme"], log[0].ValNME)
	}
	if m["split"] != "val" || m["model"] != ckpt {
		t.Errorf("split %v, model %v", m["split"], m["model"])
	}

	// Each photo turned by its own seeded angle: the same angles in every run, recorded in the
	// JSON and in photos.csv; another seed gives other angles.
	turnedRun := func(seed string) (map[string]any, [][]string) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "turned")
		out, err := evalCapture(t, func() error {
			return runEval([]string{"--model", ckpt, "--data", photos, "--json", "--quiet", "--backend", "ref", "--turn", "random", "--seed", seed, "--out", dir})
		})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("--turn random --json printed %q: %v", out, err)
		}
		rows, err := readCSV(filepath.Join(dir, "photos.csv"))
		if err != nil {
			t.Fatal(err)
		}
		return m, rows
	}
	m1, rows1 := turnedRun("3")
	m2, rows2 := turnedRun("3")
	_, rows3 := turnedRun("4")
	if m1["nme"] != m2["nme"] {
		t.Errorf("--turn random --seed 3 twice: NME %v, then %v", m1["nme"], m2["nme"])
	}
	if m1["turned_random"] != true || m1["turn_seed"] != 3.0 {
		t.Errorf("--turn random --seed 3: JSON turned_random %v, turn_seed %v", m1["turned_random"], m1["turn_seed"])
	}
	if len(rows1) != 17 || strings.Join(rows1[0], ",") != "photo,nme,turn" {
		t.Fatalf("--turn random photos.csv: %d rows, header %q; want 16 photos under photo,nme,turn", len(rows1), rows1[0])
	}
	differ := 0
	for i, r := range rows1[1:] {
		a, err := strconv.ParseFloat(r[2], 64)
		if err != nil || a < 0 || a >= 360 {
			t.Errorf("photos.csv row %q: want an angle in [0, 360)", r)
		}
		if strings.Join(r, ",") != strings.Join(rows2[i+1], ",") {
			t.Errorf("the same seed twice: row %q, then %q", r, rows2[i+1])
		}
		if r[2] != rows3[i+1][2] {
			differ++
		}
	}
	if differ < 12 {
		t.Errorf("seeds 3 and 4 turn only %d of 16 photos differently", differ)
	}
	for _, k := range []string{"nme_median", "gross_misses", "worst"} {
		if _, ok := m1[k]; !ok {
			t.Errorf("--json has no %q", k)
		}
	}
	if worst, _ := m1["worst"].([]any); len(worst) == 0 {
		t.Errorf("--json worst: %v, want the worst photos", m1["worst"])
	} else if w, _ := worst[0].(map[string]any); w["name"] == "" || w["nme"] == nil {
		t.Errorf("--json worst[0] = %v, want a name and an NME", worst[0])
	}

	// The readable table on the photo folder, with pictures.
	pics := filepath.Join(t.TempDir(), "pics")
	out, err = evalCapture(t, func() error {
		return runEval([]string{"--model", ckpt, "--data", photos, "--out", pics, "--quiet", "--backend", "ref"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"photo folder", "16 photos measured", "NME", "PCK@0.1", "right_ear_outer_base", "worst.png"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"worst.png", "random.png"} {
		b, err := os.ReadFile(filepath.Join(pics, f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(pics, "eval.json")); err != nil || !json.Valid(b) {
		t.Errorf("eval.json: %v", err)
	}
	if rows, err := readCSV(filepath.Join(pics, "photos.csv")); err != nil {
		t.Errorf("photos.csv: %v", err)
	} else if len(rows) != 17 || rows[0][0] != "photo" || rows[0][1] != "nme" {
		t.Errorf("photos.csv has %d rows (want a header and 16 photos), header %q", len(rows), rows[0])
	} else {
		for _, r := range rows[1:] {
			if v, err := strconv.ParseFloat(r[1], 64); err != nil || v < 0 || r[0] == "" {
				t.Errorf("photos.csv row %q: want a photo name and an NME ≥ 0 (%v)", r, err)
			}
		}
	}

	// A crop-stage checkpoint says it was given the true face crops; a detector folder with
	// both models runs the two stages.
	crop := filepath.Join(evalTestRun(t, data, model.Crop, 1), "best.safetensors")
	out, err = evalCapture(t, func() error {
		return runEval([]string{"--model", crop, "--data", data, "--quiet", "--backend", "ref"})
	})
	if err != nil || !strings.Contains(out, "given true face crops") {
		t.Errorf("crop-stage eval: %v\n%s", err, out)
	}
	det := t.TempDir()
	for src, dst := range map[string]string{ckpt: "coarse.safetensors", crop: "refine.safetensors"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(det, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err = evalCapture(t, func() error {
		return runEval([]string{"--model", det, "--data", data, "--split", "all", "--quiet"})
	})
	if err != nil || !strings.Contains(out, "two-stage detector") || !strings.Contains(out, "16 photos measured") || strings.Contains(out, "given true face crops") {
		t.Errorf("detector eval: %v\n%s", err, out)
	}

	// Composites of two: a refine model without a presence output finds one face a picture, so
	// every picture misses one and is drawn in misses.png and saved as picture-N.png.
	pics = filepath.Join(t.TempDir(), "composites")
	out, err = evalCapture(t, func() error {
		return runEval([]string{"--model", det, "--data", data, "--split", "all", "--composite", "2", "--out", pics, "--json"})
	})
	var rep struct{ Photos, Faces, Found int }
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Photos != 8 || rep.Faces != 16 || rep.Found > 8 {
		t.Fatalf("composite eval: %v, %+v\n%s", err, rep, out)
	}
	// Composites of three with a small face: its recall apart, and its size within the ratio.
	out, err = evalCapture(t, func() error {
		return runEval([]string{"--model", det, "--data", data, "--split", "all", "--composite", "3", "--composite-scale", "0.3,0.9", "--composite-small", "0.25", "--json"})
	})
	var small struct {
		Photos      int
		OthersFaces int      `json:"others_faces"`
		SizeRatio   float64  `json:"size_ratio_max"`
		Smallest    *float64 `json:"smallest_recall"`
	}
	if err != nil || json.Unmarshal([]byte(out), &small) != nil || small.Photos != 5 || small.OthersFaces != 10 || small.Smallest == nil || small.SizeRatio <= 0 || small.SizeRatio > 0.25 {
		t.Fatalf("composite eval with a small face: %v, %+v\n%s", err, small, out)
	}
	saved, _ := filepath.Glob(filepath.Join(pics, "picture-*.png"))
	if len(saved) != rep.Photos {
		t.Errorf("composite eval saved %d pictures, want all %d (each misses a face)", len(saved), rep.Photos)
	}
	if b, err := os.ReadFile(filepath.Join(pics, "misses.png")); err != nil {
		t.Error(err)
	} else if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("misses.png: %v", err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.safetensors")
	if err := os.WriteFile(text, []byte("not a model at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.safetensors")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", missing, "--data", dir}, missing},
		{[]string{"--model", text, "--data", dir}, text},
		{[]string{"--model", text}, "--data"},
		{[]string{"--model", text, "--data", dir, "--batch", "0"}, "--batch"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--batch", "8"}, "--batch"},
		{[]string{"--model", text, "--data", dir, "--turn", "sideways"}, "flag -turn: want an angle in degrees or random"},
		{[]string{"--model", text, "--data", dir, "--turn", "NaN"}, "want an angle"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--composite-scale", "0,1"}, "0 < low ≤ high ≤ 1"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--composite-scale", "0.5"}, "LOW,HIGH"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--composite-scale", "0.9,0.2"}, "scales 0.9 to 0.2"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--composite-scale", "0.2,1.5"}, "flag -composite-scale"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--composite-scale", "a,b"}, "two numbers"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--composite-small", "1"}, "small-face ratio 1"},
		{[]string{"--model", dir, "--data", dir, "--composite", "2", "--composite-small", "-0.2"}, "--composite-small"},
		{[]string{"--model", text, "--data", dir, "--composite-small", "0.25"}, "--composite-small applies only with --composite"},
		{[]string{"--model", text, "--data", dir, "--composite-scale", "0.2,1"}, "--composite-scale applies only with --composite"},
	} {
		_, err := evalCapture(t, func() error { return runEval(c.args) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval %q: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}

// readCSV reads a whole CSV file.
func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}
