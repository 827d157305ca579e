package study

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catmark/catmark/cache"
	_ "github.com/catmark/catmark/engine/backends"
	"github.com/catmark/catmark/internal/testcache"
	"github.com/catmark/catmark/train"
)

// tinyCache prepares n photos of the committed fixture, spread over it, as a 48-pixel cache split
// 7:3 by ID prefix.
func tinyCache(t testing.TB, n int) string {
	t.Helper()
	return testcache.Fixture(t, n, cache.Options{Size: 48, GroupByPrefix: true, Seed: 1})
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func TestStudyRunAndResume(t *testing.T) {
	data := tinyCache(t, 40)
	base := Base(data, Scale{Depth: 18, Width: 4, Size: 32, Batch: 8, Epochs: 1})
	base.Backend = "ref"
	dir := filepath.Join(t.TempDir(), "study")
	opt := Options{Dir: dir, Base: base, Cases: []int{2, 1}, ChartWidth: 640, ChartHeight: 300}

	// Interrupted before the first step: the case folders exist, nothing is trained.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var log bytes.Buffer
	opt.Log = &log
	if _, err := Run(cancelled, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted study returned %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "case1", "config.json")); err != nil {
		t.Fatalf("the interrupted study left no run in case1: %v", err)
	}

	// Resumed: case 1 continues its run, case 2 starts.
	log.Reset()
	rep, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "case 1 (mse): resuming after epoch 0 of 1") || !strings.Contains(log.String(), "case 2 (mse): training 2 epochs") {
		t.Errorf("log:\n%s", log.String())
	}
	if len(rep.Rows) != 2 || rep.Rows[0].Case != 1 || rep.Rows[1].Case != 2 {
		t.Fatalf("report rows %+v, want cases 1 and 2", rep.Rows)
	}
	for _, r := range rep.Rows {
		want := map[int]int{1: 1, 2: 2}[r.Case]
		if r.Status != "finished" || r.Trained != want || r.Epochs != want {
			t.Errorf("case %d: status %q, %d of %d epochs; want finished, %d", r.Case, r.Status, r.Trained, r.Epochs, want)
		}
		entries, err := train.ReadLog(r.Dir)
		if err != nil || len(entries) != want {
			t.Fatalf("case %d: log %v, %v", r.Case, entries, err)
		}
		minMSE, minNME := math.Inf(1), math.Inf(1)
		for _, e := range entries {
			minMSE, minNME = math.Min(minMSE, e.ValMSE), math.Min(minNME, e.ValNME)
		}
		if r.BestMSE != minMSE || r.BestNME != minNME || !(r.BestMSE > 0) {
			t.Errorf("case %d: best MSE %g, NME %g; the log's lowest are %g, %g", r.Case, r.BestMSE, r.BestNME, minMSE, minNME)
		}
	}
	for _, r := range rep.Rows {
		ev, err := readEval(r.Dir)
		if err != nil || ev.N == 0 || !(ev.MedianNME > 0) || ev.FailureRate < 0 || ev.FailureRate > 1 {
			t.Errorf("case %d: %s holds %+v, %v", r.Case, evalFile, ev, err)
		}
	}
	if len(rep.Summary) != 2 || rep.Summary[0].PointRuns != 1 || rep.Summary[0].Paired != nil || rep.Summary[1].Paired == nil || rep.Summary[1].Paired.Seeds != 1 {
		t.Errorf("summary %+v: want eval figures for both cases and case 2 paired with case 1 over one seed", rep.Summary)
	}
	md, err := os.ReadFile(filepath.Join(dir, TableFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| case | setup | seeds | difference | seeds better | verdict |") {
		t.Errorf("%s lacks the paired table:\n%s", TableFile, md)
	}
	for _, want := range []string{"| case | seed | loss | epochs | best val MSE | best val NME | last val NME | PCK@0.1 | best epoch | train time |", "\n| 1 | 1 | mse | 1 |", "\n| 2 | 1 | mse | 2 |", "| 1 | mse | 1 | "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("%s lacks %q:\n%s", TableFile, want, md)
		}
	}
	var fromJSON Report
	if b, err := os.ReadFile(filepath.Join(dir, JSONFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &fromJSON); err != nil {
		t.Fatalf("%s: %v", JSONFile, err)
	}
	if len(fromJSON.Rows) != 2 || fromJSON.Rows[1].BestNME != rep.Rows[1].BestNME || fromJSON.Settings.Width != 4 {
		t.Errorf("%s holds %+v", JSONFile, fromJSON)
	}
	for _, f := range []string{ChartFile, TimeChartFile} {
		if b := decodePNG(t, filepath.Join(dir, f)).Bounds(); b.Dx() != 640 || b.Dy() != 300 {
			t.Errorf("%s is %v, want 640×300", f, b)
		}
	}

	// Run again: both cases are finished and left alone.
	last := filepath.Join(dir, "case1", "last.safetensors")
	before, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	log.Reset()
	if _, err := Run(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat(last); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("rerunning the study rewrote %s", last)
	}
	if strings.Count(log.String(), "finished earlier; skipped") != 2 {
		t.Errorf("rerun log:\n%s", log.String())
	}

	// Other settings in the same folder: refused, naming the folder and the setting.
	opt.Base.LR *= 3
	if _, err := Run(context.Background(), opt); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "case1")) || !strings.Contains(err.Error(), "lr") {
		t.Errorf("a study with another learning rate in the same folder: error %v", err)
	}
	if after, err := os.Stat(last); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a refused study rewrote %s", last)
	}
}

