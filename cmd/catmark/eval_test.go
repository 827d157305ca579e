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
