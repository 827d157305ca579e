package train

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/model"
)

// backbone trains a one-epoch whole-photo model (integral head, three stages, like the recipe's
// coarse model) to serve as the initial weights of a frozen run.
func backbone(t *testing.T, data string) string {
	t.Helper()
	cfg := tinyConfig(data, filepath.Join(t.TempDir(), "backbone"))
	cfg.Head, cfg.Stages, cfg.Epochs = "integral", 3, 1
	if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(cfg.Out, "best.safetensors")
}

// frozenConfig is the seed's setting on the fixture: crops of the true face, flips only, SGD,
// the backbone frozen up to layer2.
func frozenConfig(data, init, out string) Config {
	c := tinyConfig(data, out)
	c.Stage, c.Head, c.Stages = model.Crop, "integral", 3
	c.Scale, c.Shift, c.Rotate, c.Flip, c.PCA = 0, 0, 0, true, false
	c.Init, c.Freeze = init, []string{"stem", "layer1", "layer2"}
	c.Optimizer, c.LR, c.Momentum, c.Decay, c.Schedule = "sgd", 1e-2, 0.9, 0, "constant"
	c.Loss, c.Epochs = "mse+ddmse:1-8+area", 2
	return c
}

func close32(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*(1+math.Abs(b))
}

// One step on cached features gives the loss and gradients of one step through the frozen
// network, on the same batch (same seed, same order, same flips).
func TestCacheFrozenStepMatchesFrozenNetwork(t *testing.T) {
	data := testCache(t, 40)
	init := backbone(t, data)
	dir := t.TempDir()
	cached := frozenConfig(data, init, filepath.Join(dir, "cached"))
	cached.CacheFrozen = true
	plain := frozenConfig(data, init, filepath.Join(dir, "plain"))

	tc, err := setup(cached, false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := setup(plain, false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if tc.feats == nil || tp.feats != nil {
		t.Fatalf("features: cached run %v, plain run %v; want only the cached run's", tc.feats != nil, tp.feats != nil)
	}
	if _, err := os.Stat(filepath.Join(dir, "cached")); err != nil {
		t.Fatal(err)
	}
	for epoch := 1; epoch <= 2; epoch++ {
		var fx, fy []float32
		var fn int
		var fidx []int
		for b := range tc.feats.epoch(epoch) {
			fx, fy, fn, fidx = b.X, b.Y, b.N, b.Index
			break
		}
		var px, py []float32
		var pn int
		var pidx []int
		for b := range tp.batches.Train(tp.trainIdx, epoch, false) {
			px, py, pn, pidx = append([]float32(nil), b.X...), append([]float32(nil), b.Y...), b.N, append([]int(nil), b.Index...)
			b.Release()
			break
		}
		if fn != pn || fn == 0 {
			t.Fatalf("epoch %d: first batch of %d features, %d photos", epoch, fn, pn)
		}
		for k := range fidx {
			if fidx[k] != pidx[k] {
				t.Fatalf("epoch %d: sample %d is photo %d cached, %d plain", epoch, k, fidx[k], pidx[k])
			}
		}
		for k := range fy {
			if fy[k] != py[k] {
				t.Fatalf("epoch %d: truth value %d: %v cached, %v plain (a flip differs?)", epoch, k, fy[k], py[k])
			}
		}
		grad := make([]float32, fn*tc.net.Outputs())
		lc := tc.feats.step(tc.net, fx, fy, fn, tc.lossFn, grad)
		lp := Step(tp.net, px, py, pn, tp.lossFn, grad)
		if !close32(lc, lp, 1e-5) {
			t.Errorf("epoch %d: loss %v on cached features, %v through the frozen network", epoch, lc, lp)
		}
		pc, pp := tc.net.Params(), tp.net.Params()
		trainable := 0
		for i := range pc {
			if pc[i].Frozen != pp[i].Frozen || (pc[i].Grad == nil) != (pp[i].Grad == nil) {
				t.Fatalf("%s: frozen %v/%v, gradient %v/%v (cached/plain)", pc[i].Name, pc[i].Frozen, pp[i].Frozen, pc[i].Grad != nil, pp[i].Grad != nil)
			}
			if pc[i].Grad == nil {
				continue
			}
			trainable++
			gc, gp := tc.b.Data(pc[i].Grad), tp.b.Data(pp[i].Grad)
			var scale float64
			for _, v := range gp {
				scale = max(scale, math.Abs(float64(v)))
			}
			for k := range gc {
				if math.Abs(float64(gc[k]-gp[k])) > 1e-4*(scale+1e-6) {
					t.Fatalf("epoch %d: %s gradient %d: %v cached, %v plain", epoch, pc[i].Name, k, gc[k], gp[k])
				}
			}
		}
		if trainable == 0 || strings.HasPrefix(pc[0].Name, "conv1") && pc[0].Grad != nil {
			t.Fatalf("%d trainable tensors with gradients; conv1 has one: %v", trainable, pc[0].Grad != nil)
		}
	}
}

// Whole runs agree: two epochs on cached features log the losses and validation figures of two
// epochs through the frozen network, and end at the same weights; a second run reuses the file.
func TestCacheFrozenRunMatchesFrozenRun(t *testing.T) {
	data := testCache(t, 40)
	init := backbone(t, data)
	dir := t.TempDir()
	cached := frozenConfig(data, init, filepath.Join(dir, "cached"))
	cached.CacheFrozen = true
	plain := frozenConfig(data, init, filepath.Join(t.TempDir(), "plain"))
	if _, err := Run(context.Background(), cached, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), plain, io.Discard); err != nil {
		t.Fatal(err)
	}
	lc, _ := ReadLog(cached.Out)
	lp, _ := ReadLog(plain.Out)
	if len(lc) != 2 || len(lp) != 2 {
		t.Fatalf("%d and %d epochs logged, want 2", len(lc), len(lp))
	}
	for i := range lc {
		c, p := lc[i], lp[i]
		for _, v := range []struct {
			name string
			a, b float64
		}{{"train loss", c.TrainLoss, p.TrainLoss}, {"val loss", c.ValLoss, p.ValLoss}, {"val MSE", c.ValMSE, p.ValMSE}, {"val NME", c.ValNME, p.ValNME}} {
			if !close32(v.a, v.b, 1e-4) {
				t.Errorf("epoch %d: %s %v cached, %v through the frozen network", c.Epoch, v.name, v.a, v.b)
			}
		}
	}
	wc, wp := weightsOf(t, filepath.Join(cached.Out, lastFile)), weightsOf(t, filepath.Join(plain.Out, lastFile))
	for i := range wc {
		if !close32(float64(wc[i]), float64(wp[i]), 1e-3) {
			t.Fatalf("weight %d: %v cached, %v plain", i, wc[i], wp[i])
		}
	}

	path, _, err := FeatureFile(cached)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("feature file %s, want it beside the run folder in %s", path, dir)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	again := cached
	again.Out, again.Seed, again.Epochs = filepath.Join(dir, "seed2"), 2, 1
	var log strings.Builder
	if _, err := Run(context.Background(), again, &log); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if strings.Contains(log.String(), "computing") || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a second run beside the first recomputed the features: %q", log.String())
	}

	// Another backbone or another crop gives another file.
	other := cached
	other.Margin = 0.4
	if p, _, _ := FeatureFile(other); p == path {
		t.Errorf("margin 0.4 and 0.3 share the feature file %s", p)
	}
	other = cached
	other.Init = filepath.Join(plain.Out, lastFile)
	if p, _, _ := FeatureFile(other); p == path {
		t.Errorf("two backbones share the feature file %s", p)
	}
}

