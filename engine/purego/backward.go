package purego

import (
	"github.com/catmark/catmark/engine"
)

// Conv2DBackward returns the gradients of Conv2D (see engine.Backend): dx (N×C×H×W) if g.Input,
// dw (O×C×K×K) and db (O, when hasBias) if g.Params.
//
// dx is col2im(Wᵀ·dy_n) image by image (for 1×1 stride-1 convolutions Wᵀ·dy_n itself), and dw
// is Σ_n dy_n·col(x_n)ᵀ, both through gemm and microKernel; db sums dy in float64 as ref does.
// For a 3×3 stride-1 convolution with padding p, dx is the 3×3 convolution of dy with padding
// 2−p by the filters rotated 180° with their channel axes swapped, and runs as Winograd
// F(4×4, 3×3) where useWinograd picks that convolution (its filters cached as Conv2D's are).
func (b *Backend) Conv2DBackward(x, w, dy engine.Tensor, p engine.ConvParams, hasBias bool, gr engine.Grads) (dx, dw, db engine.Tensor) {
	const op = "Conv2DBackward"
	xd, xs := b.data(op, x)
	wd, ws := b.data(op, w)
	dyd, dys := b.data(op, dy)
	g := convShapes(op, xs, ws, p)
	engine.SameShape(op+" dy", dys, []int{g.n, g.o, g.oh, g.ow})
	if gr.Input && g.k == 3 && g.stride == 1 {
		// The input gradient's convolution: dy (N×O×OH×OW) to dx (N×C×H×W).
		back := convGeom{n: g.n, c: g.o, h: g.oh, w: g.ow, o: g.c, k: 3, oh: g.h, ow: g.w, stride: 1, pad: 2 - g.pad}
		if b.useWinograd(back) {
			dx = b.Zeros(xs...)
			u := b.cached(w, wd, formWinoBwd, func() []float32 { return winoFilter(wd, g.o, g.c, true) })
			winoConv(newWinoGeom(g.n, g.o, g.oh, g.ow, g.c, 2-g.pad), dyd, u, nil, b.Backend.Data(dx))
			gr.Input = false
			if !gr.Params {
				return dx, nil, nil
			}
		}
	}
	kk, ohw, chw := g.c*g.k*g.k, g.oh*g.ow, g.c*g.h*g.w
	per := max(1, min(g.n, maxColFloats/max(1, kk*ohw))) // images per chunk
	var col []float32
	if !g.direct() {
		buf := getScratch(per * kk * ohw)
		defer putScratch(buf)
		col = *buf
	}
	if gr.Input {
		dx = b.Zeros(xs...)
		dxd := b.Backend.Data(dx)
		at := packAT(wd, g.o, kk)
		for n0 := 0; n0 < g.n; n0 += per {
			ni := min(per, g.n-n0)
			src := &bSource{data: dyd[n0*g.o*ohw : (n0+ni)*g.o*ohw], imgStride: g.o * ohw, rowStride: ohw, cols: ohw, k: g.o, n: ni * ohw}
			if col == nil {
				gemm(at, src, kk, dxd[n0*chw:(n0+ni)*chw], nil, false)
				continue
			}
			gemm(at, src, kk, col[:ni*kk*ohw], nil, false)
			parallel(ni*g.c, func(_, t int) {
				i, c := t/g.c, t%g.c
				g.col2im(col[i*kk*ohw:(i+1)*kk*ohw], dxd[(n0+i)*chw:(n0+i+1)*chw], c)
			})
		}
	}
	if gr.Params {
		dw = b.Zeros(ws...)
		dwd := b.Backend.Data(dw)
		for n0 := 0; n0 < g.n; n0 += per {
			ni := min(per, g.n-n0)
			cm := colT{data: xd[n0*chw : (n0+ni)*chw], kk: kk, cols: ohw, imgs: ni}
			if col != nil {
				parallel(ni*g.c, func(_, t int) {
					i, c := t/g.c, t%g.c
					g.im2col(xd[(n0+i)*chw:(n0+i+1)*chw], col[i*kk*ohw:(i+1)*kk*ohw], c, c+1)
				})
				cm.data = col[:ni*kk*ohw]
			}
			ady := packADy(dyd[n0*g.o*ohw:(n0+ni)*g.o*ohw], g.o, ohw, ni)
			gemm(*ady, &cm, g.o, dwd, nil, true)
			putScratch(ady)
		}
		if hasBias {
			db = b.Zeros(g.o)
			dbd := b.Backend.Data(db)
			parallel(g.o, func(_, o int) {
				var s float64
				for n := 0; n < g.n; n++ {
					for _, v := range dyd[(n*g.o+o)*ohw : (n*g.o+o+1)*ohw] {
						s += float64(v)
					}
				}
				dbd[o] = float32(s)
			})
		}
	}
	return dx, dw, db
}

