package loss

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/catmark/catmark/landmark"
)

// line is a truth with all nine points on the line y = 0.5 at x = i/8 (dyadic, exact in binary).
func line() Vec {
	var t Vec
	for i := range landmark.N {
		t[2*i], t[2*i+1] = float64(i)/8, 0.5
	}
	return t
}

// face is a plausible truth: eyes, mouth, and two ears whose boxes are easy to read.
func face() Vec {
	return Vec{
		0.375, 0.5, // 0 left eye
		0.625, 0.5, // 1 right eye
		0.5, 0.75, // 2 mouth
		0.125, 0.375, // 3 left ear outer base  → left ear box x [0.125, 0.375], y [0.125, 0.375]
		0.25, 0.125, // 4 left ear tip
		0.375, 0.3125, // 5 left ear inner base
		0.625, 0.3125, // 6 right ear inner base → right ear box x [0.625, 0.875], y [0.125, 0.375]
		0.75, 0.125, // 7 right ear tip
		0.875, 0.375, // 8 right ear outer base
	}
}

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func sampleValue(tb testing.TB, name string, p, t Vec) float64 {
	tb.Helper()
	return MustParse(name).Sample(&p, &t, nil, 0)
}

func TestHandWorkedValues(t *testing.T) {
	// H8 = 1 + 1/2 + … + 1/8, the harmonic number.
	h8 := 0.0
	for m := 1; m <= 8; m++ {
		h8 += 1 / float64(m)
	}
	cWing := WingW - WingW*math.Log(1+WingW/WingEps) // 0.05 − 0.05·ln 6

	// Case A: truth = line(); the prediction moves point 0's x by +0.1.
	offEnd := line()
	offEnd[0] += 0.1
	// Case B: the prediction moves point 4 (the middle of the line) by +0.1 in y.
	offMid := line()
	offMid[9] += 0.1

	tests := []struct {
		name string
		p, t Vec
		want float64
		why  string
	}{
		{"mse", offEnd, line(), 0.01 / 18,
			"one of 18 values off by 0.1: 0.1²/18"},
		{"ddmse:1", offEnd, line(), 0.01 / 16,
			"point 0 is in one difference (p1−p0) of 16 values: 0.1²/16"},
		{"ddmse:8", offEnd, line(), 0.01 / 2,
			"DDMSE(8) has 2 values, (p8−p0) on x and y; x off by 0.1: 0.1²/2"},
		{"ddmse:1-8", offEnd, line(), 0.005 * h8,
			"DDMSE(k) = 0.01/(2·(9−k)), summed over k=1…8: 0.005·(1+1/2+…+1/8)"},
		{"ddmse:1-8", offMid, line(), 0.01 * (2.0/16 + 2.0/14 + 2.0/12 + 2.0/10),
			"point 4 is in two differences for k ≤ 4 (j=4 and j=4−k), none for k > 4: Σ_{k≤4} 2·0.01/(2·(9−k))"},
		{"triangle", offMid, line(), 0.05 * 100 / 8,
			"truth areas all 0; triples with point 4 have base |xa−xb| on the line and height 0.1, " +
				"S = 0.05·|xa−xb|; Σ|i−j| over pairs of {0…8} is Σd·(9−d) = 120, pairs with 4 add " +
				"4+3+2+1+1+2+3+4 = 20, leaving 100 (in eighths): 0.05·100/8"},
		{"l1", offEnd, line(), 0.1 / 18, "one value off by 0.1: 0.1/18"},
		{"wing", offEnd, line(), (0.1 - cWing) / 18, "|x| = 0.1 ≥ w: (|x| − C)/18"},
		{"mse+ddmse:1-8", offEnd, line(), 0.01/18 + 0.005*h8, "sum of the two terms above"},
		{"2*mse+0.5*l1", offEnd, line(), 2*0.01/18 + 0.5*0.1/18, "weights multiply the terms"},
	}
	for _, tc := range tests {
		got := sampleValue(t, tc.name, tc.p, tc.t)
		if !near(got, tc.want, 1e-12) {
			t.Errorf("%s = %.15g, want %.15g (%s)", tc.name, got, tc.want, tc.why)
		}
	}
}

