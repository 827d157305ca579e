package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/train"
)

// tinyTrainArgs are flags for a run small enough for a test on the reference backend.
var tinyTrainArgs = []string{"--width", "4", "--size", "32", "--batch", "8", "--epochs", "1", "--time-budget", "0", "--backend", "ref", "--quiet"}

// A photo folder given as --data is prepared into the cache folder the run names (RUN/cache),
// which a second run reuses; the run's config records the cache.
func TestTrainPreparesAPhotoFolder(t *testing.T) {
	photos := fixture.Photos(t, 24)
	out := filepath.Join(t.TempDir(), "run")
	if err := runTrain(append([]string{"--data", photos, "--out", out}, tinyTrainArgs...)); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(out, "cache")
	c, err := cache.Open(cacheDir)
	if err != nil {
		t.Fatalf("no cache in %s: %v", cacheDir, err)
	}
	if c.Len() != 24 {
		t.Errorf("the cache holds %d photos, want 24", c.Len())
	}
	cfg, err := train.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != cacheDir {
		t.Errorf("config.json says data %q, want the cache %q", cfg.Data, cacheDir)
	}
	if _, err := os.Stat(filepath.Join(out, "best.safetensors")); err != nil {
		t.Error(err)
	}
	other := filepath.Join(t.TempDir(), "run2")
	if err := runTrain(append([]string{"--data", photos, "--out", other, "--cache", cacheDir}, tinyTrainArgs...)); err != nil {
		t.Fatalf("a second run reusing the cache: %v", err)
	}
	if err := runTrain(append([]string{"--data", t.TempDir(), "--out", filepath.Join(t.TempDir(), "x")}, tinyTrainArgs...)); err == nil || !strings.Contains(err.Error(), "neither a prepared cache nor a photo folder") {
		t.Errorf("an empty folder as --data: %v, want an error saying what it is not", err)
	}
}

// --resume honours --epochs and --time-budget, and refuses every flag that would change the
// run's recorded settings, naming it.
func TestTrainResumeFlags(t *testing.T) {
	data := fixture.Photos(t, 24)
	out := filepath.Join(t.TempDir(), "run")
	if err := runTrain(append([]string{"--data", data, "--out", out}, tinyTrainArgs...)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--lr", "0.5"}, "--lr"},
		{[]string{"--loss", "l1", "--width", "8"}, "--loss, --width"},
		{[]string{"--data", data}, "--data"},
	} {
		err := runTrain(append([]string{"--resume", out}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--resume with %v: %v, want a refusal naming %s", c.args, err, c.want)
		}
	}
	if err := runTrain([]string{"--resume", out, "--epochs", "2", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	log, err := train.ReadLog(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[1].Epoch != 2 {
		t.Errorf("after --resume --epochs 2 the log has %d lines, want epochs 1 and 2", len(log))
	}
	if err := runTrain([]string{"--restart"}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("--restart alone: %v, want an error saying it goes with --resume", err)
	}
}

// --stage centers gives the run its head, three stages and the scene defaults; the scene flags
// are refused for the other stages.
func TestTrainCentersStage(t *testing.T) {
	photos := fixture.Photos(t, 16)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"--data", photos, "--out", out, "--stage", "centers", "--width", "4", "--size", "64", "--batch", "4",
		"--epochs", "1", "--time-budget", "0", "--backend", "ref", "--quiet", "--empty", "0.2"}
	if err := runTrain(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := train.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Head != "centers" || cfg.Stages != 3 || cfg.Multi != train.DefaultCentersMulti || cfg.Empty != 0.2 || cfg.MinFace != train.DefaultCentersMinFace {
		t.Errorf("config %+v: want head centers, 3 stages, multi %g, empty 0.2, min face %g", cfg, train.DefaultCentersMulti, train.DefaultCentersMinFace)
	}
	log, err := train.ReadLog(out)
	if err != nil || len(log) != 1 || log[0].Centers == nil {
		t.Errorf("metrics %+v (%v), want one epoch with a centers report", log, err)
	}
	err = runTrain(append([]string{"--data", photos, "--out", filepath.Join(t.TempDir(), "x"), "--multi", "0.5"}, tinyTrainArgs...))
	if err == nil || !strings.Contains(err.Error(), "only the \"centers\" stage") {
		t.Errorf("--multi on the whole stage: %v, want an error", err)
	}
}
