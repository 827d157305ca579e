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
)

// BenchmarkConvLayout times convolutions forward and backward in each activation layout with
// direct kernels, interleaved so that machine load affects all alike: ResNet-50's at batch 8,
// 224 px, and ResNet-18's at batch 32, 112 px. It logs a table of GFLOP/s per shape (forward,
// data gradient, weight gradient per layout, medians of 5 repetitions) and the kernels used, and
// reports each layout's GFLOP/s over all shapes and passes. One op is a whole table:
//
//	go test ./engine/dnnl -run '^$' -bench ConvLayout/resnet50 -benchtime 1x
func BenchmarkConvLayout(b *testing.B) {
	r50 := func(n int) []shape {
		return []shape{
			{[]int{n, 3, 224, 224}, []int{64, 3, 7, 7}, engine.ConvParams{Stride: 2, Pad: 3}},
			{[]int{n, 64, 56, 56}, []int{64, 64, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 64, 56, 56}, []int{64, 64, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 64, 56, 56}, []int{256, 64, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 256, 56, 56}, []int{64, 256, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 256, 56, 56}, []int{128, 256, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 128, 56, 56}, []int{128, 128, 3, 3}, engine.ConvParams{Stride: 2, Pad: 1}},
			{[]int{n, 128, 28, 28}, []int{512, 128, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 256, 56, 56}, []int{512, 256, 1, 1}, engine.ConvParams{Stride: 2}},
			{[]int{n, 512, 28, 28}, []int{128, 512, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 128, 28, 28}, []int{128, 128, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 256, 14, 14}, []int{256, 256, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 256, 14, 14}, []int{1024, 256, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 1024, 14, 14}, []int{256, 1024, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 512, 7, 7}, []int{512, 512, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 512, 7, 7}, []int{2048, 512, 1, 1}, engine.ConvParams{Stride: 1}},
			{[]int{n, 2048, 7, 7}, []int{512, 2048, 1, 1}, engine.ConvParams{Stride: 1}},
		}
	}
	r18 := func(n int) []shape {
		return []shape{
			{[]int{n, 3, 112, 112}, []int{64, 3, 7, 7}, engine.ConvParams{Stride: 2, Pad: 3}},
			{[]int{n, 64, 28, 28}, []int{64, 64, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 128, 14, 14}, []int{128, 128, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 256, 7, 7}, []int{256, 256, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 512, 4, 4}, []int{512, 512, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 256, 7, 7}, []int{512, 256, 3, 3}, engine.ConvParams{Stride: 2, Pad: 1}},
		}
	}
	for _, net := range []struct {
		name   string
		shapes []shape
	}{{"resnet50-b8-224", r50(8)}, {"resnet18-b32-112", r18(32)}} {
		b.Run(net.name, func(b *testing.B) {
			for b.Loop() {
				convLayoutTable(b, net.shapes)
			}
			b.ReportMetric(0, "ns/op") // one op is a whole table; its time says nothing more
		})
	}
}

// shape is one convolution: input and weight shapes and parameters.
type shape struct {
	x, w []int
	p    engine.ConvParams
}

// convLayoutTable runs BenchmarkConvLayout's measurement once on shapes: it logs the table and
// reports each layout's GFLOP/s over all shapes and passes (total work over the sum of medians).
func convLayoutTable(bm *testing.B, shapes []shape) {
	bm.Helper()
	layouts := []string{"any", "blocked", "nhwc", "plain"}
	var bs []*Backend
	for i := range layouts {
		b, err := New()
		if err != nil {
			bm.Fatal(err)
		}
		b.layout = i
		b.convAlgo = convDirect
		bs = append(bs, b)
	}
	rng := enginetest.NewRand(9)
	const reps = 5
	var table strings.Builder
	fmt.Fprintf(&table, "%-40s %s\n", "shape", "GFLOP/s fwd/bwd_data/bwd_weights per layout (any, blocked, nhwc, plain)")
	var work float64                        // FLOP of one forward, data and weight gradient of every shape
	total := make([]time.Duration, len(bs)) // per layout, the sum of the median times
	for _, s := range shapes {
		ys := convShape("speed", s.x, s.w, nil, s.p)
		flop := 2 * float64(engine.Numel(ys)) * float64(s.w[1]*s.w[2]*s.w[3])
		work += 3 * flop
		res := make([][3][]time.Duration, len(bs))
		xs := make([]engine.Tensor, len(bs))
		ws := make([]engine.Tensor, len(bs))
		dys := make([]engine.Tensor, len(bs))
		xh, wh, dyh := enginetest.Rand(rng, engine.Numel(s.x), 1), enginetest.Rand(rng, engine.Numel(s.w), 0.05), enginetest.Rand(rng, engine.Numel(ys), 1)
		for i, b := range bs {
			xs[i], ws[i], dys[i] = b.FromHost(xh, s.x...), b.FromHost(wh, s.w...), b.FromHost(dyh, ys...)
		}
		for r := 0; r < reps+1; r++ {
			for i, b := range bs {
				t0 := time.Now()
				y := b.Conv2D(xs[i], ws[i], nil, s.p)
				b.mu.Lock()
				b.forceIn(y.(*tensor))
				b.mu.Unlock()
				t1 := time.Now()
				b.mu.Lock()
				b.relayout(dys[i].(*tensor), y.(*tensor).md)
				b.mu.Unlock()
				t2 := time.Now()
				dx, _, _ := b.Conv2DBackward(xs[i], ws[i], dys[i], s.p, false, engine.Grads{Input: true})
				t3 := time.Now()
				_, dw, _ := b.Conv2DBackward(xs[i], ws[i], dys[i], s.p, false, engine.Grads{Params: true})
				t4 := time.Now()
				if r > 0 { // the first round warms up
					res[i][0] = append(res[i][0], t1.Sub(t0))
					res[i][1] = append(res[i][1], t3.Sub(t2))
					res[i][2] = append(res[i][2], t4.Sub(t3))
				}
				for _, tt := range []engine.Tensor{y, dx, dw} {
					b.Release(tt)
				}
			}
		}
		fmt.Fprintf(&table, "%-40s", fmt.Sprintf("x%v w%v s%d", s.x[1:], s.w, s.p.Stride))
		for i := range bs {
			fmt.Fprintf(&table, " |")
			for k := 0; k < 3; k++ {
				slices.Sort(res[i][k])
				med := res[i][k][len(res[i][k])/2]
				total[i] += med
				fmt.Fprintf(&table, " %4.0f", flop/med.Seconds()/1e9)
			}
		}
		fmt.Fprintln(&table)
		for i, b := range bs {
			b.Release(xs[i])
			b.Release(ws[i])
			b.Release(dys[i])
		}
	}
	for i, b := range bs {
		impl := map[string]bool{}
		for k, v := range b.Impl() {
			if len(k) > 4 && k[:4] == "conv" {
				impl[k[:5]+" "+v] = true
			}
		}
		fmt.Fprintln(&table, layouts[i], slices.Sorted(maps.Keys(impl)))
		bm.ReportMetric(work/total[i].Seconds()/1e9, layouts[i]+"-GFLOP/s")
	}
	bm.Log("\n" + table.String())
}