// packAT packs the transpose of the row-major m×k matrix w as packA packs a k×m matrix:
// panel i holds rows [i·mr, i·mr+mr) of wᵀ, a[i·m·mr + p·mr + r] = w[p·k + i·mr + r], zero past
// row k of wᵀ.
func packAT(w []float32, m, k int) []float32 {
	panels := (k + mr - 1) / mr
	a := make([]float32, panels*m*mr)
	for i := 0; i < panels; i++ {
		rows := min(mr, k-i*mr)
		for p := 0; p < m; p++ {
			copy(a[i*m*mr+p*mr:i*m*mr+p*mr+rows], w[p*k+i*mr:])
		}
	}
	return a
}

// packADy packs dy (imgs images of o×cols, row-major) as the o×(imgs·cols) matrix whose column
// j = img·cols + pos is pixel pos of every channel of image img, in packA's layout, into a
// scratch buffer (return it with putScratch).
func packADy(dy []float32, o, cols, imgs int) *[]float32 {
	panels := (o + mr - 1) / mr
	k := imgs * cols
	a := getScratch(panels * k * mr)
	ad := *a
	parallel(panels, func(_, i int) {
		dst := ad[i*k*mr : (i+1)*k*mr]
		if i*mr+mr > o {
			clear(dst)
		}
		for r := 0; r < mr && i*mr+r < o; r++ {
			for img := 0; img < imgs; img++ {
				src := dy[(img*o+i*mr+r)*cols : (img*o+i*mr+r+1)*cols]
				d := dst[img*cols*mr+r:]
				for pos, v := range src {
					d[pos*mr] = v
				}
			}
		}
	})
	return a
}

// colT is the transpose of an im2col matrix (or of the input itself for 1×1 stride-1
// convolutions): imgs images of kk×cols, row-major, seen as the (imgs·cols)×kk matrix whose row
// p = img·cols + pos holds pixel pos of every row of image img's matrix.
type colT struct {
	data           []float32
	kk, cols, imgs int
}

func (c *colT) dims() (k, n, cols int) { return c.imgs * c.cols, c.kk, c.kk }

// pack copies columns [j0, j0+nr) of the transposed matrix into dst (k×nr), zero past kk.
func (c *colT) pack(dst []float32, j0 int) {
	k := c.imgs * c.cols
	dst = dst[:k*nr]
	if j0+nr > c.kk {
		clear(dst)
	}
	for q := j0; q < min(j0+nr, c.kk); q++ {
		for img := 0; img < c.imgs; img++ {
			src := c.data[(img*c.kk+q)*c.cols : (img*c.kk+q+1)*c.cols]
			d := dst[img*c.cols*nr+q-j0:]
			for pos, v := range src {
				d[pos*nr] = v
			}
		}
	}
}

// col2im adds channel c's rows of col (a (C·K·K)×(OH·OW) im2col matrix of one image) to the
// positions of dx (C×H×W) they were read from, as im2col's adjoint.
func (g convGeom) col2im(col, dx []float32, c int) {
	ohw := g.oh * g.ow
	plane := dx[c*g.h*g.w : (c+1)*g.h*g.w]
	for ki := 0; ki < g.k; ki++ {
		for kj := 0; kj < g.k; kj++ {
			row := col[((c*g.k+ki)*g.k+kj)*ohw:][:ohw]
			lo := min(g.ow, max(0, (g.pad-kj+g.stride-1)/g.stride))
			hi := max(lo, min(g.ow, (g.w-1+g.pad-kj)/g.stride+1))
			if g.w-1+g.pad-kj < 0 {
				hi = lo
			}
			for oy := 0; oy < g.oh; oy++ {
				iy := oy*g.stride - g.pad + ki
				if iy < 0 || iy >= g.h {
					continue
				}
				in := row[oy*g.ow : (oy+1)*g.ow]
				out := plane[iy*g.w : (iy+1)*g.w]
				ix := lo*g.stride - g.pad + kj
				for ox := lo; ox < hi; ox++ {
					out[ix] += in[ox]
					ix += g.stride
				}
			}
		}
	}
}
