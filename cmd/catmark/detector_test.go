package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/catmark/catmark"
)

// The detector flags reach the Detector's settings, and a flag that would be silently ignored
// or out of range is an error naming it.
func TestDetectorFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // a part of the error; empty: none
		up   float64
	}{
		{nil, "", catmark.Defaults.Upright},
		{[]string{"--upright", "0.3"}, "", 0.3},
		{[]string{"--any-angle=false"}, "", catmark.Defaults.Upright},
		{[]string{"--any-angle=false", "--upright", "0"}, "", 0},
		{[]string{"--any-angle=false", "--upright", "0.5"}, "--upright 0.5 applies only with --any-angle", 0},
		{[]string{"--upright", "2"}, "upright 2 out of range", 0},
		{[]string{"--zoom", "0.6"}, "zoom 0.6 out of range", 0},
		{[]string{"--first-stage", "centers"}, "", catmark.Defaults.Upright},
		{[]string{"--first-stage", "sideways"}, `first stage "sideways"`, 0},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := addDetectorFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		s, err := f.settings()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		case tc.want == "" && s.Upright != tc.up:
			t.Errorf("%v: Upright %g, want %g", tc.args, s.Upright, tc.up)
		}
	}
}

// predict, serve and eval take --backend, one flag for all: a backend this build lacks is an
// error naming it, and a known one loads the detector on it with the flags' settings.
func TestDetectorBackendFlag(t *testing.T) {
	for _, run := range []struct {
		name string
		cmd  func([]string) error
	}{{"predict", runPredict}, {"serve", runServe}, {"eval", runEval}} {
		args := []string{"--backend", "no-such-backend", "--model", t.TempDir()}
		switch run.name {
		case "predict":
			args = append(args, "cat.jpg")
		case "eval":
			args = append(args, "--data", t.TempDir())
		}
		if err := run.cmd(args); err == nil || !strings.Contains(err.Error(), "no-such-backend") {
			t.Errorf("%s --backend no-such-backend: %v, want an error naming it", run.name, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f := addDetectorFlags(fs)
	if err := fs.Parse([]string{"--backend", "ref", "--passes", "2"}); err != nil {
		t.Fatal(err)
	}
	det, err := f.load("")
	if err != nil {
		t.Fatal(err)
	}
	if det.Backend() != "ref" || det.Settings().Passes != 2 || det.Settings().FirstStage != catmark.FirstCoarse {
		t.Errorf("loaded on %q with %d passes and first stage %q, want ref, 2 and %q", det.Backend(), det.Settings().Passes, det.Settings().FirstStage, catmark.FirstCoarse)
	}
	// The shipped model has no centers model: asking for it is an error naming the file.
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	f = addDetectorFlags(fs)
	if err := fs.Parse([]string{"--backend", "ref", "--first-stage", "centers"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.load(""); err == nil || !strings.Contains(err.Error(), "centers.safetensors") {
		t.Errorf("--first-stage centers on the shipped model: %v, want an error naming centers.safetensors", err)
	}
}