// BenchmarkGoWinograd compares oneDNN's direct convolution in the blocked layout with engine/purego's
// Winograd F(4×4, 3×3) as the backend's provider (CATMARK_DNNL_CONV=go-winograd) on the
// detector's 3×3 stride-1 layers (ResNet-18 of width 32 at 128 and 160 px), batch 32, forward
// and input gradient: "onednn" (direct, blocked in and out), "go-winograd-blocked" (the
// provider on the blocked layout, in and out: what a layer fed by a oneDNN layer, batch norm or
// ReLU runs), "go-winograd" (plain in and out: a layer fed by another plain tensor) and
// "go-winograd+reorder" (the blocked input reordered to nchw and the plain output back to
// blocked, as the provider ran between two oneDNN layers before it had a blocked path) and
// "tune-go" (CATMARK_DNNL_CONV=tune-go, blocked in and out: the path its timed choice took on
// the first call, which the benchmark logs, then that path with no further timing). GFLOP/s
// counts the direct convolution's multiply-adds twice, so the figures compare as speeds:
//
//	go test ./engine/dnnl -run '^$' -bench GoWinograd -benchtime 20x
func BenchmarkGoWinograd(bm *testing.B) {
	const batch = 32
	for _, l := range enginetest.DetectorConv3x3 {
		for _, pass := range []string{"forward", "dx"} {
			for _, path := range []string{"onednn", "go-winograd-blocked", "go-winograd", "go-winograd+reorder", "tune-go"} {
				bm.Run(fmt.Sprintf("%s/%s/%s", l.Name, pass, path), func(bm *testing.B) {
					b, err := New()
					if err != nil {
						bm.Fatal(err)
					}
					b.layout, b.convAlgo = layoutBlocked, convDirect
					switch path {
					case "onednn":
					case "tune-go":
						b.convAlgo, b.goWino = convTuneGo, purego.WinogradOn
					default:
						b.convAlgo, b.goWino = convGoWinograd, purego.WinogradOn
					}
					rng := enginetest.NewRand(1)
					shape := []int{batch, l.C, l.Side, l.Side}
					x, w := enginetest.RandTensor(b, rng, 1, shape...), enginetest.RandTensor(b, rng, 0.1, l.C, l.C, 3, 3)
					dy := enginetest.RandTensor(b, rng, 1, shape...)
					p := engine.ConvParams{Stride: 1, Pad: 1}
					blocked := b.tagMD(int(b.blockedTag()), shape...)
					in := x
					if pass == "dx" {
						in = dy
					}
					if path == "go-winograd-blocked" || path == "tune-go" {
						b.mu.Lock()
						b.relayout(b.get("bench", in), blocked)
						b.mu.Unlock()
					}
					var src engine.Tensor // the blocked tensor the reorder path starts from
					if path == "go-winograd+reorder" {
						src = b.Zeros(shape...)
						b.mu.Lock()
						b.relayout(src.(*tensor), blocked)
						b.reorder(b.get("bench", in), src.(*tensor), false)
						b.mu.Unlock()
					}
					run := func() {
						if src != nil { // the input as a oneDNN layer left it: blocked, to nchw
							b.mu.Lock()
							b.reorder(src.(*tensor), b.get("bench", in), false)
							b.mu.Unlock()
						}
						var out engine.Tensor
						if pass == "forward" {
							out = b.Conv2D(x, w, nil, p)
						} else {
							out, _, _ = b.Conv2DBackward(x, w, dy, p, false, engine.Grads{Input: true})
						}
						b.mu.Lock()
						t := b.get("bench", out)
						if src != nil { // the output as the next oneDNN layer wants it
							b.relayout(t, blocked)
						}
						b.mu.Unlock()
						b.Release(out)
					}
					run() // primitives made (tune-go: the choice timed), weights reordered or transformed
					if path == "tune-go" {
						bm.Logf("%s %s: %v", l.Name, pass, b.ConvPaths())
					}
					for bm.Loop() {
						run()
					}
					flops := 2 * float64(batch*l.C*l.C*9*l.Side*l.Side)
					bm.ReportMetric(flops/(bm.Elapsed().Seconds()/float64(bm.N))/1e9, "GFLOP/s")
				})
			}
		}
	}
}
