package catmark

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/facecrop"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
	"github.com/catmark/catmark/weights"
)

// saveRandomModel writes a randomly initialised model of the given stage as a checkpoint.
func saveRandomModel(t *testing.T, path string, stage model.Stage, seed int64) {
	t.Helper()
	saveRandomSpec(t, path, model.Spec{Depth: 18, Width: 4, Size: 32, Stage: stage, Norm: "imagenet", Margin: 0.3}, seed)
}

// saveRandomSpec writes a randomly initialised model of the given spec as a checkpoint.
func saveRandomSpec(t *testing.T, path string, spec model.Spec, seed int64) {
	t.Helper()
	b, err := engine.Open("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(b, spec, seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Save(path, b, m.Params(), nil, m.Meta()); err != nil {
		t.Fatal(err)
	}
}

// catPhoto decodes the first photo of the committed fixture.
func catPhoto(t *testing.T) *imgproc.RGB {
	t.Helper()
	f, err := os.Open(fixture.Path(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := imgproc.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The detector with flip averaging and one refine pass is mirror-equivariant whatever its
// weights: the points found on a mirrored photo are the mirrored points of the photo. (With more
// passes only the last is mirrored, so the crops it sees may differ slightly.)
func TestDetectorIsMirrorEquivariant(t *testing.T) {
	dir := t.TempDir()
	saveRandomModel(t, filepath.Join(dir, model.CoarseFile), model.Whole, 1)
	saveRandomModel(t, filepath.Join(dir, model.RefineFile), model.Crop, 2)
	det, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if det.refine == nil {
		t.Fatal("the refine model was not loaded")
	}
	det.cfg.Passes = 1
	photo := catPhoto(t)
	mirrored := photo.Clone()
	augment.FlipImage(mirrored)
	var p landmark.Points
	for _, zoom := range []float64{0, 0.15} {
		det.cfg.Zoom = zoom
		p = pointsRGB(t, det, photo)
		q := pointsRGB(t, det, mirrored).FlipPixels(photo.W)
		for i := range p {
			if math.IsNaN(p[i].X) || math.Abs(p[i].X-q[i].X) > 0.5 || math.Abs(p[i].Y-q[i].Y) > 0.5 {
				t.Errorf("zoom %g, point %s: %v on the photo, %v from the mirrored photo", zoom, landmark.Names[i], p[i], q[i])
			}
		}
	}
	// Each stage runs: the two-stage result differs from the coarse model alone.
	coarseOnly := &Detector{coarse: det.coarse, cfg: Settings{Flip: true}}
	if c := pointsRGB(t, coarseOnly, photo); c == p {
		t.Error("the refine stage changed nothing")
	}
}

// With Zoom the final pass's points are the mean of the points found on the box and on the box
// scaled by 1−Zoom and 1+Zoom; the presence is the box's own.
func TestZoomAveragesScaledCrops(t *testing.T) {
	det := randomDetector(t, "pool")
	det.cfg.Flip, det.cfg.Zoom = false, 0.2
	photo := catPhoto(t)
	box := facecrop.Box{CX: float64(photo.W) / 2, CY: float64(photo.H) / 2, Side: float64(min(photo.W, photo.H)) / 2, Angle: 10}
	got := make([]Face, 1)
	if err := det.runRefine(context.Background(), []*imgproc.RGB{photo}, []facecrop.Box{box}, got, 1); err != nil {
		t.Fatal(err)
	}
	var want landmark.Points
	var face float64
	for k, z := range []float64{1, 0.8, 1.2} {
		b := box
		b.Side *= z
		o := det.predict(det.refine, []*imgproc.RGB{facecrop.Crop(photo, photo.W, photo.H, b, det.refine.Spec.Size)}, false)[0]
		if k == 0 {
			face = o.Presence
		}
		for j, p := range b.FromBox(o.Points) {
			want[j].X += p.X / 3
			want[j].Y += p.Y / 3
		}
	}
	for j := range want {
		if math.Abs(got[0].Points[j].X-want[j].X) > 1e-3 || math.Abs(got[0].Points[j].Y-want[j].Y) > 1e-3 {
			t.Errorf("point %s: %v, want the mean of the three crops' %v", landmark.Names[j], got[0].Points[j], want[j])
		}
	}
	if got[0].Presence != face || got[0].Box != box {
		t.Errorf("presence %g and box %+v, want the unscaled crop's %g and %+v", got[0].Presence, got[0].Box, face, box)
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string // "" for valid
	}{
		{Defaults, ""},
		{Settings{}, ""},
		{Settings{Passes: -1}, "passes"},
		{Settings{Passes: 21}, "passes"},
		{Settings{Grow: math.NaN()}, "grow"},
		{Settings{Search: 1.5}, "search"},
		{Settings{MinFace: -0.1}, "min-face"},
		{Settings{Zoom: 0.6}, "zoom"},
		{Settings{Zoom: math.NaN()}, "zoom"},
		{Settings{Zoom: 0.5}, ""},
		{Settings{Upright: 1.5}, "upright"},
		{Settings{Upright: math.NaN()}, "upright"},
		{Settings{Upright: 1}, ""},
		{Settings{CentersSize: 384}, ""},
		{Settings{CentersSize: 48}, "centers size"},
		{Settings{CentersSize: 1040}, "centers size"},
		{Settings{CentersSize: 250}, "centers size"},
	} {
		err := tc.s.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v.Validate() = %v, want an error naming %q", tc.s, err, tc.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), model.CoarseFile) {
		t.Errorf("Load(empty folder) = %v, want an error naming %s", err, model.CoarseFile)
	}
	crop := filepath.Join(dir, "crop.safetensors")
	saveRandomModel(t, crop, model.Crop, 1)
	if _, err := Load(crop); err == nil || !strings.Contains(err.Error(), "face-crop model") {
		t.Errorf("Load(a crop model) = %v, want a face-crop error", err)
	}
	junk := filepath.Join(dir, "junk.safetensors")
	os.WriteFile(junk, []byte("not a model"), 0o644)
	if _, err := Load(junk); err == nil || !strings.Contains(err.Error(), "junk.safetensors") {
		t.Errorf("Load(junk) = %v, want an error naming the file", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load(missing path) succeeded")
	}
}

// The search only ever replaces the first crop's result by one the refine model finds likelier.
func TestSearchKeepsTheLikeliestFace(t *testing.T) {
	dir := t.TempDir()
	saveRandomModel(t, filepath.Join(dir, model.CoarseFile), model.Whole, 1)
	saveRandomSpec(t, filepath.Join(dir, model.RefineFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}, 2)
	det, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	photo := catPhoto(t)
	det.cfg.Search = 0
	p0, f0 := detectRGB(t, det, photo)
	det.cfg.Search = 1 // always search
	p1, f1 := detectRGB(t, det, photo)
	if math.IsNaN(f0) || math.IsNaN(f1) {
		t.Fatalf("presence %v, %v from a model with a presence output", f0, f1)
	}
	if f1 < f0 {
		t.Errorf("search returned presence %v, below the first crop's %v", f1, f0)
	}
	if f1 > f0 && p1 == p0 {
		t.Error("search found a likelier face but returned the first crop's points")
	}
	det.refine.Spec.Presence = false
	if _, f := detectRGB(t, det, photo); !math.IsNaN(f) {
		t.Errorf("presence %v from a model without a presence output, want NaN", f)
	}
}

// detectRGB is DetectFace on a photo already in catmark's RGB form, failing t on an error.
func detectRGB(t *testing.T, d *Detector, photo *imgproc.RGB) (landmark.Points, float64) {
	t.Helper()
	det, _, err := d.detect(context.Background(), []*imgproc.RGB{photo})
	if err != nil {
		t.Fatal(err)
	}
	return det[0].Points, det[0].Presence
}

// pointsRGB is detectRGB's points.
func pointsRGB(t *testing.T, d *Detector, photo *imgproc.RGB) landmark.Points {
	t.Helper()
	p, _ := detectRGB(t, d, photo)
	return p
}
