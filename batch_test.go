package catmark

import (
	"context"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/model"
)

// DetectBatch finds on each photo what DetectFace finds on it alone (the search included), in
// the photos' order; a too-small photo gets ErrTooSmall without spoiling the others, and an ended
// context stops the batch.
func TestBatchEqualsOneByOne(t *testing.T) {
	dir := t.TempDir()
	saveRandomModel(t, filepath.Join(dir, model.CoarseFile), model.Whole, 1)
	saveRandomSpec(t, filepath.Join(dir, model.RefineFile), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}, 2)
	det, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, search := range []float64{0, 1} { // never, always
		det.cfg.Search = search
		var imgs []image.Image
		for i := range 4 {
			imgs = append(imgs, decodeFixture(t, i))
		}
		imgs = append(imgs[:2], append([]image.Image{image.NewRGBA(image.Rect(0, 0, 5, 40))}, imgs[2:]...)...)
		got, err := det.DetectBatch(context.Background(), imgs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(imgs) {
			t.Fatalf("%d detections for %d photos", len(got), len(imgs))
		}
		for i, img := range imgs {
			p, f, err := det.DetectFace(img)
			if i == 2 {
				if !errors.Is(got[i].Err, ErrTooSmall) || !errors.Is(err, ErrTooSmall) {
					t.Errorf("5×40 photo: batch error %v, alone %v; want ErrTooSmall", got[i].Err, err)
				}
				continue
			}
			if err != nil || got[i].Err != nil {
				t.Fatalf("photo %d: %v, %v", i, err, got[i].Err)
			}
			if math.Abs(f-got[i].Faces[0].Presence) > 1e-5 {
				t.Errorf("search %v, photo %d: presence %v in the batch, %v alone", search, i, got[i].Faces[0].Presence, f)
			}
			for j := range p {
				if math.Abs(p[j].X-got[i].Faces[0].Points[j].X) > 1e-3 || math.Abs(p[j].Y-got[i].Faces[0].Points[j].Y) > 1e-3 {
					t.Errorf("search %v, photo %d, point %d: %v in the batch, %v alone", search, i, j, got[i].Faces[0].Points[j], p[j])
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := det.DetectBatch(ctx, []image.Image{decodeFixture(t, 0)}); !errors.Is(err, context.Canceled) {
		t.Errorf("DetectBatch with an ended context: %v, want context.Canceled", err)
	}
}

// decodeFixture reads the committed fixture's photo i.
func decodeFixture(t *testing.T, i int) image.Image {
	t.Helper()
	data, err := os.ReadFile(fixture.Path(t, i))
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := imgproc.DecodeBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
