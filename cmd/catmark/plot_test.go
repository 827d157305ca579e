package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/model"
)

func TestPlotCommand(t *testing.T) {
	data := evalTestCache(t, fixture.Photos(t, 12))
	a, b := evalTestRun(t, data, model.Whole, 2), evalTestRun(t, data, model.Crop, 1)
	for _, args := range [][]string{
		{"--run", a},
		{"--run", a + "," + b, "--labels", "whole,crop"},
	} {
		out := filepath.Join(t.TempDir(), "curves.png")
		if _, err := evalCapture(t, func() error {
			return runPlot(append(args, "--out", out, "--width", "800", "--height", "300"))
		}); err != nil {
			t.Fatalf("plot %q: %v", args, err)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if s := img.Bounds().Size(); s.X != 800 || s.Y != 300 {
			t.Errorf("plot %q: picture is %v, want 800×300", args, s)
		}
	}
}

func TestPlotErrors(t *testing.T) {
	empty := t.TempDir()
	out := filepath.Join(t.TempDir(), "curves.png")
	file := filepath.Join(empty, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	torn := t.TempDir()
	if err := os.WriteFile(filepath.Join(torn, "metrics.jsonl"), []byte(`{"epoch":1,"trai`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", out}, "--run"},
		{[]string{"--run", filepath.Join(empty, "nothing"), "--out", out}, filepath.Join(empty, "nothing")},
		{[]string{"--run", empty, "--out", out}, "no metrics.jsonl"},
		{[]string{"--run", file, "--out", out}, "not a run folder"},
		{[]string{"--run", torn, "--out", out}, "no finished epoch"},
		{[]string{"--run", torn + "," + empty, "--labels", "one", "--out", out}, "--labels"},
	} {
		_, err := evalCapture(t, func() error { return runPlot(c.args) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("plot %q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed plot wrote %s", out)
	}
}
