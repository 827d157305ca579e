// Package ref is catmark's reference backend: plain Go, plain N×C×H×W float32 storage, each
// operation written the simplest way that is obviously right. Every faster backend is tested
// against it (see package enginetest).
//
// Convolutions are im2col followed by a single-precision GEMM (gonum's blas32, pure Go);
// reductions (batch-norm statistics, bias gradients, pooling) accumulate in float64.
//
// Importing the package registers the backend as "ref" with engine.Register.
package ref

import (
	"fmt"
	"math"

	"github.com/catmark/catmark/engine"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

func init() {
	engine.Register("ref", func() (engine.Backend, error) { return New(), nil })
}

// Backend is the reference backend. It is stateless; the zero value is ready to use and safe for
// concurrent use by several goroutines (each tensor by one at a time).
type Backend struct{}

// New returns the reference backend.
func New() *Backend { return &Backend{} }

// tensor is ref's Tensor: a shape and its row-major data.
type tensor struct {
	shape []int
	data  []float32
}

func (t *tensor) Shape() []int { return t.shape }

func newTensor(shape ...int) *tensor {
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("ref: negative dimension in shape %v", shape))
		}
	}
	return &tensor{shape: append([]int(nil), shape...), data: make([]float32, engine.Numel(shape))}
}

// get returns t's storage, panicking (naming op) when t is not a live ref tensor.
func get(op string, t engine.Tensor) *tensor {
	rt, ok := t.(*tensor)
	if !ok {
		panic(fmt.Sprintf("ref: %s: tensor of type %T is not from the ref backend", op, t))
	}
	if rt.data == nil && engine.Numel(rt.shape) > 0 {
		panic(fmt.Sprintf("ref: %s: tensor of shape %v used after Release", op, rt.shape))
	}
	return rt
}

func rank(op, what string, t *tensor, r int) {
	if len(t.shape) != r {
		panic(fmt.Sprintf("ref: %s: %s has shape %v, want rank %d", op, what, t.shape, r))
	}
}

// Name returns "ref".
func (*Backend) Name() string { return "ref" }

// Zeros returns a zero tensor of the given shape.
func (*Backend) Zeros(shape ...int) engine.Tensor { return newTensor(shape...) }

// FromHost copies data into a new tensor of the given shape.
func (*Backend) FromHost(data []float32, shape ...int) engine.Tensor {
	if len(data) != engine.Numel(shape) {
		panic(fmt.Sprintf("ref: FromHost: %d values for shape %v (%d elements)", len(data), shape, engine.Numel(shape)))
	}
	t := newTensor(shape...)
	copy(t.data, data)
	return t
}

// ToHost copies t into a new slice.
func (*Backend) ToHost(t engine.Tensor) []float32 {
	return append([]float32(nil), get("ToHost", t).data...)
}

// Data returns t's live storage.
func (*Backend) Data(t engine.Tensor) []float32 { return get("Data", t).data }

// Release drops t's storage; later use of t panics.
func (*Backend) Release(t engine.Tensor) {
	if t == nil {
		return
	}
	get("Release", t).data = nil
}

// ---------------------------------------------------------------------------------------------
// Convolution

// convGeom is the geometry of one convolution.
type convGeom struct {
	n, c, h, w  int // input
	o, k        int // output channels, kernel size
	oh, ow      int // output size
	stride, pad int
}

func convShapes(op string, x, w *tensor, p engine.ConvParams) convGeom {
	rank(op, "x", x, 4)
	rank(op, "w", w, 4)
	g := convGeom{n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3],
		o: w.shape[0], k: w.shape[2], stride: p.Stride, pad: p.Pad}
	if w.shape[1] != g.c || w.shape[3] != g.k {
		panic(fmt.Sprintf("ref: %s: x %v and w %v do not match (want w O×%d×K×K)", op, x.shape, w.shape, g.c))
	}
	if p.Stride < 1 || p.Pad < 0 {
		panic(fmt.Sprintf("ref: %s: bad stride %d or padding %d", op, p.Stride, p.Pad))
	}
	g.oh = engine.OutSize(g.h, g.k, p.Stride, p.Pad)
	g.ow = engine.OutSize(g.w, g.k, p.Stride, p.Pad)
	if g.oh < 1 || g.ow < 1 {
		panic(fmt.Sprintf("ref: %s: input %v too small for kernel %d, stride %d, padding %d", op, x.shape, g.k, p.Stride, p.Pad))
	}
	return g
}