// CacheFrozen refuses what cannot be cached, naming the setting.
func TestCacheFrozenConfigErrors(t *testing.T) {
	base := frozenConfig("data", "init.safetensors", "out")
	base.CacheFrozen = true
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no freeze", func(c *Config) { c.Freeze = nil }, "--freeze"},
		{"no init", func(c *Config) { c.Init = "" }, "--init"},
		{"pca", func(c *Config) { c.PCA = true }, "PCA"},
		{"rotate", func(c *Config) { c.Rotate = 10 }, "rotate 10"},
		{"shift", func(c *Config) { c.Shift = 0.1 }, "shift 0.1"},
		{"scale", func(c *Config) { c.Scale = 0.2 }, "scale 0.2"},
		{"small size", func(c *Config) { c.SmallSize, c.SmallShare = 64, 0.5 }, "small size"},
	} {
		cfg := base
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("the seed's setting: %v", err)
	}
}

// FreshHead loads the backbone from Init and keeps the head's initialisation from the seed.
func TestFreshHead(t *testing.T) {
	data := testCache(t, 40)
	init := backbone(t, data)
	cfg := frozenConfig(data, init, filepath.Join(t.TempDir(), "run"))
	cfg.FreshHead = true
	b := refBackend(t)
	m, err := newNet(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := newNet(b, cfg)
	if err := loadInit(m, cfg); err != nil {
		t.Fatal(err)
	}
	src, err := model.Load(b, init)
	if err != nil {
		t.Fatal(err)
	}
	heads := 0
	for i, p := range m.Params() {
		got := b.ToHost(p.Value)
		want := b.ToHost(src.Params()[i].Value)
		head := strings.HasPrefix(p.Name, "heatmap.")
		if head {
			heads++
			want = b.ToHost(fresh.Params()[i].Value)
		}
		for k := range got {
			if got[k] != want[k] {
				t.Fatalf("%s value %d: %v, want %v (head %v)", p.Name, k, got[k], want[k], head)
			}
		}
	}
	if heads == 0 {
		t.Fatal("no head tensor checked")
	}
	if cfg.Init = ""; cfg.Validate() == nil {
		t.Error("a fresh head without --init was accepted")
	}
}
