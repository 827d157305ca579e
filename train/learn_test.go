package train

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/internal/testcache"
)

// TestLearnsTheFixture trains a small model on the committed fixture, split by ID prefix, without
// augmentation: the faces are drawn to be learnable, so the training loss falls to a fraction of
// its first epoch's and the validation NME (on IDs never trained on) improves on the first
// epoch's. Both heads: pooled regression, and the integral head on three stages.
func TestLearnsTheFixture(t *testing.T) {
	data := testcache.Fixture(t, fixture.Count, cache.Options{Size: 48, GroupByPrefix: true, Seed: 1})
	for _, head := range []struct {
		name   string
		stages int
	}{{"pool", 4}, {"integral", 3}} {
		t.Run(head.name, func(t *testing.T) {
			cfg := tinyConfig(data, filepath.Join(t.TempDir(), "run"))
			cfg.Width, cfg.Size, cfg.Epochs = 8, 48, 8
			cfg.Head, cfg.Stages = head.name, head.stages
			cfg.Flip, cfg.Scale, cfg.Shift, cfg.Rotate = false, 0, 0, 0
			learns(t, cfg)
		})
	}
}

func learns(t *testing.T, cfg Config) {
	if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	log, err := ReadLog(cfg.Out)
	if err != nil || len(log) != cfg.Epochs {
		t.Fatalf("metrics log = %+v (%v), want %d epochs", log, err, cfg.Epochs)
	}
	first, last := log[0], log[len(log)-1]
	best := first.ValNME
	for _, e := range log {
		t.Logf("epoch %d: train loss %.5f, val NME %.3f", e.Epoch, e.TrainLoss, e.ValNME)
		best = min(best, e.ValNME)
	}
	if !(last.TrainLoss < first.TrainLoss/3) {
		t.Errorf("train loss %.5f after %d epochs, want under a third of the first epoch's %.5f", last.TrainLoss, last.Epoch, first.TrainLoss)
	}
	if !(best < first.ValNME*0.8) {
		t.Errorf("best validation NME %.3f, want 20 %% under the first epoch's %.3f", best, first.ValNME)
	}
}
