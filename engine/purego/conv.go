package purego

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/engine"
)

// Register tile of the micro-kernel: mr rows of the weight matrix (output channels) by nr
// columns of the im2col matrix (output pixels).
const (
	mr = 6
	nr = 16
)

// convGeom is the geometry of one convolution.
type convGeom struct {
	n, c, h, w  int // input
	o, k        int // output channels, kernel size
	oh, ow      int // output size
	stride, pad int
}

func convShapes(op string, xs, ws []int, p engine.ConvParams) convGeom {
	rank(op, "x", xs, 4)
	rank(op, "w", ws, 4)
	g := convGeom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ws[0], k: ws[2], stride: p.Stride, pad: p.Pad}
	if ws[1] != g.c || ws[3] != g.k {
		panic(fmt.Sprintf("purego: %s: x %v and w %v do not match (want w O×%d×K×K)", op, xs, ws, g.c))
	}
	if p.Stride < 1 || p.Pad < 0 {
		panic(fmt.Sprintf("purego: %s: bad stride %d or padding %d", op, p.Stride, p.Pad))
	}
	g.oh = engine.OutSize(g.h, g.k, p.Stride, p.Pad)
	g.ow = engine.OutSize(g.w, g.k, p.Stride, p.Pad)
	if g.oh < 1 || g.ow < 1 {
		panic(fmt.Sprintf("purego: %s: input %v too small for kernel %d, stride %d, padding %d", op, xs, g.k, p.Stride, p.Pad))
	}
	return g
}

// direct reports whether the input itself is the im2col matrix (a 1×1 kernel, stride 1, no
// padding).
func (g convGeom) direct() bool { return g.k == 1 && g.stride == 1 && g.pad == 0 }

// im2col writes channels [c0, c1) of one image x (C×H×W) into col, a (C·K·K)×(OH·OW) row-major
// matrix: row (c,ki,kj) column (oy,ox) holds x[c, oy·s−p+ki, ox·s−p+kj], or 0 where that falls
// in the padding.
func (g convGeom) im2col(x, col []float32, c0, c1 int) {
	ohw := g.oh * g.ow
	for c := c0; c < c1; c++ {
		plane := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((c*g.k+ki)*g.k+kj)*ohw:][:ohw]
				// Output columns [lo, hi) read inside the image: ox·s−p+kj ∈ [0, W).
				lo := min(g.ow, max(0, (g.pad-kj+g.stride-1)/g.stride))
				hi := max(lo, min(g.ow, (g.w-1+g.pad-kj)/g.stride+1))
				if g.w-1+g.pad-kj < 0 {
					hi = lo
				}
				for oy := 0; oy < g.oh; oy++ {
					out := row[oy*g.ow : (oy+1)*g.ow]
					iy := oy*g.stride - g.pad + ki
					if iy < 0 || iy >= g.h {
						clear(out)
						continue
					}
					for ox := 0; ox < lo; ox++ {
						out[ox] = 0
					}
					for ox := hi; ox < len(out); ox++ {
						out[ox] = 0
					}
					in := plane[iy*g.w : (iy+1)*g.w]
					ix := lo*g.stride - g.pad + kj
					if g.stride == 1 && hi-lo >= 32 {
						copy(out[lo:hi], in[ix:])
						continue
					}
					for ox := lo; ox < hi; ox++ {
						out[ox] = in[ix]
						ix += g.stride
					}
				}
			}
		}
	}
}

// packA packs the row-major m×k matrix w into panels of mr rows: panel i holds rows
// [i·mr, i·mr+mr) column by column, a[i·k·mr + p·mr + r] = w[(i·mr+r)·k + p], zero past row m.
func packA(w []float32, m, k int) []float32 {
	panels := (m + mr - 1) / mr
	a := make([]float32, panels*k*mr)
	for i := 0; i < panels; i++ {
		dst := a[i*k*mr : (i+1)*k*mr]
		for r := 0; r < mr && i*mr+r < m; r++ {
			src := w[(i*mr+r)*k : (i*mr+r+1)*k]
			for p, v := range src {
				dst[p*mr+r] = v
			}
		}
	}
	return a
}