func TestCases(t *testing.T) {
	base := Base("data", Scale{Depth: 18, Width: 8, Size: 64, Batch: 16, Epochs: 5})
	seen := map[string]bool{}
	for i, c := range Cases {
		if c.N != i+1 {
			t.Errorf("Cases[%d] is case %d", i, c.N)
		}
		cfg := c.Config(base, "s", base.Seed, 2.5)
		if err := cfg.Validate(); err != nil {
			t.Errorf("case %d: %v", c.N, err)
		}
		want := 5
		if c.N == 2 {
			want = 10
		}
		lr := 1e-3
		if c.N == 8 {
			lr = 2.5e-3 // gradient-matched: the study's rate times the scale
		}
		if cfg.Epochs != want || !cfg.Flip || cfg.PCA != (c.N == 7) || cfg.Optimizer != "sgd" || math.Abs(cfg.LR-lr) > 1e-12 || cfg.Momentum != 0.9 || cfg.Budget != 0 {
			t.Errorf("case %d: %d epochs, flip %v, pca %v, %s lr %g momentum %g budget %v", c.N, cfg.Epochs, cfg.Flip, cfg.PCA, cfg.Optimizer, cfg.LR, cfg.Momentum, cfg.Budget)
		}
		if cfg.Out != filepath.Join("s", fmt.Sprintf("case%d", c.N)) {
			t.Errorf("case %d runs in %s", c.N, cfg.Out)
		}
		if other := c.Config(base, "s", 7, 1); other.Out != filepath.Join("s", fmt.Sprintf("case%d-seed7", c.N)) || other.Seed != 7 {
			t.Errorf("case %d, seed 7: runs in %s with seed %d", c.N, other.Out, other.Seed)
		}
		key := c.Describe()
		if c.N == 2 {
			key += " long"
		}
		if seen[key] {
			t.Errorf("case %d repeats %s", c.N, key)
		}
		seen[key] = true
	}
	for _, n := range []int{0, 11} {
		if _, err := CaseByNumber(n); err == nil {
			t.Errorf("CaseByNumber(%d) succeeded", n)
		}
	}
	if _, err := ScaleByName("huge"); err == nil {
		t.Error("ScaleByName(huge) succeeded")
	}
	for _, s := range Scales {
		cfg := Base("data", s)
		cfg.Out = "x"
		if err := cfg.Validate(); err != nil {
			t.Errorf("scale %s: %v", s.Name, err)
		}
	}
}