// im2col writes one image x (C×H×W) into col, a (C·K·K)×(OH·OW) matrix: row (c,ki,kj) column
// (oy,ox) holds x[c, oy·s−p+ki, ox·s−p+kj], or 0 where that falls in the padding.
func (g convGeom) im2col(x, col []float32) {
	ohw := g.oh * g.ow
	for c := 0; c < g.c; c++ {
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((c*g.k+ki)*g.k+kj)*ohw:][:ohw]
				for oy := 0; oy < g.oh; oy++ {
					iy := oy*g.stride - g.pad + ki
					for ox := 0; ox < g.ow; ox++ {
						ix := ox*g.stride - g.pad + kj
						v := float32(0)
						if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
							v = x[(c*g.h+iy)*g.w+ix]
						}
						row[oy*g.ow+ox] = v
					}
				}
			}
		}
	}
}

// col2im is im2col's adjoint: it adds each entry of col to the input position it was read from.
func (g convGeom) col2im(col, dx []float32) {
	ohw := g.oh * g.ow
	for c := 0; c < g.c; c++ {
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((c*g.k+ki)*g.k+kj)*ohw:][:ohw]
				for oy := 0; oy < g.oh; oy++ {
					iy := oy*g.stride - g.pad + ki
					if iy < 0 || iy >= g.h {
						continue
					}
					for ox := 0; ox < g.ow; ox++ {
						ix := ox*g.stride - g.pad + kj
						if ix >= 0 && ix < g.w {
							dx[(c*g.h+iy)*g.w+ix] += row[oy*g.ow+ox]
						}
					}
				}
			}
		}
	}
}

func general(rows, cols int, data []float32) blas32.General {
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: data[:rows*cols]}
}

// Conv2D computes y = conv(x, w) + b.
func (*Backend) Conv2D(x, w, b engine.Tensor, p engine.ConvParams) engine.Tensor {
	xt, wt := get("Conv2D", x), get("Conv2D", w)
	g := convShapes("Conv2D", xt, wt, p)
	var bias []float32
	if b != nil {
		bt := get("Conv2D", b)
		engine.SameShape("Conv2D bias", bt.shape, []int{g.o})
		bias = bt.data
	}
	y := newTensor(g.n, g.o, g.oh, g.ow)
	ckk, ohw := g.c*g.k*g.k, g.oh*g.ow
	col := make([]float32, ckk*ohw)
	wm := general(g.o, ckk, wt.data)
	for n := 0; n < g.n; n++ {
		g.im2col(xt.data[n*g.c*g.h*g.w:][:g.c*g.h*g.w], col)
		yn := y.data[n*g.o*ohw:][:g.o*ohw]
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, wm, general(ckk, ohw, col), 0, general(g.o, ohw, yn))
		if bias != nil {
			for o := 0; o < g.o; o++ {
				row := yn[o*ohw:][:ohw]
				for i := range row {
					row[i] += bias[o]
				}
			}
		}
	}
	return y
}

// Conv2DBackward returns the gradients of a convolution.
func (*Backend) Conv2DBackward(x, w, dy engine.Tensor, p engine.ConvParams, hasBias bool, gr engine.Grads) (dx, dw, db engine.Tensor) {
	xt, wt, dyt := get("Conv2DBackward", x), get("Conv2DBackward", w), get("Conv2DBackward", dy)
	g := convShapes("Conv2DBackward", xt, wt, p)
	engine.SameShape("Conv2DBackward dy", dyt.shape, []int{g.n, g.o, g.oh, g.ow})
	ckk, ohw, chw := g.c*g.k*g.k, g.oh*g.ow, g.c*g.h*g.w
	col := make([]float32, ckk*ohw)
	wm := general(g.o, ckk, wt.data)
	var dxt, dwt, dbt *tensor
	if gr.Input {
		dxt = newTensor(xt.shape...)
	}
	if gr.Params {
		dwt = newTensor(wt.shape...)
		if hasBias {
			dbt = newTensor(g.o)
		}
	}
	for n := 0; n < g.n; n++ {
		dyn := general(g.o, ohw, dyt.data[n*g.o*ohw:])
		if gr.Params {
			// dw += dy_n · colᵀ
			g.im2col(xt.data[n*chw:][:chw], col)
			blas32.Gemm(blas.NoTrans, blas.Trans, 1, dyn, general(ckk, ohw, col), 1, general(g.o, ckk, dwt.data))
		}
		if gr.Input {
			// dcol = wᵀ · dy_n, then scatter back to the image.
			blas32.Gemm(blas.Trans, blas.NoTrans, 1, wm, dyn, 0, general(ckk, ohw, col))
			g.col2im(col, dxt.data[n*chw:][:chw])
		}
	}
	if dbt != nil {
		for o := 0; o < g.o; o++ {
			var s float64
			for n := 0; n < g.n; n++ {
				for _, v := range dyt.data[(n*g.o+o)*ohw:][:ohw] {
					s += float64(v)
				}
			}
			dbt.data[o] = float32(s)
		}
	}
	return orNil(dxt), orNil(dwt), orNil(dbt)
}