// weights returns w (O×C×K×K) packed by packA as an O×(C·K·K) matrix, from the cache when it
// holds w.
func (b *Backend) weights(w engine.Tensor, wd []float32, m, k int) []float32 {
	return b.cached(w, wd, formGEMM, func() []float32 { return packA(wd, m, k) })
}

// cached returns the given form of w (whose storage is wd), from the cache when it holds it,
// else made by build and kept.
func (b *Backend) cached(w engine.Tensor, wd []float32, form weightForm, build func() []float32) []float32 {
	key := weightKey{w, form}
	b.mu.Lock()
	p, ok := b.packed[key]
	b.mu.Unlock()
	if ok && len(p.src) == len(wd) && (len(wd) == 0 || &p.src[0] == &wd[0]) {
		return p.data
	}
	a := build()
	b.mu.Lock()
	if old, ok := b.packed[key]; ok {
		b.size -= len(old.data)
	}
	if b.size+len(a) > maxPacked {
		clear(b.packed)
		b.size = 0
	}
	b.packed[key] = &packedWeights{src: wd, data: a}
	b.size += len(a)
	b.mu.Unlock()
	return a
}

// bSource describes the GEMM's right-hand matrix B (K×N) as stored: column j = img·cols + pos
// (img an image of the chunk, pos an output pixel) of row p is
// data[img·imgStride + p·rowStride + pos].
type bSource struct {
	data                 []float32
	imgStride, rowStride int
	cols                 int // columns per image (OH·OW)
	k, n                 int // rows, and columns over all images
}

// pack copies columns [j0, j0+nr) of s into dst (k×nr, row-major), zero past column n.
func (s *bSource) pack(dst []float32, j0 int) {
	dst = dst[:s.k*nr]
	if j0+nr <= s.n && j0/s.cols == (j0+nr-1)/s.cols {
		// The common case: nr contiguous values per row.
		off := (j0/s.cols)*s.imgStride + j0%s.cols
		for p := 0; p < s.k; p++ {
			*(*[nr]float32)(dst[p*nr:]) = *(*[nr]float32)(s.data[off+p*s.rowStride:])
		}
		return
	}
	if j0+nr > s.n {
		clear(dst)
	}
	for j := j0; j < min(j0+nr, s.n); {
		img, pos := j/s.cols, j%s.cols
		run := min(j0+nr, s.n, (img+1)*s.cols) - j
		off := img*s.imgStride + pos
		for p := 0; p < s.k; p++ {
			copy(dst[p*nr+j-j0:p*nr+j-j0+run], s.data[off+p*s.rowStride:])
		}
		j += run
	}
}

// maxColFloats bounds the floats of one chunk's im2col matrix (16 MiB).
var maxColFloats = 4 << 20

// minUseful is the least share of useful columns (see implicitGeom.useful) for which Conv2D
// skips the im2col matrix; below it (small images) it gathers the batch's images into one.
var minUseful = 0.7

