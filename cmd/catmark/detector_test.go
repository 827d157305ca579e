package main

import (
	"flag"
	"strings"
	"testing"
)

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
	if det.Backend() != "ref" || det.Settings().Passes != 2 {
		t.Errorf("loaded on %q with %d passes, want ref and 2", det.Backend(), det.Settings().Passes)
	}
}
