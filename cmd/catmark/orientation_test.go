package main

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/exiftest"
	"github.com/catmark/catmark/internal/fixture"
)

// predict turns a photo by its EXIF orientation by default: a fixture cat stored sideways and
// tagged 6 gives the size and points of the upright photo (within two pixels: the sideways
// copy is a JPEG of its own); --exif-orientation=false gives the stored size.
func TestPredictExifOrientation(t *testing.T) {
	dir := t.TempDir()
	up, _ := fixture.Photo(fixture.Seed, 0)
	upright := imgproc.FromImage(up)
	write := func(name string, m *imgproc.RGB, o int) string {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m.Image(), &jpeg.Options{Quality: 100}); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, exiftest.JPEG(b.Bytes(), o), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("upright.jpg", upright, 1)
	portrait := write("portrait.jpg", imgproc.OrientRGB(upright, 8), 6)
	predict := func(args ...string) map[string]catmark.Record {
		out, err := evalCapture(t, func() error { return runPredict(append([]string{"--json"}, args...)) })
		if err != nil {
			t.Fatalf("predict %q: %v", args, err)
		}
		res := map[string]catmark.Record{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r catmark.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			res[filepath.Base(r.Path)] = r
		}
		return res
	}
	res := predict(plain, portrait)
	a, b := res["upright.jpg"], res["portrait.jpg"]
	if a.Width != upright.W || a.Height != upright.H || b.Width != a.Width || b.Height != a.Height {
		t.Fatalf("sizes %d×%d upright, %d×%d tagged 6; want both %d×%d", a.Width, a.Height, b.Width, b.Height, upright.W, upright.H)
	}
	for i, p := range a.Points {
		q := b.Points[i]
		if d := math.Hypot(p.X-q.X, p.Y-q.Y); d > 2 {
			t.Errorf("%s: (%.1f, %.1f) upright, (%.1f, %.1f) on the photo tagged 6", p.Name, p.X, p.Y, q.X, q.Y)
		}
	}
	stored := predict("--exif-orientation=false", portrait)["portrait.jpg"]
	if stored.Width != upright.H || stored.Height != upright.W {
		t.Errorf("--exif-orientation=false: %d×%d, want the stored %d×%d", stored.Width, stored.Height, upright.H, upright.W)
	}
}

// eval on a photo folder whose photos carry each orientation: with the orientation applied the
// truth is turned along, so the figures are those of the detector on turned photos, near the
// upright ones; in the stored grid they are the untagged folder's (within float rounding).
func TestEvalExifOrientation(t *testing.T) {
	src := fixture.Photos(t, 8)
	tagged := t.TempDir()
	names, err := filepath.Glob(filepath.Join(src, "*.jpg"))
	if err != nil || len(names) != 8 {
		t.Fatalf("%d photos in %s (%v), want 8", len(names), src, err)
	}
	for i, path := range names {
		name := filepath.Base(path)
		jpg, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		cat, err := os.ReadFile(filepath.Join(src, name+".cat"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(tagged, name), exiftest.JPEG(jpg, i+1), 0o644)
		os.WriteFile(filepath.Join(tagged, name+".cat"), cat, 0o644)
	}
	nme := func(data string, args ...string) float64 {
		out, err := evalCapture(t, func() error {
			return runEval(append([]string{"--model", "../../model", "--data", data, "--json", "--quiet"}, args...))
		})
		if err != nil {
			t.Fatalf("eval %s %q: %v", data, args, err)
		}
		var r struct {
			NME float64 `json:"nme"`
			N   int     `json:"n"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.N != 8 {
			t.Fatalf("eval printed %q (%v); want 8 photos", out, err)
		}
		return r.NME
	}
	plain := nme(src)
	stored := nme(tagged, "--exif-orientation=false")
	shown := nme(tagged)
	t.Logf("NME: untagged %.4f, tagged in the stored grid %.4f, tagged as shown %.4f", plain, stored, shown)
	if math.Abs(stored-plain) > 1e-4*plain {
		t.Errorf("NME %.6f in the stored grid, %.6f untagged: want the same", stored, plain)
	}
	if math.Abs(shown-stored) <= 1e-4*plain {
		t.Errorf("NME %.6f as shown, %.6f in the stored grid: the flag turned nothing", shown, stored)
	}
	if shown > plain+0.05 {
		t.Errorf("NME %.4f on the photos as shown, %.4f upright: the truth does not follow the turned photos", shown, plain)
	}
}
