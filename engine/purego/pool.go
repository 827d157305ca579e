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
//
// Windows inside the plane are taken by maxWindow, several outputs at once, over the plane
// split into stride phases (phase r holds columns r, r+s, …, so that a window position is
// contiguous across outputs); windows that meet the padding are taken one by one.
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
	k, s := p.Kernel, p.Stride
	// Interior output columns [oxLo, oxHi): windows inside the plane horizontally.
	oxLo := (p.Pad + s - 1) / s
	oxHi := min(ow, max(oxLo, (w-k+p.Pad)/s+1))
	if w-k+p.Pad < 0 {
		oxHi = oxLo
	}
	wq := (w + s - 1) / s // phase row length
	// off[ki·K+kj] locates window position (ki, kj) in the phases relative to the window at
	// (row y0, output column oxLo): phase (kj−pad) mod s, row y0+ki, column oxLo+⌊(kj−pad)/s⌋.
	off := make([]int32, k*k)
	for ki := 0; ki < k; ki++ {
		for kj := 0; kj < k; kj++ {
			d := kj - p.Pad + s*k // made non-negative; the multiple of s is taken off below
			r, u := d%s, d/s-k
			off[ki*k+kj] = int32(r*h*wq + ki*wq + oxLo + u)
		}
	}
	// kpos[ki·K+kj] is window position (ki, kj)'s offset in the plane from the window's corner.
	kpos := make([]int, k*k)
	for i := range kpos {
		kpos[i] = i/k*w + i%k
	}
	vector := oxHi-oxLo >= 8
	parallelRange(n*c, max(1, elemGrain/max(1, h*w)), func(lo, hi int) {
		var q, best, argk []float32
		if vector {
			q, best, argk = make([]float32, s*h*wq), make([]float32, oxHi-oxLo), make([]float32, oxHi-oxLo)
		}
		for pl := lo; pl < hi; pl++ {
			in := xd[pl*h*w : (pl+1)*h*w]
			yo, wo := yd[pl*oh*ow:(pl+1)*oh*ow], wsd[pl*oh*ow:(pl+1)*oh*ow]
			if vector {
				for iy := 0; iy < h; iy++ {
					src := in[iy*w : (iy+1)*w]
					switch s {
					case 1:
						copy(q[iy*wq:(iy+1)*wq], src)
					case 2:
						ev, od := q[iy*wq:(iy+1)*wq], q[(h+iy)*wq:(h+iy+1)*wq]
						pairs := w / 2
						ev, od, src2 := ev[:pairs], od[:pairs], src[:2*pairs]
						for j := range ev {
							ev[j], od[j] = src2[2*j], src2[2*j+1]
						}
						if w%2 == 1 {
							q[iy*wq+pairs] = src[w-1]
						}
					default:
						for r := 0; r < s; r++ {
							row := q[(r*h+iy)*wq : (r*h+iy+1)*wq]
							j := 0
							for ix := r; ix < w; ix += s {
								row[j] = src[ix]
								j++
							}
						}
					}
				}
			}
			for oy := 0; oy < oh; oy++ {
				y0 := oy*s - p.Pad
				if !vector || y0 < 0 || y0+k > h {
					for ox := 0; ox < ow; ox++ {
						yo[oy*ow+ox], wo[oy*ow+ox] = window(in, h, w, y0, ox*s-p.Pad, k)
					}
					continue
				}
				for ox := 0; ox < oxLo; ox++ {
					yo[oy*ow+ox], wo[oy*ow+ox] = window(in, h, w, y0, ox*s-p.Pad, k)
				}
				maxWindow(q, y0*wq, off, best, argk)
				copy(yo[oy*ow+oxLo:], best)
				corner := y0*w + oxLo*s - p.Pad
				for i, kf := range argk {
					wo[oy*ow+oxLo+i] = float32(corner + i*s + kpos[int(kf)])
				}
				for ox := oxHi; ox < ow; ox++ {
					yo[oy*ow+ox], wo[oy*ow+ox] = window(in, h, w, y0, ox*s-p.Pad, k)
				}
			}
		}
	})
	return y, ws
}

// window returns the maximum of the k×k window at (y0, x0) of the h×w plane in (positions
// outside it skipped) and the flat index of the winner as a float32, by the reference's rule.
func window(in []float32, h, w, y0, x0, k int) (float32, float32) {
	ky0, ky1 := max(0, -y0), min(k, h-y0)
	kx0, kx1 := max(0, -x0), min(k, w-x0)
	best, arg := float32(math.Inf(-1)), -1
	for ki := ky0; ki < ky1; ki++ {
		base := (y0+ki)*w + x0
		for j, v := range in[base+kx0 : base+kx1] {
			if arg < 0 || v > best || v != v {
				best, arg = v, base+kx0+j
			}
		}
	}
	return best, float32(arg)
}