// orNil turns a nil *tensor into a nil interface, so callers can test gradients against nil.
func orNil(t *tensor) engine.Tensor {
	if t == nil {
		return nil
	}
	return t
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation

// bnShapes checks x (N×C×H×W) and the layer's tensors and returns C and the spatial size H·W.
func bnShapes(op string, x *tensor, bn engine.BN) (c, hw int) {
	rank(op, "x", x, 4)
	c, hw = x.shape[1], x.shape[2]*x.shape[3]
	for _, t := range []engine.Tensor{bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar} {
		engine.SameShape(op+" parameter", get(op, t).shape, []int{c})
	}
	return c, hw
}

// BatchNorm normalises x per channel. In BNTrain it uses the batch mean and biased variance and
// updates the running statistics in place with the unbiased variance (PyTorch's rule; with a
// single value per channel the unbiased variance is undefined and the biased one is used). Saved
// holds Y, and in BNTrain the batch Mean and biased Var.
func (*Backend) BatchNorm(x engine.Tensor, bn engine.BN, p engine.BNParams) (engine.Tensor, engine.BNSaved) {
	const op = "BatchNorm"
	xt := get(op, x)
	c, hw := bnShapes(op, xt, bn)
	n := xt.shape[0]
	gamma, beta := get(op, bn.Gamma).data, get(op, bn.Beta).data
	rm, rv := get(op, bn.RunMean).data, get(op, bn.RunVar).data
	y := newTensor(xt.shape...)
	var saved engine.BNSaved
	mean, vr := make([]float32, c), make([]float32, c)
	switch p.Mode {
	case engine.BNTrain:
		for ch := 0; ch < c; ch++ {
			mu, biased, unbiased := ChannelMoments(xt.data, n, c, hw, ch)
			mean[ch], vr[ch] = float32(mu), float32(biased)
			mom := float64(p.Momentum)
			rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mu)
			rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*unbiased)
		}
		saved.Mean = &tensor{shape: []int{c}, data: mean}
		saved.Var = &tensor{shape: []int{c}, data: vr}
	case engine.BNInfer:
		copy(mean, rm)
		copy(vr, rv)
	default:
		panic(fmt.Sprintf("ref: %s: unknown mode %d", op, p.Mode))
	}
	for ch := 0; ch < c; ch++ {
		inv := 1 / math.Sqrt(float64(vr[ch])+float64(p.Eps))
		scale := float64(gamma[ch]) * inv
		shift := float64(beta[ch]) - float64(mean[ch])*scale
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			for j, v := range xt.data[off : off+hw] {
				o := float32(float64(v)*scale + shift)
				if p.ReLU && !(o > 0) {
					o = 0
				}
				y.data[off+j] = o
			}
		}
	}
	saved.Y = y
	return y, saved
}