// Conv2D computes y = conv(x, w) + b. x: N×C×H×W, w: O×C×K×K, b: O or nil; y: N×O×H'×W'.
//
// It is the GEMM y_n = W·col(x_n) with W the O×(C·K·K) weight matrix (packed once and cached)
// and col(x_n) the (C·K·K)×(H'·W') im2col matrix, in mr×nr tiles. Where at least minUseful of
// the implicit GEMM's columns are output pixels, col(x_n) is never formed (convImplicit);
// otherwise it is, for several images at once with their columns side by side (gemm). 3×3
// stride-1 convolutions that useWinograd picks run as Winograd F(4×4, 3×3) instead (winoConv,
// with the transformed filters cached as the packed ones are).
func (b *Backend) Conv2D(x, w, bias engine.Tensor, p engine.ConvParams) engine.Tensor {
	const op = "Conv2D"
	xd, xs := b.data(op, x)
	wd, ws := b.data(op, w)
	g := convShapes(op, xs, ws, p)
	var bd []float32
	if bias != nil {
		var bs []int
		bd, bs = b.data(op, bias)
		engine.SameShape(op+" bias", bs, []int{g.o})
	}
	y := b.Zeros(g.n, g.o, g.oh, g.ow)
	yd := b.Backend.Data(y)
	if b.useWinograd(g) {
		u := b.cached(w, wd, formWinoFwd, func() []float32 { return winoFilter(wd, g.o, g.c, false) })
		winoConv(newWinoGeom(g.n, g.c, g.h, g.w, g.o, g.pad), xd, u, bd, yd)
		return y
	}
	kk, ohw, chw := g.c*g.k*g.k, g.oh*g.ow, g.c*g.h*g.w
	a := b.weights(w, wd, g.o, kk)
	if ig := g.implicit(); ig.useful() >= minUseful && ig.imgLen < math.MaxInt32 {
		convImplicit(ig, xd, a, bd, yd)
		return y
	}
	per := g.n // images per chunk
	var col []float32
	if !g.direct() {
		per = max(1, min(g.n, maxColFloats/max(1, kk*ohw)))
		buf := getScratch(per * kk * ohw)
		defer putScratch(buf)
		col = *buf
	}
	for n0 := 0; n0 < g.n; n0 += per {
		ni := min(per, g.n-n0)
		src := bSource{data: xd[n0*chw : (n0+ni)*chw], imgStride: chw, rowStride: ohw, cols: ohw, k: kk, n: ni * ohw}
		if col != nil {
			parallel(ni*g.c, func(_, t int) {
				i, c := t/g.c, t%g.c
				g.im2col(xd[(n0+i)*chw:(n0+i+1)*chw], col[i*kk*ohw:(i+1)*kk*ohw], c, c+1)
			})
			src = bSource{data: col[:ni*kk*ohw], imgStride: kk * ohw, rowStride: ohw, cols: ohw, k: kk, n: ni * ohw}
		}
		gemm(a, &src, g.o, yd[n0*g.o*ohw:(n0+ni)*g.o*ohw], bd, false)
	}
	return y
}

// bMatrix is the right-hand matrix of gemm, k×n, whose columns come in blocks of cols (one
// block per image).
type bMatrix interface {
	// dims returns k, n and cols.
	dims() (k, n, cols int)
	// pack copies columns [j0, j0+nr) into dst (k×nr, row-major), zero past column n.
	pack(dst []float32, j0 int)
}

func (s *bSource) dims() (k, n, cols int) { return s.k, s.n, s.cols }

// gemm computes out = A·B (+ bias per row), or with acc out += A·B, for A (m×k, packed by
// packA) and B (k×n). out holds, per block of cols columns of B, an m×cols row-major block:
// element (r, j) of the product, j = blk·cols + pos, goes to out[(blk·m + r)·cols + pos].
func gemm(a []float32, src bMatrix, m int, out, bias []float32, acc bool) {
	k, n, cols := src.dims()
	mPanels, nPanels := (m+mr-1)/mr, (n+nr-1)/nr
	nw := workers()
	if nPanels*k*nr <= sharedB {
		// Small B (late layers): pack it once, and split the panels of A between goroutines,
		// each taking every panel of B against its share of A (which stays in L2).
		buf := getScratch(nPanels * k * nr)
		defer putScratch(buf)
		bp := *buf
		parallel(nPanels, func(_, pn int) { src.pack(bp[pn*k*nr:], pn*nr) })
		tasks := min(mPanels, 4*nw)
		parallel(tasks, func(_, t int) {
			var tile [mr * nr]float32
			for pn := 0; pn < nPanels; pn++ {
				for mi := t * mPanels / tasks; mi < (t+1)*mPanels/tasks; mi++ {
					gemmTile(a[mi*k*mr:(mi+1)*k*mr], bp[pn*k*nr:(pn+1)*k*nr], mi*mr, pn*nr, m, n, cols, out, bias, acc, &tile)
				}
			}
		})
		return
	}
	// Panels of B per task: a group that stays in L2 (about 128 KiB), and enough tasks for all
	// goroutines; the panels of A are split too when B has too few.
	group := max(1, min(32768/max(1, k*nr), (nPanels+2*nw-1)/(2*nw)))
	groups := (nPanels + group - 1) / group
	mSplit := 1
	if groups < 2*nw {
		mSplit = min(mPanels, (2*nw+groups-1)/groups)
	}
	bufs := make([]*[]float32, nw)
	defer func() {
		for _, b := range bufs {
			if b != nil {
				putScratch(b)
			}
		}
	}()
	parallel(groups*mSplit, func(wk, t int) {
		gi, ms := t/mSplit, t%mSplit
		if bufs[wk] == nil {
			bufs[wk] = getScratch(group * k * nr)
		}
		buf := *bufs[wk]
		p0, p1 := gi*group, min(nPanels, (gi+1)*group)
		for pn := p0; pn < p1; pn++ {
			src.pack(buf[(pn-p0)*k*nr:], pn*nr)
		}
		m0, m1 := ms*mPanels/mSplit, (ms+1)*mPanels/mSplit
		var tile [mr * nr]float32
		for pn := p0; pn < p1; pn++ {
			bp := buf[(pn-p0)*k*nr : (pn-p0+1)*k*nr]
			for mi := m0; mi < m1; mi++ {
				gemmTile(a[mi*k*mr:(mi+1)*k*mr], bp, mi*mr, pn*nr, m, n, cols, out, bias, acc, &tile)
			}
		}
	})
}