func TestPlotTraining(t *testing.T) {
	log := []train.EpochLog{
		{Epoch: 1, TrainLoss: 0.4, ValLoss: 0.3, ValMSE: 0.02, ValNME: 1.2},
		{Epoch: 2, TrainLoss: 0.1, ValLoss: 0.12, ValMSE: 0.01, ValNME: 0.8},
		{Epoch: 3, TrainLoss: 0.02, ValLoss: 0, ValMSE: 0.005, ValNME: 0.5}, // a zero loss is left off the log axis
	}
	out := filepath.Join(t.TempDir(), "curves.png")
	for _, runs := range [][]Curve{{{"a", log}}, {{"a", log}, {"b", log[:1]}}} {
		if err := PlotTraining(out, runs, 900, 400); err != nil {
			t.Fatal(err)
		}
		if b := decodePNG(t, out).Bounds(); b.Dx() != 900 || b.Dy() != 400 {
			t.Errorf("%d runs: picture is %v, want 900×400", len(runs), b)
		}
	}
	for _, c := range []struct {
		name string
		runs []Curve
		w, h int
	}{
		{"no runs", nil, 900, 400},
		{"an empty log", []Curve{{"empty", nil}}, 900, 400},
		{"a tiny picture", []Curve{{"a", log}}, 20, 20},
	} {
		if err := PlotTraining(filepath.Join(t.TempDir(), "x.png"), c.runs, c.w, c.h); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestLogTicks(t *testing.T) {
	for _, r := range [][2]float64{{0.0031, 0.45}, {0.31, 0.39}, {1e-5, 20}, {0.9, 1.1}, {2, 2.0001}} {
		ticks := logTicks{}.Ticks(r[0], r[1])
		labelled := 0
		for _, tk := range ticks {
			if tk.Value < r[0]*(1-1e-9) || tk.Value > r[1]*(1+1e-9) {
				t.Errorf("range %v: tick at %g outside it", r, tk.Value)
			}
			if tk.Label != "" {
				labelled++
			}
		}
		if labelled < 2 {
			t.Errorf("range %v: %d labelled ticks, want at least 2", r, labelled)
		}
	}
}

// TestStudyDiverged checks that a case marked as diverged is reported as such and not trained
// again. (A diverging run is hard to make on purpose: the sigmoid head keeps the loss finite.)
func TestStudyDiverged(t *testing.T) {
	data := tinyCache(t, 40)
	base := Base(data, Scale{Depth: 18, Width: 4, Size: 32, Batch: 8, Epochs: 2})
	base.Backend = "ref"
	dir := t.TempDir()
	opt := Options{Dir: dir, Base: base, Cases: []int{1}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(cancelled, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted study: %v", err)
	}
	msg := "train: loss diverged at epoch 1, step 3"
	if err := os.WriteFile(filepath.Join(dir, "case1", divergedFile), []byte(msg+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	opt.Log = &log
	rep, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Status != "diverged: "+msg || rep.Rows[0].Trained != 0 {
		t.Fatalf("rows %+v, want case 1 diverged with no epoch", rep.Rows)
	}
	if !strings.Contains(log.String(), "skipped") {
		t.Errorf("the study trained the diverged case again:\n%s", log.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, TableFile))
	if err != nil || !strings.Contains(string(md), "| 1 | 1 | mse | 0 of 2 (diverged) | – |") {
		t.Errorf("%s does not say the case diverged (%v):\n%s", TableFile, err, md)
	}
	b, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil || !strings.Contains(string(b), `"best_val_mse": null`) {
		t.Errorf("%s does not give a diverged case's figures as null (%v):\n%s", JSONFile, err, b)
	}
}

// Seeds train each case once per seed, in caseN and caseN-seedS; the summary gives each case's
// mean and spread; the gradient-matched control measures its learning-rate scale once and keeps
// it.
func TestStudySeedsAndControl(t *testing.T) {
	data := tinyCache(t, 40)
	base := Base(data, Scale{Depth: 18, Width: 4, Size: 32, Batch: 8, Epochs: 1})
	base.Backend = "ref"
	dir := filepath.Join(t.TempDir(), "study")
	rep, err := Run(context.Background(), Options{Dir: dir, Base: base, Cases: []int{1, 8}, Seeds: []int64{3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"case1", "case1-seed4", "case8", "case8-seed4"} {
		if _, err := os.Stat(filepath.Join(dir, d, "last.safetensors")); err != nil {
			t.Errorf("no run in %s: %v", d, err)
		}
		if ev, err := readEval(filepath.Join(dir, d)); err != nil || !(ev.PerPoint[0] > 0) {
			t.Errorf("%s: per-point errors %v, %v", d, ev.PerPoint, err)
		}
	}
	if len(rep.Rows) != 4 || len(rep.Summary) != 2 {
		t.Fatalf("%d runs, %d case summaries; want 4 and 2", len(rep.Rows), len(rep.Summary))
	}
	if !(rep.GradScale > 0) {
		t.Fatalf("grad scale %v", rep.GradScale)
	}
	for _, r := range rep.Rows {
		want := base.LR
		if r.Case == 8 {
			want *= rep.GradScale
		}
		if math.Abs(r.LR-want) > 1e-12 {
			t.Errorf("case %d seed %d: lr %g, want %g", r.Case, r.Seed, r.LR, want)
		}
	}
	for _, m := range rep.Summary {
		var finals []float64
		for _, r := range rep.Rows {
			if r.Case == m.Case {
				finals = append(finals, r.FinalNME)
			}
		}
		mean := (finals[0] + finals[1]) / 2
		sd := math.Abs(finals[0]-finals[1]) / math.Sqrt2
		if m.Runs != 2 || m.PointRuns != 2 || !(m.PerPoint[8] > 0) || math.Abs(m.FinalNME-mean) > 1e-12 || math.Abs(m.FinalSD-sd) > 1e-12 {
			t.Errorf("case %d summary %+v, runs' final NME %v", m.Case, m, finals)
		}
	}
	// The scale is kept: a second study run reads it rather than measuring again.
	before, err := os.ReadFile(filepath.Join(dir, gradScaleFile))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := GradScale(dir, base, false); err != nil || s != rep.GradScale {
		t.Errorf("GradScale from the file: %v, %v; want %v", s, err, rep.GradScale)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, gradScaleFile)); string(after) != string(before) {
		t.Error("reading the scale rewrote it")
	}
}

// A constant-rate study rerun with more epochs carries its finished runs on from their last
// epoch; fewer epochs, or a decaying schedule, stay refused (see TestStudyRunAndResume).
func TestStudyExtendsConstantRate(t *testing.T) {
	data := tinyCache(t, 40)
	base := Base(data, Scale{Depth: 18, Width: 4, Size: 32, Batch: 8, Epochs: 1})
	base.Backend, base.Optimizer, base.Schedule, base.LR = "ref", "sgd", "constant", 1e-2
	dir := filepath.Join(t.TempDir(), "study")
	opt := Options{Dir: dir, Base: base, Cases: []int{1}, ChartWidth: 320, ChartHeight: 200}
	if _, err := Run(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	opt.Log, opt.Base.Epochs = &log, 2
	rep, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resuming after epoch 1 of 2") {
		t.Errorf("log:\n%s", log.String())
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Status != "finished" || rep.Rows[0].Trained != 2 {
		t.Fatalf("rows %+v, want case 1 finished after 2 epochs", rep.Rows)
	}
	entries, err := train.ReadLog(filepath.Join(dir, "case1"))
	if err != nil || len(entries) != 2 || entries[0].Epoch != 1 || entries[1].Epoch != 2 {
		t.Fatalf("log %+v, %v: want epochs 1 and 2", entries, err)
	}
	if cfg, err := train.ReadConfig(filepath.Join(dir, "case1")); err != nil || cfg.Epochs != 2 {
		t.Errorf("config.json after the extension: epochs %d, %v; want 2", cfg.Epochs, err)
	}
	opt.Base.Epochs = 1
	if _, err := Run(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "epochs") {
		t.Errorf("a shorter study in the same folder: error %v, want a refusal naming epochs", err)
	}
	opt.Base.Epochs, opt.Base.Schedule = 3, "cosine"
	if _, err := Run(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "schedule") {
		t.Errorf("a longer cosine study in the same folder: error %v, want a refusal naming the schedule", err)
	}
}

func TestPair(t *testing.T) {
	tests := []struct {
		name         string
		values, base map[int64]float64
		want         *Paired
	}{
		{"no common seed", map[int64]float64{1: 0.1}, map[int64]float64{2: 0.1}, nil},
		{"one seed", map[int64]float64{1: 0.1}, map[int64]float64{1: 0.12, 2: 0.5}, &Paired{Seeds: 1, Mean: -0.02, Better: 1}},
		{"three seeds", map[int64]float64{1: 0.10, 2: 0.12, 3: 0.11, 9: 0.3}, map[int64]float64{1: 0.12, 2: 0.13, 3: 0.12},
			&Paired{Seeds: 3, Mean: -0.04 / 3, Better: 3}},
	}
	for _, tt := range tests {
		got := pair(tt.values, tt.base)
		if tt.want == nil || got == nil {
			if (tt.want == nil) != (got == nil) {
				t.Errorf("%s: pair = %+v, want %+v", tt.name, got, tt.want)
			}
			continue
		}
		// The differences -0.02, -0.01, -0.01 have sample SD sqrt(((−0.00667)² + 2·0.00333²)/2) = 0.005774.
		if tt.want.Seeds == 3 {
			tt.want.SD = 0.0057735
			tt.want.CI95 = 4.303 * tt.want.SD / math.Sqrt(3)
		}
		if got.Seeds != tt.want.Seeds || got.Better != tt.want.Better || math.Abs(got.Mean-tt.want.Mean) > 1e-9 ||
			math.Abs(got.SD-tt.want.SD) > 1e-6 || math.Abs(got.CI95-tt.want.CI95) > 1e-6 {
			t.Errorf("%s: pair = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
