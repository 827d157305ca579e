package resnet

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/nn"
)

// tableParams counts a ResNet's parameters from the paper's table, independently of the code:
// convolutions k·k·in·out without bias, batch norms 2·c (γ, β), the fully connected layer in·out + out.
func tableParams(depth, width, outputs int) int {
	conv := func(k, in, out int) int { return k * k * in * out }
	bn := func(c int) int { return 2 * c }
	blocks := map[int][4]int{18: {2, 2, 2, 2}, 34: {3, 4, 6, 3}, 50: {3, 4, 6, 3}}[depth]
	bottleneck := depth >= 50
	n := conv(7, 3, width) + bn(width)
	in := width
	for s, count := range blocks {
		planes := width << s
		for i := 0; i < count; i++ {
			stride := 1
			if s > 0 && i == 0 {
				stride = 2
			}
			out := planes
			if bottleneck {
				out = 4 * planes
				n += conv(1, in, planes) + bn(planes) + conv(3, planes, planes) + bn(planes) + conv(1, planes, out) + bn(out)
			} else {
				n += conv(3, in, planes) + bn(planes) + conv(3, planes, planes) + bn(planes)
			}
			if stride != 1 || in != out {
				n += conv(1, in, out) + bn(out)
			}
			in = out
		}
	}
	return n + in*outputs + outputs
}