// sharedB is the most floats of packed B that gemm packs once for all goroutines (1 MiB).
var sharedB = 1 << 18

// gemmTile computes the mr×nr tile of gemm's product at rows [r0, r0+mr) and columns
// [j0, j0+nr) from the packed panels ap (k×mr) and bp (k×nr), and writes (or with acc adds)
// its part inside the m×n product to out (laid out as gemm says), adding the bias. tile is
// scratch.
func gemmTile(ap, bp []float32, r0, j0, m, n, cols int, out, bias []float32, acc bool, tile *[mr * nr]float32) {
	k := len(ap) / mr
	img, pos := j0/cols, j0%cols
	if j0+nr <= n && pos+nr <= cols && r0+mr <= m {
		c := out[(img*m+r0)*cols+pos:]
		if acc {
			microKernel(k, ap, bp, tile[:], nr)
			for r := 0; r < mr; r++ {
				row, t := c[r*cols:r*cols+nr], tile[r*nr:(r+1)*nr]
				for j := range row {
					row[j] += t[j]
				}
			}
		} else {
			microKernel(k, ap, bp, c, cols)
		}
		if bias != nil {
			for r := 0; r < mr; r++ {
				row := c[r*cols : r*cols+nr]
				for j := range row {
					row[j] += bias[r0+r]
				}
			}
		}
		return
	}
	microKernel(k, ap, bp, tile[:], nr)
	for j := j0; j < min(j0+nr, n); j++ {
		im, ps := j/cols, j%cols
		for r := r0; r < min(r0+mr, m); r++ {
			v := tile[(r-r0)*nr+j-j0]
			if bias != nil {
				v += bias[r]
			}
			if acc {
				v += out[(im*m+r)*cols+ps]
			}
			out[(im*m+r)*cols+ps] = v
		}
	}
}

// implicitGeom is the layout of a convolution computed without an im2col matrix. The padded
// input is split into stride×stride phase images (phase (a, b) holds the padded pixels
// (s·i+a, s·j+b)), each Hq×Wq, stacked per channel; output pixel (oy, ox) is then GEMM column
// q = oy·Wq + ox, and row (c, ki, kj) of B is the phase image of (c, ki mod s, kj mod s) read at
// q + (ki/s)·Wq + kj/s — contiguous in q. Columns with ox ≥ OW are computed and dropped.
type implicitGeom struct {
	convGeom
	hq, wq  int     // phase image size
	cols    int     // GEMM columns per image, OH·Wq, rounded up to nr
	imgLen  int     // floats of one image's phase images, with slack for the last tile's reads
	off     []int32 // B's row offsets, one per (c, ki, kj)
	maxOff  int
	rowsPad int // output rows, O rounded up to mr
}

