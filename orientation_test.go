package catmark_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"math"
	"testing"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/exiftest"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/landmark"
)

// A fixture cat stored sideways with orientation 6, as a phone stores a portrait photo, is
// decoded upright by imgproc and its points found where they are on the upright photo (within
// two pixels: the sideways copy is a JPEG of its own); decoded in its stored grid, the same
// file gives points that are the upright ones turned, within the detector's error.
func TestDetectOrientedPhoto(t *testing.T) {
	det, err := catmark.Load("")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := fixture.Photo(fixture.Seed, 0)
	upright := imgproc.FromImage(up)
	sideways := imgproc.OrientRGB(upright, 8) // stored turned a quarter counter-clockwise…
	var b bytes.Buffer
	if err := jpeg.Encode(&b, sideways.Image(), &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	data := exiftest.JPEG(b.Bytes(), 6) // …and tagged to be shown turned clockwise

	shown, _, err := imgproc.DecodeImage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if s := shown.Bounds().Size(); s.X != upright.W || s.Y != upright.H {
		t.Fatalf("decoded %v, want the upright %d×%d", s, upright.W, upright.H)
	}
	want, err := det.Detect(upright.Image())
	if err != nil {
		t.Fatal(err)
	}
	got, err := det.Detect(shown)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := range got {
		d := math.Hypot(got[i].X-want[i].X, got[i].Y-want[i].Y)
		worst = max(worst, d)
		if d > 2 {
			t.Errorf("%s at (%.1f, %.1f) on the oriented JPEG, (%.1f, %.1f) upright: %.1f pixels apart", landmark.Names[i], got[i].X, got[i].Y, want[i].X, want[i].Y, d)
		}
	}

	t.Logf("oriented JPEG against the upright photo: at most %.2f pixels apart", worst)

	// The stored grid: the detector sees the cat lying on its side.
	l := imgproc.DefaultLimits
	l.IgnoreOrientation = true
	stored, h, err := l.Decode(context.Background(), data)
	if err != nil || h.Orientation != 6 || h.Oriented {
		t.Fatalf("decoding the stored grid: %+v, %v", h, err)
	}
	raw, err := det.Detect(stored)
	if err != nil {
		t.Fatal(err)
	}
	var far, sum float64
	for i := range raw {
		x, y := imgproc.Orientation(6).Point(raw[i].X, raw[i].Y, sideways.W, sideways.H)
		sum += math.Hypot(x-want[i].X, y-want[i].Y)
		far = max(far, math.Hypot(raw[i].X-want[i].X, raw[i].Y-want[i].Y))
	}
	eye := want.EyeDistance()
	if sum/9 > 0.35*eye {
		t.Errorf("the stored grid's points, turned upright, are %.1f pixels from the upright ones on average (eye distance %.1f)", sum/9, eye)
	}
	t.Logf("stored grid turned upright: %.1f pixels from the upright points on average; unturned up to %.0f", sum/9, far)
	if far < eye {
		t.Errorf("the stored grid's points are within %.1f pixels of the upright ones: the test photo does not tell the frames apart", far)
	}
}