func TestParamCount(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		depth, want, entries int // entries: torchvision state_dict keys without num_batches_tracked
	}{
		{18, 11_689_512, 102},
		{34, 21_797_672, 182},
		{50, 25_557_032, 267},
	} {
		if got := tableParams(tc.depth, 64, 1000); got != tc.want {
			t.Fatalf("the test's own table gives %d parameters for ResNet-%d, torchvision %d", got, tc.depth, tc.want)
		}
		m, err := New(b, Config{Depth: tc.depth, Width: 64, Outputs: 1000}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.NumParams(); got != tc.want {
			t.Errorf("ResNet-%d: %d parameters, want %d (torchvision)", tc.depth, got, tc.want)
		}
		if got := len(m.Params()); got != tc.entries {
			t.Errorf("ResNet-%d: %d named tensors, want %d", tc.depth, got, tc.entries)
		}
		if got, want := m.Params()[0].Name, "conv1.weight"; got != want {
			t.Errorf("first parameter %q, want %q", got, want)
		}
	}
	// The landmark head and narrower widths.
	for _, depth := range []int{18, 50} {
		m, err := New(b, Config{Depth: depth, Width: 16, Outputs: 18}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.NumParams(), tableParams(depth, 16, 18); got != want {
			t.Errorf("ResNet-%d width 16: %d parameters, want %d", depth, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	m, err := New(ref.New(), Config{Depth: 50, Width: 8, Outputs: 18}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, shape := range map[string][]int{
		"conv1.weight":                      {8, 3, 7, 7},
		"bn1.weight":                        {8},
		"bn1.running_var":                   {8},
		"layer1.0.conv1.weight":             {8, 8, 1, 1},
		"layer1.0.conv2.weight":             {8, 8, 3, 3},
		"layer1.0.conv3.weight":             {32, 8, 1, 1},
		"layer1.0.downsample.0.weight":      {32, 8, 1, 1},
		"layer2.0.conv2.weight":             {16, 16, 3, 3},
		"layer3.0.downsample.0.weight":      {128, 64, 1, 1},
		"layer3.0.downsample.1.running_var": {128},
		"layer3.5.bn3.bias":                 {128},
		"layer4.2.bn3.running_mean":         {256},
		"fc.weight":                         {18, 256},
		"fc.bias":                           {18},
	} {
		p := m.Param(name)
		if p == nil {
			t.Errorf("no parameter %q", name)
			continue
		}
		if fmt.Sprint(p.Value.Shape()) != fmt.Sprint(shape) {
			t.Errorf("%s: shape %v, want %v", name, p.Value.Shape(), shape)
		}
		wantBuffer := strings.Contains(name, "running_")
		if p.Buffer != wantBuffer {
			t.Errorf("%s: Buffer = %v", name, p.Buffer)
		}
	}
	for _, absent := range []string{"layer1.1.downsample.0.weight", "layer2.1.downsample.0.weight", "conv1.bias"} {
		if m.Param(absent) != nil {
			t.Errorf("unexpected parameter %q", absent)
		}
	}
	if _, err := New(ref.New(), Config{Depth: 20, Width: 8, Outputs: 18}, 1); err == nil {
		t.Errorf("depth 20 accepted")
	}
}

// TestInit checks torchvision's initialisation statistics and that the seed decides the weights.
func TestInit(t *testing.T) {
	b := ref.New()
	m, _ := New(b, Config{Depth: 18, Width: 32, Outputs: 18}, 7)
	w := b.Data(m.Param("layer1.0.conv1.weight").Value) // 32×32×3×3: fan_out 288
	var s, ss float64
	for _, v := range w {
		s, ss = s+float64(v), ss+float64(v)*float64(v)
	}
	n := float64(len(w))
	if std, want := math.Sqrt(ss/n-(s/n)*(s/n)), math.Sqrt(2.0/288); math.Abs(std-want) > 0.05*want {
		t.Errorf("conv std %g, want %g (Kaiming normal, fan out)", std, want)
	}
	bound := 1 / math.Sqrt(256)
	for _, v := range b.Data(m.Param("fc.weight").Value) {
		if math.Abs(float64(v)) > bound {
			t.Fatalf("fc weight %v outside ±%g", v, bound)
		}
	}
	for i, v := range b.Data(m.Param("bn1.weight").Value) {
		if v != 1 || b.Data(m.Param("bn1.bias").Value)[i] != 0 || b.Data(m.Param("bn1.running_var").Value)[i] != 1 {
			t.Fatalf("bn1 not initialised to γ=1, β=0, var=1")
		}
	}
	m2, _ := New(b, Config{Depth: 18, Width: 32, Outputs: 18}, 7)
	m3, _ := New(b, Config{Depth: 18, Width: 32, Outputs: 18}, 8)
	a, a2, a3 := b.Data(m.Param("fc.weight").Value), b.Data(m2.Param("fc.weight").Value), b.Data(m3.Param("fc.weight").Value)
	if fmt.Sprint(a) != fmt.Sprint(a2) || fmt.Sprint(a) == fmt.Sprint(a3) {
		t.Errorf("the seed does not decide the weights")
	}
}

// TestGradients checks the gradient g of every parameter tensor of a small ResNet-18 (width 4)
// against finite differences of L = Σ r·y (accumulated in float64): for a step h = η·s·g/rms(g)
// (s the tensor's RMS value, at least 0.1), (L(θ+h) − L(θ−h))/2 must match ⟨g, h⟩. Stepping
// along g gives a signal n times the per-element one, which float32 needs; a wrong routing of
// gradients (a lost or doubled path, a wrong sum) changes the projection on g grossly.
//
// Two settings. With the batch norms frozen (running statistics) the network is piecewise linear
// up to the sigmoid, and a small step (η = 1e-4) meets few ReLU or max-pool switches: 1 %
// agreement. In training mode the batch statistics make it far more curved, so the batch must
// not be tiny (with 2×32×32 inputs layer4's batch norm sees two values per channel, and its
// output jumps where they cross); 4×3×64×64 with η = 3e-4 agrees within 5 % (typically 0.5 %).
// Both allow 2e-6 absolute for float32 rounding of L.
func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		n, size  int
		train    bool
		eta, tol float64
	}{
		{2, 32, false, 1e-4, 1e-2},
		{4, 64, true, 3e-4, 5e-2},
	} {
		t.Run(fmt.Sprintf("%dx3x%dx%d/train=%v", tc.n, tc.size, tc.size, tc.train), func(t *testing.T) {
			testGradients(t, tc.n, tc.size, tc.train, tc.eta, tc.tol)
		})
	}
}

func testGradients(t *testing.T, nImg, size int, train bool, eta, tol float64) {
	b := ref.New()
	m, err := New(b, Config{Depth: 18, Width: 4, Outputs: 18}, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := enginetest.NewRand(11)
	isBN := func(name string) bool { return strings.Contains(name, "bn") || strings.Contains(name, "downsample.1") }
	// Batch-norm parameters away from their initial γ = 1, β = 0, mean 0, variance 1.
	for _, p := range m.Params() {
		if !isBN(p.Name) {
			continue
		}
		d := b.Data(p.Value)
		switch {
		case strings.HasSuffix(p.Name, ".weight"):
			copy(d, enginetest.Uniform(rng, len(d), 0.5, 1.5))
		case strings.HasSuffix(p.Name, ".running_var"):
			copy(d, enginetest.Uniform(rng, len(d), 0.5, 2))
		default:
			copy(d, enginetest.Rand(rng, len(d), 0.2))
		}
		if !train {
			p.Frozen = true
		}
	}
	x := enginetest.RandTensor(b, rng, 1, nImg, 3, size, size)
	y := m.Forward(x, true)
	r := enginetest.Rand(rng, engine.Numel(y.Shape()), 1)
	m.Backward(b.FromHost(r, y.Shape()...))
	loss := func() float64 {
		y := m.Forward(x, true)
		m.Free()
		var s float64
		for i, v := range b.ToHost(y) {
			s += float64(r[i]) * float64(v)
		}
		return s
	}
	checked := 0
	for _, p := range m.Params() {
		if p.Frozen || p.Buffer {
			if p.Grad != nil {
				t.Errorf("%s (frozen %v, buffer %v) has a gradient", p.Name, p.Frozen, p.Buffer)
			}
			continue
		}
		if p.Grad == nil {
			t.Errorf("%s: no gradient", p.Name)
			continue
		}
		d, g := b.Data(p.Value), b.Data(p.Grad)
		var vs, gs float64
		for i := range d {
			vs += float64(d[i]) * float64(d[i])
			gs += float64(g[i]) * float64(g[i])
		}
		scale := math.Max(math.Sqrt(vs/float64(len(d))), 0.1)
		grms := math.Sqrt(gs / float64(len(g)))
		if grms == 0 {
			t.Errorf("%s: gradient is zero", p.Name)
			continue
		}
		orig := append([]float32(nil), d...)
		h := make([]float32, len(d))
		var an float64
		for i := range d {
			h[i] = float32(eta * scale * float64(g[i]) / grms)
			an += float64(g[i]) * float64(h[i])
		}
		for i := range d {
			d[i] = orig[i] + h[i]
		}
		lp := loss()
		for i := range d {
			d[i] = orig[i] - h[i]
		}
		lm := loss()
		copy(d, orig)
		if fd := (lp - lm) / 2; math.Abs(fd-an) > tol*math.Abs(an)+2e-6 {
			t.Errorf("%s: ⟨g, h⟩ = %.6g, finite difference %.6g", p.Name, an, fd)
		}
		checked++
	}
	want := 62 // 20 convolutions, 20 batch norms (γ, β), fc weight and bias
	if !train {
		want = 22
	}
	if checked != want {
		t.Errorf("checked %d parameter tensors, want %d", checked, want)
	}
}

// TestFreeze checks the seed's setting: stem, layer1 and layer2 frozen.
func TestFreeze(t *testing.T) {
	tr := enginetest.NewTracker(ref.New())
	m, err := New(tr, Config{Depth: 18, Width: 4, Outputs: 18}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze("stem", "layer1", "layer2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze("layer5"); err == nil {
		t.Errorf("Freeze(\"layer5\") succeeded")
	}
	frozen := func(name string) bool {
		for _, pre := range []string{"conv1.", "bn1.", "layer1.", "layer2."} {
			if strings.HasPrefix(name, pre) {
				return true
			}
		}
		return false
	}
	before := map[string][]float32{}
	for _, p := range m.Params() {
		if p.Frozen != frozen(p.Name) {
			t.Errorf("%s: Frozen = %v", p.Name, p.Frozen)
		}
		before[p.Name] = tr.ToHost(p.Value)
	}
	live := tr.Live()
	rng := enginetest.NewRand(6)
	x := enginetest.RandTensor(tr, rng, 1, 2, 3, 32, 32)

	// Inference changes no running statistics.
	y := m.Forward(x, false)
	tr.Release(y)
	for _, p := range m.Params() {
		if p.Buffer && fmt.Sprint(tr.ToHost(p.Value)) != fmt.Sprint(before[p.Name]) {
			t.Errorf("inference changed %s", p.Name)
		}
	}
	// Training changes those of trainable batch norms only.
	y = m.Forward(x, true)
	for _, p := range m.Params() {
		if !p.Buffer {
			continue
		}
		changed := fmt.Sprint(tr.ToHost(p.Value)) != fmt.Sprint(before[p.Name])
		if changed == frozen(p.Name) {
			t.Errorf("training: %s changed = %v, frozen = %v", p.Name, changed, frozen(p.Name))
		}
	}
	dy := enginetest.RandTensor(tr, rng, 1, y.Shape()...)
	m.Backward(dy)
	for _, p := range m.Params() {
		if hasGrad := p.Grad != nil; hasGrad != (p.Trainable()) {
			t.Errorf("%s: has gradient %v, trainable %v", p.Name, hasGrad, p.Trainable())
		}
	}
	// Only layer3 and layer4 convolutions run backwards: 2 stages × 2 blocks × 2 + 2 downsamples;
	// the two reading layer3's input compute no input gradient, and nothing touches the stem.
	noInput := 0
	for _, c := range tr.ConvBackward {
		if c.XShape[1] == 3 {
			t.Errorf("the stem's convolution ran backwards: %+v", c)
		}
		if !c.Grads.Input {
			noInput++
			if want := []int{2, 8, 4, 4}; fmt.Sprint(c.XShape) != fmt.Sprint(want) {
				t.Errorf("a convolution without input gradient reads %v, want layer2's output %v", c.XShape, want)
			}
		}
	}
	if len(tr.ConvBackward) != 10 || noInput != 2 {
		t.Errorf("%d Conv2DBackward calls, %d without input gradient; want 10 and 2", len(tr.ConvBackward), noInput)
	}
	if n := tr.Calls["MaxPoolBackward"]; n != 0 {
		t.Errorf("MaxPoolBackward ran %d times", n)
	}
	// Everything the step made is released except the trainable parameters' gradients.
	tr.Release(y)
	tr.Release(dy)
	tr.Release(x)
	trainable := 0
	for _, p := range m.Params() {
		if p.Trainable() {
			trainable++
		}
	}
	if got := tr.Live(); got != live+trainable {
		t.Errorf("%d live tensors after a step, want %d: %v", got, live+trainable, tr.LiveBy())
	}
}

// TestMemory checks that every intermediate of an unfrozen training step and of inference is
// released, and that inference peaks far below training.
func TestMemory(t *testing.T) {
	for _, depth := range []int{18, 50} {
		tr := enginetest.NewTracker(ref.New())
		m, _ := New(tr, Config{Depth: depth, Width: 4, Outputs: 18}, 5)
		live := tr.Live()
		x := enginetest.RandTensor(tr, enginetest.NewRand(7), 1, 2, 3, 64, 64)
		base, _ := tr.LiveElements()
		y := m.Forward(x, false)
		tr.Release(y)
		_, inferPeak := tr.LiveElements()
		if got := tr.Live(); got != live+1 {
			t.Errorf("ResNet-%d: %d live tensors after inference, want %d: %v", depth, got, live+1, tr.LiveBy())
		}
		y = m.Forward(x, true)
		dy := tr.FromHost(make([]float32, engine.Numel(y.Shape())), y.Shape()...)
		m.Backward(dy)
		tr.Release(y)
		tr.Release(dy)
		grads := 0
		for _, p := range m.Params() {
			if !p.Buffer {
				grads++
			}
		}
		if got := tr.Live(); got != live+1+grads {
			t.Errorf("ResNet-%d: %d live tensors after a training step, want %d: %v", depth, got, live+1+grads, tr.LiveBy())
		}
		_, trainPeak := tr.LiveElements()
		if inferPeak-base > (trainPeak-base)/3 {
			t.Errorf("ResNet-%d: inference peaks at %d values above the parameters, training at %d", depth, inferPeak-base, trainPeak-base)
		}
	}
}

func TestPredict(t *testing.T) {
	b := ref.New()
	m, _ := New(b, Config{Depth: 18, Width: 4, Outputs: 18}, 9)
	x := enginetest.Rand(enginetest.NewRand(8), 2*3*40*48, 1)
	got, err := m.Predict(x, 2, 40, 48)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 36 {
		t.Fatalf("%d outputs, want 36", len(got))
	}
	for _, v := range got {
		if !(v > 0 && v < 1) {
			t.Errorf("output %v outside (0, 1)", v)
		}
	}
	// Predicting one image alone gives the same values (inference is per image).
	one, _ := m.Predict(x[:3*40*48], 1, 40, 48)
	if e, _ := enginetest.MaxRelErr(one, got[:18]); e > 1e-5 {
		t.Errorf("batch of two and single image differ by %g", e)
	}
	if _, err := m.Predict(x, 3, 40, 48); err == nil {
		t.Errorf("wrong length accepted")
	}
}

var _ nn.Layer = (*block)(nil)

// The frozen stem, layer1 and layer2 are the first seven layers of a ResNet-18; the network split
// there computes what Forward computes.
func TestSplitAtFrozenLayers(t *testing.T) {
	b := ref.New()
	m, err := New(b, Config{Depth: 18, Width: 4, Outputs: 18, Head: Integral, Stages: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k := m.FrozenLayers(); k != 0 {
		t.Fatalf("nothing frozen: %d frozen layers, want 0", k)
	}
	if err := m.Freeze("stem", "layer1", "layer2"); err != nil {
		t.Fatal(err)
	}
	k := m.FrozenLayers()
	if k != 7 { // conv1, bn1, maxpool, layer1.0, layer1.1, layer2.0, layer2.1
		t.Fatalf("%d frozen layers, want 7", k)
	}
	x := make([]float32, 2*3*32*32)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	xt := b.FromHost(x, 2, 3, 32, 32)
	want := b.ToHost(m.Forward(xt, false))
	front, back := m.Split(k)
	mid := front.Forward(xt, false)
	if s := mid.Shape(); s[1] != 8 || s[2] != 4 {
		t.Errorf("layer2's output %v, want 2×8×4×4", s)
	}
	got := b.ToHost(back.Forward(mid, false))
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("output %d: %v split, %v whole", i, got[i], want[i])
		}
	}
}
