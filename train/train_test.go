package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catmark/catmark/imgproc"

	"github.com/catmark/catmark/cache"
	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/internal/testcache"
	"github.com/catmark/catmark/model"
)

// testCache prepares a small cache (size 32) from n photos of the committed fixture, spread over
// it.
func testCache(t *testing.T, n int) string {
	t.Helper()
	return testcache.Fixture(t, n, cache.Options{Size: 32, Seed: 1})
}

// tinyConfig is a run small enough for a test on the reference backend.
func tinyConfig(data, out string) Config {
	c := Defaults()
	c.Data, c.Out, c.Backend = data, out, "ref"
	c.Width, c.Size, c.Batch, c.Epochs, c.Budget = 4, 32, 8, 3, 0
	c.Quiet = true
	return c
}

func TestRunWritesRun(t *testing.T) {
	data := testCache(t, 40)
	for _, stage := range []model.Stage{model.Whole, model.Crop} {
		t.Run(string(stage), func(t *testing.T) {
			cfg := tinyConfig(data, filepath.Join(t.TempDir(), "run"))
			cfg.Stage, cfg.Epochs = stage, 2
			res, err := Run(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Epochs != 2 {
				t.Errorf("trained %d epochs, want 2", res.Epochs)
			}
			log, err := ReadLog(cfg.Out)
			if err != nil || len(log) != 2 || log[0].Epoch != 1 || log[1].Epoch != 2 {
				t.Fatalf("metrics log = %+v (%v), want epochs 1 and 2", log, err)
			}
			for _, e := range log {
				if !(e.ValNME > 0) || math.IsInf(e.ValNME, 0) || !(e.TrainLoss > 0) {
					t.Errorf("epoch %d: NME %v, train loss %v; want finite positive figures", e.Epoch, e.ValNME, e.TrainLoss)
				}
			}
			m, err := model.Load(refBackend(t), filepath.Join(cfg.Out, "best.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if m.Spec.Stage != stage || m.Spec.Size != 32 || m.Spec.Width != 4 {
				t.Errorf("best checkpoint's spec = %+v", m.Spec)
			}
			if _, err := Run(context.Background(), cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "--resume") {
				t.Errorf("a second Run into the same folder: error %v, want one pointing to --resume", err)
			}
		})
	}
}

// TestValEvery validates every second epoch and the last: the other epochs' log lines have no
// validation figures, and best.safetensors is the best validated epoch.
func TestValEvery(t *testing.T) {
	cfg := tinyConfig(testCache(t, 40), filepath.Join(t.TempDir(), "run"))
	cfg.Epochs, cfg.ValEvery = 5, 2
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log, err := ReadLog(cfg.Out)
	if err != nil || len(log) != 5 {
		t.Fatalf("metrics log = %+v (%v), want 5 epochs", log, err)
	}
	for _, e := range log {
		want := e.Epoch == 2 || e.Epoch == 4 || e.Epoch == 5
		if e.Validated() != want || (want && !(e.ValNME > 0 && e.ValLoss > 0)) {
			t.Errorf("epoch %d: validated %v (NME %v, loss %v), want %v", e.Epoch, e.Validated(), e.ValNME, e.ValLoss, want)
		}
		if !want && e.Best {
			t.Errorf("epoch %d was not validated but is marked best", e.Epoch)
		}
	}
	b, err := os.ReadFile(filepath.Join(cfg.Out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if strings.Contains(lines[0], "val_") || !strings.Contains(lines[1], `"val_nme"`) {
		t.Errorf("metrics.jsonl lines 1 and 2:\n%s\n%s\nwant val_* keys on the validated epoch only", lines[0], lines[1])
	}
	if !slices.Contains([]int{2, 4, 5}, res.Best.Epoch) || res.Last.Epoch != 5 || !res.Last.Validated() {
		t.Errorf("best epoch %d, last %d (validated %v): want the best of 2, 4, 5 and a validated last", res.Best.Epoch, res.Last.Epoch, res.Last.Validated())
	}
	cfg.ValEvery = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "val-every") {
		t.Errorf("ValEvery -1: error %v, want one naming val-every", err)
	}
}

// TestKillAndResume kills a training process with SIGKILL after its first checkpoint, resumes it,
// and checks that the run completes with one log line per epoch and the weights of a run that
// was never interrupted.
func TestKillAndResume(t *testing.T) {
	if os.Getenv("CATMARK_TRAIN_CHILD") != "" {
		var cfg Config
		if err := json.Unmarshal([]byte(os.Getenv("CATMARK_TRAIN_CHILD")), &cfg); err != nil {
			t.Fatal(err)
		}
		cfg.Quiet = true
		Run(context.Background(), cfg, io.Discard)
		return
	}
	data := testCache(t, 40)
	cfg := tinyConfig(data, filepath.Join(t.TempDir(), "killed"))
	cfg.Epochs = 4
	b, _ := json.Marshal(cfg)
	child := exec.Command(os.Args[0], "-test.run=^TestKillAndResume$")
	child.Env = append(os.Environ(), "CATMARK_TRAIN_CHILD="+string(b))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(cfg.Out, "last.safetensors")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(last); err == nil {
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("the child wrote no checkpoint within 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	child.Process.Kill() // SIGKILL: no chance to clean up
	child.Wait()

	res, err := Resume(context.Background(), cfg.Out, ResumeOptions{Quiet: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 4 {
		t.Errorf("resumed run ended after epoch %d, want 4", res.Epochs)
	}
	log, err := ReadLog(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range log {
		if e.Epoch != i+1 {
			t.Fatalf("metrics log epochs %v: want 1, 2, 3, 4 once each", epochs(log))
		}
	}
	if len(log) != 4 {
		t.Fatalf("metrics log epochs %v: want 1, 2, 3, 4", epochs(log))
	}

	straight := cfg
	straight.Out = filepath.Join(t.TempDir(), "straight")
	if _, err := Run(context.Background(), straight, io.Discard); err != nil {
		t.Fatal(err)
	}
	b1, b2 := weightsOf(t, last), weightsOf(t, filepath.Join(straight.Out, "last.safetensors"))
	if len(b1) != len(b2) {
		t.Fatalf("parameter counts differ: %d and %d", len(b1), len(b2))
	}
	var worst float64
	for i := range b1 {
		worst = math.Max(worst, math.Abs(float64(b1[i]-b2[i])))
	}
	if worst > 1e-4 {
		t.Errorf("resumed run's weights differ from an uninterrupted run's by up to %g", worst)
	}
}

func epochs(log []EpochLog) []int {
	var out []int
	for _, e := range log {
		out = append(out, e.Epoch)
	}
	return out
}

func weightsOf(t *testing.T, path string) []float32 {
	t.Helper()
	m, err := model.Load(refBackend(t), path)
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for _, p := range m.Params() {
		out = append(out, m.B.ToHost(p.Value)...)
	}
	return out
}

// TestDivergenceKeepsCheckpoint resumes a run with an absurd learning rate: training must stop
// with ErrDiverged and leave the last good checkpoint byte for byte as it was.
func TestDivergenceKeepsCheckpoint(t *testing.T) {
	data := testCache(t, 40)
	cfg := tinyConfig(data, filepath.Join(t.TempDir(), "run"))
	cfg.Epochs, cfg.Optimizer, cfg.Schedule = 1, "sgd", "constant"
	if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(cfg.Out, "last.safetensors")
	before, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Epochs, cfg.LR = 3, 1e38
	if err := writeConfig(cfg); err != nil {
		t.Fatal(err)
	}
	_, err = Resume(context.Background(), cfg.Out, ResumeOptions{Quiet: true}, io.Discard)
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("Resume with lr 1e38: error %v, want ErrDiverged", err)
	}
	if !strings.Contains(err.Error(), "last.safetensors") {
		t.Errorf("error %q does not name the intact checkpoint", err)
	}
	after, err := os.ReadFile(last)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("last checkpoint changed after divergence (read error %v)", err)
	}
}

func TestConfigErrors(t *testing.T) {
	base := tinyConfig("data", "out")
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no data", func(c *Config) { c.Data = "" }, "--data"},
		{"depth", func(c *Config) { c.Depth = 20 }, "depth 20"},
		{"stage", func(c *Config) { c.Stage = "face" }, `stage "face"`},
		{"optimizer", func(c *Config) { c.Optimizer = "lion" }, `optimiser "lion"`},
		{"lr", func(c *Config) { c.LR = 0 }, "learning rate"},
		{"spread on a pooled head", func(c *Config) { c.Spread = 1 }, "--head integral"},
		{"negative spread", func(c *Config) { c.Head, c.Spread = "integral", -1 }, "spread -1"},
		{"spread sigma alone", func(c *Config) { c.Head, c.SpreadSigma = "integral", 2 }, "without --spread"},
	}
	for _, tc := range tests {
		c := base
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
	if _, err := Run(context.Background(), Config{Data: t.TempDir(), Out: t.TempDir() + "/x", Stage: model.Whole, Depth: 18, Width: 4, Size: 32, Batch: 1, Epochs: 1, LR: 1, Norm: "unit", Optimizer: "sgd", Schedule: "constant", Backend: "ref"}, io.Discard); err == nil || !strings.Contains(err.Error(), "not a prepared cache") {
		t.Errorf("Run on a folder without a cache: %v", err)
	}
}

// refBackend opens the reference backend.
func refBackend(t *testing.T) engine.Backend {
	t.Helper()
	b, err := engine.Open("ref")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A run initialised from a checkpoint starts from its weights, head included.
func TestInitFromCheckpoint(t *testing.T) {
	data := testCache(t, 40)
	cfg := tinyConfig(data, filepath.Join(t.TempDir(), "first"))
	cfg.Epochs = 1
	if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	best := filepath.Join(cfg.Out, "best.safetensors")
	m, err := model.New(refBackend(t), model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Whole, Norm: "imagenet"}, 99)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadInit(m, best); err != nil {
		t.Fatal(err)
	}
	want := weightsOf(t, best)
	var got []float32
	for _, p := range m.Params() {
		got = append(got, m.B.ToHost(p.Value)...)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d: %v after LoadInit, %v in the checkpoint", i, got[i], want[i])
		}
	}
}

// A presence model starts from a landmark checkpoint (head rows copied), trains on face and
// faceless crops, and predicts a presence in (0, 1) beside its points.
func TestPresenceModel(t *testing.T) {
	data := testCache(t, 40)
	dir := t.TempDir()
	cfg := tinyConfig(data, filepath.Join(dir, "landmarks"))
	cfg.Stage, cfg.Epochs = model.Crop, 1
	if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	init := filepath.Join(cfg.Out, "best.safetensors")

	b := refBackend(t)
	spec := model.Spec{Depth: 18, Width: 4, Size: 32, Stage: model.Crop, Norm: "imagenet", Margin: 0.3, Presence: true}
	m, err := model.New(b, spec, 99)
	if err != nil {
		t.Fatal(err)
	}
	if m.Outputs() != 19 {
		t.Fatalf("Outputs() = %d, want 19", m.Outputs())
	}
	var fcRow18 []float32
	in := 0 // the head's inputs
	for _, p := range m.Params() {
		if p.Name == "fc.weight" {
			v := b.ToHost(p.Value)
			in = len(v) / 19
			fcRow18 = append(fcRow18, v[18*in:]...)
		}
	}
	if err := LoadInit(m, init); err != nil {
		t.Fatal(err)
	}
	want := weightsOf(t, init)
	var got []float32
	for _, p := range m.Params() {
		v := b.ToHost(p.Value)
		switch p.Name {
		case "fc.weight":
			if !slices.Equal(v[18*in:], fcRow18) {
				t.Error("LoadInit changed the presence row of fc.weight")
			}
			v = v[:18*in]
		case "fc.bias":
			v = v[:18]
		}
		got = append(got, v...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("LoadInit: %d values, checkpoint %d, or values differ", len(got), len(want))
	}

	cfg.Out, cfg.Init, cfg.Negatives, cfg.Epochs = filepath.Join(dir, "presence"), init, 0.5, 2
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Last; math.IsNaN(l.TrainLoss) || l.TrainLoss <= 0 || math.IsNaN(res.Best.ValNME) {
		t.Fatalf("last epoch %+v: want a finite positive loss and NME", l)
	}
	pm, err := model.Load(b, filepath.Join(cfg.Out, "best.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !pm.Spec.Presence {
		t.Fatal("a run with negatives saved a model without presence")
	}
	x := make([]float32, 2*3*32*32)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	raw := pm.Forward(x, 2)
	out := pm.Predict(x, 2)
	if len(raw) != 2*19 || len(out) != 2 {
		t.Fatalf("Forward gave %d values and Predict %d outputs, want 38 and 2", len(raw), len(out))
	}
	for i, o := range out {
		if !(o.Presence > 0 && o.Presence < 1) || o.Presence != float64(raw[i*19+18]) {
			t.Errorf("presence %v outside (0, 1) or not output 19 (%v)", o.Presence, raw[i*19+18])
		}
		if o.Points[8].Y != float64(raw[i*19+17]) {
			t.Errorf("input %d: last point's y %v, raw output 18 is %v", i, o.Points[8].Y, raw[i*19+17])
		}
	}
}

// The crop frame cuts faceless crops (NaN truth) for about the share Negatives of its draws.
func TestNegativeCrops(t *testing.T) {
	data, err := cache.Open(testCache(t, 20))
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig("", "")
	cfg.Stage, cfg.Negatives = model.Crop, 0.3
	frame := cropFrame(data, cfg, true)
	rng := rand.New(rand.NewPCG(1, 2))
	none := 0
	const draws = 400
	for k := range draws {
		i := k % data.Len()
		img, pts := frame(rng, i, &imgproc.RGB{W: 32, H: 32, Pix: data.Pixels(i)})
		if img.W != cfg.Size {
			t.Fatalf("crop %d×%d, want %d", img.W, img.H, cfg.Size)
		}
		if math.IsNaN(pts[0].X) {
			none++
			for _, p := range pts {
				if !math.IsNaN(p.X) || !math.IsNaN(p.Y) {
					t.Fatalf("a faceless crop's truth mixes NaN and numbers: %v", pts)
				}
			}
		}
	}
	if share := float64(none) / draws; share < 0.22 || share > 0.38 {
		t.Errorf("%.2f of crops faceless, want about 0.3", share)
	}
	if frame := cropFrame(data, cfg, false); math.IsNaN(func() float64 {
		_, p := frame(rng, 0, &imgproc.RGB{W: 32, H: 32, Pix: data.Pixels(0)})
		return p[0].X
	}()) {
		t.Error("a validation crop is faceless")
	}
}

// With TurnedNegatives, a faceless crop is the face's own crop turned by one, two or three
// quarters (without jitter: exactly, up to rounding), and all three turns occur.
func TestTurnedNegativeCrops(t *testing.T) {
	data, err := cache.Open(testCache(t, 20))
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig("", "")
	cfg.Stage, cfg.Negatives, cfg.TurnedNegatives, cfg.Scale, cfg.Shift = model.Crop, 0.5, 1, 0, 0
	frame := cropFrame(data, cfg, true)
	plain := cropFrame(data, cfg, false)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	for k := range 200 {
		i := k % data.Len()
		photo := &imgproc.RGB{W: 32, H: 32, Pix: data.Pixels(i)}
		img, pts := frame(rng, i, photo)
		if !math.IsNaN(pts[0].X) {
			continue
		}
		face, _ := plain(rng, i, photo)
		match := 0
		for q := 1; q <= 3; q++ {
			if near(img, face.TurnQuarter(q)) {
				match = q
			}
		}
		if match == 0 {
			t.Fatalf("draw %d: a faceless crop that is not the face crop turned", k)
		}
		seen[match] = true
	}
	if len(seen) != 3 {
		t.Errorf("turns seen %v, want all three", seen)
	}
	cfg.Data, cfg.Out, cfg.TurnedNegatives, cfg.Negatives = "data", "out", 0.5, 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "turned negatives") {
		t.Errorf("turned negatives without negatives: Validate() = %v", err)
	}
}

// near reports whether two images have the same size and differ by at most 1 in every value.
func near(a, b *imgproc.RGB) bool {
	if a.W != b.W || a.H != b.H {
		return false
	}
	for i := range a.Pix {
		if d := int(a.Pix[i]) - int(b.Pix[i]); d < -1 || d > 1 {
			return false
		}
	}
	return true
}

// GradNorms gives the same norm for the same loss and scales with a loss's weight.
func TestGradNorms(t *testing.T) {
	cfg := tinyConfig(testCache(t, 20), t.TempDir())
	cfg.Batch = 4
	g, err := GradNorms(cfg, []string{"mse", "mse", "3*mse", "mse+ddmse:1-8+area"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !(g[0] > 0) || math.Abs(g[0]-g[1]) > 1e-6*g[0] || math.Abs(g[2]-3*g[0]) > 1e-3*g[0] {
		t.Errorf("norms %v: want mse twice the same and 3*mse three times it", g)
	}
	if !(g[3] > g[0]) {
		t.Errorf("norms %v: the structured loss's gradient should be larger than MSE's (it adds terms)", g)
	}
	if _, err := GradNorms(cfg, []string{"nonsense"}, 1); err == nil {
		t.Error("GradNorms of an unknown loss: no error")
	}
}

// --spread reaches the integral head, with σ 1 cell unless set, and nothing else gets it.
func TestSpreadReachesHead(t *testing.T) {
	b := refBackend(t)
	for _, tc := range []struct {
		spread, sigma, wantSigma float64
	}{{0, 0, 0}, {0.5, 0, 1}, {2, 1.5, 1.5}} {
		cfg := tinyConfig("data", "out")
		cfg.Head, cfg.Stages, cfg.Spread, cfg.SpreadSigma = "integral", 3, tc.spread, tc.sigma
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		m, err := newNet(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Net.IntegralHead()
		if h == nil || h.SpreadWeight != tc.spread || h.SpreadSigma != tc.wantSigma {
			t.Errorf("spread %v, sigma %v: head %+v", tc.spread, tc.sigma, h)
		}
	}
}

// --small-size trains the first --small-share of the run at the small side, then at the run's,
// and the log says which epochs were small; validation stays at the run's side.
func TestProgressiveResizing(t *testing.T) {
	data := testCache(t, 40)
	for _, stage := range []model.Stage{model.Whole, model.Crop} {
		t.Run(string(stage), func(t *testing.T) {
			cfg := tinyConfig(data, filepath.Join(t.TempDir(), "run"))
			cfg.Stage, cfg.Size, cfg.SmallSize, cfg.SmallShare, cfg.Epochs = stage, 48, 32, 0.5, 4
			c, err := cache.Open(data)
			if err != nil {
				t.Fatal(err)
			}
			b := newBatcher(c, cfg)
			for small, want := range map[bool]int{true: 32, false: 48} {
				for batch := range b.Train([]int{0, 1, 2, 3, 4, 5, 6, 7}, 1, small) {
					if batch.Size != want || len(batch.X) != batch.N*3*want*want {
						t.Errorf("small %v: batch of side %d (%d values for %d), want %d", small, batch.Size, len(batch.X), batch.N, want)
					}
					batch.Release()
				}
			}
			if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
				t.Fatal(err)
			}
			logs, err := ReadLog(cfg.Out)
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			for _, e := range logs {
				sizes = append(sizes, e.Size)
				if !e.Validated() || !(e.ValNME > 0) {
					t.Errorf("epoch %d not validated: %+v", e.Epoch, e)
				}
			}
			if !slices.Equal(sizes, []int{32, 32, 0, 0}) {
				t.Errorf("logged training sides %v, want [32 32 0 0] (0: the run's)", sizes)
			}
		})
	}
	cfg := tinyConfig("data", "out")
	for _, tc := range []struct {
		size  int
		share float64
		want  string
	}{{32, 0, "small share 0"}, {16, 0.5, "small size 16"}, {32, 1, "small share 1"}, {0, 0.5, "without --small-size"}} {
		cfg.Size, cfg.SmallSize, cfg.SmallShare = 48, tc.size, tc.share
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("small size %d share %g: %v, want an error mentioning %q", tc.size, tc.share, err, tc.want)
		}
	}
}
