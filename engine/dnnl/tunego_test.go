//go:build cgo && !nodnnl

package dnnl

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/purego"
	"github.com/catmark/catmark/engine/ref"
)

// judged is one timed convolution choice as Backend.judge saw it.
type judged struct {
	kind     int
	xs, ws   string
	provider bool // engine/purego's Winograd was among the candidates
}

// fixedJudge returns a Backend.judge that makes timed choices deterministic: oneDNN's first
// choice is fastest of oneDNN's candidates, and engine/purego's Winograd, where timed, is faster
// than it for the passes and weight shapes goWins names, slower for the rest. Each choice is
// appended to *seen.
func fixedJudge(goWins func(kind int, ws []int) bool, seen *[]judged) func(int, []int, []int, []time.Duration, bool) {
	return func(kind int, xs, ws []int, times []time.Duration, provider bool) {
		*seen = append(*seen, judged{kind, fmt.Sprint(xs), fmt.Sprint(ws), provider})
		for i := range times {
			times[i] = time.Hour
		}
		times[0] = time.Millisecond
		if provider && goWins(kind, ws) {
			times[len(times)-1] = 0
		}
	}
}

// newTuneGo returns a backend in CATMARK_DNNL_CONV=tune-go mode with every 3×3 stride-1 layer a
// provider candidate (CATMARK_WINOGRAD=on) and its timed choices decided by fixedJudge.
func newTuneGo(t *testing.T, goWins func(kind int, ws []int) bool, seen *[]judged) *Backend {
	b := newBackend(t)
	b.convAlgo, b.goWino, b.layout = convTuneGo, purego.WinogradOn, layoutBlocked
	b.judge = fixedJudge(goWins, seen)
	return b
}

// TestTuneGoChoice checks CATMARK_DNNL_CONV=tune-go's per-layer choice between oneDNN and
// engine/purego's Winograd with the timing's verdict fixed (provider faster, or oneDNN faster):
// the forward and input gradient of a 3×3 stride-1 layer each time the provider beside oneDNN's
// candidates once, run on the winner (ConvPaths, and Impl's go-winograd entries, say which), and
// match the reference backend; the weight gradient never times the provider. A repeat of the
// same batch makes and times nothing more, another batch of its power-of-two bucket times
// nothing and takes the same path, and an inference convolution of batch 20 is timed on
// tuneBatch and its choice taken by batch 40.
func TestTuneGoChoice(t *testing.T) {
	for _, providerWins := range []bool{true, false} {
		t.Run(fmt.Sprintf("provider-faster=%v", providerWins), func(t *testing.T) {
			var seen []judged
			b := newTuneGo(t, func(int, []int) bool { return providerWins }, &seen)
			testTuneGoChoice(t, b, providerWins, &seen)
		})
	}
}

