package purego_test

import (
	"fmt"
	"testing"

	"github.com/catmark/catmark/engine"
	_ "github.com/catmark/catmark/engine/dnnl" // registers "dnnl" where cgo is on; empty otherwise
	"github.com/catmark/catmark/engine/enginetest"
	"github.com/catmark/catmark/engine/purego"
	_ "github.com/catmark/catmark/engine/ref"
	"github.com/catmark/catmark/models/resnet"
)

// benchBackends are the backends the benchmarks compare; those this build lacks are skipped.
var benchBackends = []string{"go", "ref", "dnnl"}

func open(b *testing.B, name string) engine.Backend {
	be, err := engine.Open(name)
	if err != nil {
		b.Skipf("backend %s: %v", name, err)
	}
	return be
}

// BenchmarkForward is inference of the shipped detector's network, a ResNet-18 of base width 32,
// at its two stages' shapes (the refine stage at 160 px with the mirrored copy, batch 2; the
// coarse stage at 128 px, batch 1; the refine model's window search at 160 px, batch 32), on
// each backend. It reports images/s and GFLOP/s (the convolutions' and the head's multiply-adds
// counted twice):
//
//	go test ./engine/purego -run '^$' -bench Forward -benchtime 20x
func BenchmarkForward(b *testing.B) {
	for _, tc := range []struct{ size, batch int }{{160, 2}, {128, 1}, {160, 32}} {
		for _, name := range benchBackends {
			b.Run(fmt.Sprintf("%dpx-b%d/%s", tc.size, tc.batch, name), func(b *testing.B) {
				be := open(b, name)
				if name == "ref" && tc.batch > 2 {
					b.Skip("the reference backend takes seconds per batch")
				}
				m, err := resnet.New(be, resnet.Config{Depth: 18, Width: 32, Outputs: 19, InputSize: tc.size}, 1)
				if err != nil {
					b.Fatal(err)
				}
				x := enginetest.RandTensor(be, enginetest.NewRand(1), 1, tc.batch, 3, tc.size, tc.size)
				be.Release(m.Forward(x, false)) // warm-up: oneDNN prepares its kernels
				for b.Loop() {
					be.Release(m.Forward(x, false))
				}
				s := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(tc.batch)/s, "images/s")
				b.ReportMetric(float64(tc.batch)*resnet18Flops(32, tc.size)/s/1e9, "GFLOP/s")
			})
		}
	}
}

// resnet18Flops counts the floating-point operations (2 per multiply-add) of a ResNet-18 of the
// given base width's convolutions on one size×size image.
func resnet18Flops(width, size int) float64 {
	var f float64
	conv := func(cin, cout, k, out int) { f += 2 * float64(cin*cout*k*k*out*out) }
	s := (size+6-7)/2 + 1
	conv(3, width, 7, s)
	s = (s+2-3)/2 + 1
	c := width
	for stage := 0; stage < 4; stage++ {
		cout := width << stage
		if stage > 0 {
			s = (s+2-3)/2 + 1
			conv(c, cout, 1, s)
		}
		conv(c, cout, 3, s)
		conv(cout, cout, 3, s)
		conv(cout, cout, 3, s)
		conv(cout, cout, 3, s)
		c = cout
	}
	return f
}

