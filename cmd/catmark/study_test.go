package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/internal/fixture"
)

func TestStudyCommand(t *testing.T) {
	data := evalTestCache(t, fixture.Photos(t, 16))
	dir := filepath.Join(t.TempDir(), "study")
	args := []string{"--data", data, "--out", dir, "--scale", "tiny", "--epochs", "1", "--width", "4", "--size", "32", "--batch", "8", "--cases", "6", "--backend", "ref"}
	out, err := evalCapture(t, func() error { return runStudy(args) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ResNet-18, width 4, 32 px, batch 8, 1 epochs per case", "case 6 (mse+ddmse:1-8+area): training 1 epochs", "| 6 | mse+ddmse:1-8+area | 1 |", "study.png"} {
		if !strings.Contains(out, want) {
			t.Errorf("study output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"study.md", "study.json", "study.png", "case6/best.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "case1")); err == nil {
		t.Error("a study of case 6 trained case 1")
	}
}

func TestStudyErrors(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", data}, "--out"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "huge"}, "huge"},
		{[]string{"--data", data, "--out", t.TempDir(), "--cases", "1,x"}, "x"},
		{[]string{"--data", data, "--out", t.TempDir(), "--cases", "11"}, "case 11"},
		{[]string{"--data", data, "--out", t.TempDir(), "--scale", "seed"}, "--init"},
		{[]string{"--data", data, "--out", t.TempDir()}, "not a prepared cache"},
	} {
		_, err := evalCapture(t, func() error { return runStudy(c.args) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("study %q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
