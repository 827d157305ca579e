//go:build realphotos

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/catdata"
	"github.com/catmark/catmark/internal/testenv"
)

// predictOne with the shipped model on the first real photo: a face, and points near the
// annotation.
func TestPredictOneRealPhoto(t *testing.T) {
	photo := filepath.Join(testenv.CatsDir(t), "00000001_000.jpg")
	det, err := catmark.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := predictOne(det, photo, true, "", &out); err != nil {
		t.Fatal(err)
	}
	var r catmark.Record
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", out.String(), err)
	}
	if r.Presence == nil || *r.Presence <= 0.5 || *r.Presence > 1 {
		t.Errorf("face presence %v on a real cat photo, want in (0.5, 1]", r.Presence)
	}
	raw, err := os.ReadFile(photo + ".cat")
	if err != nil {
		t.Fatal(err)
	}
	truth, err := catdata.ParseCat(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Points) != len(truth) {
		t.Fatalf("%d points, want %d", len(r.Points), len(truth))
	}
	var sum float64
	for i, p := range r.Points {
		sum += math.Hypot(p.X-truth[i].X, p.Y-truth[i].Y)
	}
	if e := sum / float64(len(truth)) / truth.EyeDistance(); e > 0.2 {
		t.Errorf("points %v are %.3f eye distances from the annotation %v on average, want at most 0.2", r.Points, e, truth)
	}
}