// BatchNormBackward returns the gradients of BatchNorm. In BNTrain the batch statistics are
// functions of x; in BNInfer the running statistics are constants.
func (*Backend) BatchNormBackward(x, dy engine.Tensor, bn engine.BN, saved engine.BNSaved, p engine.BNParams, gr engine.Grads) (dx, dgamma, dbeta engine.Tensor) {
	const op = "BatchNormBackward"
	xt, dyt := get(op, x), get(op, dy)
	engine.SameShape(op+" dy", dyt.shape, xt.shape)
	c, hw := bnShapes(op, xt, bn)
	n := xt.shape[0]
	m := float64(n * hw)
	gamma := get(op, bn.Gamma).data
	var mean, vr []float32
	if p.Mode == engine.BNTrain {
		mean, vr = get(op, saved.Mean).data, get(op, saved.Var).data
	} else {
		mean, vr = get(op, bn.RunMean).data, get(op, bn.RunVar).data
	}
	var ydata []float32
	if p.ReLU {
		yt := get(op, saved.Y)
		engine.SameShape(op+" saved y", yt.shape, xt.shape)
		ydata = yt.data
	}
	// g returns the gradient reaching the normalised output at flat index k (ReLU applied).
	g := func(k int) float64 {
		if ydata != nil && !(ydata[k] > 0) {
			return 0
		}
		return float64(dyt.data[k])
	}
	var dxt, dgt, dbt *tensor
	if gr.Input {
		dxt = newTensor(xt.shape...)
	}
	if gr.Params {
		dgt, dbt = newTensor(c), newTensor(c)
	}
	for ch := 0; ch < c; ch++ {
		inv := 1 / math.Sqrt(float64(vr[ch])+float64(p.Eps))
		mu := float64(mean[ch])
		var sumG, sumGX float64 // Σ g and Σ g·x̂
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			for k := off; k < off+hw; k++ {
				gk := g(k)
				sumG += gk
				sumGX += gk * (float64(xt.data[k]) - mu) * inv
			}
		}
		if gr.Params {
			dgt.data[ch], dbt.data[ch] = float32(sumGX), float32(sumG)
		}
		if !gr.Input {
			continue
		}
		gi := float64(gamma[ch]) * inv
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			for k := off; k < off+hw; k++ {
				if p.Mode == engine.BNTrain {
					xhat := (float64(xt.data[k]) - mu) * inv
					dxt.data[k] = float32(gi * (g(k) - sumG/m - xhat*sumGX/m))
				} else {
					dxt.data[k] = float32(gi * g(k))
				}
			}
		}
	}
	return orNil(dxt), orNil(dgt), orNil(dbt)
}

// ReleaseBN drops what BatchNorm saved. The saved Y is the forward output, which the caller owns
// and may still use; it is not released here.
func (b *Backend) ReleaseBN(saved engine.BNSaved) {
	b.Release(saved.Mean)
	b.Release(saved.Var)
}

// ---------------------------------------------------------------------------------------------
// Element-wise operations

// ReLU returns max(x, 0).
func (*Backend) ReLU(x engine.Tensor) engine.Tensor {
	xt := get("ReLU", x)
	y := newTensor(xt.shape...)
	for i, v := range xt.data {
		if v > 0 {
			y.data[i] = v
		}
	}
	return y
}

// ReLUBackward returns dy where y > 0 and 0 elsewhere.
func (*Backend) ReLUBackward(y, dy engine.Tensor) engine.Tensor {
	yt, dyt := get("ReLUBackward", y), get("ReLUBackward", dy)
	engine.SameShape("ReLUBackward", yt.shape, dyt.shape)
	dx := newTensor(yt.shape...)
	for i, v := range yt.data {
		if v > 0 {
			dx.data[i] = dyt.data[i]
		}
	}
	return dx
}

