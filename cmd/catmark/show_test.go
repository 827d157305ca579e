package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/internal/fixture"
)

func TestShowFromPhotoFolder(t *testing.T) {
	dir := fixture.Dir(t)
	out := filepath.Join(t.TempDir(), "grid.png")
	if err := runShow([]string{"--data", dir, "--out", out, "--n", "3", "--cols", "2", "--tile", "64", "--flip", "--face"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Two columns of 64-pixel face crops, 4 pixels apart and around; two rows.
	if w := img.Bounds().Dx(); w != 4+2*(64+4) {
		t.Errorf("grid is %d wide, want %d", w, 4+2*(64+4))
	}
	if h := img.Bounds().Dy(); h <= 4+2*(64+4) {
		t.Errorf("grid is %d high, want two rows of 64-pixel tiles with captions", h)
	}
}

func TestShowErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "grid.png")
	for _, args := range [][]string{
		{"--out", out},
		{"--data", t.TempDir(), "--out", out},
		{"--data", t.TempDir(), "--out", out, "--n", "0"},
	} {
		if err := runShow(args); err == nil {
			t.Errorf("show %q succeeded", args)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed show wrote %s", out)
	}
}