func testTuneGoChoice(t *testing.T, b *Backend, providerWins bool, seen *[]judged) {
	r := ref.New()
	rng := enginetest.NewRand(31)
	ws := []int{32, 16, 3, 3}
	wh := enginetest.Rand(rng, engine.Numel(ws), 0.1)
	cp := engine.ConvParams{Stride: 1, Pad: 1}
	all := engine.Grads{Input: true, Params: true}
	wantPath := "onednn:"
	if providerWins {
		wantPath = "go_winograd:"
	}
	train := func(n int) {
		t.Helper()
		xs := []int{n, 16, 12, 12}
		xh := enginetest.Rand(rng, engine.Numel(xs), 1)
		dyh := enginetest.Rand(rng, n*32*12*12, 1)
		var res [2][][]float32
		for i, be := range []engine.Backend{b, r} {
			x, w := be.FromHost(xh, xs...), be.FromHost(wh, ws...)
			y := be.Conv2D(x, w, nil, cp)
			dx, dw, _ := be.Conv2DBackward(x, w, be.FromHost(dyh, y.Shape()...), cp, false, all)
			res[i] = [][]float32{be.ToHost(y), be.ToHost(dx), be.ToHost(dw)}
		}
		for i, what := range []string{"y", "dx", "dw"} {
			if e, err := enginetest.MaxRelErr(res[0][i], res[1][i]); err != nil || e > enginetest.Tolerance {
				t.Errorf("batch %d %s: relative error %g (%v), want ≤ %g", n, what, e, err, enginetest.Tolerance)
			}
		}
		paths := b.ConvPaths()
		for _, c := range []struct{ op, want string }{
			{"conv_fwd", wantPath}, {"conv_bwd_data", wantPath}, {"conv_bwd_weights", "onednn:"},
		} {
			key := c.op + " " + convDetail(xs, ws, cp)
			if got := paths[key]; !strings.HasPrefix(got, c.want) {
				t.Errorf("%s ran as %q, want %s…; paths %v", key, got, c.want, paths)
			}
		}
	}

	train(2)
	timed := map[int]int{}
	for _, j := range *seen {
		timed[j.kind]++
		if want := j.kind != passBackWeights; j.provider != want {
			t.Errorf("pass %d of x%s w%s: provider among the candidates %v, want %v", j.kind, j.xs, j.ws, j.provider, want)
		}
	}
	if timed[passForward] != 1 || timed[passBackData] != 1 || timed[passBackWeights] > 1 {
		t.Errorf("choices timed by pass %v, want one forward, one input gradient and at most one weight gradient", timed)
	}
	if want := map[bool]int{true: 2, false: 0}[providerWins]; len(b.goWinoUsed) != want {
		t.Errorf("convolutions run on the provider: %v, want %d (provider faster: %v)", b.goWinoUsed, want, providerWins)
	}
	// The same batch again: nothing made, nothing timed. Batch 3 (bucket 2): nothing timed.
	before, nSeen := b.Made(), len(*seen)
	train(2)
	if after := b.Made(); !maps.Equal(after.Prims, before.Prims) || after.Tuned != before.Tuned {
		t.Errorf("a repeated batch made or timed more: %+v, then %+v", before, after)
	}
	train(3)
	if after := b.Made(); after.Tuned != before.Tuned || len(*seen) != nSeen {
		t.Errorf("batch 3 timed again (%d choices, then %d), want batch 2's choices", before.Tuned, after.Tuned)
	}

	// Inference: batch 20 is timed on tuneBatch; batch 40 takes that choice.
	bnh := [][]float32{enginetest.Uniform(rng, 32, 0.5, 1.5), enginetest.Rand(rng, 32, 0.3), enginetest.Rand(rng, 32, 0.3), enginetest.Uniform(rng, 32, 0.5, 2)}
	for _, n := range []int{20, 40} {
		xs := []int{n, 16, 12, 12}
		xh := enginetest.Rand(rng, engine.Numel(xs), 1)
		before, nSeen := b.Made(), len(*seen)
		run := func(be engine.Backend) []float32 {
			y := be.Conv2D(be.FromHost(xh, xs...), be.FromHost(wh, ws...), nil, cp)
			bn := engine.BN{Gamma: be.FromHost(bnh[0], 32), Beta: be.FromHost(bnh[1], 32), RunMean: be.FromHost(bnh[2], 32), RunVar: be.FromHost(bnh[3], 32)}
			y, _ = be.BatchNorm(y, bn, engine.BNParams{Mode: engine.BNInfer, Eps: 1e-5, ReLU: true})
			return be.ToHost(y)
		}
		if e, err := enginetest.MaxRelErr(run(b), run(r)); err != nil || e > enginetest.Tolerance {
			t.Errorf("inference batch %d: relative error %g (%v)", n, e, err)
		}
		newSeen := (*seen)[nSeen:]
		switch {
		case n == 20 && (len(newSeen) != 1 || newSeen[0].xs != fmt.Sprint([]int{tuneBatch, 16, 12, 12}) || !newSeen[0].provider):
			t.Errorf("inference batch 20: choices timed %v, want one on batch %d with the provider", newSeen, tuneBatch)
		case n == 40 && (len(newSeen) != 0 || b.Made().Tuned != before.Tuned):
			t.Errorf("inference batch 40: choices timed %v, want none (batch %d's)", newSeen, tuneBatch)
		}
		key := "conv_fwd_fused " + convDetail(xs, ws, cp)
		if got := b.ConvPaths()[key]; !strings.HasPrefix(got, wantPath) {
			t.Errorf("%s ran as %q, want %s…", key, got, wantPath)
		}
	}
}