// Sigmoid returns 1/(1+e^−x).
func (*Backend) Sigmoid(x engine.Tensor) engine.Tensor {
	xt := get("Sigmoid", x)
	y := newTensor(xt.shape...)
	for i, v := range xt.data {
		y.data[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
	return y
}

// SigmoidBackward returns dy·y·(1−y).
func (*Backend) SigmoidBackward(y, dy engine.Tensor) engine.Tensor {
	yt, dyt := get("SigmoidBackward", y), get("SigmoidBackward", dy)
	engine.SameShape("SigmoidBackward", yt.shape, dyt.shape)
	dx := newTensor(yt.shape...)
	for i, v := range yt.data {
		dx.data[i] = dyt.data[i] * v * (1 - v)
	}
	return dx
}

// Add returns a + b, or max(a+b, 0) with relu.
func (*Backend) Add(a, b engine.Tensor, relu bool) engine.Tensor {
	at, bt := get("Add", a), get("Add", b)
	engine.SameShape("Add", at.shape, bt.shape)
	y := newTensor(at.shape...)
	for i, v := range at.data {
		s := v + bt.data[i]
		if relu && !(s > 0) {
			s = 0
		}
		y.data[i] = s
	}
	return y
}

// AddInto adds src to dst in place.
func (*Backend) AddInto(dst, src engine.Tensor) {
	dt, st := get("AddInto", dst), get("AddInto", src)
	engine.SameShape("AddInto", dt.shape, st.shape)
	for i, v := range st.data {
		dt.data[i] += v
	}
}

// ---------------------------------------------------------------------------------------------
// Pooling

// MaxPool takes window maxima with PyTorch's semantics: padded positions never win (the padding
// is −∞), the first maximum in row-major window order wins ties, and a NaN wins (the last one, as PyTorch's CPU kernel). ws has y's
// shape and holds, for each output, the flat index (y·W+x) of the winning input within its plane.
func (*Backend) MaxPool(x engine.Tensor, p engine.PoolParams) (engine.Tensor, engine.Tensor) {
	xt := get("MaxPool", x)
	rank("MaxPool", "x", xt, 4)
	n, c, h, w := xt.shape[0], xt.shape[1], xt.shape[2], xt.shape[3]
	if p.Kernel < 1 || p.Stride < 1 || p.Pad < 0 || 2*p.Pad > p.Kernel {
		panic(fmt.Sprintf("ref: MaxPool: bad kernel %d, stride %d, padding %d (PyTorch requires pad ≤ kernel/2)", p.Kernel, p.Stride, p.Pad))
	}
	oh, ow := engine.OutSize(h, p.Kernel, p.Stride, p.Pad), engine.OutSize(w, p.Kernel, p.Stride, p.Pad)
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("ref: MaxPool: input %v too small for kernel %d", xt.shape, p.Kernel))
	}
	y, ws := newTensor(n, c, oh, ow), newTensor(n, c, oh, ow)
	if h*w > 1<<24 {
		panic(fmt.Sprintf("ref: MaxPool: plane %d×%d too large for float32 indices", h, w))
	}
	for pl := 0; pl < n*c; pl++ {
		in := xt.data[pl*h*w:][:h*w]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, arg := float32(math.Inf(-1)), -1
				for ki := 0; ki < p.Kernel; ki++ {
					iy := oy*p.Stride - p.Pad + ki
					if iy < 0 || iy >= h {
						continue
					}
					for kj := 0; kj < p.Kernel; kj++ {
						ix := ox*p.Stride - p.Pad + kj
						if ix < 0 || ix >= w {
							continue
						}
						v := in[iy*w+ix]
						if arg < 0 || v > best || v != v {
							best, arg = v, iy*w+ix
						}
					}
				}
				k := (pl*oh+oy)*ow + ox
				y.data[k], ws.data[k] = best, float32(arg)
			}
		}
	}
	return y, ws
}

// MaxPoolBackward adds each dy to the input position ws recorded.
func (*Backend) MaxPoolBackward(x, dy, ws engine.Tensor, p engine.PoolParams) engine.Tensor {
	xt, dyt, wst := get("MaxPoolBackward", x), get("MaxPoolBackward", dy), get("MaxPoolBackward", ws)
	rank("MaxPoolBackward", "x", xt, 4)
	engine.SameShape("MaxPoolBackward dy/ws", dyt.shape, wst.shape)
	n, c, h, w := xt.shape[0], xt.shape[1], xt.shape[2], xt.shape[3]
	oh, ow := engine.OutSize(h, p.Kernel, p.Stride, p.Pad), engine.OutSize(w, p.Kernel, p.Stride, p.Pad)
	engine.SameShape("MaxPoolBackward dy", dyt.shape, []int{n, c, oh, ow})
	dx := newTensor(xt.shape...)
	for pl := 0; pl < n*c; pl++ {
		for k := 0; k < oh*ow; k++ {
			dx.data[pl*h*w+int(wst.data[pl*oh*ow+k])] += dyt.data[pl*oh*ow+k]
		}
	}
	return dx
}

// GlobalAvgPool averages each channel plane.
func (*Backend) GlobalAvgPool(x engine.Tensor) engine.Tensor {
	xt := get("GlobalAvgPool", x)
	rank("GlobalAvgPool", "x", xt, 4)
	n, c, hw := xt.shape[0], xt.shape[1], xt.shape[2]*xt.shape[3]
	y := newTensor(n, c)
	for pl := 0; pl < n*c; pl++ {
		var s float64
		for _, v := range xt.data[pl*hw:][:hw] {
			s += float64(v)
		}
		y.data[pl] = float32(s / float64(hw))
	}
	return y
}