func (g convGeom) implicit() implicitGeom {
	s := g.stride
	ig := implicitGeom{convGeom: g, hq: (g.h + 2*g.pad + s - 1) / s, wq: (g.w + 2*g.pad + s - 1) / s}
	ig.cols = (g.oh*ig.wq + nr - 1) / nr * nr
	ig.imgLen = g.c*s*s*ig.hq*ig.wq + ig.cols
	ig.off = make([]int32, 0, g.c*g.k*g.k)
	for c := 0; c < g.c; c++ {
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				o := ((c*s+ki%s)*s+kj%s)*ig.hq*ig.wq + (ki/s)*ig.wq + kj/s
				ig.off = append(ig.off, int32(o))
				ig.maxOff = max(ig.maxOff, o)
			}
		}
	}
	ig.rowsPad = (g.o + mr - 1) / mr * mr
	return ig
}

// useful is the share of the implicit GEMM's columns that are output pixels.
func (ig implicitGeom) useful() float64 { return float64(ig.oh*ig.ow) / float64(ig.cols) }

// phases writes channel c of one image x (C×H×W) as ig's phase images into dst (one image's
// imgLen floats, zero where the padding falls).
func (ig implicitGeom) phases(x, dst []float32, c int) {
	s, hw := ig.stride, ig.hq*ig.wq
	plane := x[c*ig.h*ig.w : (c+1)*ig.h*ig.w]
	if s == 2 {
		ig.phases2(plane, dst, c)
		return
	}
	for a := 0; a < s; a++ {
		for b := 0; b < s; b++ {
			ph := dst[((c*s+a)*s+b)*hw : ((c*s+a)*s+b+1)*hw]
			// Phase columns j read x column s·j+b−pad ∈ [0, W).
			lo := max(0, (ig.pad-b+s-1)/s)
			hi := min(ig.wq, (ig.w-1+ig.pad-b)/s+1)
			if ig.w-1+ig.pad-b < 0 {
				hi = lo
			}
			for i := 0; i < ig.hq; i++ {
				row := ph[i*ig.wq : (i+1)*ig.wq]
				iy := i*s + a - ig.pad
				if iy < 0 || iy >= ig.h {
					clear(row)
					continue
				}
				clear(row[:min(lo, ig.wq)])
				if hi > lo {
					clear(row[hi:])
				}
				in := plane[iy*ig.w : (iy+1)*ig.w]
				ix := lo*s + b - ig.pad
				if s == 1 {
					copy(row[lo:max(lo, hi)], in[max(0, ix):])
					continue
				}
				for j := lo; j < hi; j++ {
					row[j] = in[ix]
					ix += s
				}
			}
		}
	}
	if c == ig.c-1 {
		clear(dst[ig.c*s*s*hw : ig.imgLen])
	}
}

// phases2 is phases for stride 2: each input row fills a row of phase (a, 0) and of (a, 1) in
// one pass, two columns at a time.
func (ig implicitGeom) phases2(plane, dst []float32, c int) {
	hw := ig.hq * ig.wq
	for a := 0; a < 2; a++ {
		ph0 := dst[((c*2+a)*2)*hw : ((c*2+a)*2+1)*hw]
		ph1 := dst[((c*2+a)*2+1)*hw : ((c*2+a)*2+2)*hw]
		for i := 0; i < ig.hq; i++ {
			r0, r1 := ph0[i*ig.wq:(i+1)*ig.wq], ph1[i*ig.wq:(i+1)*ig.wq]
			clear(r0)
			clear(r1)
			iy := 2*i + a - ig.pad
			if iy < 0 || iy >= ig.h {
				continue
			}
			// Input column ix lands in phase (ix+pad) mod 2 at column (ix+pad)/2.
			in := plane[iy*ig.w : (iy+1)*ig.w]
			ix := 0
			if ig.pad%2 == 1 {
				r1[ig.pad/2] = in[0]
				ix = 1
			}
			j := (ix + ig.pad) / 2
			pairs := (ig.w - ix) / 2
			src := in[ix : ix+2*pairs]
			d0, d1 := r0[j:j+pairs], r1[j:j+pairs]
			for k := range d0 {
				d0[k], d1[k] = src[2*k], src[2*k+1]
			}
			if ix+2*pairs < ig.w {
				r0[j+pairs] = in[ig.w-1]
			}
		}
	}
	if c == ig.c-1 {
		clear(dst[ig.c*4*hw : ig.imgLen])
	}
}