// TestTuneGoMixed runs a conv, batch norm with ReLU, conv, batch norm network forward and
// backward in CATMARK_DNNL_CONV=tune-go mode with one layer's choices won by engine/purego's
// Winograd and the other's by oneDNN (both ways round), its input and output gradient in the
// backend's blocked layout. Every result must match the reference backend within
// enginetest.ChainTolerance, ConvPaths and ProfileReport must name each layer's path, and a
// second step, its choices made, must reorder no activation or activation gradient: both paths
// read and write the blocked layout.
func TestTuneGoMixed(t *testing.T) {
	for _, block := range providerBlocks(t) {
		for _, first := range []bool{true, false} {
			t.Run(fmt.Sprintf("block%d/provider-first=%v", block, first), func(t *testing.T) { testTuneGoMixed(t, block, first) })
		}
	}
}

func testTuneGoMixed(t *testing.T, block int, providerFirst bool) {
	xs, w1s, w2s := []int{2, 16, 12, 12}, []int{32, 16, 3, 3}, []int{16, 32, 3, 3}
	y1s, y2s := []int{2, 32, 12, 12}, []int{2, 16, 12, 12}
	provWs := w1s
	if !providerFirst {
		provWs = w2s
	}
	var seen []judged
	b := newTuneGo(t, func(kind int, ws []int) bool { return slices.Equal(ws, provWs) }, &seen)
	b.block = block
	r := ref.New()
	rng := enginetest.NewRand(32)
	xh, dzh := enginetest.Rand(rng, engine.Numel(xs), 1), enginetest.Rand(rng, engine.Numel(y2s), 1)
	w1h, w2h := enginetest.Rand(rng, engine.Numel(w1s), 0.2), enginetest.Rand(rng, engine.Numel(w2s), 0.2)
	cp := engine.ConvParams{Stride: 1, Pad: 1}
	bnp1 := engine.BNParams{Mode: engine.BNTrain, Eps: 1e-5, Momentum: 0.1, ReLU: true}
	bnp2 := engine.BNParams{Mode: engine.BNTrain, Eps: 1e-5, Momentum: 0.1}
	all := engine.Grads{Input: true, Params: true}
	newBN := func(be engine.Backend, c int) engine.BN {
		return engine.BN{Gamma: be.FromHost(enginetest.Uniform(enginetest.NewRand(22), c, 0.5, 1.5), c), Beta: be.Zeros(c), RunMean: be.Zeros(c), RunVar: be.FromHost(enginetest.Uniform(enginetest.NewRand(23), c, 0.5, 2), c)}
	}
	step := func(be engine.Backend, prepare func(x, dz engine.Tensor), done func()) [][]float32 {
		x, dz := be.FromHost(xh, xs...), be.FromHost(dzh, y2s...)
		w1, w2 := be.FromHost(w1h, w1s...), be.FromHost(w2h, w2s...)
		bn1, bn2 := newBN(be, 32), newBN(be, 16)
		prepare(x, dz)
		y1 := be.Conv2D(x, w1, nil, cp)
		a1, s1 := be.BatchNorm(y1, bn1, bnp1)
		y2 := be.Conv2D(a1, w2, nil, cp)
		z, s2 := be.BatchNorm(y2, bn2, bnp2)
		dy2, _, _ := be.BatchNormBackward(y2, dz, bn2, s2, bnp2, all)
		da1, dw2, _ := be.Conv2DBackward(a1, w2, dy2, cp, false, all)
		dy1, _, _ := be.BatchNormBackward(y1, da1, bn1, s1, bnp1, all)
		dx, dw1, _ := be.Conv2DBackward(x, w1, dy1, cp, false, all)
		done()
		return [][]float32{be.ToHost(z), be.ToHost(dx), be.ToHost(dw1), be.ToHost(dw2)}
	}
	toBlocked := func(x, dz engine.Tensor) {
		for _, tt := range []engine.Tensor{x, dz} {
			tt := tt.(*tensor)
			b.relayout(tt, b.blockedMD(tt.shape))
		}
	}
	want := step(r, func(x, dz engine.Tensor) {}, func() {})
	first := step(b, toBlocked, func() {})
	nSeen, made := len(seen), b.Made()
	second := step(b, func(x, dz engine.Tensor) {
		toBlocked(x, dz)
		b.prof = newProfiler()
	}, func() {
		if found := activationReorders(b, xs, y1s, y2s); len(found) > 0 {
			t.Errorf("activations reordered during the second step:\n%s", strings.Join(found, "\n"))
		}
	})
	if len(seen) != nSeen || b.Made().Tuned != made.Tuned || !maps.Equal(b.Made().Prims, made.Prims) {
		t.Errorf("the second step timed or made more: %d choices timed, then %d; %+v, then %+v", nSeen, len(seen), made, b.Made())
	}
	for s, got := range [][][]float32{first, second} {
		for i, what := range []string{"z", "dx", "dw1", "dw2"} {
			if e, err := enginetest.MaxRelErr(got[i], want[i]); err != nil || e > enginetest.ChainTolerance {
				t.Errorf("step %d %s: relative error %g (%v), want ≤ %g", s+1, what, e, err, enginetest.ChainTolerance)
			}
		}
	}
	paths, report := b.ConvPaths(), b.ProfileReport(1)
	b.prof = nil
	for _, c := range []struct {
		op     string
		xs, ws []int
	}{
		{"conv_fwd", xs, w1s}, {"conv_bwd_data", xs, w1s}, {"conv_fwd", y1s, w2s}, {"conv_bwd_data", y1s, w2s},
	} {
		key := c.op + " " + convDetail(c.xs, c.ws, cp)
		want := "onednn:"
		if slices.Equal(c.ws, provWs) {
			want = fmt.Sprintf("go_winograd:%s blocked%d", purego.Kernel(), block)
		}
		if got := paths[key]; !strings.HasPrefix(got, want) {
			t.Errorf("%s ran as %q, want %s…", key, got, want)
		}
		if line := key + " → " + want; !strings.Contains(report, line) {
			t.Errorf("the profile report does not list %q:\n%s", line, report)
		}
	}
}

