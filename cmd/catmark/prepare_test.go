package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catmark/catmark/cache"
)

// fakeCats writes n small colour photos with annotations, in two ID-prefix groups per three
// photos, plus one photo with a malformed annotation.
func fakeCats(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i <= n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 40+i, 30))
		for y := 0; y < 30; y++ {
			for x := 0; x < 40+i; x++ {
				img.Set(x, y, color.RGBA{uint8(6 * x), uint8(8 * y), uint8(40 * i), 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, nil); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%08d_%03d.jpg", i/3+1, i%3)
		cat := "9 10 10 20 10 15 20 5 5 8 -2 12 4 18 4 22 -2 25 5 "
		if i == n {
			name, cat = "99999999_000.jpg", "9 10 10 twenty"
		}
		write(name, buf.Bytes())
		write(name+".cat", []byte(cat))
	}
	return dir
}

func TestPrepareCommand(t *testing.T) {
	data := fakeCats(t, 12)
	out := filepath.Join(t.TempDir(), "cache")
	if err := runPrepare([]string{"--data", data, "--out", out, "--size", "16", "--group-prefix", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 12 || c.Size() != 16 || len(c.Skipped()) != 1 || c.Skipped()[0].Name != "99999999_000.jpg" {
		t.Errorf("cache has %d photos at %d, skipped %v; want 12 at 16, 99999999_000.jpg skipped", c.Len(), c.Size(), c.Skipped())
	}
	if s := c.Summary(); s.SharedPrefixes != 0 || s.Train+s.Val != 12 {
		t.Errorf("split: %+v", s)
	}

	// An explicit train list; val is the rest.
	list := filepath.Join(t.TempDir(), "train.txt")
	os.WriteFile(list, []byte("# train\n00000001_000.jpg\n\n00000002_001.jpg\n"), 0o644)
	if err := runPrepare([]string{"--data", data, "--out", out, "--size", "16", "--train-list", list, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	c, err = cache.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if tr, _ := c.Split("train"); len(tr) != 2 || c.Item(tr[0]).Name != "00000001_000.jpg" || c.Item(tr[1]).Name != "00000002_001.jpg" {
		t.Errorf("train split %v, want the two listed photos", tr)
	}

	for _, args := range [][]string{
		{"--out", out},
		{"--data", data},
		{"--data", filepath.Join(data, "missing"), "--out", out},
		{"--data", data, "--out", out, "--split", "2"},
		{"--data", data, "--out", out, "--train-list", filepath.Join(data, "missing.txt")},
		{"--data", data, "--out", out, "extra"},
	} {
		if err := runPrepare(append(args, "--quiet")); err == nil {
			t.Errorf("catmark prepare %v succeeded", args)
		}
	}
}

func TestPrintSummary(t *testing.T) {
	s := &cache.Summary{Size: 224, Kept: 10, OutsidePhotos: 2, OutsidePoints: 3, Train: 7, Val: 3,
		Skipped: []cache.Skip{
			{Name: "a.jpg", Reason: "truncated JPEG", Detail: "ends early"},
			{Name: "b.jpg", Reason: "grey image", Detail: "grey"},
			{Name: "c.jpg", Reason: "truncated JPEG", Detail: "ends early"},
		}}
	var buf bytes.Buffer
	printSummary(&buf, "/tmp/c", s, cache.Options{TrainFraction: 0.7, Seed: 1, GroupByPrefix: true}, time.Second)
	out := buf.String()
	for _, want := range []string{"kept:    10", "skipped: 3", "truncated JPEG: 2", "a.jpg: ends early", "c.jpg", "grey image: 1", "3 points in 2 photos", "train 7, val 3", "grouped by ID prefix"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
