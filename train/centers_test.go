package train

import (
	"bytes"
	"context"
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/internal/testcache"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/loss"
	"github.com/catmark/catmark/model"
)

func centersConfig(data, out string) Config {
	c := tinyConfig(data, out)
	c.Stage, c.Size, c.Batch, c.Epochs = model.Centers, 64, 4, 2
	c.Multi, c.Empty, c.MinFace = 0.3, 0.1, 0.1
	return c
}

// decodeTarget reads the face at the heat target's maximum cell back from EncodeCenters' maps.
func decodeTarget(t *testing.T, tg []float32, g int) (i, j int, f model.Candidate) {
	t.Helper()
	cells := g * g
	best := -1
	for k := range cells {
		if best < 0 || tg[k] > tg[best] {
			best = k
		}
	}
	if tg[best] != 1 || tg[model.CentersChannels*cells+best] != 1 {
		t.Fatalf("heat maximum %v, mask %v at cell %d; want 1 and 1", tg[best], tg[model.CentersChannels*cells+best], best)
	}
	at := func(c int) float64 { return float64(tg[c*cells+best]) }
	i, j = best/g, best%g
	f = model.Candidate{
		X:     (float64(j) + at(model.CenterOffset)) * model.CentersStride,
		Y:     (float64(i) + at(model.CenterOffset+1)) * model.CentersStride,
		Size:  math.Exp(at(model.CenterLogSize)) * model.CentersStride,
		Angle: math.Atan2(at(model.CenterCos+1), at(model.CenterCos)) * 180 / math.Pi,
	}
	return i, j, f
}

// TestCentersTargetsFollowTurn turns fixture photos by known angles into a picture and checks that
// the targets' peak sits at the turned face's centre and the angle target is the turn plus the
// face's own angle.
func TestCentersTargetsFollowTurn(t *testing.T) {
	dir := testcache.Fixture(t, 6, cache.Options{Size: 64, Seed: 1})
	data, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := centersConfig(dir, t.TempDir())
	cfg.Size = 128
	d := newCentersData(data, cfg, []int{0, 1, 2, 3, 4, 5})
	g := cfg.Size / model.CentersStride
	tg := make([]float32, loss.CentersTargets*g*g)
	for i := range 6 {
		p := d.photo(i)
		own := model.FaceGeometry(p.Points)
		for _, deg := range []float64{0, 45, 90, -135, 170} {
			a := augment.Turn(own.X, own.Y, 40/own.Size, deg, 70, 50)
			pts := a.Points(p.Points)
			EncodeCenters([]landmark.Points{pts}, g, tg)
			ci, cj, f := decodeTarget(t, tg, g)
			if ci != 50/model.CentersStride || cj != 70/model.CentersStride {
				t.Errorf("photo %d turned %v°: peak at cell (%d, %d), want (%d, %d)", i, deg, ci, cj, 50/model.CentersStride, 70/model.CentersStride)
			}
			if math.Hypot(f.X-70, f.Y-50) > 1e-3 || math.Abs(f.Size-40) > 1e-3 {
				t.Errorf("photo %d turned %v°: centre (%v, %v) size %v, want (70, 50) and 40", i, deg, f.X, f.Y, f.Size)
			}
			if e := math.Remainder(f.Angle-(own.Angle+deg), 360); math.Abs(e) > 1e-3 {
				t.Errorf("photo %d turned %v°: angle target %v, want %v + %v", i, deg, f.Angle, own.Angle, deg)
			}
		}
	}
}

// TestCentersScenes checks that training pictures are deterministic and that every face they
// report has its target, and that the val views keep the face where the points say.
func TestCentersScenes(t *testing.T) {
	dir := testcache.Fixture(t, 8, cache.Options{Size: 64, Seed: 1})
	data, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := centersConfig(dir, t.TempDir())
	cfg.Size, cfg.Multi, cfg.Empty = 128, 0.4, 0.2
	d := newCentersData(data, cfg, []int{0, 1, 2, 3, 4, 5, 6, 7})
	g := cfg.Size / model.CentersStride
	counts := map[int]int{}
	for e := range 3 {
		for i := range 8 {
			img, faces := d.Sample(e, i)
			again, faces2 := d.Sample(e, i)
			if !bytes.Equal(img.Pix, again.Pix) || len(faces) != len(faces2) {
				t.Fatalf("sample %d of epoch %d differs between two draws", i, e)
			}
			counts[min(len(faces), 2)]++
			tg := make([]float32, loss.CentersTargets*g*g)
			EncodeCenters(faces, g, tg)
			var mask int
			for _, m := range tg[model.CentersChannels*g*g:] {
				mask += int(m)
			}
			if mask > len(faces) || len(faces) > 0 && mask == 0 {
				t.Errorf("sample %d of epoch %d: %d faces, %d centre cells", i, e, len(faces), mask)
			}
		}
	}
	if counts[0] == 0 || counts[1] == 0 || counts[2] == 0 {
		t.Errorf("pictures by faces shown (0, 1, 2 or more): %v; want every kind", counts)
	}
	img, pts := d.valView(0, 45)
	if img.W != cfg.Size || model.FaceGeometry(pts).X < 0 || model.FaceGeometry(pts).X > float64(cfg.Size) {
		t.Errorf("val view turned 45°: %d px, face at %+v", img.W, model.FaceGeometry(pts))
	}
}

// TestCentersRun trains a tiny centers model for two epochs, resumes it for a third and checks
// the log's validation figures.
func TestCentersRun(t *testing.T) {
	data := testcache.Fixture(t, 20, cache.Options{Size: 64, Seed: 1})
	cfg := centersConfig(data, filepath.Join(t.TempDir(), "run"))
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 2 || res.Best.Centers == nil {
		t.Fatalf("result %+v, want 2 epochs and a centers report", res)
	}
	if _, err := Resume(context.Background(), cfg.Out, ResumeOptions{Quiet: true, Epochs: 3}, io.Discard); err != nil {
		t.Fatal(err)
	}
	log, err := ReadLog(cfg.Out)
	if err != nil || len(log) != 3 {
		t.Fatalf("log %+v (%v), want 3 epochs", log, err)
	}
	for _, e := range log {
		c := e.Centers
		if c == nil || c.Faces == 0 || c.Recall < 0 || c.Recall > 1 || c.AngleErr < 0 || c.AngleErr > 180 || math.IsNaN(e.TrainLoss) {
			t.Errorf("epoch %d: %+v, centers %+v", e.Epoch, e, c)
		}
	}
	m, err := model.Load(refBackend(t), filepath.Join(cfg.Out, "last.safetensors"))
	if err != nil || m.Spec.Stage != model.Centers {
		t.Fatalf("last checkpoint: %v, %+v", err, m)
	}
}
