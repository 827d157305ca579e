//go:build cgo && !nodnnl

package dnnl

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/engine/enginetest"
)

// TestConvLayoutSpeed times ResNet-50's convolutions (batch 8, 224 px; with
// CATMARK_DNNL_SPEED_R18=1 ResNet-18's at batch 32, 112 px) forward and backward in each
// activation layout with direct kernels, interleaved so that machine load affects all alike. It
// is a measurement, not a check: it runs only with CATMARK_DNNL_SPEED=1.
func TestConvLayoutSpeed(t *testing.T) {
	if os.Getenv("CATMARK_DNNL_SPEED") != "1" {
		t.Skip("set CATMARK_DNNL_SPEED=1 to time convolutions per layout")
	}
	type shape struct {
		x, w []int
		p    engine.ConvParams
	}
	n := 8
	if os.Getenv("CATMARK_DNNL_SPEED_R18") == "1" {
		n = 32
	}
	shapes := []shape{
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
	if n == 32 {
		shapes = []shape{
			{[]int{n, 3, 112, 112}, []int{64, 3, 7, 7}, engine.ConvParams{Stride: 2, Pad: 3}},
			{[]int{n, 64, 28, 28}, []int{64, 64, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 128, 14, 14}, []int{128, 128, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 256, 7, 7}, []int{256, 256, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 512, 4, 4}, []int{512, 512, 3, 3}, engine.ConvParams{Stride: 1, Pad: 1}},
			{[]int{n, 256, 7, 7}, []int{512, 256, 3, 3}, engine.ConvParams{Stride: 2, Pad: 1}},
		}
	}
	layouts := []string{"any", "blocked", "nhwc", "plain"}
	var bs []*Backend
	for i := range layouts {
		b := newBackend(t)
		b.layout = i
		b.convAlgo = convDirect
		bs = append(bs, b)
	}
	rng := enginetest.NewRand(9)
	const reps = 5
	fmt.Printf("%-40s %s\n", "shape", "GFLOP/s fwd/bwd_data/bwd_weights per layout (any, blocked, nhwc, plain)")
	for _, s := range shapes {
		ys := convShape("speed", s.x, s.w, nil, s.p)
		flop := 2 * float64(engine.Numel(ys)) * float64(s.w[1]*s.w[2]*s.w[3])
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
				if r > 0 {
					res[i][0] = append(res[i][0], t1.Sub(t0))
					res[i][1] = append(res[i][1], t3.Sub(t2))
					res[i][2] = append(res[i][2], t4.Sub(t3))
				}
				for _, tt := range []engine.Tensor{y, dx, dw} {
					b.Release(tt)
				}
			}
		}
		line := fmt.Sprintf("x%v w%v s%d", s.x[1:], s.w, s.p.Stride)
		fmt.Printf("%-40s", line)
		for i := range bs {
			fmt.Printf(" |")
			for k := 0; k < 3; k++ {
				sort.Slice(res[i][k], func(a, c int) bool { return res[i][k][a] < res[i][k][c] })
				med := res[i][k][len(res[i][k])/2]
				fmt.Printf(" %4.0f", flop/med.Seconds()/1e9)
			}
		}
		fmt.Println()
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
		var names []string
		for k := range impl {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Println(layouts[i], names)
	}
}
