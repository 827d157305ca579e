package purego

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/engine"
)

// MaxPool takes window maxima of x (N×C×H×W) exactly as the reference backend does (padding
// never wins, the first maximum in row-major window order wins ties, the last NaN wins), in
// parallel over the N·C planes. y and ws are N×C×OH×OW; ws holds each winner's flat index
// (y·W+x) within its plane, for MaxPoolBackward.
func (b *Backend) MaxPool(x engine.Tensor, p engine.PoolParams) (engine.Tensor, engine.Tensor) {
	const op = "MaxPool"
	xd, xs := b.data(op, x)
	rank(op, "x", xs, 4)
	n, c, h, w := xs[0], xs[1], xs[2], xs[3]
	if p.Kernel < 1 || p.Stride < 1 || p.Pad < 0 || 2*p.Pad > p.Kernel {
		panic(fmt.Sprintf("purego: %s: bad kernel %d, stride %d, padding %d (PyTorch requires pad ≤ kernel/2)", op, p.Kernel, p.Stride, p.Pad))
	}
	oh, ow := engine.OutSize(h, p.Kernel, p.Stride, p.Pad), engine.OutSize(w, p.Kernel, p.Stride, p.Pad)
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("purego: %s: input %v too small for kernel %d", op, xs, p.Kernel))
	}
	if h*w > 1<<24 {
		panic(fmt.Sprintf("purego: %s: plane %d×%d too large for float32 indices", op, h, w))
	}
	y, ws := b.Zeros(n, c, oh, ow), b.Zeros(n, c, oh, ow)
	yd, wsd := b.Backend.Data(y), b.Backend.Data(ws)
	parallelRange(n*c, max(1, elemGrain/max(1, h*w)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			in := xd[pl*h*w : (pl+1)*h*w]
			yo, wo := yd[pl*oh*ow:(pl+1)*oh*ow], wsd[pl*oh*ow:(pl+1)*oh*ow]
			for oy := 0; oy < oh; oy++ {
				y0 := oy*p.Stride - p.Pad
				ky0, ky1 := max(0, -y0), min(p.Kernel, h-y0)
				for ox := 0; ox < ow; ox++ {
					x0 := ox*p.Stride - p.Pad
					kx0, kx1 := max(0, -x0), min(p.Kernel, w-x0)
					best, arg := float32(math.Inf(-1)), -1
					for ki := ky0; ki < ky1; ki++ {
						base := (y0+ki)*w + x0
						row := in[base+kx0 : base+kx1]
						for j, v := range row {
							if arg < 0 || v > best || v != v {
								best, arg = v, base+kx0+j
							}
						}
					}
					yo[oy*ow+ox], wo[oy*ow+ox] = best, float32(arg)
				}
			}
		}
	})
	return y, ws
}