// GlobalAvgPoolBackward spreads dy/(H·W) over each plane.
func (*Backend) GlobalAvgPoolBackward(dy engine.Tensor, inShape []int) engine.Tensor {
	dyt := get("GlobalAvgPoolBackward", dy)
	if len(inShape) != 4 {
		panic(fmt.Sprintf("ref: GlobalAvgPoolBackward: input shape %v is not N×C×H×W", inShape))
	}
	engine.SameShape("GlobalAvgPoolBackward", dyt.shape, inShape[:2])
	hw := inShape[2] * inShape[3]
	dx := newTensor(inShape...)
	for pl, g := range dyt.data {
		v := g / float32(hw)
		row := dx.data[pl*hw:][:hw]
		for i := range row {
			row[i] = v
		}
	}
	return dx
}

// ---------------------------------------------------------------------------------------------
// Fully connected

func linearShapes(op string, x, w *tensor) (n, in, out int) {
	rank(op, "x", x, 2)
	rank(op, "w", w, 2)
	n, in, out = x.shape[0], x.shape[1], w.shape[0]
	if w.shape[1] != in {
		panic(fmt.Sprintf("ref: %s: x %v and w %v do not match (want w Out×%d)", op, x.shape, w.shape, in))
	}
	return n, in, out
}

// Linear computes y = x·wᵀ + b.
func (*Backend) Linear(x, w, b engine.Tensor) engine.Tensor {
	xt, wt := get("Linear", x), get("Linear", w)
	n, in, out := linearShapes("Linear", xt, wt)
	y := newTensor(n, out)
	if b != nil {
		bt := get("Linear", b)
		engine.SameShape("Linear bias", bt.shape, []int{out})
		for i := 0; i < n; i++ {
			copy(y.data[i*out:], bt.data)
		}
	}
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, general(n, in, xt.data), general(out, in, wt.data), 1, general(n, out, y.data))
	return y
}

// LinearBackward returns dx = dy·w, dw = dyᵀ·x and db = Σ_n dy.
func (*Backend) LinearBackward(x, w, dy engine.Tensor, gr engine.Grads) (dx, dw, db engine.Tensor) {
	xt, wt, dyt := get("LinearBackward", x), get("LinearBackward", w), get("LinearBackward", dy)
	n, in, out := linearShapes("LinearBackward", xt, wt)
	engine.SameShape("LinearBackward dy", dyt.shape, []int{n, out})
	var dxt, dwt, dbt *tensor
	if gr.Input {
		dxt = newTensor(n, in)
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, general(n, out, dyt.data), general(out, in, wt.data), 0, general(n, in, dxt.data))
	}
	if gr.Params {
		dwt, dbt = newTensor(out, in), newTensor(out)
		blas32.Gemm(blas.Trans, blas.NoTrans, 1, general(n, out, dyt.data), general(n, in, xt.data), 0, general(out, in, dwt.data))
		for o := 0; o < out; o++ {
			var s float64
			for i := 0; i < n; i++ {
				s += float64(dyt.data[i*out+o])
			}
			dbt.data[o] = float32(s)
		}
	}
	return orNil(dxt), orNil(dwt), orNil(dbt)
}

var _ engine.Backend = (*Backend)(nil)

// ChannelMoments returns the mean and the biased and unbiased variances of channel ch of x, an
// N×C×HW array (n, c, hw), summed in float64: a training batch norm's batch statistics. The
// unbiased variance equals the biased one for a single value.
func ChannelMoments(x []float32, n, c, hw, ch int) (mean, biased, unbiased float64) {
	var s float64
	for i := 0; i < n; i++ {
		for _, v := range x[(i*c+ch)*hw:][:hw] {
			s += float64(v)
		}
	}
	m := n * hw
	mean = s / float64(m)
	var ss float64
	for i := 0; i < n; i++ {
		for _, v := range x[(i*c+ch)*hw:][:hw] {
			d := float64(v) - mean
			ss += d * d
		}
	}
	biased, unbiased = ss/float64(m), ss/float64(m)
	if m > 1 {
		unbiased = ss / float64(m-1)
	}
	return mean, biased, unbiased
}