// TestTuneGoEnv checks that CATMARK_DNNL_CONV=tune-go selects the mode with CATMARK_WINOGRAD's
// rule, that the default stays tune (AVX-512) or direct, and that an unknown value's error names
// tune-go among the choices.
func TestTuneGoEnv(t *testing.T) {
	t.Setenv("CATMARK_DNNL_CONV", "tune-go")
	t.Setenv(purego.WinogradEnv, "on")
	if b := newBackend(t); b.convAlgo != convTuneGo || b.goWino != purego.WinogradOn {
		t.Errorf("tune-go: algorithm %d, rule %v; want tune-go with on", b.convAlgo, b.goWino)
	}
	t.Setenv(purego.WinogradEnv, "")
	if b := newBackend(t); b.goWino != purego.WinogradAuto {
		t.Errorf("tune-go without %s: rule %v, want auto", purego.WinogradEnv, b.goWino)
	}
	t.Setenv("CATMARK_DNNL_CONV", "")
	b := newBackend(t)
	if want := map[bool]int{true: convTune, false: convDirect}[b.block == 16]; b.convAlgo != want {
		t.Errorf("default algorithm %d with block %d, want %d", b.convAlgo, b.block, want)
	}
	t.Setenv("CATMARK_DNNL_CONV", "fastest")
	if _, err := New(); err == nil || !strings.Contains(err.Error(), "tune-go") {
		t.Errorf("New with CATMARK_DNNL_CONV=fastest: error %v, want one listing tune-go", err)
	}
}