func TestWingSmallError(t *testing.T) {
	// |x| = 0.01 = ε < w: w·ln(1 + 1) on one of 18 values.
	p, tr := line(), line()
	p[3] -= 0.01
	got := sampleValue(t, "wing", p, tr)
	want := 0.05 * math.Ln2 / 18
	if !near(got, want, 1e-9) {
		t.Errorf("wing = %.15g, want 0.05·ln2/18 = %.15g", got, want)
	}
	// Continuity at |x| = w: the two branches meet.
	w := Wing(0.1, 0.02)
	below, above := line(), line()
	below[0] += 0.1 - 1e-9
	above[0] += 0.1 + 1e-9
	tr = line()
	if vb, va := w.Sample(&below, &tr, nil, 0), w.Sample(&above, &tr, nil, 0); !near(vb, va, 1e-7) {
		t.Errorf("wing:0.1,0.02 jumps at |x| = w: %.12g below, %.12g above", vb, va)
	}
}

func TestArea(t *testing.T) {
	tr := face()
	tests := []struct {
		name string
		move func(p *Vec)
		want float64
	}{
		{"inside the box pays nothing", func(p *Vec) { p[2*5], p[2*5+1] = 0.25, 0.25 }, 0},
		{"eyes and mouth are not ears", func(p *Vec) { p[0], p[5] = 0.9, 0.1 }, 0},
		{"left tip 0.0625 above the box", func(p *Vec) { p[2*4+1] = 0.0625 }, 0.0625 / 3},
		{"left outer base below-left: x 0.125 and y 0.0625 out",
			func(p *Vec) { p[2*3], p[2*3+1] = 0, 0.4375 }, (0.125 + 0.0625) / 3},
		{"both ears: right tip 0.125 right of x max 0.875",
			func(p *Vec) { p[2*4+1] = 0.0625; p[2*7] = 1 }, 0.0625/3 + 0.125/3},
	}
	for _, tc := range tests {
		p := face()
		tc.move(&p)
		if got := sampleValue(t, "area", p, tr); !near(got, tc.want, 1e-12) {
			t.Errorf("%s: area = %.15g, want %.15g", tc.name, got, tc.want)
		}
	}
}

func TestTranslationInvariance(t *testing.T) {
	// DDMSE(k ≥ 1) and the triangle areas only see differences of points: shifting the whole
	// prediction costs nothing there, while mse sees it.
	tr := face()
	p := face()
	for i := range landmark.N {
		p[2*i] += 0.125
		p[2*i+1] -= 0.0625
	}
	for _, name := range []string{"ddmse:1-8", "triangle"} {
		if v := sampleValue(t, name, p, tr); v > 1e-15 {
			t.Errorf("%s of a translated prediction = %g, want 0", name, v)
		}
	}
	if v := sampleValue(t, "mse", p, tr); !near(v, (0.125*0.125+0.0625*0.0625)/2, 1e-12) {
		t.Errorf("mse of a translated prediction = %g, want (0.125²+0.0625²)/2", v)
	}
}

// allNames lists every term and the seed's composites.
var allNames = append([]string{
	"mse", "ddmse:1", "ddmse:3", "ddmse:8", "ddmse:1-8", "ddmse:2-5", "triangle", "area", "l1",
	"wing", "wing:0.2,0.05", "0.5*triangle+mse+2*area",
}, Seed[:]...)

func TestZeroAtTruth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 5 {
		var tr Vec
		for i := range tr {
			tr[i] = rng.Float64()
		}
		if trial == 0 {
			tr = face() // ear points exactly on their box's edges
		}
		for _, name := range allNames {
			p := tr
			g := Vec{}
			v := MustParse(name).Sample(&p, &tr, &g, 1)
			if v != 0 {
				t.Errorf("%s at p = t is %g, want 0", name, v)
			}
			if g != (Vec{}) {
				t.Errorf("%s gradient at p = t is %v, want 0", name, g)
			}
		}
	}
}

// randomPair draws a truth in [0.1, 0.9]² and a prediction around it with noise of σ = 0.06 (so
// wing sees both branches and many ear points leave their boxes).
func randomPair(rng *rand.Rand) (p, t Vec) {
	for i := range t {
		t[i] = 0.1 + 0.8*rng.Float64()
		p[i] = t[i] + 0.06*rng.NormFloat64()
	}
	return p, t
}

func TestGradientFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const h = 1e-6
	for _, name := range allNames {
		l := MustParse(name)
		for trial := range 4 {
			p, tr := randomPair(rng)
			var g Vec
			const scale = 0.75
			v := l.Sample(&p, &tr, &g, scale)
			if v <= 0 {
				t.Fatalf("%s: loss %g at a random point, want > 0", name, v)
			}
			for i := range p {
				pp, pm := p, p
				pp[i] += h
				pm[i] -= h
				fd := scale * (l.Sample(&pp, &tr, nil, 0) - l.Sample(&pm, &tr, nil, 0)) / (2 * h)
				if math.Abs(fd-g[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
					t.Errorf("%s trial %d: ∂/∂p[%d] = %.10g, finite difference %.10g", name, trial, i, g[i], fd)
				}
			}
		}
	}
}

func TestAreaGradientSeesBothSides(t *testing.T) {
	// The finite-difference test needs ear points outside their boxes to check anything; make sure
	// the hinge's slope is ±1/3 on the two sides.
	tr := face()
	p := face()
	p[2*4+1] = 0.0625 // left tip above ymin 0.125
	p[2*8] = 0.9375   // right outer base right of xmax 0.875
	var g Vec
	MustParse("area").Sample(&p, &tr, &g, 1)
	want := Vec{}
	want[2*4+1] = -1.0 / 3
	want[2*8] = 1.0 / 3
	for i := range g {
		if !near(g[i], want[i], 1e-15) {
			t.Errorf("area gradient[%d] = %g, want %g", i, g[i], want[i])
		}
	}
}

func TestBatchMean(t *testing.T) {
	// Two samples: the first perfect, the second with point 0's x off by 0.1. The batch loss is
	// half the second sample's loss; the first sample's gradient is 0 and the second's is half its
	// single-sample gradient.
	l := MustParse("mse+ddmse:1-8+area")
	tr := face()
	p2 := face()
	p2[0] += 0.1
	p2[2*4+1] -= 0.05
	var g2 Vec
	single := l.Sample(&p2, &tr, &g2, 1)

	pred := make([]float32, 2*landmark.Dim)
	truth := make([]float32, 2*landmark.Dim)
	for i := range landmark.Dim {
		pred[i], truth[i] = float32(tr[i]), float32(tr[i])
		pred[landmark.Dim+i], truth[landmark.Dim+i] = float32(p2[i]), float32(tr[i])
	}
	// Recompute the single-sample figures from the float32-rounded inputs Eval sees.
	var p32, t32 Vec
	for i := range landmark.Dim {
		p32[i], t32[i] = float64(pred[landmark.Dim+i]), float64(truth[landmark.Dim+i])
	}
	g2 = Vec{}
	single = l.Sample(&p32, &t32, &g2, 1)

	grad := make([]float32, len(pred))
	for i := range grad {
		grad[i] = 99 // Eval must overwrite, not accumulate
	}
	got := l.Eval(pred, truth, grad)
	if !near(got, single/2, 1e-12) {
		t.Errorf("batch loss %g, want half of %g", got, single)
	}
	if got2 := l.Eval(pred, truth, nil); got2 != got {
		t.Errorf("Eval without gradient = %g, with = %g", got2, got)
	}
	for i := range landmark.Dim {
		if grad[i] != 0 {
			t.Errorf("perfect sample's grad[%d] = %g, want 0", i, grad[i])
		}
		if want := float32(g2[i] / 2); grad[landmark.Dim+i] != want {
			t.Errorf("second sample's grad[%d] = %g, want %g", i, grad[landmark.Dim+i], want)
		}
	}
	if v := l.Eval(nil, nil, nil); v != 0 {
		t.Errorf("empty batch loss = %g, want 0", v)
	}
}

func TestEvalPanicsOnBadLengths(t *testing.T) {
	l := MustParse("mse")
	for _, tc := range []struct {
		name              string
		pred, truth, grad int
	}{
		{"not a multiple of 18", 17, 17, 0},
		{"pred and truth differ", 18, 36, 0},
		{"grad too short", 36, 36, 18},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Eval did not panic", tc.name)
				}
			}()
			var grad []float32
			if tc.grad > 0 {
				grad = make([]float32, tc.grad)
			}
			l.Eval(make([]float32, tc.pred), make([]float32, tc.truth), grad)
		}()
	}
}

func TestParseCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mse", "mse"},
		{" MSE + DDMSE:1-8 + Area ", "mse+ddmse:1-8+area"},
		{"ddmse:3-3", "ddmse:3"},
		{"1*mse+0.5*triangle", "mse+0.5*triangle"},
		{"wing:0.05,0.01", "wing"},
		{"wing:0.1, 0.02", "wing:0.1,0.02"},
		{"2.5e-1*l1", "0.25*l1"},
	}
	for _, tc := range tests {
		l, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := l.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		again, err := Parse(l.String())
		if err != nil || again.String() != l.String() {
			t.Errorf("Parse(%q) does not round-trip: %v, %v", l.String(), again, err)
		}
	}
	for _, name := range Seed {
		if got := MustParse(name).String(); got != name {
			t.Errorf("seed loss %q prints as %q", name, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, mention string }{
		{"", "empty"},
		{"mse+", "term 2 is empty"},
		{"mse+msq", `"msq"`},
		{"ddmse", "ddmse needs an order"},
		{"ddmse:0", `"ddmse:0"`},
		{"ddmse:9", "out of range"},
		{"ddmse:5-2", `"ddmse:5-2"`},
		{"ddmse:x", `"x"`},
		{"ddmse:1-", `"ddmse:1-"`},
		{"-1*mse", "positive"},
		{"0*mse", "positive"},
		{"inf*mse", "positive"},
		{"abc*mse", `"abc"`},
		{"wing:0.1", "W,EPS"},
		{"wing:-1,2", "positive"},
		{"mse:3", "no parameters"},
		{"mse+triangle:1", `"triangle:1"`},
	}
	for _, tc := range tests {
		l, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", tc.in, l)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Parse(%q) error %q does not mention %s", tc.in, err, tc.mention)
		}
	}
}

func TestTriples(t *testing.T) {
	if len(triples) != 84 {
		t.Fatalf("%d triples, want C(9,3) = 84", len(triples))
	}
	seen := map[[3]int]bool{}
	for _, tr := range triples {
		if !(tr[0] < tr[1] && tr[1] < tr[2] && tr[2] < landmark.N) || seen[tr] {
			t.Errorf("bad or repeated triple %v", tr)
		}
		seen[tr] = true
	}
}

// BenchmarkSeedHeaviest measures the seed's heaviest composite (case 5) on a batch of 512 with
// its gradient.
func BenchmarkSeedHeaviest(b *testing.B) {
	l := MustParse("mse+ddmse:1-8+triangle")
	rng := rand.New(rand.NewPCG(5, 6))
	const batch = 512
	pred := make([]float32, batch*landmark.Dim)
	truth := make([]float32, batch*landmark.Dim)
	for s := range batch {
		p, t := randomPair(rng)
		for i := range landmark.Dim {
			pred[s*landmark.Dim+i], truth[s*landmark.Dim+i] = float32(p[i]), float32(t[i])
		}
	}
	grad := make([]float32, len(pred))
	b.ReportAllocs()
	for b.Loop() {
		l.Eval(pred, truth, grad)
	}
}

func ExampleParse() {
	l, err := Parse("mse+ddmse:1-8+area")
	if err != nil {
		panic(err)
	}
	// A batch of one sample, every point at (0.5, 0.5), with the first eye's x predicted 0.125 off.
	// By hand, with H8 = 1 + 1/2 + … + 1/8 = 761/280:
	//   mse = 0.125²/18 = 0.000868; DDMSE(k) = 0.125²/(2·(9−k)), summed 0.0078125·H8 = 0.021233;
	//   area = 0 (the eye is no ear point): loss 0.022101.
	//   ∂/∂x0 = 2·0.125/18 + Σ_k 2·0.125/(2·(9−k)) = 0.013889 + 0.125·H8 = 0.353621.
	truth := make([]float32, landmark.Dim)
	for i := range truth {
		truth[i] = 0.5
	}
	pred := append([]float32(nil), truth...)
	pred[0] = 0.625
	grad := make([]float32, landmark.Dim)
	v := l.Eval(pred, truth, grad)
	fmt.Printf("%s: %.6f, ∂/∂x0 = %.6f\n", l, v, grad[0])
	// Output: mse+ddmse:1-8+area: 0.022101, ∂/∂x0 = 0.353621
}