// BenchmarkConv times single convolutions of the detector's network (refine stage, 160 px,
// batch 2) on each backend and reports GFLOP/s.
func BenchmarkConv(b *testing.B) {
	for _, tc := range []struct {
		name string
		x, w []int
		p    engine.ConvParams
	}{
		{"stem", []int{2, 3, 160, 160}, []int{32, 3, 7, 7}, engine.ConvParams{Stride: 2, Pad: 3}},
		{"layer1", []int{2, 32, 40, 40}, []int{32, 32, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
		{"layer2", []int{2, 64, 20, 20}, []int{64, 64, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
		{"layer3", []int{2, 128, 10, 10}, []int{128, 128, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
		{"layer4", []int{2, 256, 5, 5}, []int{256, 256, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
		{"layer4-down", []int{2, 128, 10, 10}, []int{256, 128, 1, 1}, engine.ConvParams{Stride: 2}},
	} {
		for _, name := range benchBackends {
			b.Run(tc.name+"/"+name, func(b *testing.B) {
				be := open(b, name)
				rng := enginetest.NewRand(1)
				x, w := enginetest.RandTensor(be, rng, 1, tc.x...), enginetest.RandTensor(be, rng, 0.1, tc.w...)
				run := func() {
					y := be.Conv2D(x, w, nil, tc.p)
					be.ToHost(y) // oneDNN computes lazily
					be.Release(y)
				}
				run()
				for b.Loop() {
					run()
				}
				oh := engine.OutSize(tc.x[2], tc.w[2], tc.p.Stride, tc.p.Pad)
				flops := 2 * float64(engine.Numel(tc.w)*tc.x[0]*oh*oh)
				b.ReportMetric(flops/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkTrainStep is one training step's forward and backward pass (no optimiser update) of
// the detector's network, ResNet-18 of width 32, at batch 8 and 128 px, on each backend:
//
//	go test ./engine/purego -run '^$' -bench TrainStep -benchtime 5x
func BenchmarkTrainStep(b *testing.B) {
	const batch, size = 8, 128
	for _, name := range benchBackends {
		b.Run(name, func(b *testing.B) {
			be := open(b, name)
			m, err := resnet.New(be, resnet.Config{Depth: 18, Width: 32, Outputs: 19, InputSize: size}, 1)
			if err != nil {
				b.Fatal(err)
			}
			x := enginetest.RandTensor(be, enginetest.NewRand(1), 1, batch, 3, size, size)
			dy := enginetest.RandTensor(be, enginetest.NewRand(2), 0.1, batch, 19)
			step := func() {
				y := m.Forward(x, true)
				m.Backward(dy)
				be.Release(y)
			}
			step()
			for b.Loop() {
				step()
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkWinograd compares Winograd F(4×4, 3×3) with the direct GEMM path on the detector's
// 3×3 stride-1 layers (ResNet-18 of width 32, three stages, at 128 px and at the refine stage's
// 160 px), batch 32: the forward pass and the input gradient. GFLOP/s counts the direct
// convolution's multiply-adds twice for both, so the figures compare as speeds:
//
//	go test ./engine/purego -run '^$' -bench Winograd -benchtime 20x
func BenchmarkWinograd(b *testing.B) {
	const batch = 32
	for _, l := range enginetest.DetectorConv3x3 {
		for _, pass := range []string{"forward", "dx"} {
			for _, mode := range []purego.Winograd{purego.WinogradOff, purego.WinogradOn} {
				path := map[purego.Winograd]string{purego.WinogradOff: "direct", purego.WinogradOn: "winograd"}[mode]
				b.Run(fmt.Sprintf("%s/%s/%s", l.Name, pass, path), func(b *testing.B) {
					be := purego.New()
					be.SetWinograd(mode)
					rng := enginetest.NewRand(1)
					shape := []int{batch, l.C, l.Side, l.Side}
					x, w := enginetest.RandTensor(be, rng, 1, shape...), enginetest.RandTensor(be, rng, 0.1, l.C, l.C, 3, 3)
					dy := enginetest.RandTensor(be, rng, 1, shape...)
					p := engine.ConvParams{Stride: 1, Pad: 1}
					run := func() {
						if pass == "forward" {
							be.Release(be.Conv2D(x, w, nil, p))
							return
						}
						dx, _, _ := be.Conv2DBackward(x, w, dy, p, false, engine.Grads{Input: true})
						be.Release(dx)
					}
					run() // the weights' packed or transformed form is cached from here on
					for b.Loop() {
						run()
					}
					flops := 2 * float64(batch*l.C*l.C*9*l.Side*l.Side)
					b.ReportMetric(flops/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkWinogradBlocked times the exported Winograd F(4×4, 3×3) on plain NCHW buffers and on
// channel-blocked ones (8 and 16 channels a block, the layouts engine/dnnl keeps activations in)
// on the detector's 3×3 stride-1 layers, batch 32, forward and input gradient. GFLOP/s counts
// the direct convolution's multiply-adds twice, as BenchmarkWinograd does:
//
//	go test ./engine/purego -run '^$' -bench WinogradBlocked -benchtime 20x
func BenchmarkWinogradBlocked(b *testing.B) {
	const batch = 32
	for _, l := range enginetest.DetectorConv3x3 {
		g := purego.WinogradGeom{N: batch, C: l.C, H: l.Side, W: l.Side, O: l.C, Pad: 1}
		rng := enginetest.NewRand(1)
		n := batch * l.C * l.Side * l.Side // C is a multiple of 16: no padding channels
		x, dy, y := enginetest.Rand(rng, n, 1), enginetest.Rand(rng, n, 1), make([]float32, n)
		w := enginetest.Rand(rng, l.C*l.C*9, 0.1)
		u, ub := purego.WinogradFilters(w, l.C, l.C, false), purego.WinogradFilters(w, l.C, l.C, true)
		for _, pass := range []string{"forward", "dx"} {
			for _, block := range []int{0, 8, 16} {
				layout := "plain"
				if block > 0 {
					layout = fmt.Sprintf("blocked%d", block)
				}
				b.Run(fmt.Sprintf("%s/%s/%s", l.Name, pass, layout), func(b *testing.B) {
					run := func() {
						switch {
						case pass == "forward" && block == 0:
							purego.WinogradForward(g, x, u, nil, y)
						case pass == "forward":
							purego.WinogradForwardBlocked(g, block, x, u, nil, y)
						case block == 0:
							purego.WinogradBackwardData(g, dy, ub, y)
						default:
							purego.WinogradBackwardDataBlocked(g, block, dy, ub, y)
						}
					}
					run()
					for b.Loop() {
						run()
					}
					flops := 2 * float64(n*l.C*9)
					b.ReportMetric(flops/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
				})
			}
		}
	}
}