// convImplicit computes Conv2D's y (N×O×OH×OW) from x with the packed weights a, by offKernel
// over ig's phase images, chunk by chunk of images.
func convImplicit(ig implicitGeom, xd, a, bias, yd []float32) {
	chw, ohw := ig.c*ig.h*ig.w, ig.oh*ig.ow
	yLen := ig.rowsPad * ig.cols // one image's padded output
	per := max(1, min(ig.n, maxColFloats/max(1, ig.imgLen+yLen)))
	phBuf, ypBuf := getScratch(per*ig.imgLen), getScratch(per*yLen)
	defer putScratch(phBuf)
	defer putScratch(ypBuf)
	ph, yp := *phBuf, *ypBuf
	kk := len(ig.off)
	mPanels, tiles := ig.rowsPad/mr, ig.cols/nr
	nw := workers()
	for n0 := 0; n0 < ig.n; n0 += per {
		ni := min(per, ig.n-n0)
		parallel(ni*ig.c, func(_, t int) {
			i, c := t/ig.c, t%ig.c
			ig.phases(xd[(n0+i)*chw:(n0+i+1)*chw], ph[i*ig.imgLen:(i+1)*ig.imgLen], c)
		})
		// Tasks: a group of tiles of one image against a share of the weight panels.
		group := max(1, (tiles+8*nw-1)/(8*nw))
		if ni > 1 {
			group = max(1, min(tiles, 4))
		}
		groups := (tiles + group - 1) / group
		mSplit := 1
		if ni*groups < 2*nw {
			mSplit = min(mPanels, (2*nw+ni*groups-1)/(ni*groups))
		}
		parallel(ni*groups*mSplit, func(_, t int) {
			i, rest := t/(groups*mSplit), t%(groups*mSplit)
			gi, ms := rest/mSplit, rest%mSplit
			b := ph[i*ig.imgLen : (i+1)*ig.imgLen]
			out := yp[i*yLen : (i+1)*yLen]
			m0, m1 := ms*mPanels/mSplit, (ms+1)*mPanels/mSplit
			for tile := gi * group; tile < min(tiles, (gi+1)*group); tile++ {
				q0 := tile * nr
				for mi := m0; mi < m1; mi++ {
					if ig.o-mi*mr <= 2 && offKernel2 != nil {
						offKernel2(kk, a[mi*kk*mr:(mi+1)*kk*mr], b[q0:], ig.off, ig.maxOff, out[mi*mr*ig.cols+q0:], ig.cols)
						continue
					}
					offKernel(kk, a[mi*kk*mr:(mi+1)*kk*mr], b[q0:], ig.off, ig.maxOff, out[mi*mr*ig.cols+q0:], ig.cols)
				}
			}
		})
		// Drop the padding columns (and rows), adding the bias.
		parallel(ni*ig.o, func(_, t int) {
			i, o := t/ig.o, t%ig.o
			src := yp[i*yLen+o*ig.cols : i*yLen+(o+1)*ig.cols]
			dst := yd[((n0+i)*ig.o+o)*ohw : ((n0+i)*ig.o+o+1)*ohw]
			var bv float32
			if bias != nil {
				bv = bias[o]
			}
			for oy := 0; oy < ig.oh; oy++ {
				d, s := dst[oy*ig.ow:(oy+1)*ig.ow], src[oy*ig.wq:oy*ig.wq+ig.ow]
				if bias == nil {
					copy(d, s)
					continue
				}
				for j, v := range s {
					d[j] = v + bv
				}
			}
		})
	}
}
