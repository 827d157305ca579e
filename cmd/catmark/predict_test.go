package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/internal/testenv"
	"github.com/catmark/catmark/server"
)

// predictOne prints one JSON line per photo with nine named points inside the photo and the
// shipped model's face presence; an unreadable file is an error naming it.
func TestPredictOne(t *testing.T) {
	photo := filepath.Join(testenv.CatsDir(t), "00000001_000.jpg")
	det, err := catmark.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := predictOne(det, photo, true, "", &out); err != nil {
		t.Fatal(err)
	}
	var r server.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", out.String(), err)
	}
	if r.Path != photo || len(r.Points) != 9 || r.Points[0].Name != "left_eye" {
		t.Fatalf("result %+v: want the photo's path and nine points from left_eye", r)
	}
	for _, p := range r.Points {
		if p.X < 0 || p.X > float64(r.Width) || p.Y < 0 || p.Y > float64(r.Height) {
			t.Errorf("point %s (%.1f, %.1f) outside the %d×%d photo", p.Name, p.X, p.Y, r.Width, r.Height)
		}
	}
	if r.Face == nil || *r.Face <= 0.5 || *r.Face >= 1 {
		t.Errorf("face presence %v on a cat photo, want in (0.5, 1)", r.Face)
	}

	bad := filepath.Join(t.TempDir(), "notes.jpg")
	os.WriteFile(bad, []byte("not a photo"), 0o644)
	out.Reset()
	if err := predictOne(det, bad, true, "", &out); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("predictOne(text file) = %v, want an error naming %s", err, bad)
	}
	if out.Len() != 0 {
		t.Errorf("a failed photo printed %q", out.String())
	}
}

func TestExpandPhotos(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.JPG", "a.png", "sub/c.jpeg", "notes.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	got := expandPhotos(dir)
	want := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "b.JPG"), filepath.Join(dir, "sub/c.jpeg")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("expandPhotos(folder) = %v, want %v", got, want)
	}
	for _, arg := range []string{"-", "missing.jpg"} {
		if got := expandPhotos(arg); len(got) != 1 || got[0] != arg {
			t.Errorf("expandPhotos(%q) = %v, want it unchanged", arg, got)
		}
	}
}
